"""Refresh BatchNorm statistics on recent inputs (label-free).

Under covariate shift (a sensor's gain or offset changes) the running means and variances of the
BatchNorm layers no longer match the inputs, while the learned weights may still be right for the
normalised features. Re-estimating the statistics on inputs from after the change - no labels
needed - recovers much of the lost accuracy (Li et al., "Revisiting batch normalization for
practical domain adaptation", AdaBN, arXiv:1603.04779; Schneider et al., "Improving robustness
against common corruptions by covariate shift adaptation", arXiv:2006.16971).

On a trigger the policy waits until ``n_inputs`` new inputs arrived (so that the estimate uses
post-change data only), then resets each BatchNorm layer's running statistics and re-estimates
them as plain averages (``momentum=None``) over those inputs in forward passes without gradient.

Examples
--------
>>> import torch
>>> from adaptive import OnlineLearner
>>> from adaptive.online.policies import BNRefresh
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4),
...                             torch.nn.Linear(4, 2))
>>> policy = BNRefresh(n_inputs=64)
>>> learner = OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.1),
...                         policies=[policy])
>>> policy.fire(learner, "drift")                 # armed: waits for 64 new inputs
>>> learner.observe_many(torch.randn(64, 2) + 5.0)
>>> policy.n_refreshed, bool(model[1].running_mean.abs().sum() > 0)
(1, True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from adaptive.online.policy import Policy, batchnorm_layers

if TYPE_CHECKING:
    from adaptive.online.learner import OnlineLearner


def refresh_batchnorm(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 64) -> None:
    """Re-estimate every BatchNorm's running statistics on inputs ``x`` (N, ...), no grad."""
    layers = batchnorm_layers(model)
    momenta = [m.momentum for m in layers]
    was = model.training
    try:
        for m in layers:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the refresh batches
        model.train()
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                xb = x[start:start + batch_size]
                if xb.shape[0] > 1:  # train-mode BatchNorm needs two or more samples
                    model(xb)
    finally:
        for m, mom in zip(layers, momenta):
            m.momentum = mom
        model.train(was)


class _RecentInputsPolicy(Policy):
    """A policy that, once triggered, waits for ``n_inputs`` new inputs and then acts on them.

    Subclasses set ``n_inputs`` and implement ``_act(learner, recent)``, ``recent`` being the
    learner's latest ``n_inputs`` inputs (n_inputs, ...). Shared by BNRefresh and TENT.
    """

    n_inputs: int

    def __init__(self, *, on: str = "drift", sources: tuple[str, ...] | None = None):
        super().__init__(on=on, sources=sources)
        self._wait = -1  # inputs still to collect; -1 when not armed

    def _check_memory(self, learner: OnlineLearner) -> None:
        if learner.memory < self.n_inputs:
            raise ValueError(f"n_inputs={self.n_inputs} exceeds the learner's memory="
                             f"{learner.memory}")

    def _act(self, learner: OnlineLearner, recent: torch.Tensor) -> None:
        raise NotImplementedError

    def fire(self, learner: OnlineLearner, kind: str) -> None:
        if self._wait < 0:  # already armed: keep collecting (a burst of alarms is one change)
            self._wait = self.n_inputs

    def after_inputs(self, learner: OnlineLearner, x: torch.Tensor) -> None:
        if self._wait < 0:
            return
        self._wait -= x.shape[0]
        if self._wait <= 0:
            self._wait = -1
            (recent,) = learner.recent_inputs.get(self.n_inputs)  # type: ignore[misc]
            self._act(learner, recent)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "wait": self._wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._wait = int(state["wait"])


class BNRefresh(_RecentInputsPolicy):
    """Reset and re-estimate BatchNorm statistics on the next ``n_inputs`` inputs.

    Parameters
    ----------
    n_inputs
        New inputs to wait for after the trigger and to estimate the statistics on.
    batch_size
        Forward batch size of the estimate.
    on, sources
        See :class:`adaptive.policy.Policy` (listens to the loss detector and the feature
        monitor by default).
    """

    default_sources = ("loss", "features")

    def __init__(self, n_inputs: int = 256, batch_size: int = 64, *, on: str = "drift",
                 sources: tuple[str, ...] | None = None):
        super().__init__(on=on, sources=sources)
        for name, v in (("n_inputs", n_inputs), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ValueError(f"{name}={v!r} must be an integer >= 2")
        self.n_inputs, self.batch_size = n_inputs, batch_size
        self.n_refreshed = 0

    def bind(self, learner: OnlineLearner) -> None:
        if not batchnorm_layers(learner.model):
            raise ValueError(f"{type(learner.model).__name__} has no BatchNorm layer to refresh")
        self._check_memory(learner)

    def _act(self, learner: OnlineLearner, recent: torch.Tensor) -> None:
        refresh_batchnorm(learner.model, recent, self.batch_size)
        self.n_refreshed += 1

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "n_refreshed": self.n_refreshed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.n_refreshed = int(state["n_refreshed"])
