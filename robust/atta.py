"""Adversarial training with attack reuse across epochs (ATTA, Zheng et al. 2020).

H. Zheng, Z. Zhang, J. Gu, H. Lee, A. Prakash, "Efficient Adversarial Training with Transferable
Adversarial Examples", CVPR 2020, arXiv:1912.11969.

Adversarial perturbations transfer between the models of consecutive epochs, so each sample's
adversarial point is kept and the next epoch continues from it with only ``steps`` PGD steps
(ATTA-k): over ``E`` epochs a sample accumulates ``E * k`` steps of attack for the cost of ``k``
per epoch. The first visit of a sample starts from a uniform random point of the ball (PGD's
random start). Cost per batch: ``steps + 1`` forward/backward passes (PGD-10 AT: 11).

The objective needs each sample's identity: batches are ``(x, y, index)``, with ``index`` the
sample's position in the dataset, as :class:`IndexedDataset` yields them. The stored
perturbations (``num_samples`` x one sample's shape, float32, on the training device) are part
of :meth:`ATTA.state_dict`, so a checkpoint resumes them.

.. note:: The paper also maps each perturbation through the data augmentation of the next epoch.
   That is not implemented: with random augmentation the stored perturbation belongs to another
   view of the image (still a valid starting point inside the ball, but a weaker one).

Examples
--------
>>> import torch
>>> from torch.utils.data import DataLoader, TensorDataset
>>> from traincore import fit
>>> from robust import ATTA, IndexedDataset
>>> _ = torch.manual_seed(0)
>>> data = IndexedDataset(TensorDataset(torch.rand(32, 1, 4, 4), torch.randint(0, 3, (32,))))
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
>>> atta = ATTA(eps=0.1, steps=2, num_samples=len(data))
>>> history = fit(model, DataLoader(data, batch_size=8, shuffle=True), epochs=2, objective=atta,
...               optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
>>> delta = atta.state_dict()["delta"]  # (32, 1, 4, 4): every sample's stored perturbation
>>> tuple(delta.shape), bool(delta.abs().max() <= 0.1 + 1e-6)
((32, 1, 4, 4), True)
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from robust._training import (
    AdversarialObjective,
    check_eps,
    check_positive,
    like_input,
)
from robust.pgd import pgd
from robust.threat import check_int
from traincore import StepOutput, Updater, unwrap

_STATE_VERSION = 1


class IndexedDataset(Dataset):
    """``dataset[i] = (x, y)`` -> ``(x, y, i)``: the sample index that :class:`ATTA` needs."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int):
        x, y = self.dataset[i]
        return x, y, i


class ATTA(AdversarialObjective):
    """PGD-AT whose attack continues, epoch after epoch, from each sample's last adversarial point.

    Parameters
    ----------
    eps
        L-inf radius (float, or per element such as ``(C, 1, 1)``).
    steps
        PGD steps per epoch (ATTA-k; >= 1).
    alpha
        Step size; None for ``eps / 2`` (accumulated over epochs, not ``2.5 eps / steps``).
    num_samples
        Size of the training set (the largest index + 1).
    bn_mode, lower, upper, generator
        As in :class:`robust.PGDAT`.
    """

    def __init__(self, eps: float | torch.Tensor, *, steps: int = 1, alpha: float | None = None,
                 num_samples: int, bn_mode: str = "eval", lower: float | torch.Tensor = 0.0,
                 upper: float | torch.Tensor = 1.0, generator: torch.Generator | None = None):
        check_eps(eps)
        if isinstance(eps, torch.Tensor) and eps.dim() == 1:
            raise TypeError("eps of ATTA must be a float or per element (C, 1, 1): its "
                            "perturbations outlive a batch, so per-sample (N,) radii do not apply")
        check_int("steps", steps, 1)
        check_positive("alpha", alpha, allow_none=True)
        check_int("num_samples", num_samples, 1)
        self.steps = steps
        self.num_samples = num_samples
        self._store_attack_config(eps, alpha, bn_mode, lower, upper, generator)
        self._delta: torch.Tensor | None = None  # (num_samples, *sample shape) float32
        self._seen: torch.Tensor | None = None  # (num_samples,) bool

    def _buffers_for(self, x: torch.Tensor) -> None:
        shape = (self.num_samples, *x.shape[1:])
        if self._delta is None or self._delta.shape != shape:
            self._delta = torch.zeros(shape, dtype=torch.float32, device=x.device)
            self._seen = torch.zeros(self.num_samples, dtype=torch.bool, device=x.device)
        elif self._delta.device != x.device:
            self._delta, self._seen = self._delta.to(x.device), self._seen.to(x.device)  # type: ignore[union-attr]

    def step(self, model: torch.nn.Module, batch: Any, updater: Updater) -> StepOutput:
        if not isinstance(batch, (tuple, list)) or len(batch) != 3:
            raise ValueError("ATTA needs batches (x, y, index): wrap the dataset in "
                             "robust.IndexedDataset")
        x, y, index = batch
        index = torch.as_tensor(index, device=x.device).long()
        if index.shape != (x.shape[0],) or bool(((index < 0) | (index >= self.num_samples)).any()):
            raise ValueError(f"index must hold one position in [0, {self.num_samples}) per "
                             f"sample, got shape {tuple(index.shape)}")
        self._buffers_for(x)
        eps, alpha = self.current_eps(), self.current_alpha(0.5)
        seen = self._seen.index_select(0, index).view(-1, *([1] * (x.ndim - 1)))  # type: ignore[union-attr]  # (N, 1, ...)
        radius = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
        u = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        start = torch.where(seen, x + self._delta.index_select(0, index).to(x.dtype),  # type: ignore[union-attr]
                            x + (2 * u - 1) * radius)  # first visit: PGD's random start
        x_adv = pgd(unwrap(model), x, y, eps=eps, alpha=alpha, steps=self.steps,
                    lower=self.lower, upper=self.upper, bn_mode=self.bn_mode,
                    generator=self.generator, precision=updater.precision.name, start=start)
        with torch.no_grad():
            self._delta.index_copy_(0, index, (x_adv - x).float())  # type: ignore[union-attr]
            self._seen.index_fill_(0, index, True)  # type: ignore[union-attr]
        x_adv = like_input(x_adv.detach(), x)
        loss, logits = self._loss(model, x, x_adv, y, updater)
        updater.update(loss)
        return StepOutput(loss.detach().float(), logits.detach(), y)

    def state_dict(self) -> dict[str, Any]:
        return {"version": _STATE_VERSION, "delta": self._delta, "seen": self._seen,
                **super().state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"ATTA state version {state.get('version')!r} is not 1")
        self._delta = None if state["delta"] is None else state["delta"].detach().clone()
        self._seen = None if state["seen"] is None else state["seen"].detach().clone()
        super().load_state_dict(state)

    def __repr__(self) -> str:
        return f"ATTA(eps={self.eps!r}, steps={self.steps}, alpha={self.alpha!r})"
