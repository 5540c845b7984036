"""TCPDBench's two scores of a segmentation against several annotators, from their definitions.

Van den Burg & Williams, *An Evaluation of Change Point Detection Algorithms* (arXiv 2003.06222),
section 4: change points are 0-based indices; the index 0 is added to every annotator's set and
to the prediction (it starts the first segment, so a method is not punished for it).

**F1 (margin M = 5).** A true change point counts as detected when a predicted point lies within
M of it, each prediction detecting at most one true point (true points are taken in time order,
each matched to the nearest unused prediction, the earlier one on a tie).

- precision P = (true points of the union of all annotators that are detected) / |prediction|;
- recall R = the mean over annotators k of (detected points of annotator k) / |annotator k|;
- F1 = 2 P R / (P + R) (0 when both are 0).

**Covering.** A set of change points cuts [0, T) into segments. The covering of the annotated
segmentation S by the predicted one S' is (1/T) sum over A in S of |A| max over A' in S' of the
Jaccard index |A n A'| / |A u A'| (Arbelaez et al., 2011); the score is its mean over annotators.
Segments are intervals, so each Jaccard index is a difference of interval ends.

**Clean-up of a prediction** (TCPDBench's protocol, applied before both scores): duplicates go,
and so do the indices 0 and T - 1 and any outside [0, T): several methods report the two ends of
the series as change points by default, which means nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

import numpy as np


def clean_locations(locations: Iterable[int], n_obs: int) -> list[int]:
    """Sorted distinct predicted change points inside [1, n_obs - 2] (the benchmark's protocol).

    >>> clean_locations([0, 27, 27, 99], 100)
    [27]
    """
    return sorted({int(x) for x in locations if 1 <= int(x) <= n_obs - 2})


def _detected(truth: Iterable[int], pred: Iterable[int], margin: int) -> int:
    """How many true points have their own prediction within margin (greedy, in time order)."""
    free = sorted(set(pred))
    hits = 0
    for tau in sorted(set(truth)):
        i = bisect.bisect_left(free, tau - margin)
        best = None
        for j in range(i, len(free)):
            d = abs(free[j] - tau)
            if free[j] > tau + margin:
                break
            if best is None or d < abs(free[best] - tau):
                best = j
        if best is not None:
            hits += 1
            del free[best]
    return hits


def f1_score(annotations: Mapping[str, Iterable[int]], predictions: Iterable[int], *,
             margin: int = 5) -> float:
    """F1 of predicted change points against every annotator's (TCPDBench's definition).

    Parameters
    ----------
    annotations
        Annotator id -> that annotator's change points (0-based; may be empty).
    predictions
        Predicted change points (0-based).
    margin
        Largest distance at which a prediction detects a true point.

    Examples
    --------
    >>> f1_score({"a": [10, 20], "b": [11, 20]}, [10, 20])
    1.0
    >>> round(f1_score({"a": [], "b": [10], "c": [50]}, []), 4)  # P = 1, R = (1 + 1/2 + 1/2)/3
    0.8
    """
    if not annotations:
        raise ValueError("annotations must hold at least one annotator, got none")
    sets = [set(int(t) for t in a) | {0} for a in annotations.values()]
    pred = set(int(x) for x in predictions) | {0}
    union = set().union(*sets)
    precision = _detected(union, pred, margin) / len(pred)
    recall = float(np.mean([_detected(s, pred, margin) / len(s) for s in sets]))
    if precision + recall == 0.0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def _segments(points: Iterable[int], n_obs: int) -> np.ndarray:
    """Segment starts (with 0) and the end n_obs, for change points inside (0, n_obs)."""
    cuts = sorted({int(p) for p in points if 0 < int(p) < n_obs})
    return np.array([0, *cuts, n_obs], dtype=np.int64)


def _cover(truth: np.ndarray, pred: np.ndarray, n_obs: int) -> float:
    """Covering of the segmentation with bounds `truth` by the one with bounds `pred`."""
    a0, a1 = truth[:-1, None], truth[1:, None]  # (A, 1) true segments [a0, a1)
    b0, b1 = pred[None, :-1], pred[None, 1:]  # (1, B) predicted segments
    inter = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None)  # (A, B)
    union = (a1 - a0) + (b1 - b0) - inter
    best = (inter / union).max(axis=1)  # (A,)
    return float(((truth[1:] - truth[:-1]) * best).sum() / n_obs)


def covering(annotations: Mapping[str, Iterable[int]], predictions: Iterable[int],
             n_obs: int) -> float:
    """Mean over annotators of the covering of their segmentation by the predicted one.

    Examples
    --------
    >>> covering({"a": [5]}, [5], 10)
    1.0
    >>> covering({"a": []}, [5], 10)  # one true segment of 10, best overlap 5/10
    0.5
    """
    if n_obs < 1:
        raise ValueError(f"n_obs={n_obs!r} must be >= 1")
    if not annotations:
        raise ValueError("annotations must hold at least one annotator, got none")
    pred = _segments(predictions, n_obs)
    return float(np.mean([_cover(_segments(a, n_obs), pred, n_obs)
                          for a in annotations.values()]))
