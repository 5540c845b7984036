"""Free adversarial training ("Free-AT", Shafahi et al. 2019).

Each batch is replayed ``m`` times. Every replay does ONE forward and ONE backward pass, through
``updater.update(loss)``, on ``x + delta``; that backward fills both the parameter gradients
(used by the optimizer step inside the updater) and ``delta.grad`` (used for the perturbation
step ``delta <- clip(delta + eps * sign(delta.grad), -eps, eps)``). The perturbation is carried
to the next batch ("warm start"), cut to the batch size when a batch is smaller and zero-padded
when it is larger, and is part of :meth:`FreeAT.state_dict`, so it survives a checkpoint.

Threat model: L-inf ball of radius ``eps`` around ``x`` (a float, or per channel such as
:meth:`robust.Normalize.threat`'s ``eps / std``), inputs in ``[lower, upper]`` (numbers or
per-channel tensors).

.. note:: **Epochs.** One batch makes ``m`` optimizer updates, so the paper trains for
   ``epochs / m`` passes over the data to keep the number of updates (and the cost) of plain
   training. :func:`traincore.fit` runs the epochs it is given; pass ``FreeAT.epochs_for(E)``
   (``ceil(E / m)``) to it. ``python -m robust train --method free`` does this for you.

.. note:: **Precision.** Under fp16 ``delta.grad`` is the gradient of the *scaled* loss
   (see :class:`traincore.Updater`); only its sign is used, so the scale does not matter. Steps
   the scaler skips for inf/nan gradients leave ``delta`` where non-finite entries occur
   unchanged (``nan`` -> 0 before the sign).

.. note:: **Model mode.** The forward that crafts the perturbation is the training forward, so
   it runs in whatever mode the model is in (train mode under :func:`traincore.fit`); there is
   no separate attack pass and hence no ``bn_mode``.

Examples
--------
>>> import torch
>>> from traincore import Updater
>>> from robust.free_at import FreeAT
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
>>> updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
>>> free = FreeAT(eps=0.1, m=3)
>>> out = free.step(model, (torch.rand(5, 1, 2, 2), torch.randint(0, 3, (5,))), updater)
>>> updater.step_count, tuple(free.state_dict()["delta"].shape)
(3, (5, 1, 2, 2))
>>> bool(free.state_dict()["delta"].abs().max() <= 0.1)
True
>>> FreeAT.epochs_for(30, m=4)
8

References
----------
A. Shafahi et al., "Adversarial Training for Free!", NeurIPS 2019, arXiv:1904.12843.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from robust._training import AdversarialObjective, check_bounds, check_eps
from robust.threat import check_int, work_dtype
from traincore import StepOutput, Updater, split_batch

_STATE_VERSION = 1


class FreeAT(AdversarialObjective):
    """Free adversarial training: ``m`` replays per batch, one backward pass each.

    Parameters
    ----------
    eps
        L-inf radius: a positive float, or a per-element tensor such as ``(C, 1, 1)`` (the
        perturbation is shared across batches, so a per-sample ``(N,)`` eps has no meaning).
    m
        Replays per batch (>= 1; the paper uses 4 to 10). ``m=1`` is plain training on a
        perturbation that accumulates across batches.
    lower, upper
        Input domain; ``x + delta`` is kept inside it.
    """

    def __init__(self, eps: float | torch.Tensor, *, m: int = 4,
                 lower: float | torch.Tensor = 0.0, upper: float | torch.Tensor = 1.0):
        if isinstance(eps, torch.Tensor) and eps.dim() == 1:
            raise TypeError("eps of FreeAT must be a float or a per-element tensor such as "
                            "(C, 1, 1): its perturbation is carried across batches, so "
                            "per-sample (N,) radii do not apply")
        check_eps(eps)
        check_int("m", m, 1)
        check_bounds(lower, upper)
        self.eps = eps
        self.m = m
        self.lower = lower
        self.upper = upper
        self.eps_scale = 1.0
        self._delta: torch.Tensor | None = None  # (N, *input shape) carried perturbation

    @staticmethod
    def epochs_for(epochs: int, m: int) -> int:
        """Passes over the data that give ``epochs`` epochs' worth of updates with ``m`` replays."""
        check_int("epochs", epochs, 1)
        check_int("m", m, 1)
        return math.ceil(epochs / m)

    def _delta_for(self, x: torch.Tensor) -> torch.Tensor:
        """The carried perturbation fitted to ``x``'s shape: cut, or zero-padded, or new."""
        d = self._delta
        if d is None or d.shape[1:] != x.shape[1:]:
            return torch.zeros_like(x, dtype=work_dtype(x))
        d = d.to(x.device)
        n = x.shape[0]
        if d.shape[0] >= n:
            return d[:n].clone()
        pad = torch.zeros((n - d.shape[0], *d.shape[1:]), dtype=d.dtype, device=d.device)
        return torch.cat([d, pad])

    def step(self, model: torch.nn.Module, batch: Any, updater: Updater) -> StepOutput:
        x, y = split_batch(batch)
        eps = self.current_eps()
        if isinstance(eps, torch.Tensor):  # per element, e.g. (C, 1, 1)
            eps = eps.to(device=x.device, dtype=work_dtype(x))
        lo, hi = (torch.as_tensor(b, dtype=x.dtype, device=x.device)
                  for b in (self.lower, self.upper))
        delta = self._delta_for(x)  # (N, C, H, W) float32 (float64 for float64 x)
        # keep x + delta inside the domain from the first replay on
        delta = torch.max(torch.min(delta, hi - x), lo - x)
        losses = []
        for _ in range(self.m):
            delta.requires_grad_(True)
            x_in = x + delta
            if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
                x_in = x_in.contiguous(memory_format=torch.channels_last)
            with updater.autocast(x):
                logits = model(x_in)  # (N, classes)
                loss = F.cross_entropy(logits, y)
            updater.update(loss)  # one backward: parameter grads AND delta.grad
            grad = torch.nan_to_num(delta.grad, nan=0.0)  # type: ignore[arg-type]
            with torch.no_grad():
                delta = torch.clamp(delta + eps * grad.sign(), -eps, eps)  # type: ignore[arg-type]
                delta = torch.max(torch.min(delta, hi - x), lo - x)
            losses.append(loss.detach().float())
        # carry the full-size perturbation: keep the rows a smaller batch did not touch
        if self._delta is not None and self._delta.shape[0] > x.shape[0] \
                and self._delta.shape[1:] == x.shape[1:]:
            carried = self._delta.clone()
            carried[: x.shape[0]] = delta
            self._delta = carried
        else:
            self._delta = delta.detach()
        return StepOutput(torch.stack(losses).mean(), logits.detach(), y)

    def state_dict(self) -> dict[str, Any]:
        return {"version": _STATE_VERSION, "delta": self._delta, **super().state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"FreeAT state version {state.get('version')!r} is not 1")
        delta = state["delta"]
        self._delta = None if delta is None else delta.detach().clone()
        super().load_state_dict(state)

    def __repr__(self) -> str:
        return f"FreeAT(eps={self.eps!r}, m={self.m})"
