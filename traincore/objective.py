"""The objective protocol: one training step on one batch.

An objective receives the model, the batch and the :class:`~traincore.Updater`, performs one or
more updates through ``updater.update(loss)`` and returns a :class:`StepOutput` with a detached
loss (and, when it has them, the detached logits of the samples it trained on, so that
:func:`traincore.fit` can count accuracy on the device). Adversarial methods (PGD-AT, Free-AT,
which updates m times per batch, TRADES) and online learners implement the same protocol.

Examples
--------
>>> import torch
>>> from traincore import Updater
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(4, 3)
>>> updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
>>> out = Supervised().step(model, (torch.randn(8, 4), torch.randint(0, 3, (8,))), updater)
>>> out.loss.requires_grad, tuple(out.output.shape)
(False, (8, 3))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from traincore.updater import Updater


class StepOutput(NamedTuple):
    """What an objective step returns; every tensor detached and on the model's device."""

    loss: torch.Tensor  # () mean loss of the step
    output: torch.Tensor | None = None  # (N, classes) logits the accuracy is counted on
    target: torch.Tensor | None = None  # (N,) labels matching ``output``


class Objective:
    """Base class of training objectives; subclasses implement :meth:`step`.

    The hooks have no-op defaults: ``on_epoch_start`` lets an objective follow a schedule
    (epsilon warm-up), ``state_dict``/``load_state_dict`` let :mod:`traincore.checkpoint` carry
    state that must survive a resume (Free-AT's perturbation, a guard's history).
    """

    def step(self, model: torch.nn.Module, batch: Any, updater: Updater) -> StepOutput:
        raise NotImplementedError

    def on_epoch_start(self, epoch: int) -> None:
        """Called by :func:`traincore.fit` before each epoch (0-based)."""

    def on_epoch_end(
        self, epoch: int, model: torch.nn.Module, updater: Updater
    ) -> dict[str, float]:
        """Called after each epoch; may return extra metrics for the history."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no state, got keys {sorted(state)}")


def split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(x, y)`` from a batch given as a tuple/list of two tensors."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(
            f"batch must be a pair (x, y), got {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        )
    return batch[0], batch[1]


class Supervised(Objective):
    """Plain supervised training: ``loss_fn(model(x), y)``, one update per batch.

    Parameters
    ----------
    loss_fn
        Maps ``(logits, y)`` to a scalar loss; cross-entropy by default.
    """

    def __init__(self, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None):
        self.loss_fn = loss_fn

    def step(self, model: torch.nn.Module, batch: Any, updater: Updater) -> StepOutput:
        x, y = split_batch(batch)
        with updater.autocast(x):
            logits = model(x)  # (N, classes)
            loss = (self.loss_fn or F.cross_entropy)(logits, y)
        updater.update(loss)
        loss = loss.detach()
        return StepOutput(loss if loss.dtype == torch.float32 else loss.float(), logits.detach(), y)
