"""One model's prediction and update step, on the fast path when it can serve the model.

:class:`Stepper` is what :class:`~adaptive.OnlineLearner` (and a racing candidate) call to
predict and to learn: ``forward(x)`` gives the output and what the update may reuse,
``learn(x, y, acts)`` takes one step on the batch's mean loss and returns the output before it.
The generic implementation is the reference: the model in train mode through the learner's
objective and :class:`traincore.Updater` (any model, precision, objective); prediction in eval
mode. The fast implementation (:mod:`adaptive.online.fast_mlp`) serves plain MLPs trained by
Adam or SGD in fp32 and gives identical numbers (tested).
"""

from __future__ import annotations

from typing import Any

import torch

from adaptive.online.fast_mlp import FastMLP, supported
from traincore import Supervised, Updater


class Stepper:
    """Predict and learn for ``model`` with ``optimizer`` under ``learner``'s settings.

    Parameters
    ----------
    learner
        The :class:`~adaptive.OnlineLearner` whose loss, objective, precision and clipping apply.
    model, optimizer
        The learner's own, or a candidate's.
    fast
        None: the fast path when it supports the setting; False: always the generic path; True:
        the fast path or a ``ValueError`` saying why not.
    """

    def __init__(self, learner: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 fast: bool | None = None):
        self.learner, self.model, self.optimizer = learner, model, optimizer
        if model is learner.model:
            self.updater = learner.updater
        else:
            u = learner.updater
            self.updater = Updater(model, optimizer, precision=u.precision, grad_clip=u.grad_clip)
        why = "fast=False" if fast is False else supported(
            model, optimizer, learner.loss, self.updater, self._plain())
        if fast and why is not None:
            raise ValueError(f"fast=True but the fast path cannot serve this learner: {why}")
        self.loss = learner.loss
        self.fast = FastMLP(model, optimizer, self.loss) if why is None else None

    def __getstate__(self) -> dict[str, Any]:
        # a pickle keeps no tensor views: the fast path is rebuilt from the model and the
        # optimizer (all its state lives there) when the stepper is loaded
        return {**self.__dict__, "fast": self.fast is not None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.fast = FastMLP(self.model, self.optimizer, self.loss) if state["fast"] else None

    def _plain(self) -> bool:
        """True while the learner trains with its own plain supervised objective."""
        return self.learner.objective is self.learner._default_objective

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Output (B, ...) of the model on ``x`` (B, ...) in prediction mode, float32, and what
        :meth:`learn` may reuse (the activations, fast path only)."""
        if self.fast is not None:
            return self.fast.forward(x)
        model = self.model
        was = model.training
        model.eval()
        try:
            with torch.no_grad(), self.updater.autocast(x):
                return model(x).float(), None
        finally:
            model.train(was)

    def learn(self, x: torch.Tensor, y: torch.Tensor, acts: Any = None) -> torch.Tensor:
        """One update on (x (B, ...), y (B,)); the output before it (B, ...), float32."""
        if self.fast is not None and self._plain():
            out = self.fast.learn(x, y, acts)
            self.updater.step_count += 1
            return out
        objective = self.learner.objective
        self.model.train()
        if not isinstance(objective, Supervised):  # signal from the clean, pre-update model
            with torch.no_grad(), self.updater.autocast(x):
                out = self.model(x).float()
            objective.step(self.model, (x, y), self.updater)
            return out
        return objective.step(self.model, (x, y), self.updater).output.float()  # type: ignore[union-attr]
