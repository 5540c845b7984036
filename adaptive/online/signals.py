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


def signal_values(signal: str, task: str, out: torch.Tensor, y: torch.Tensor,
                  losses: torch.Tensor) -> np.ndarray:
    """(B,) float64 signal of outputs ``out`` (B, ...), targets ``y`` (B,), ``losses`` (B,)."""
    if signal == "loss":
        return losses.detach().double().cpu().numpy()
    if task == "classification":
        return (out.argmax(1) != y).double().cpu().numpy()
    b = out.shape[0]
    return (out.reshape(b, -1) - y.reshape(b, -1)).abs().mean(1).double().cpu().numpy()


def feed(detector: Any, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feed (B,) values in order; (B,) drift and warning masks."""
    drift = np.zeros(values.shape[0], dtype=bool)
    warn = np.zeros(values.shape[0], dtype=bool)
    if isinstance(detector, Detector):
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
    return alarms.drift.any(1), alarms.warning.any(1)
