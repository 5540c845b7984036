"""TRADES adversarial training (Zhang et al. 2019): clean loss + beta * KL robustness term.

``loss = CE(f(x), y) + beta * KL(softmax f(x) || softmax f(x_adv))`` (KL averaged over the
batch), where ``x_adv`` maximises the KL term inside the L-inf ball
(:func:`robust.trades_attack`, started from ``x + 0.001 * N(0, 1)`` as in the paper).
Defaults follow the paper: ``beta = 6.0``, ``steps = 10``, ``alpha = eps / 4`` (0.007 for
eps = 0.031 in the paper).

.. note:: The attack runs on the unwrapped module (``model.module`` under DDP) with BatchNorm in
   eval mode by default (``bn_mode``; the paper's code attacks in eval mode too). The update
   forwards clean and adversarial inputs as ONE batch through ``model`` (a single pass through
   the DDP wrapper); the paper's code makes two forward passes, so BatchNorm statistics here are
   taken over the joint batch.

Examples
--------
>>> import torch
>>> from traincore import Updater
>>> from robust.trades import TRADES
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
>>> updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
>>> out = TRADES(eps=0.1, steps=2).step(model, (torch.rand(8, 1, 2, 2), torch.randint(0, 3, (8,))),
...                                     updater)
>>> updater.step_count, tuple(out.output.shape)
(1, (8, 3))

References
----------
H. Zhang et al., "Theoretically Principled Trade-off between Robustness and Accuracy",
ICML 2019, arXiv:1901.08573.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from robust._training import (
    AdversarialObjective,
    check_eps,
    check_positive,
    like_input,
)
from robust.early_stop import EarlyStop
from robust.threat import check_int
from robust.trades_attack import trades_attack
from traincore import Updater, unwrap


class TRADES(AdversarialObjective):
    """TRADES: natural cross-entropy plus ``beta`` times the clean/adversarial KL divergence.

    Parameters
    ----------
    eps
        L-inf radius (float or per-sample (N,) tensor).
    beta
        Weight (>= 0) of the KL robustness term; 6.0 in the paper.
    alpha
        Attack step size; None for ``eps / 4``.
    steps
        Attack iterations (>= 1).
    bn_mode
        ``"eval"`` or ``"train"``: BatchNorm mode during the attack.
    lower, upper
        Input domain.
    generator
        ``torch.Generator`` for the attack's random start (None: the global RNG).
    early_stop
        None, or a :class:`robust.EarlyStop`: each sample's KL attack stops once the sample is
        misclassified (TRADES with friendly examples, Zhang et al. 2020).
    """

    def __init__(
        self,
        eps: float | torch.Tensor,
        *,
        beta: float = 6.0,
        alpha: float | None = None,
        steps: int = 10,
        bn_mode: str = "eval",
        lower: float | torch.Tensor = 0.0,
        upper: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
        early_stop: EarlyStop | None = None,
    ):
        check_eps(eps)
        if early_stop is not None and not isinstance(early_stop, EarlyStop):
            raise TypeError(f"early_stop must be a robust.EarlyStop or None, got {early_stop!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) \
                or not math.isfinite(beta) or beta < 0:
            raise ValueError(f"beta={beta!r} must be a finite number >= 0")
        check_positive("alpha", alpha, allow_none=True)
        check_int("steps", steps, 1)
        self.beta = beta
        self.steps = steps
        self.early_stop = early_stop
        self._store_attack_config(eps, alpha, bn_mode, lower, upper, generator)

    def attack(self, model: torch.nn.Module, x: torch.Tensor, precision: str | None = None,
               y: torch.Tensor | None = None) -> torch.Tensor:
        """TRADES (KL-maximising) examples for ``x`` on the unwrapped ``model`` (``y``: only
        for the early-stopping rule)."""
        x_adv = trades_attack(
            unwrap(model), x, eps=self.current_eps(), alpha=self.current_alpha(0.25),
            steps=self.steps, norm="linf", lower=self.lower, upper=self.upper,
            bn_mode=self.bn_mode, generator=self.generator, precision=precision,
            y=y if self.early_stop is not None else None, early_stop=self.early_stop,
        )
        return like_input(x_adv.detach(), x)

    def _adversarial(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                     precision: str | None) -> torch.Tensor:
        return self.attack(model, x, precision=precision, y=y)  # y: early stopping only

    def _loss(self, model: torch.nn.Module, x: torch.Tensor, x_adv: torch.Tensor,
              y: torch.Tensor, updater: Updater) -> tuple[torch.Tensor, torch.Tensor]:
        """Natural cross-entropy plus ``beta`` times the KL term; logits of ``x_adv``."""
        n = x.shape[0]
        with updater.autocast(x):
            logits_all = model(torch.cat([x, x_adv]))  # (2N, classes), one pass
        # losses in fp32: the KL of two nearly equal distributions loses digits in bf16
        logits_clean, logits_adv = logits_all[:n].float(), logits_all[n:].float()
        natural = F.cross_entropy(logits_clean, y)
        robust = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits_clean, dim=1),
                          reduction="batchmean")
        return natural + self.beta * robust, logits_adv  # (loss, (N, classes)), both fp32

    def __repr__(self) -> str:
        es = "" if self.early_stop is None else f", early_stop={self.early_stop!r}"
        return f"TRADES(eps={self.eps!r}, beta={self.beta!r}, steps={self.steps}{es})"
