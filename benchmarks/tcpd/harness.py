"""Run online drift detectors over TCPD series and score them as TCPDBench does.

Every detector sees a series value by value (``update``; a missing value is skipped). An alarm
after value t is a predicted change point at t, or at ``t - detector.change_lag`` when the
detector estimates how many values ago the change began (BOCPD's MAP run length, a chart's
last restart); the alarm itself still comes at t. Predictions are cleaned as in TCPDBench
(:func:`~benchmarks.tcpd.metrics.clean_locations`) and scored with F1 (margin 5) and covering.

Settings, as in TCPDBench's two experiments plus one:

- ``default``: the detector as constructed by its factory's defaults, on the raw values;
- ``scale_free``: the same defaults behind the package's scale-free standardisation (phase B of
  issue 13: the wrapper the monitor uses), on the raw values;
- ``oracle``: the best setting per series over a declared grid, for F1 and for covering
  separately (TCPDBench's "best" experiment: an upper bound, not a usable detector).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.tcpd.data import Series
from benchmarks.tcpd.metrics import clean_locations, covering, f1_score


@dataclass(frozen=True)
class Entry:
    """A detector in the benchmark: a factory from keyword parameters, its oracle grid."""

    name: str
    factory: Callable[..., Any]
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)  # what "default" passes

    def grid_points(self) -> list[dict[str, Any]]:
        keys = list(self.grid)
        return [dict(zip(keys, combo)) for combo in itertools.product(*self.grid.values())]


class NoChange:
    """The 'zero' baseline as a detector: never alarms."""

    drift_detected = False

    def update(self, x: float) -> None:
        pass


def run_online(detector: Any, values: np.ndarray) -> list[int]:
    """Change points from one online pass (value by value); values (T,) may hold nan."""
    out = []
    for t, x in enumerate(values.tolist()):
        if x != x:  # a missing value: nothing to update
            continue
        detector.update(x)
        if detector.drift_detected:
            lag = getattr(detector, "change_lag", None)
            out.append(t - int(lag) if lag is not None else t)
    return out


def score(series: Series, locations: Sequence[int]) -> tuple[float, float]:
    """(F1, cover) of predicted change points, cleaned as TCPDBench cleans them."""
    loc = clean_locations(locations, series.n_obs)
    return f1_score(series.annotations, loc), covering(series.annotations, loc, series.n_obs)


def _scores(make: Callable[[], Any], series: Series) -> tuple[float, float]:
    try:
        detector = make()
    except ValueError:  # a grid point the detector rejects (e.g. a window longer than allowed)
        return math.nan, math.nan
    return score(series, run_online(detector, series.values))


def evaluate(entry: Entry, series: Sequence[Series], setting: str,
             wrap: Callable[[Any], Any] | None = None) -> dict[str, dict[str, float]]:
    """series name -> {"f1", "cover"} for one setting ("default", "scale_free" or "oracle").

    ``wrap`` turns a detector into its scale-free form (needed for "scale_free").
    """
    if setting not in ("default", "scale_free", "oracle"):
        raise ValueError(f"setting={setting!r}: expected 'default', 'scale_free' or 'oracle'")
    if setting == "scale_free" and wrap is None:
        raise ValueError("setting='scale_free' needs wrap (the scale-free standardisation)")
    out = {}
    for s in series:
        if setting == "oracle":
            points = entry.grid_points() or [dict(entry.defaults)]
            got = np.array([_scores(lambda kw=kw: entry.factory(**kw), s) for kw in points])
            f1, cover = np.nanmax(got[:, 0]), np.nanmax(got[:, 1])
        elif setting == "default":
            f1, cover = _scores(lambda: entry.factory(**entry.defaults), s)
        else:
            f1, cover = _scores(lambda: wrap(entry.factory(**entry.defaults)), s)
        out[s.name] = {"f1": float(f1), "cover": float(cover)}
    return out


def mean_scores(per_series: Mapping[str, Mapping[str, float]],
                names: Sequence[str]) -> dict[str, float]:
    """Mean F1 and cover over the named series (those present)."""
    rows = [per_series[n] for n in names if n in per_series]
    return {m: float(np.mean([r[m] for r in rows])) if rows else math.nan
            for m in ("f1", "cover")} | {"n": len(rows)}
