"""Epsilon warm-up: a linear ramp of the attack radius over the first epochs of training.

:class:`EpsWarmup` wraps any adversarial objective of :mod:`robust` (PGD-AT, Fast-AT, N-FGSM,
Free-AT, TRADES). It sets the wrapped objective's ``eps_scale``, which multiplies ``eps`` and an
explicit ``alpha`` (a default alpha is derived from the scaled eps anyway), so step sizes keep
their ratio to the radius during the ramp.

Epoch granularity (``steps_per_epoch=None``): in epoch ``e`` (0-based) the scale is
``min(1, (e + 1) / epochs)``, so the first epoch already trains at ``eps / epochs`` and epoch
``epochs - 1`` reaches the full radius. Step granularity (``steps_per_epoch=S``): at the ``t``-th
step since the start (0-based, counted across epochs and kept in the state) the scale is
``min(1, (t + 1) / (epochs * S))``.

Examples
--------
>>> from robust.pgd_at import PGDAT
>>> from robust.schedule import EpsWarmup
>>> warm = EpsWarmup(PGDAT(eps=0.2, steps=2), epochs=4)
>>> for epoch in range(5):
...     warm.on_epoch_start(epoch)
...     print(round(warm.objective.current_eps(), 3))
0.05
0.1
0.15
0.2
0.2
"""

from __future__ import annotations

from typing import Any

import torch

from robust.threat import check_int
from traincore import Objective, StepOutput, Updater

_STATE_VERSION = 1


class EpsWarmup(Objective):
    """Linear epsilon ramp over the first ``epochs`` epochs around another objective.

    Parameters
    ----------
    objective
        An adversarial objective of :mod:`robust` (anything with an ``eps_scale`` attribute).
    epochs
        Length of the ramp in epochs (>= 1); after it the full eps is used.
    steps_per_epoch
        None for one value per epoch; an int for a per-step ramp (steps = objective steps, i.e.
        batches).
    """

    def __init__(self, objective: Objective, *, epochs: int, steps_per_epoch: int | None = None):
        if not hasattr(objective, "eps_scale"):
            raise TypeError(
                "objective must be an adversarial objective with an eps_scale attribute "
                f"(PGDAT, FastAT, NFGSM, FreeAT, TRADES), got {type(objective).__name__}"
            )
        check_int("epochs", epochs, 1)
        if steps_per_epoch is not None:
            check_int("steps_per_epoch", steps_per_epoch, 1)
        self.objective = objective
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self._step = 0  # batches seen since the start of training
        self._epoch = 0

    def scale_at(self, epoch: int, step: int | None = None) -> float:
        """The eps multiplier at ``epoch`` (and global ``step`` under per-step granularity)."""
        if self.steps_per_epoch is None or step is None:
            return min(1.0, (epoch + 1) / self.epochs)
        return min(1.0, (step + 1) / (self.epochs * self.steps_per_epoch))

    def on_epoch_start(self, epoch: int) -> None:
        self._epoch = epoch
        if self.steps_per_epoch is None:
            self.objective.eps_scale = self.scale_at(epoch)
        self.objective.on_epoch_start(epoch)

    def step(self, model: torch.nn.Module, batch: Any, updater: Updater) -> StepOutput:
        if self.steps_per_epoch is not None:
            self.objective.eps_scale = self.scale_at(self._epoch, self._step)
        out = self.objective.step(model, batch, updater)
        self._step += 1
        return out

    def on_epoch_end(
        self, epoch: int, model: torch.nn.Module, updater: Updater
    ) -> dict[str, float]:
        metrics = dict(self.objective.on_epoch_end(epoch, model, updater))
        metrics["eps_scale"] = float(self.objective.eps_scale)
        return metrics

    def fallback(self) -> EpsWarmup | None:
        """The wrapped objective's fallback, under the same ramp (None if it has none)."""
        inner = getattr(self.objective, "fallback", lambda: None)()
        if inner is None:
            return None
        new = EpsWarmup(inner, epochs=self.epochs, steps_per_epoch=self.steps_per_epoch)
        new._step, new._epoch = self._step, self._epoch
        inner.eps_scale = self.objective.eps_scale
        return new

    def __repr__(self) -> str:
        return (f"EpsWarmup({self.objective!r}, epochs={self.epochs}, "
                f"steps_per_epoch={self.steps_per_epoch})")

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "step": self._step,
            "epoch": self._epoch,
            "eps_scale": float(self.objective.eps_scale),
            "objective": self.objective.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"EpsWarmup state version {state.get('version')!r} is not 1")
        self._step = int(state["step"])
        self._epoch = int(state["epoch"])
        self.objective.eps_scale = float(state["eps_scale"])
        self.objective.load_state_dict(state["objective"])


__all__ = ["EpsWarmup"]
