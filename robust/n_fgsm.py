"""N-FGSM adversarial training (de Jorge et al. 2022): stronger noise, no clipping.

The perturbation is ``delta = eta + alpha * sign(grad_x CE(f(x + eta), y))`` with noise
``eta ~ U[-k eps, k eps]`` (``k = noise = 2`` by default) and ``alpha = eps``, and it is NOT
projected back onto the eps ball (only ``x + delta`` is kept inside the input domain): so the
training points lie up to ``(k + 1) eps`` away from ``x``. This avoids catastrophic overfitting
at the cost of one FGSM step, like Fast-AT.

Implementation: the gradient step is :func:`robust.fgsm` (no random start, radius ``alpha``)
applied at the noisy point ``x + eta``, whose ball of radius ``alpha`` is exactly the set the
single step can reach, so no projection happens and no attack code is duplicated here.

.. note:: ``clip`` (default None, the paper's recommendation) optionally clamps ``delta`` to
   ``[-clip * eps, clip * eps]``. The attack runs on the unwrapped module with BatchNorm in
   eval mode by default (``bn_mode``).

Examples
--------
>>> import torch
>>> from traincore import Updater
>>> from robust.n_fgsm import NFGSM
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
>>> updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
>>> x, y = torch.full((8, 1, 4, 4), 0.5), torch.randint(0, 3, (8,))
>>> nf = NFGSM(eps=0.05)
>>> d = nf.perturb(model, x, y) - x
>>> bool(d.abs().max() > 0.05), bool(d.abs().max() <= 0.15 + 1e-6)
(True, True)

References
----------
P. de Jorge et al., "Make Some Noise: Reliable and Efficient Single-Step Adversarial Training",
NeurIPS 2022, arXiv:2206.08242.
"""

from __future__ import annotations

import torch

from robust._training import (
    AdversarialObjective,
    check_eps,
    check_positive,
    like_input,
)
from robust.fgsm import fgsm
from robust.threat import per_sample, work_dtype
from traincore import Objective, unwrap


class NFGSM(AdversarialObjective):
    """Noise-augmented FGSM adversarial training without clipping.

    Parameters
    ----------
    eps
        L-inf radius (float or per-sample (N,) tensor).
    noise
        Noise magnitude as a multiple of eps (``k``; 2.0 in the paper).
    alpha
        Step size; None for ``eps``.
    clip
        None (no clipping, the paper's default) or a multiple of eps to clamp ``delta`` to.
    bn_mode
        ``"eval"`` or ``"train"``: BatchNorm mode during the attack.
    lower, upper
        Input domain.
    generator
        ``torch.Generator`` for the noise (None: the global RNG).
    """

    def __init__(
        self,
        eps: float | torch.Tensor,
        *,
        noise: float = 2.0,
        alpha: float | None = None,
        clip: float | None = None,
        bn_mode: str = "eval",
        lower: float | torch.Tensor = 0.0,
        upper: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
    ):
        check_eps(eps)
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
            raise ValueError(f"noise={noise!r} must be a number >= 0 (a multiple of eps)")
        check_positive("alpha", alpha, allow_none=True)
        check_positive("clip", clip, allow_none=True)
        self.noise = noise
        self.clip = clip
        self._store_attack_config(eps, alpha, bn_mode, lower, upper, generator)

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
               precision: str | None = None) -> torch.Tensor:
        """N-FGSM training points for ``(x, y)`` (detached; may lie outside the eps ball)."""
        eps = self.current_eps()
        u = torch.rand(x.shape, generator=self.generator, device=x.device,
                       dtype=work_dtype(x))  # U[0, 1)
        eta = (2 * u - 1) * (self.noise * per_sample(eps, "eps", x))  # (N, ...)
        x_noisy = torch.clamp(x + eta, self._bound(self.lower, x), self._bound(self.upper, x))
        alpha = self.current_alpha(1.0)
        x_adv = fgsm(
            unwrap(model), x_noisy, y, eps=alpha, norm="linf", random_start=False,
            lower=self.lower, upper=self.upper, bn_mode=self.bn_mode, generator=self.generator,
            precision=precision,
        )
        if self.clip is not None:
            bound = self.clip * per_sample(eps, "eps", x)
            x_adv = torch.clamp(x + torch.clamp(x_adv - x, -bound, bound),  # type: ignore[arg-type]
                                self._bound(self.lower, x), self._bound(self.upper, x))
        return like_input(x_adv.detach(), x)

    @staticmethod
    def _bound(b: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """A domain bound (number or per-channel tensor) as a tensor broadcasting to ``x``."""
        return torch.as_tensor(b, dtype=x.dtype, device=x.device)

    def _adversarial(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                     precision: str | None) -> torch.Tensor:
        return self.perturb(model, x, y, precision=precision)

    def fallback(self) -> Objective:
        """PGD-2 adversarial training at the same eps (alpha = 1.25 eps) for the rest of the run."""
        from robust.pgd_at import PGDAT

        return PGDAT(self.eps, steps=2, bn_mode=self.bn_mode, lower=self.lower,
                     upper=self.upper, generator=self.generator)

    def __repr__(self) -> str:
        return f"NFGSM(eps={self.eps!r}, noise={self.noise!r}, alpha={self.alpha!r})"
