"""Page-Hinkley test for a change in the mean, with River 0.26's semantics.

Parameters, defaults and behaviour are River's ``drift.PageHinkley``: a fading cumulative sum of
deviations from the running mean, one-sided ("up"/"down") or two-sided ("both"), signalled once
at least ``min_instances`` values were seen.

References
----------
E. S. Page. Continuous inspection schemes. Biometrika 41(1/2), 100-115, 1954.
"""

from __future__ import annotations

import numpy as np
from river import base as river_base

from adaptive._checks import check_choice, check_int, check_number
from adaptive.drift._drivers import kernel
from adaptive.drift._soa import lane_kernel, put
from adaptive.drift.base import DRIFT, DRIFT_FLAG, MAX_ABS_INPUT, NONE, Detector, Slot, Threshold

MODES = ("up", "down", "both")
# state slots (0, 1: the drift and warning flags)
N, MEAN = 2, 3  # values since the reset, their running mean
SUM_INC, SUM_DEC = 4, 5  # the fading cumulative sums for an increase and a decrease
MIN_INC, MAX_DEC = 6, 7  # the running minimum of SUM_INC and maximum of SUM_DEC
STATE_SIZE = 8
# param slots
P_MIN_INSTANCES, P_DELTA, P_THRESHOLD, P_ALPHA, P_MODE = range(5)  # P_MODE: index into MODES


@kernel
def _init(st, p):
    st[:] = 0.0
    st[MIN_INC] = np.inf
    st[MAX_DEC] = -1.0


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    st[N] += 1.0
    st[MEAN] += (1.0 / st[N]) * (x - st[MEAN])  # River's Mean: (w / n) * (x - mean), same rounding
    dev = x - st[MEAN]
    st[SUM_INC] = p[P_ALPHA] * st[SUM_INC] + dev - p[P_DELTA]
    st[SUM_DEC] = p[P_ALPHA] * st[SUM_DEC] + dev + p[P_DELTA]
    if st[SUM_INC] < st[MIN_INC]:
        st[MIN_INC] = st[SUM_INC]
    if st[SUM_DEC] > st[MAX_DEC]:
        st[MAX_DEC] = st[SUM_DEC]
    if st[N] >= p[P_MIN_INSTANCES]:
        up = st[SUM_INC] - st[MIN_INC] > p[P_THRESHOLD]
        down = st[MAX_DEC] - st[SUM_DEC] > p[P_THRESHOLD]
        mode = p[P_MODE]
        drift = up if mode == 0.0 else (down if mode == 1.0 else (up or down))
        st[DRIFT_FLAG] = 1.0 if drift else 0.0
    return DRIFT if st[DRIFT_FLAG] != 0.0 else NONE


@lane_kernel
def _lane(L, P, I, x, i):  # noqa: E741
    """_step on lane i of a fleet block (L[slot, i], P[param, i]), without branches; -1 leaves
    the lane to _step (the reset after a drift)."""
    keep = L[DRIFT_FLAG, i] != 0.0
    n = L[N, i] + 1.0
    mean = L[MEAN, i] + (1.0 / n) * (x - L[MEAN, i])
    dev = x - mean
    s_inc = P[P_ALPHA, i] * L[SUM_INC, i] + dev - P[P_DELTA, i]
    s_dec = P[P_ALPHA, i] * L[SUM_DEC, i] + dev + P[P_DELTA, i]
    min_inc = s_inc if s_inc < L[MIN_INC, i] else L[MIN_INC, i]
    max_dec = s_dec if s_dec > L[MAX_DEC, i] else L[MAX_DEC, i]
    up = s_inc - min_inc > P[P_THRESHOLD, i]
    down = max_dec - s_dec > P[P_THRESHOLD, i]
    mode = P[P_MODE, i]
    drift = ((up & (mode != 1.0)) | (down & (mode != 0.0))) & (n >= P[P_MIN_INSTANCES, i])
    put(L, N, i, keep, n)
    put(L, MEAN, i, keep, mean)
    put(L, SUM_INC, i, keep, s_inc)
    put(L, SUM_DEC, i, keep, s_dec)
    put(L, MIN_INC, i, keep, min_inc)
    put(L, MAX_DEC, i, keep, max_dec)
    put(L, DRIFT_FLAG, i, keep, 1.0 if drift else 0.0)
    return -1 if keep else (DRIFT if drift else NONE)


class PageHinkley(Detector, river_base.DriftDetector):
    """Page-Hinkley change detector (drop-in for ``river.drift.PageHinkley``).

    Parameters
    ----------
    min_instances
        Minimum number of values before a change can be signalled.
    delta
        Tolerated deviation (the test's drift allowance).
    threshold
        Decision threshold (lambda).
    alpha
        Forgetting factor of the cumulative sums.
    mode
        ``"up"``, ``"down"`` or ``"both"``: which direction of change to detect.
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and values above
        ``max_abs_input`` (1e100), and count them).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(12345)
    >>> stream = np.concatenate([rng.integers(0, 2, 1000), rng.integers(4, 8, 1000)])
    >>> ph = PageHinkley()
    >>> ph.update_many(stream).drift
    array([1008])
    >>> ph = PageHinkley()
    >>> for i, x in enumerate(stream):
    ...     ph.update(x)
    ...     if ph.drift_detected:
    ...         print(i)
    1008
    """

    _step = _step
    _init = _init
    _param_names = ("min_instances", "delta", "threshold", "alpha", "mode")
    _fleet_params = ("min_instances", "delta", "threshold", "alpha")
    _n_state = STATE_SIZE
    _lanes = (_lane, None, None, 0)
    _threshold = Threshold("threshold", 1, 1.5)
    _statistic = "statistic"

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"threshold": 15.0, "min_instances": 10}

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
        *,
        nan_policy: str = "raise",
    ):
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.mode = mode
        self.nan_policy = nan_policy
        check_int("min_instances", min_instances, 1)
        check_number("delta", delta, 0, MAX_ABS_INPUT, low_open=False)
        check_number("threshold", threshold, 0)
        check_number("alpha", alpha, 0, 1)
        check_choice("mode", mode, MODES)
        self._check_nan_policy()
        self._reset()

    def _param_row(self) -> np.ndarray:
        return np.array(
            [self.min_instances, self.delta, self.threshold, self.alpha, MODES.index(self.mode)],
            dtype=np.float64,
        )

    n = Slot(N, int, "Values seen since the last reset.")
    mean = Slot(MEAN, float, "Running mean since the last reset.")

    @property
    def statistic(self) -> float:
        """The larger of the increase and decrease test statistics (compared to threshold)."""
        row = self._row
        return float(max(row[SUM_INC] - row[MIN_INC], row[MAX_DEC] - row[SUM_DEC]))
