"""Elastic weight consolidation (EWC) anchored to the weights before a drift.

Kirkpatrick et al., "Overcoming catastrophic forgetting in neural networks", PNAS 2017,
arXiv:1612.00796. After a change the model should learn the new concept without forgetting what
stays useful: EWC adds ``lam / 2 * sum_i F_i (theta_i - theta*_i)^2`` to the loss, where
``theta*`` are the weights before the change and ``F`` the diagonal of the (empirical) Fisher
information, estimated from the squared per-sample gradients of the loss on recent labelled data.

The penalty is applied through an :class:`traincore.Objective`: :class:`EWCObjective` wraps the
learner's objective and hands it an updater that adds the penalty to every loss it receives, so
any objective (plain, adversarial) gets the penalty without knowing about it.

Examples
--------
>>> import torch
>>> from adaptive import OnlineLearner
>>> from adaptive.online.policies import EWC
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(2, 2)
>>> ewc = EWC(lam=10.0, fisher_samples=16)
>>> learner = OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.1), policies=[ewc])
>>> learner.learn_many(torch.randn(16, 2), torch.randint(0, 2, (16,)))
>>> ewc.fire(learner, "drift")
>>> type(learner.objective).__name__, float(ewc.penalty(model).detach())
('EWCObjective', 0.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from adaptive.online.policy import Policy
from traincore import Objective, StepOutput, Updater

if TYPE_CHECKING:
    from adaptive.online.learner import OnlineLearner


class _PenalisedUpdater:
    """Proxy of an Updater whose ``update``/``backward`` add a penalty to the loss."""

    def __init__(self, updater: Any, penalty: Any, model: torch.nn.Module):
        self._updater, self._penalty, self._model = updater, penalty, model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._updater, name)

    def backward(self, loss: torch.Tensor) -> None:
        self._updater.backward(loss + self._penalty(self._model))

    def update(self, loss: torch.Tensor) -> None:
        self._updater.update(loss + self._penalty(self._model))


class EWCObjective(Objective):
    """Run ``inner`` with the EWC penalty of ``policy`` added to each loss it updates with."""

    def __init__(self, inner: Objective, policy: EWC):
        self.inner, self.policy = inner, policy

    def step(self, model: torch.nn.Module, batch: Any, updater: Updater) -> StepOutput:
        return self.inner.step(model, batch, _PenalisedUpdater(updater, self.policy.penalty, model))  # type: ignore[arg-type]

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


class EWC(Policy):
    """On a trigger, anchor to the current weights with a diagonal-Fisher quadratic penalty.

    Parameters
    ----------
    lam
        Penalty strength (lambda in the paper), >= 0.
    fisher_samples
        Newest labelled samples the Fisher diagonal is estimated on (one gradient per sample).
    on, sources
        See :class:`adaptive.policy.Policy`. With ``on="both"`` the anchor is taken at the
        warning (closer to "before the drift") and a drift then keeps it.
    """

    def __init__(self, lam: float = 100.0, fisher_samples: int = 200, *, on: str = "drift",
                 sources: tuple[str, ...] | None = None):
        super().__init__(on=on, sources=sources)
        if not (isinstance(lam, (int, float)) and lam >= 0):
            raise ValueError(f"lam={lam!r} must be a number >= 0")
        if isinstance(fisher_samples, bool) or not isinstance(fisher_samples, int) \
                or fisher_samples < 1:
            raise ValueError(f"fisher_samples={fisher_samples!r} must be an integer >= 1")
        self.lam, self.fisher_samples = float(lam), fisher_samples
        self.anchor: list[torch.Tensor] | None = None  # theta*, one tensor per parameter
        self.fisher: list[torch.Tensor] | None = None  # F diagonal, same shapes
        self._learner: OnlineLearner | None = None
        self._warned = False  # an anchor taken at a warning waits for its drift

    def bind(self, learner: OnlineLearner) -> None:
        if learner.memory < 1:
            raise ValueError("EWC estimates the Fisher on recent samples: memory must be >= 1")
        self._learner = learner

    def penalty(self, model: torch.nn.Module) -> torch.Tensor:
        """lam/2 * sum F (theta - theta*)^2 (0 before the first trigger)."""
        params = list(model.parameters())
        if self.anchor is None:
            return params[0].new_zeros(())
        total = params[0].new_zeros(())
        for p, a, f in zip(params, self.anchor, self.fisher):  # type: ignore[arg-type]
            total = total + (f * (p - a).pow(2)).sum()
        return 0.5 * self.lam * total

    def fisher_diagonal(self, learner: OnlineLearner) -> list[torch.Tensor]:
        """Mean squared per-sample gradient of the loss over the newest labelled samples."""
        model = learner.model
        params = [p for p in model.parameters()]
        fisher = [torch.zeros_like(p) for p in params]
        held = learner.recent_labelled(self.fisher_samples)
        if held is None:
            return fisher
        x, y = held
        was = model.training
        model.eval()  # no dropout noise, running BatchNorm statistics
        try:
            for i in range(x.shape[0]):
                loss = learner.per_sample_loss(model(x[i:i + 1]).float(), y[i:i + 1]).sum()
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                for f, g in zip(fisher, grads):
                    if g is not None:
                        f += g.detach().pow(2)
        finally:
            model.train(was)
        return [f / x.shape[0] for f in fisher]

    def fire(self, learner: OnlineLearner, kind: str) -> None:
        if kind == "drift" and self._warned:  # keep the anchor of the warning before it
            self._warned = False
            return
        self.anchor = [p.detach().clone() for p in learner.model.parameters()]
        self.fisher = self.fisher_diagonal(learner)
        self._warned = kind == "warning"
        self._install(learner)

    def _install(self, learner: OnlineLearner) -> None:
        if not isinstance(learner.objective, EWCObjective):
            learner.objective = EWCObjective(learner.objective, self)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "anchor": self.anchor, "fisher": self.fisher,
                "warned": self._warned}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.anchor, self.fisher = state["anchor"], state["fisher"]
        self._warned = bool(state["warned"])
        if self.anchor is not None and self._learner is not None:
            self._install(self._learner)
