"""The one path from a loss to a parameter update.

``Updater.update(loss)`` is the only place in the library that calls ``backward`` and
``optimizer.step``: adversarial objectives, online learners and :func:`traincore.fit` all go
through it, so precision, gradient scaling and clipping behave the same everywhere.

Examples
--------
>>> import torch
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(3, 1)
>>> updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1), grad_clip=1.0)
>>> x = torch.ones(4, 3)
>>> with updater.autocast(x):
...     loss = model(x).pow(2).mean()
>>> updater.update(loss)
>>> updater.step_count, model.weight.grad  # gradients are freed after the step
(1, None)
>>> sorted(updater.state_dict())
['scaler', 'step_count', 'version']
"""

from __future__ import annotations

import contextlib
import numbers
import re
import warnings
from typing import Any

import torch

from traincore.precision import Precision

_STATE_VERSION = 1
_ORDER_WARNING = re.escape("Detected call of `lr_scheduler.step()` before `optimizer.step()`")


class Updater:
    """backward (scaled) -> unscale + clip -> optimizer step -> scaler update -> zero_grad.

    Parameters
    ----------
    model
        The module whose parameters the optimizer updates (a DDP wrapper is fine).
    optimizer
        A ``torch.optim.Optimizer`` over the model's parameters.
    precision
        ``"fp32"``, ``"bf16"`` or ``"fp16"`` (fp16 scales the loss with a ``GradScaler``).
    grad_clip
        Maximum global L2 norm of the gradients, or None for no clipping.
    scheduler
        Optional LR scheduler, stepped after every optimizer step (``scheduler_interval="step"``)
        or by :meth:`epoch_end` (``"epoch"``).
    scheduler_interval
        ``"step"`` or ``"epoch"``.

    Notes
    -----
    After :meth:`update`, the optimizer's parameters have ``.grad = None`` (freed at the end of
    :meth:`step`, so gradients are not alive during the next forward); use :meth:`backward`
    and :meth:`step` separately to look at them in between. Leaf tensors that require grad but
    are not parameters (for example the perturbation of Free-AT) keep the gradient of the
    *scaled* loss: its sign is the true gradient's sign; divide by :attr:`scale` for its value.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        precision: str | Precision = "fp32",
        grad_clip: float | None = None,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        scheduler_interval: str = "step",
    ):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and grad_clip > 0):
            raise ValueError(f"grad_clip={grad_clip!r} must be a positive number or None")
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(
                f"scheduler_interval={scheduler_interval!r} must be 'step' or 'epoch'"
            )
        params = list(model.parameters())
        if not params:
            raise ValueError("model has no parameters to update")
        self.model = model
        self.optimizer = optimizer
        self.precision = Precision(precision)
        self.grad_clip = grad_clip
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.device = params[0].device
        self.scaler = self.precision.grad_scaler(self.device)
        self.step_count = 0

    def autocast(
        self, where: torch.Tensor | torch.device | None = None
    ) -> contextlib.AbstractContextManager:
        """Autocast context of this run's precision, for the device of ``where`` (or the model)."""
        return self.precision.autocast(self.device if where is None else where)

    @property
    def scale(self) -> torch.Tensor | float:
        """Current loss scale (1.0 unless fp16)."""
        return self.scaler.get_scale() if self.scaler.is_enabled() else 1.0

    def backward(self, loss: torch.Tensor) -> None:
        """Backward of the (scaled) loss into cleared gradients. Part of :meth:`update`."""
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(
                f"loss must be a scalar tensor, got {type(loss).__name__}"
                + (f" of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else "")
            )
        # step() already freed them; gradients left by a backward outside the updater must not
        # leak into this update (a scan of .grad is cheaper than zero_grad's profiler scope)
        if any(p.grad is not None for g in self.optimizer.param_groups for p in g["params"]):
            self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()

    def step(self) -> None:
        """Unscale, clip, optimizer step, scaler update, scheduler step, free the gradients.

        Part of :meth:`update`. Afterwards every parameter's ``.grad`` is None; to inspect
        gradients, call :meth:`backward`, look, then :meth:`step`.
        """
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None and self.scheduler_interval == "step":
            with _quiet_scheduler_order():
                self.scheduler.step()
        # free the parameter gradients now rather than at the next backward: they are not
        # alive during the next forward (lower peak memory; on CPU the allocator then reuses
        # their blocks for the activations, measurably faster for small models)
        self.optimizer.zero_grad(set_to_none=True)
        self.step_count += 1

    def update(self, loss: torch.Tensor) -> None:
        """One parameter update from ``loss``: :meth:`backward` then :meth:`step`."""
        self.backward(loss)
        self.step()

    def epoch_end(self) -> None:
        """Step an epoch-interval scheduler; called by :func:`traincore.fit` after each epoch."""
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            with _quiet_scheduler_order():
                self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        """Scaler state and step count (the optimizer and scheduler are checkpointed apart)."""
        return {
            "version": _STATE_VERSION,
            "scaler": self.scaler.state_dict(),
            "step_count": self.step_count,
        }

    def validate_state_dict(self, state: Any) -> None:
        """Raise ``ValueError`` naming what :meth:`load_state_dict` could not restore."""
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            found = state.get("version") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"Updater state version {found!r} is not {_STATE_VERSION}")
        count, scaler = state.get("step_count"), state.get("scaler")
        if not isinstance(count, numbers.Integral) or isinstance(count, bool) or count < 0:
            raise ValueError(f"Updater state step_count={count!r} must be a non-negative int")
        if not isinstance(scaler, dict):
            raise ValueError(f"Updater state scaler={scaler!r} must be a dict")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; a state that does not validate changes nothing."""
        self.validate_state_dict(state)
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.step_count = int(state["step_count"])


@contextlib.contextmanager
def _quiet_scheduler_order():
    # An fp16 step skipped for inf gradients makes torch warn that scheduler.step() came before
    # optimizer.step(); the skip is intended, so the warning is noise here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_ORDER_WARNING)
        yield
