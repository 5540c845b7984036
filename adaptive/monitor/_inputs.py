"""What :class:`~adaptive.SensorMonitor` checks before readings reach its sensors: its own
arguments, and the values a caller hands to ``update_many`` or ``update_wide`` (non-numeric,
non-finite, or beyond the detector's ``max_abs_input``: dead letters)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from adaptive.drift import Detector


def check_arguments(detector: Detector, sensors: list[str] | None,
                     calibrate_first: int | None, arl0: float | None,
                     checkpoint_every: int | None, shard: tuple[int, int] | None) -> None:
    """TypeError/ValueError naming the first bad argument of :class:`SensorMonitor`."""
    if not isinstance(detector, Detector):
        raise TypeError(f"detector must be an adaptive Detector, got {type(detector).__name__}")
    if sensors is not None:
        if isinstance(sensors, str) or not all(isinstance(s, str) and s for s in sensors):
            raise ValueError(f"sensors={sensors!r} must be None or a list of non-empty names")
        if len(set(sensors)) != len(sensors):
            raise ValueError(f"sensors={sensors!r} contains repeated names")
    if calibrate_first is not None and (
        not isinstance(calibrate_first, (int, np.integer)) or calibrate_first < 2
    ):
        raise ValueError(f"calibrate_first={calibrate_first!r} must be None or an int >= 2")
    if (calibrate_first is None) != (arl0 is None):
        raise ValueError(
            f"calibrate_first={calibrate_first!r} and arl0={arl0!r}: give both (per-sensor "
            "calibration to a target ARL0 on each sensor's first readings) or neither"
        )
    if arl0 is not None and not (isinstance(arl0, (int, float)) and not isinstance(arl0, bool)
                                 and math.isfinite(arl0) and arl0 > 1):
        raise ValueError(f"arl0={arl0!r} must be a finite number > 1 (readings)")
    if calibrate_first is not None and not detector._fleet_params:
        raise ValueError(f"{type(detector).__name__} has no per-stream parameter to calibrate")
    if checkpoint_every is not None and (
        not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1
    ):
        raise ValueError(f"checkpoint_every={checkpoint_every!r} must be None or an int >= 1")
    if shard is not None and not (
        len(shard) == 2 and all(isinstance(v, (int, np.integer)) for v in shard)
        and 0 <= shard[0] < shard[1]
    ):
        raise ValueError(f"shard={shard!r} must be (i, n) with 0 <= i < n")


def value_letters(raw: Sequence[Any] | np.ndarray, vals: np.ndarray, sensors: list[str],
                  offs: np.ndarray, max_abs: float) -> tuple[np.ndarray, list[dict]]:
    """The readings (K,) to keep and the dead letters of the others: ``non_numeric`` (``raw``
    was not a number), ``non_finite``, ``overflow`` (beyond ``max_abs``)."""
    fin = np.isfinite(vals)
    ok = fin & (np.abs(vals) <= max_abs)
    if ok.all():
        return ok, []
    letters = []
    for k in np.flatnonzero(~ok).tolist():
        reason = "overflow" if fin[k] else "non_finite" if isinstance(
            raw[k], (int, float, np.floating)) else "non_numeric"
        letters.append({"reason": reason, "raw": str(raw[k]), "offset": int(offs[k]),
                        "sensor": sensors[k]})
    return ok, letters


def overflow_letters(vals: np.ndarray, names: Any, offsets: Any,
                     max_abs: float) -> tuple[np.ndarray | None, list[dict]]:
    """Readings beyond ``max_abs`` in ``vals`` (K,) of events or (T, C) of a block (NaN cells,
    skipped, compare False): their mask (None if there are none) and dead letters."""
    if not math.isfinite(max_abs) or not vals.size or (
            np.fmax.reduce(vals, axis=None) <= max_abs
            and np.fmin.reduce(vals, axis=None) >= -max_abs):  # one pass, no copy
        return None, []
    big = np.abs(vals) > max_abs
    if not big.any():  # all NaN
        return None, []
    letters = [{"reason": "overflow", "raw": repr(float(vals[tuple(idx)])),
                "offset": int(offsets[idx[0]]), "sensor": names[idx[-1]]}
               for idx in np.argwhere(big).tolist()]  # [k] of events, [row, column] of a block
    return big, letters


class RowView:
    """``view[k] == seq[idx[k]]`` without building the list (timestamps of wide blocks)."""

    def __init__(self, seq: Any, idx: np.ndarray):
        self.seq, self.idx = seq, idx

    def __getitem__(self, k: int) -> Any:
        return self.seq[int(self.idx[k])]


def to_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")

