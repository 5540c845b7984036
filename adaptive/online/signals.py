"""Per-sample losses and the monitoring signal of :class:`~adaptive.OnlineLearner`.

The per-sample signal is measured *before* the update: the loss, or the 0/1 error (absolute
error for regression). :func:`feed` gives it, in order, to an adaptive
:class:`~adaptive.Detector` (one vectorised ``update_many``) or to any detector with River's
interface (``update(x)``, ``drift_detected``, ``warning_detected``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from adaptive.drift import Detector, Fleet


def per_sample_loss(loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) losses of outputs ``out`` (B, ...) against targets ``y`` (B,): ``"ce"``, ``"mse"``
    (mean over the output's elements) or a callable returning per-sample losses."""
    b = out.shape[0]
    if callable(loss):
        r = loss(out, y)
        if r.shape != (b,):
            raise ValueError(f"loss callable must return per-sample losses of shape ({b},), "
                             f"got {tuple(r.shape)}")
        return r
    if loss == "ce":
        return F.cross_entropy(out, y, reduction="none")
    return (out.reshape(b, -1) - y.reshape(b, -1).to(out.dtype)).pow(2).mean(1)


def argmax_row(row: list[float]) -> int:
    """``torch.argmax`` of one row of logits given as a list: the first maximum, and the first
    NaN when there is one (torch ranks NaN above every number)."""
    for i, v in enumerate(row):
        if v != v:
            return i
    return row.index(max(row))


class Exceedance:
    """Signal ``"auto"`` of a regressor: 1 when a sample's absolute error exceeds the mean
    absolute error of all samples before it, else 0. Bounded and free of the target's scale, it
    rises when the model gets worse, so the same Bernoulli detectors serve both tasks.

    Examples
    --------
    >>> ex = Exceedance()
    >>> ex(np.array([1.0, 3.0, 1.0, 9.0])).tolist()
    [0.0, 1.0, 0.0, 1.0]
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0  # mean absolute error so far

    def __call__(self, err: np.ndarray) -> np.ndarray:
        out = np.empty(err.shape[0])
        for i, e in enumerate(err.tolist()):
            out[i] = float(self.n > 0 and e > self.mean)
            self.n += 1
            self.mean += (e - self.mean) / self.n
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.n, self.mean = int(state["n"]), float(state["mean"])


def signal_values(signal: str, task: str, out: torch.Tensor, y: torch.Tensor,
                  losses: torch.Tensor | None, exceed: Exceedance | None = None) -> np.ndarray:
    """(B,) float64 signal of outputs ``out`` (B, ...), targets ``y`` (B,), ``losses`` (B,)
    (needed for ``"loss"`` only); ``exceed`` holds the state of ``"auto"`` for a regressor."""
    if signal == "loss":
        return losses.detach().double().cpu().numpy()  # type: ignore[union-attr]
    if task == "classification":
        if out.shape[0] == 1:  # one sample: no tensor ops beyond the read-out
            return np.array([float(argmax_row(out[0].tolist()) != int(y[0]))])
        return (out.argmax(1) != y).double().cpu().numpy()
    b = out.shape[0]
    err = (out.reshape(b, -1) - y.reshape(b, -1)).abs().mean(1).double().cpu().numpy()
    return exceed(err) if signal == "auto" else err  # type: ignore[misc]


def feed(detector: Any, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feed (B,) values in order; (B,) drift and warning masks."""
    drift = np.zeros(values.shape[0], dtype=bool)
    warn = np.zeros(values.shape[0], dtype=bool)
    if isinstance(detector, Detector) and values.shape[0] > 1:
        alarms = detector.update_many(values)
        drift[alarms.drift] = True
        warn[alarms.warning] = True
        return drift, warn
    for i, v in enumerate(values):
        detector.update(float(v))
        drift[i] = bool(detector.drift_detected)
        warn[i] = bool(getattr(detector, "warning_detected", False))
    return drift, warn


def feature_alarms(monitor: Fleet, feature_fn: Callable[[torch.Tensor], torch.Tensor] | None,
                   x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Feed the feature statistics of inputs ``x`` (B, ...) to ``monitor`` (one stream per
    statistic); (B,) masks: drift, warning on any stream."""
    feats = feature_fn(x) if feature_fn is not None else x.reshape(x.shape[0], -1)
    vals = feats.detach().double().cpu().numpy()  # (B, S)
    if vals.shape[1] != monitor.n_streams:
        raise ValueError(f"feature_monitor has {monitor.n_streams} streams but "
                         f"the inputs give {vals.shape[1]} feature statistics")
    alarms = monitor.update(vals, output="mask")
    return alarms.drift.any(1), alarms.warning.any(1)  # type: ignore[return-value]
