"""Fast adversarial training ("Fast-AT": FGSM with a random start, Wong, Rice & Kolter 2020).

Each batch is attacked with one FGSM step of size ``alpha`` (default ``1.25 * eps``) from a
uniform random start in the L-inf ball (:func:`robust.fgsm` with ``random_start=True``), and the
model is updated on the result: two forward/backward passes per batch instead of PGD-AT's
``steps + 1``.

Threat model: L-inf ball of radius ``eps`` (float or per-sample (N,) tensor), inputs in
``[lower, upper]``.

.. note:: Fast-AT is prone to catastrophic overfitting (PGD accuracy collapsing to ~0 within an
   epoch), especially for ``alpha`` above ``1.25 * eps`` or large eps. Its :meth:`FastAT.fallback`
   is :class:`robust.NFGSM` at the same eps, which :class:`robust.OverfitGuard` switches to
   after a collapse.

.. note:: The attack runs on the unwrapped module (``model.module`` under DDP) with BatchNorm in
   eval mode by default (``bn_mode``); the update goes through ``model``.

Examples
--------
>>> import torch
>>> from traincore import Updater
>>> from robust.fast_at import FastAT
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
>>> updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
>>> fast = FastAT(eps=0.1)
>>> out = fast.step(model, (torch.rand(8, 1, 2, 2), torch.randint(0, 3, (8,))), updater)
>>> updater.step_count, round(fast.current_alpha(1.25), 3), type(fast.fallback()).__name__
(1, 0.125, 'NFGSM')

References
----------
E. Wong, L. Rice, J. Z. Kolter, "Fast is better than free: Revisiting adversarial training",
ICLR 2020, arXiv:2001.03994.
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
from traincore import Objective, unwrap


class FastAT(AdversarialObjective):
    """FGSM adversarial training with a random start.

    Parameters
    ----------
    eps
        L-inf radius (float or per-sample (N,) tensor).
    alpha
        FGSM step size; None for ``1.25 * eps`` (the paper's choice).
    bn_mode
        ``"eval"`` or ``"train"``: BatchNorm mode during the attack.
    lower, upper
        Input domain.
    generator
        ``torch.Generator`` for the random start (None: the global RNG).
    """

    def __init__(
        self,
        eps: float | torch.Tensor,
        *,
        alpha: float | None = None,
        bn_mode: str = "eval",
        lower: float | torch.Tensor = 0.0,
        upper: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
    ):
        check_eps(eps)
        check_positive("alpha", alpha, allow_none=True)
        self._store_attack_config(eps, alpha, bn_mode, lower, upper, generator)

    def attack(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
               precision: str | None = None) -> torch.Tensor:
        """FGSM-RS examples for ``(x, y)`` on the unwrapped ``model``."""
        x_adv = fgsm(
            unwrap(model), x, y, eps=self.current_eps(), norm="linf", random_start=True,
            alpha=self.current_alpha(1.25), lower=self.lower, upper=self.upper,
            bn_mode=self.bn_mode, generator=self.generator, precision=precision,
        )
        return like_input(x_adv.detach(), x)

    def fallback(self) -> Objective:
        """N-FGSM at the same eps (noise 2 eps, step eps, no clipping): no collapse in its paper."""
        from robust.n_fgsm import NFGSM

        return NFGSM(self.eps, bn_mode=self.bn_mode, lower=self.lower, upper=self.upper,
                     generator=self.generator)

    def __repr__(self) -> str:
        return f"FastAT(eps={self.eps!r}, alpha={self.alpha!r})"
