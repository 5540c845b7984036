"""On-device accumulation of the training metrics: mean loss and accuracy.

Each step adds ``loss * n`` and the number of correct predictions to 0-d tensors on the model's
device, so a training step never waits for the device. The host reads the totals once per log
interval with a single ``.tolist()`` of one stacked tensor (one sync), not with an ``.item()``
per step. The sample counts are host integers: they come from tensor *shapes*, which the host
knows without a sync, so keeping them on the device would only add a kernel launch per step.

Examples
--------
>>> import torch
>>> acc = MetricAccumulator()
>>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])  # (N=3, classes=2)
>>> acc.update(torch.tensor(0.5), logits, torch.tensor([0, 1, 1]))
>>> acc.update(torch.tensor(2.0), logits[:1], torch.tensor([1]))
>>> acc.compute()
{'loss': 0.875, 'acc': 0.5, 'count': 4}
"""

from __future__ import annotations

from typing import Any

import torch


class MetricAccumulator:
    """Sums of ``loss * n``, correct predictions and sample counts, kept on the device.

    Parameters
    ----------
    device
        Device of the running sums; None takes it from the first loss passed to :meth:`update`.
    fold_every
        Steps whose tensors are kept before they are folded into the running sums.

    Notes
    -----
    :meth:`compute` is the only method that syncs the host with the device. A step costs three
    device ops (argmax, compare, sum for the accuracy): its loss and correct count are kept as
    tensors and folded into the float64 sums every ``fold_every`` steps with one stack-and-sum
    per distinct ``n`` (so at most ``fold_every`` small tensors are alive). Counts live on the
    host (they are shapes); :meth:`totals` stacks everything into one (4,) tensor
    ``[loss_sum, loss_count, correct, acc_count]`` for an all-reduce across processes.
    """

    def __init__(self, device: torch.device | str | None = None, *, fold_every: int = 32):
        if device is not None and not isinstance(device, (torch.device, str)):
            raise TypeError(f"device must be a torch.device, a str or None, got {device!r}")
        if not isinstance(fold_every, int) or isinstance(fold_every, bool) or fold_every < 1:
            raise ValueError(f"fold_every={fold_every!r} must be an int >= 1")
        self.device = None if device is None else torch.device(device)
        self.fold_every = fold_every
        self.reset()

    def reset(self) -> None:
        """Zero the sums (the device is kept)."""
        self._loss_sum: torch.Tensor | None = None  # () sum over steps of loss * n
        self._correct: torch.Tensor | None = None  # () number of correct predictions
        self._losses: list[torch.Tensor] = []  # () step losses not folded yet
        self._loss_ns: list[int] = []  # their n
        self._hits: list[torch.Tensor] = []  # () correct counts not folded yet
        self.loss_count = 0  # samples the loss was averaged over
        self.acc_count = 0  # samples with a prediction

    def _zeros(self, like: torch.Tensor) -> None:
        if self.device is None:
            self.device = like.device
        # float64 so that long epochs of float32 losses do not lose digits; MPS has no float64
        dtype = torch.float32 if self.device.type == "mps" else torch.float64
        self._loss_sum = torch.zeros((), dtype=dtype, device=self.device)
        self._correct = torch.zeros((), dtype=dtype, device=self.device)

    def update(
        self,
        loss: torch.Tensor,
        output: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        n: int | None = None,
    ) -> None:
        """Add one step: ``loss`` is the mean over its ``n`` samples.

        Parameters
        ----------
        loss
            Scalar tensor, the mean loss of the step.
        output
            (N, classes) logits or scores, or None when the step has no predictions.
        target
            (N,) integer labels matching ``output``.
        n
            Number of samples ``loss`` averages over; default ``len(target)``, else
            ``len(output)``, else 1 (the loss is then weighted per step).
        """
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(f"loss must be a scalar tensor, got {_describe(loss)}")
        if (output is None) != (target is None):
            raise ValueError("output and target must be given together (both or neither)")
        if output is not None:
            _check_prediction(output, target)
        if n is None:
            n = 1 if target is None else int(target.shape[0])
        elif not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"n={n!r} must be a non-negative int")
        if self._loss_sum is None:
            self._zeros(loss)
        # detach/reshape only when needed: this runs every step, and StepOutput is detached
        if loss.requires_grad:
            loss = loss.detach()
        self._losses.append(loss if loss.dim() == 0 else loss.reshape(()))
        self._loss_ns.append(n)
        self.loss_count += n
        if output is not None:
            self._hits.append((output.argmax(-1) == target).sum())  # type: ignore[attr-defined]  # argmax: no autograd
            self.acc_count += int(target.shape[0])  # type: ignore[union-attr]  # given with output
        if len(self._losses) >= self.fold_every:
            self._fold()

    def _fold(self) -> None:
        """Add the kept step tensors to the running sums (device ops only, no sync)."""
        by_n: dict[int, list[torch.Tensor]] = {}
        for loss, n in zip(self._losses, self._loss_ns):
            by_n.setdefault(n, []).append(loss)
        for n, losses in by_n.items():  # usually one n, plus the short last batch
            self._loss_sum.add_(torch.stack(losses).sum(dtype=self._loss_sum.dtype), alpha=n)  # type: ignore[union-attr]  # set by _zeros
        if self._hits:
            self._correct.add_(torch.stack(self._hits).sum())  # type: ignore[union-attr]
        self._losses, self._loss_ns, self._hits = [], [], []

    def totals(self) -> torch.Tensor:
        """(4,) tensor ``[loss_sum, loss_count, correct, acc_count]`` on the device (no sync)."""
        if self._loss_sum is None:
            self._zeros(torch.zeros(()))
        self._fold()
        counts = torch.tensor(
            [self.loss_count, self.acc_count], dtype=self._loss_sum.dtype  # type: ignore[union-attr]
        ).to(self.device, non_blocking=True)
        return torch.stack((self._loss_sum, counts[0], self._correct, counts[1]))  # type: ignore[arg-type]

    def compute(self, totals: torch.Tensor | None = None) -> dict[str, Any]:
        """Read the means with one host sync: ``{"loss", "acc", "count"}`` (None when empty).

        ``totals`` may be a (4,) tensor from :meth:`totals`, for example after an all-reduce.
        """
        if totals is None:
            if self._loss_sum is None:
                return {"loss": None, "acc": None, "count": 0}
            self._fold()
            loss_sum, correct = torch.stack((self._loss_sum, self._correct)).tolist()  # type: ignore[arg-type]
            loss_count, acc_count = self.loss_count, self.acc_count
        else:
            loss_sum, loss_count, correct, acc_count = totals.tolist()
        return {
            "loss": loss_sum / loss_count if loss_count else None,
            "acc": correct / acc_count if acc_count else None,
            "count": int(loss_count),
        }


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)}"
    return type(x).__name__


def _check_prediction(output: Any, target: Any) -> None:
    if not isinstance(output, torch.Tensor) or output.ndim != 2:
        raise ValueError(f"output must be an (N, classes) tensor, got {_describe(output)}")
    if not isinstance(target, torch.Tensor) or target.shape != output.shape[:1]:
        raise ValueError(
            f"target must be an ({output.shape[0]},) tensor of labels matching output, "
            f"got {_describe(target)}"
        )
