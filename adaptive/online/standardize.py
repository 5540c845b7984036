"""Online standardisation of numeric features: running mean and variance, test-then-train.

Each feature ``j`` is mapped to ``(x_j - mean_j) / std_j`` with the mean and the population
standard deviation of the samples learned so far (0 while ``std_j`` is 0, as River's
``preprocessing.StandardScaler`` does), so a user of River streams does not need to put a scaler
in front of the learner. The statistics are float64 and updated with Chan et al.'s pairwise
formula (Welford's for one sample), so the order of mini-batches does not change them beyond
rounding.

.. note:: Test-then-train, strictly: a sample is scaled with the statistics *before* it, both
   when it is predicted and when it is learned, and only then added to them. River's pipeline
   (``StandardScaler() | model``) adds a sample to the statistics before scaling it for
   ``learn_one``; here the model learns on exactly the input it predicted on.

Examples
--------
>>> import torch
>>> s = RunningStandardizer()
>>> s.update(torch.tensor([[1.0, 10.0], [3.0, 10.0]]))
>>> s.transform(torch.tensor([[2.0, 12.0], [4.0, 10.0]]))
tensor([[0., 0.],
        [2., 0.]])
>>> s.n, s.mean.tolist()
(2, [2.0, 10.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class RunningStandardizer:
    """Per-feature running mean and variance of samples (B, ...) (features = the flattened
    sample); :meth:`transform` scales, :meth:`update` learns."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None  # (F,) float64
        self.m2: np.ndarray | None = None  # (F,) float64: sum of squared deviations
        self.inv_std: np.ndarray | None = None  # (F,) float64: 1/std, 0 where std is 0

    def transform_array(self, a: np.ndarray) -> np.ndarray:
        """Scaled copy of ``a`` (B, F) float64 (unchanged before the first update)."""
        if self.mean is None:
            return np.zeros_like(a)  # no statistics yet: std 0, as in River
        return (a - self.mean) * self.inv_std

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled ``x`` (B, ...), same dtype and device."""
        a = x.detach().reshape(x.shape[0], -1).cpu().double().numpy()
        z = torch.from_numpy(self.transform_array(a)).reshape(x.shape)
        return z.to(device=x.device, dtype=x.dtype)

    def update_array(self, a: np.ndarray) -> None:
        """Add the rows of ``a`` (B, F) float64 to the statistics."""
        b = a.shape[0]
        if b == 0:
            return
        if self.mean is None:
            self.mean = np.zeros(a.shape[1])
            self.m2 = np.zeros(a.shape[1])
        if b == 1:  # Welford
            self.n += 1
            delta = a[0] - self.mean
            self.mean += delta / self.n
            self.m2 += delta * (a[0] - self.mean)
        else:  # Chan et al.: merge (n, mean, m2) with the batch's
            bm = a.mean(0)
            bm2 = ((a - bm) ** 2).sum(0)
            n = self.n + b
            delta = bm - self.mean
            self.mean += delta * (b / n)
            self.m2 += bm2 + delta ** 2 * (self.n * b / n)
            self.n = n
        self._set_inv_std()

    def _set_inv_std(self) -> None:
        std = np.sqrt(self.m2 / max(self.n, 1))  # type: ignore[operator]
        self.inv_std = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)

    def update(self, x: torch.Tensor) -> None:
        self.update_array(x.detach().reshape(x.shape[0], -1).cpu().double().numpy())

    def state_dict(self) -> dict[str, Any]:
        def t(a):
            return None if a is None else torch.from_numpy(a.copy())

        return {"n": self.n, "mean": t(self.mean), "m2": t(self.m2)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.n = int(state["n"])
        self.mean = None if state["mean"] is None else state["mean"].double().numpy().copy()
        self.m2 = None if state["m2"] is None else state["m2"].double().numpy().copy()
        self.inv_std = None
        if self.mean is not None:
            self._set_inv_std()
