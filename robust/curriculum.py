"""Per-epoch curricula of the attack's cost: fewer PGD steps early, friendlier examples early.

Cai, Liu, Song, "Curriculum Adversarial Training", IJCAI 2018, arXiv:1805.04807 (attack strength
raised over training); Zhang et al., "Attacks Which Do Not Kill Training Make Adversarial
Learning Stronger", ICML 2020, arXiv:2002.11242 (the early-stopping tau raised over epochs).

:class:`Curriculum` wraps an adversarial objective and, at the start of every epoch, sets
``steps`` (PGD-AT, TRADES) and/or the early-stopping ``tau`` from per-epoch lists; after the
end of a list its last value holds. With PGD-AT's default step size (``alpha=None``:
``2.5 eps / steps``) fewer steps early also means larger steps (TRADES' ``eps / 4`` is fixed).
The cost of an epoch is about ``steps + 1`` forward/backward passes per sample, so a schedule's
cost relative to constant ``K`` steps is ``mean(steps + 1) / (K + 1)``.

Examples
--------
>>> from robust import PGDAT, Curriculum
>>> c = Curriculum(PGDAT(eps=0.1), steps=[2, 2, 5, 10])
>>> for epoch in range(5):
...     c.on_epoch_start(epoch)
...     print(c.objective.steps, end=" ")
2 2 5 10 10
>>> round(c.relative_cost(epochs=5, reference_steps=10), 3)
0.6
"""

from __future__ import annotations

from typing import Any

import torch

from robust.early_stop import EarlyStop
from robust.threat import check_int
from traincore import Objective, StepOutput, Updater

_STATE_VERSION = 1


def _schedule(name: str, values: Any, minimum: int) -> list[int] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of ints (one per epoch), got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must hold at least one value")
    for v in values:
        check_int(name, v, minimum)
    return values


class Curriculum(Objective):
    """Per-epoch ``steps`` and early-stopping ``tau`` around an adversarial objective.

    Parameters
    ----------
    objective
        The wrapped objective (``steps`` needs an objective with a ``steps`` attribute;
        ``tau`` one with an ``early_stop``).
    steps
        Attack steps per epoch (ints >= 1); None leaves them.
    tau
        Early-stopping tau per epoch (ints >= 0); None leaves it.
    """

    def __init__(self, objective: Objective, *, steps: list[int] | None = None,
                 tau: list[int] | None = None):
        self.steps = _schedule("steps", steps, 1)
        self.tau = _schedule("tau", tau, 0)
        if self.steps is None and self.tau is None:
            raise ValueError("Curriculum needs steps=[...] and/or tau=[...]")
        if self.steps is not None and not hasattr(objective, "steps"):
            raise TypeError(f"{type(objective).__name__} has no attack steps to schedule")
        if self.tau is not None and not isinstance(getattr(objective, "early_stop", None),
                                                   EarlyStop):
            raise TypeError("tau=[...] needs an objective built with early_stop=EarlyStop(...)")
        self.objective = objective
        self._epoch = 0

    @staticmethod
    def _at(values: list[int], epoch: int) -> int:
        return values[min(epoch, len(values) - 1)]

    def relative_cost(self, epochs: int, reference_steps: int) -> float:
        """Attack passes of ``epochs`` epochs relative to ``reference_steps`` each epoch."""
        if self.steps is None:
            return 1.0
        total = sum(self._at(self.steps, e) + 1 for e in range(epochs))
        return total / (epochs * (reference_steps + 1))

    def on_epoch_start(self, epoch: int) -> None:
        self._epoch = epoch
        if self.steps is not None:
            self.objective.steps = self._at(self.steps, epoch)  # type: ignore[attr-defined]
        if self.tau is not None:
            old = self.objective.early_stop  # type: ignore[attr-defined]
            self.objective.early_stop = EarlyStop(margin=old.margin, tau=self._at(self.tau, epoch),  # type: ignore[attr-defined]
                                                  compact=old.compact)
        self.objective.on_epoch_start(epoch)

    def step(self, model: torch.nn.Module, batch: Any, updater: Updater) -> StepOutput:
        return self.objective.step(model, batch, updater)

    def on_epoch_end(
        self, epoch: int, model: torch.nn.Module, updater: Updater
    ) -> dict[str, float]:
        metrics = dict(self.objective.on_epoch_end(epoch, model, updater))
        if self.steps is not None:
            metrics["attack_steps"] = float(self.objective.steps)  # type: ignore[attr-defined]
        return metrics

    def fallback(self) -> Objective | None:
        """The wrapped objective's fallback (not scheduled: a fallback is a safe fixed recipe)."""
        return getattr(self.objective, "fallback", lambda: None)()

    def state_dict(self) -> dict[str, Any]:
        return {"version": _STATE_VERSION, "epoch": self._epoch,
                "objective": self.objective.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"Curriculum state version {state.get('version')!r} is not 1")
        self.objective.load_state_dict(state["objective"])
        self.on_epoch_start(int(state["epoch"]))

    def __repr__(self) -> str:
        return f"Curriculum({self.objective!r}, steps={self.steps!r}, tau={self.tau!r})"
