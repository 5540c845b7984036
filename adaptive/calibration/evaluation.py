"""Evaluation of drift alarms against known change points, next to a trivial baseline.

Matching rule. A change is a span ``(start, end)`` (an abrupt change at ``t`` is ``(t, t)``);
its *detection window* is ``[start, end + max_delay]``. Alarms are taken in time order; an alarm
is a true positive (TP) for the first change, in time order, whose window contains it and that
has not been detected yet; every other alarm is a false positive (FP); a change without a TP is
a false negative (FN, a missed detection). The delay of a detection is ``alarm - start``.

Measures (``nan`` where undefined, ``inf`` where a rate is zero):

- ``precision = TP / (TP + FP)``, ``recall = TP / n_changes``, ``f1`` their harmonic mean;
- ``mean_delay``: mean detection delay of the TPs, in samples, counted from ``start``;
- ``false_alarms_per_1000 = 1000 * FP / n_samples``;
- CD-MOA's measures (Bifet et al., 2013): ``mtfa`` (mean time between false alarms) estimated
  as the number of samples outside every detection window divided by FP (the censored
  exponential / Poisson-rate estimate, ``inf`` without FP: defined also for 0 or 1 FP, unlike
  the mean gap between consecutive FPs); ``mtd`` (mean time to detection, which equals
  ``mean_delay``); ``mdr = FN / n_changes`` (missed detection rate);
  ``mtr = mtfa / mtd * (1 - mdr)`` (mean time ratio; ``inf`` when ``mtd`` is 0).

Baseline. Every report carries, in ``baseline``, the same measures for the trivial detector that
raises an alarm on every n-th sample (at ``t = n-1, 2n-1, ...``). By default
``n = max_delay + 1``: the largest period whose alarms fall into every detection window, so the
baseline detects every change (recall 1, delays <= ``max_delay``) whenever changes are more
than ``max_delay + 1`` samples apart and the last window fits in the stream; a detector is only
useful if it beats the baseline on false alarms at a comparable delay.

References
----------
A. Bifet, J. Read, B. Pfahringer, G. Holmes, I. Zliobaite. CD-MOA: Change Detection Framework
for Massive Online Analysis. IDA 2013.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive._checks import check_int
from adaptive.drift.base import Detector

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

# change points: ints (abrupt changes) or (start, end) pairs (gradual ones), or an int array
Changes = Sequence[int | tuple[int, int]] | np.ndarray


def _int(name: str, value: Any, low: int) -> int:
    check_int(name, value, low)
    return int(value)


def normalize_changes(changes: Any, n_samples: int) -> np.ndarray:
    """Change points as a (C, 2) int64 array of ``(start, end)`` spans, validated.

    ``changes`` mixes abrupt changes (ints ``t``, meaning ``(t, t)``) and gradual ones
    (``(start, end)`` pairs with ``start <= end``). Starts must be strictly increasing and every
    change must lie inside the stream, ``0 <= start <= end < n_samples``.

    Examples
    --------
    >>> normalize_changes([10, (20, 30)], 100).tolist()
    [[10, 10], [20, 30]]
    """
    n = _int("n_samples", n_samples, 1)
    spans: list[tuple[int, int]] = []
    for i, c in enumerate(changes if changes is not None else []):
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            start = end = int(c)
        elif isinstance(c, (tuple, list, np.ndarray)) and len(c) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in c
        ):
            start, end = int(c[0]), int(c[1])
        else:
            raise ValueError(
                f"changes[{i}]={c!r} must be an int (abrupt) or a (start, end) pair of ints"
            )
        if not 0 <= start <= end < n:
            raise ValueError(
                f"changes[{i}]={c!r} must satisfy 0 <= start <= end < n_samples={n}"
            )
        if spans and start <= spans[-1][0]:
            raise ValueError(
                f"changes must be sorted by strictly increasing start; changes[{i}]={c!r} "
                f"follows a change starting at {spans[-1][0]}"
            )
        spans.append((start, end))
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2)


def _check_alarms(alarms: Any, n_samples: int) -> np.ndarray:
    arr = np.asarray(alarms if alarms is not None else [])
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or (
        np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))
    )):
        raise ValueError(f"alarms must be a 1-D sequence of integer indices, got {alarms!r}")
    arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= n_samples:
        raise ValueError(
            f"alarms must lie in [0, n_samples={n_samples}), got min {arr.min()}, max {arr.max()}"
        )
    if np.any(np.diff(arr) <= 0):
        k = int(np.flatnonzero(np.diff(arr) <= 0)[0])
        raise ValueError(
            f"alarms must be strictly increasing, got {arr[k]} then {arr[k + 1]} at index {k + 1}"
        )
    return arr


def _div(a: float, b: float) -> float:
    return a / b if b else math.nan


@dataclass(frozen=True)
class Report:
    """Scores of a set of alarms against known changes (see the module docstring)."""

    n_samples: int
    n_changes: int
    n_alarms: int
    max_delay: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    mean_delay: float
    false_alarms_per_1000: float
    mtfa: float
    mtd: float
    mdr: float
    mtr: float
    delays: tuple[int, ...]
    n_in_control: int = 0
    baseline_every: int | None = None
    baseline: Report | None = None

    def as_dict(self) -> dict[str, Any]:
        """All measures as plain Python values (the baseline's as a nested dict)."""
        out = asdict(self)
        out["delays"] = list(self.delays)
        out["baseline"] = None if self.baseline is None else self.baseline.as_dict()
        return out


def _score(alarms: np.ndarray, spans: np.ndarray, n_samples: int, max_delay: int) -> Report:
    detected = np.zeros(spans.shape[0], dtype=bool)
    delays: list[int] = []
    fp = 0
    for a in alarms.tolist():
        hit = np.flatnonzero(
            ~detected & (spans[:, 0] <= a) & (a <= spans[:, 1] + max_delay)
        )
        if hit.size:
            detected[hit[0]] = True
            delays.append(a - int(spans[hit[0], 0]))
        else:
            fp += 1
    # in-control samples: outside the union of the detection windows [start, end + max_delay]
    covered = np.zeros(n_samples, dtype=bool)
    for start, end in spans.tolist():
        covered[start : min(end + max_delay, n_samples - 1) + 1] = True
    return _report(n_samples, spans.shape[0], int(alarms.size), max_delay, fp,
                   int(n_samples - covered.sum()), delays)


def _report(n_samples: int, n_changes: int, n_alarms: int, max_delay: int, fp: int,
            n_in_control: int, delays: list[int]) -> Report:
    """All measures from the counts (shared by a single evaluation and a pooled one)."""
    tp = len(delays)
    fn = n_changes - tp
    precision = _div(tp, tp + fp)
    recall = _div(tp, n_changes)
    if math.isnan(precision) or math.isnan(recall):
        f1 = math.nan
    else:
        f1 = _div(2 * precision * recall, precision + recall) if precision + recall else 0.0
    mtfa = n_in_control / fp if fp else math.inf
    mtd = float(np.mean(delays)) if delays else math.nan
    mdr = _div(fn, n_changes)
    if math.isnan(mtd):
        mtr = math.nan
    elif mtd == 0.0:
        mtr = math.inf
    else:
        mtr = mtfa / mtd * (1.0 - mdr)
    return Report(
        n_samples=n_samples, n_changes=n_changes, n_alarms=n_alarms, max_delay=max_delay,
        tp=tp, fp=fp, fn=fn, precision=precision, recall=recall, f1=f1, mean_delay=mtd,
        false_alarms_per_1000=1000.0 * fp / n_samples, mtfa=mtfa, mtd=mtd, mdr=mdr, mtr=mtr,
        delays=tuple(delays), n_in_control=n_in_control,
    )


def pool_reports(reports: Iterable[Report]) -> Report:
    """One report over several streams: counts, samples and delays summed, measures recomputed.

    The pooled ``mtfa`` is all in-control samples over all false alarms, the pooled mean delay
    the mean over every detection (not a mean of means). Each report keeps the ``max_delay`` it
    was scored with; the pooled one shows the largest. Baselines are pooled the same way when
    every report has one (``baseline_every`` is kept when they share it, else ``None``).

    Examples
    --------
    >>> a = evaluate_alarms([105], [100], n_samples=500, max_delay=50)
    >>> b = evaluate_alarms([10, 230], [200], n_samples=500, max_delay=50)
    >>> p = pool_reports([a, b])
    >>> p.tp, p.fp, p.delays, p.mean_delay, p.mtfa
    (2, 1, (5, 30), 17.5, 898.0)
    """
    reps = list(reports) if reports is not None else []
    if not reps or not all(isinstance(r, Report) for r in reps):
        raise ValueError("reports must be a non-empty sequence of Report")
    delays = [d for r in reps for d in r.delays]
    pooled = _report(sum(r.n_samples for r in reps), sum(r.n_changes for r in reps),
                     sum(r.n_alarms for r in reps), max(r.max_delay for r in reps),
                     sum(r.fp for r in reps), sum(r.n_in_control for r in reps), delays)
    if all(r.baseline is not None for r in reps):
        everys = {r.baseline_every for r in reps}
        base = pool_reports([r.baseline for r in reps])  # type: ignore[misc]  # all set: checked above
        every = everys.pop() if len(everys) == 1 else None
        return Report(**{**pooled.__dict__, "baseline_every": every, "baseline": base})
    return pooled


def baseline_alarms(n_samples: int, every: int) -> np.ndarray:
    """Alarms of the trivial detector that fires on every ``every``-th sample: (K,) indices.

    Examples
    --------
    >>> baseline_alarms(10, 3).tolist()
    [2, 5, 8]
    """
    n = _int("n_samples", n_samples, 1)
    k = _int("every", every, 1)
    return np.arange(k - 1, n, k, dtype=np.int64)


def evaluate_alarms(
    alarms: ArrayLike,
    changes: Changes,
    n_samples: int,
    max_delay: int,
    baseline_every: int | None = None,
) -> Report:
    """Score alarm indices against known change points, with the trivial baseline beside them.

    Parameters
    ----------
    alarms
        Strictly increasing sample indices in ``[0, n_samples)`` at which a drift was signalled.
    changes
        True changes, sorted by start: ints (abrupt) or ``(start, end)`` pairs (gradual).
    n_samples
        Length of the stream.
    max_delay
        Largest delay (after a change's end) at which an alarm still counts as its detection.
    baseline_every
        Period of the baseline's alarms; ``None`` means ``max_delay + 1`` (recall 1 by
        construction, see the module docstring).

    Returns
    -------
    Report
        The detector's scores; ``report.baseline`` holds the baseline's.

    Examples
    --------
    >>> r = evaluate_alarms([105, 150, 420], [100, (400, 410)], n_samples=1000, max_delay=50)
    >>> r.tp, r.fp, r.fn, r.delays, r.mean_delay
    (2, 1, 0, (5, 20), 12.5)
    >>> round(r.precision, 3), r.recall, r.false_alarms_per_1000
    (0.667, 1.0, 1.0)
    >>> r.baseline_every, r.baseline.recall, r.baseline.fp
    (51, 1.0, 17)
    """
    n = _int("n_samples", n_samples, 1)
    md = _int("max_delay", max_delay, 0)
    spans = normalize_changes(changes, n)
    arr = _check_alarms(alarms, n)
    every = md + 1 if baseline_every is None else _int("baseline_every", baseline_every, 1)
    base = _score(baseline_alarms(n, every), spans, n, md)
    report = _score(arr, spans, n, md)
    return Report(**{**report.__dict__, "baseline_every": every, "baseline": base})


def evaluate_detector(
    detector: Detector,
    stream: ArrayLike,
    changes: Changes,
    max_delay: int,
    baseline_every: int | None = None,
) -> Report:
    """Run a fresh clone of ``detector`` over ``stream`` (T,) and score its drift alarms.

    The detector passed in is not updated (a clone with the same parameters runs).

    Examples
    --------
    >>> from adaptive import PageHinkley
    >>> from adaptive.calibration.null_models import gaussian_shift
    >>> x = gaussian_shift(4000, [2000], [0.0, 2.0], seed=1)
    >>> r = evaluate_detector(PageHinkley(threshold=50.0), x, [2000], max_delay=200)
    >>> r.tp, r.fp, r.delays
    (1, 2, (22,))
    """
    if not isinstance(detector, Detector):
        raise TypeError(f"detector must be an adaptive Detector, got {type(detector).__name__}")
    values = np.asarray(stream, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"stream must be a non-empty 1-D array, got shape {values.shape}")
    alarms = detector.clone().update_many(values).drift
    return evaluate_alarms(alarms, changes, values.size, max_delay, baseline_every)
