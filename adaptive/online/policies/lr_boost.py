"""Learning-rate boost on a drift, decaying back to the base rate.

On a trigger every parameter group's learning rate is multiplied by ``factor``; after each
labelled update the excess over the base rate shrinks geometrically,
``lr <- base + (lr - base) * 0.5 ** (B / half_life)`` for a batch of B samples, so the boost
halves every ``half_life`` samples whatever the batch size. A second trigger during a boost starts
again from ``base * factor`` (boosts do not compound).

Examples
--------
>>> import torch
>>> from adaptive.online.policies import LRBoost
>>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
>>> class L: optimizer = opt
>>> boost = LRBoost(factor=10.0, half_life=100)
>>> boost.fire(L(), "drift")
>>> round(opt.param_groups[0]["lr"], 6)
1.0
>>> boost.after_update(L(), torch.zeros(100, 2), None, None)
>>> round(opt.param_groups[0]["lr"], 6)
0.55
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from adaptive.online.policy import Policy

if TYPE_CHECKING:
    from adaptive.online.learner import OnlineLearner


class LRBoost(Policy):
    """Multiply the learning rate by ``factor`` on a trigger; decay back with ``half_life``.

    Parameters
    ----------
    factor
        Boost multiplier (> 1).
    half_life
        Samples after which half of the boost is gone (> 0).
    on, sources
        See :class:`adaptive.policy.Policy`.
    """

    def __init__(self, factor: float = 5.0, half_life: float = 500.0, *, on: str = "drift",
                 sources: tuple[str, ...] | None = None):
        super().__init__(on=on, sources=sources)
        if not (isinstance(factor, (int, float)) and factor > 1):
            raise ValueError(f"factor={factor!r} must be a number > 1")
        if not (isinstance(half_life, (int, float)) and half_life > 0):
            raise ValueError(f"half_life={half_life!r} must be a number > 0 (samples)")
        self.factor = float(factor)
        self.half_life = float(half_life)
        self._base: list[float] | None = None  # base LR per group while a boost runs

    def fire(self, learner: OnlineLearner, kind: str) -> None:
        groups = learner.optimizer.param_groups
        if self._base is None:
            self._base = [float(g["lr"]) for g in groups]
        for g, base in zip(groups, self._base):
            g["lr"] = base * self.factor

    def after_update(
        self, learner: OnlineLearner, x: torch.Tensor, y: torch.Tensor, losses: torch.Tensor
    ) -> None:
        if self._base is None:
            return
        keep = 0.5 ** (x.shape[0] / self.half_life)
        done = True
        for g, base in zip(learner.optimizer.param_groups, self._base):
            g["lr"] = base + (g["lr"] - base) * keep
            if abs(g["lr"] - base) > 1e-3 * abs(base):
                done = False
        if done:  # close enough: restore the exact base rates and end the boost
            for g, base in zip(learner.optimizer.param_groups, self._base):
                g["lr"] = base
            self._base = None

    @property
    def boosting(self) -> bool:
        """True while a boost is decaying."""
        return self._base is not None

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "base": self._base}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._base = None if state["base"] is None else [float(b) for b in state["base"]]
