"""Clean evaluation of a classifier over a loader: mean loss and accuracy, synced once.

Examples
--------
>>> import torch
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(2, 2)
>>> with torch.no_grad():
...     _ = model.weight.copy_(torch.eye(2)); _ = model.bias.zero_()
>>> batches = [(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))]
>>> evaluate_accuracy(model, batches)
0.5
>>> evaluate(model, batches)["count"]
2
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

from traincore.distributed import unwrap
from traincore.metrics import MetricAccumulator
from traincore.objective import split_batch
from traincore.precision import Precision


def to_device(batch: Any, device: torch.device | str) -> Any:
    """Move every tensor in a (nested) tuple/list/dict batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if type(batch) is tuple or type(batch) is list:  # the common (x, y): no generator per step
        return type(batch)([to_device(item, device) for item in batch])
    if isinstance(batch, (tuple, list)):  # named tuples and subclasses
        return type(batch)(to_device(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch


def check_loader(loader: Any, name: str) -> None:
    """A loader must be re-iterable every epoch: an iterable that is not itself an iterator."""
    if not isinstance(loader, Iterable) or isinstance(loader, Iterator):
        raise TypeError(
            f"{name} must be a re-iterable of batches (a DataLoader or a list of batches), "
            f"got {type(loader).__name__}"
        )


def evaluate(
    model: torch.nn.Module,
    loader: Iterable,
    *,
    precision: str | Precision = "fp32",
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Mean loss and accuracy of ``model`` on ``(x, y)`` batches, without gradients.

    The model runs in eval mode (restored afterwards, also on error); a DDP wrapper is
    unwrapped. Returns ``{"loss", "acc", "count"}``; the host syncs once, at the end.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_loader(loader, "loader")
    precision = Precision(precision)
    model = unwrap(model)
    if device is None:
        device = next(model.parameters()).device
    meter = MetricAccumulator(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                x, y = split_batch(to_device(batch, device))
                with precision.autocast(x):
                    logits = model(x)  # (N, classes)
                    loss = (loss_fn or F.cross_entropy)(logits, y)
                meter.update(loss.float(), logits, y)
    finally:
        model.train(was_training)
    return meter.compute()


def evaluate_accuracy(
    model: torch.nn.Module,
    loader: Iterable,
    precision: str | Precision = "fp32",
    *,
    device: torch.device | str | None = None,
) -> float | None:
    """Accuracy of ``model`` on ``loader`` (None for an empty loader); see :func:`evaluate`."""
    return evaluate(model, loader, precision=precision, device=device)["acc"]
