"""PGD adversarial training ("PGD-AT", Madry et al. 2018).

Each batch is attacked with projected gradient descent (:func:`robust.pgd`) inside the threat
model, and the model is updated on the adversarial examples, optionally mixed with the clean
ones: ``loss = (1 - clean_weight) * CE(f(x_adv), y) + clean_weight * CE(f(x), y)``.

Threat model: L-inf (default) or L2 ball of radius ``eps`` (a float or a per-sample (N,)
tensor), inputs in ``[lower, upper]``. Defaults follow the paper: random start, ``steps=10``,
``alpha = 2.5 * eps / steps``.

.. note:: The attack runs on the unwrapped module (``model.module`` under DDP) with BatchNorm
   in eval mode (``bn_mode="eval"``: running statistics neither used from the batch nor
   updated by the attack's passes); ``bn_mode="train"`` attacks with batch statistics as the
   original code did. The update goes through ``model`` itself (the DDP wrapper). With
   ``clean_weight > 0`` clean and adversarial inputs share one forward pass (one batch for
   BatchNorm), so the step does a single forward/backward.

.. note:: The attack runs at the updater's precision (``precision=updater.precision.name``:
   bf16/fp16 autocast, fp16 with the attack's own loss scaling), since its passes are the bulk
   of the cost.

Examples
--------
>>> import torch
>>> from traincore import Updater
>>> from robust.pgd_at import PGDAT
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
>>> updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
>>> out = PGDAT(eps=0.1, steps=3).step(model, (torch.rand(8, 1, 2, 2), torch.randint(0, 3, (8,))),
...                                    updater)
>>> updater.step_count, tuple(out.output.shape), out.loss.requires_grad
(1, (8, 3), False)

References
----------
A. Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018,
arXiv:1706.06083.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robust._training import (
    AdversarialObjective,
    check_eps,
    check_positive,
    like_input,
)
from robust.early_stop import EarlyStop
from robust.pgd import pgd
from robust.threat import NORMS, check_choice, check_int
from traincore import Updater, unwrap


class PGDAT(AdversarialObjective):
    """Adversarial training on PGD examples, with an optional clean-loss weight.

    Parameters
    ----------
    eps
        Radius of the threat model (float or per-sample (N,) tensor).
    alpha
        PGD step size; None for ``2.5 * eps / steps`` (Madry et al.).
    steps
        PGD iterations (>= 1).
    norm
        ``"linf"`` or ``"l2"``.
    random_start
        Start PGD from a uniform point in the ball.
    restarts
        PGD restarts (>= 1); the worst case per sample is trained on.
    clean_weight
        Weight in ``[0, 1]`` of the clean loss (0: pure adversarial training).
    bn_mode
        ``"eval"`` or ``"train"``: BatchNorm mode during the attack (see the note).
    lower, upper
        Input domain.
    generator
        ``torch.Generator`` for the random starts (None: the global RNG).
    early_stop
        None, or a :class:`robust.EarlyStop`: each sample stops once misclassified (friendly
        adversarial training, Zhang et al. 2020; needs ``restarts=1``). On the CPU the steps
        run on the active samples only, so the attack costs less as samples stop.
    """

    def __init__(
        self,
        eps: float | torch.Tensor,
        *,
        alpha: float | None = None,
        steps: int = 10,
        norm: str = "linf",
        random_start: bool = True,
        restarts: int = 1,
        clean_weight: float = 0.0,
        bn_mode: str = "eval",
        lower: float | torch.Tensor = 0.0,
        upper: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
        early_stop: EarlyStop | None = None,
    ):
        check_eps(eps)
        check_positive("alpha", alpha, allow_none=True)
        check_int("steps", steps, 1)
        check_int("restarts", restarts, 1)
        if early_stop is not None and (not isinstance(early_stop, EarlyStop) or restarts != 1):
            raise ValueError(f"early_stop={early_stop!r} must be a robust.EarlyStop, with "
                             f"restarts=1 (got restarts={restarts!r})")
        check_choice("norm", norm, NORMS)
        if isinstance(clean_weight, bool) or not isinstance(clean_weight, (int, float)) \
                or not 0.0 <= clean_weight <= 1.0:
            raise ValueError(f"clean_weight={clean_weight!r} must be a number in [0, 1]")
        self.steps = steps
        self.norm = norm
        self.random_start = random_start
        self.restarts = restarts
        self.clean_weight = clean_weight
        self.early_stop = early_stop
        self._store_attack_config(eps, alpha, bn_mode, lower, upper, generator)

    def attack(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
               precision: str | None = None) -> torch.Tensor:
        """PGD examples for ``(x, y)`` on the unwrapped ``model`` (detached, shape of ``x``)."""
        x_adv = pgd(
            unwrap(model), x, y, eps=self.current_eps(),
            alpha=self.current_alpha(2.5 / self.steps), steps=self.steps, norm=self.norm,
            random_start=self.random_start, restarts=self.restarts, lower=self.lower,
            upper=self.upper, bn_mode=self.bn_mode, generator=self.generator,
            precision=precision, early_stop=self.early_stop,
        )
        return like_input(x_adv.detach(), x)

    def _loss(self, model: torch.nn.Module, x: torch.Tensor, x_adv: torch.Tensor,
              y: torch.Tensor, updater: Updater) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy on ``x_adv``, mixed with the clean one when ``clean_weight > 0``."""
        if not self.clean_weight > 0:
            return super()._loss(model, x, x_adv, y, updater)
        n = x.shape[0]
        with updater.autocast(x):
            logits_all = model(torch.cat([x_adv, x]))  # (2N, classes), one BN batch
            logits, logits_clean = logits_all[:n], logits_all[n:]
            loss = (1 - self.clean_weight) * F.cross_entropy(logits, y) \
                + self.clean_weight * F.cross_entropy(logits_clean, y)
        return loss, logits

    def fallback(self) -> None:
        """PGD-AT has no cheaper-but-safer fallback: the guard only restores the last good state."""
        return None

    def __repr__(self) -> str:
        es = "" if self.early_stop is None else f", early_stop={self.early_stop!r}"
        return (f"PGDAT(eps={self.eps!r}, steps={self.steps}, norm={self.norm!r}, "
                f"restarts={self.restarts}, clean_weight={self.clean_weight}{es})")
