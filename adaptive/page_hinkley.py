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

from adaptive._checks import check_choice, check_int, check_range
from adaptive.base import DRIFT, NONE, Detector, kernel

_MODES = ("up", "down", "both")
# state row: 0 drift flag, 1 warning flag, 2 n, 3 mean, 4 sum_increase, 5 sum_decrease,
#            6 min_increase, 7 max_decrease
# param row: 0 min_instances, 1 delta, 2 threshold, 3 alpha, 4 mode (index into _MODES)


@kernel
def _init(st, p):
    st[:] = 0.0
    st[6] = np.inf
    st[7] = -1.0


@kernel
def _step(st, x, p):
    if st[0] != 0.0:
        _init(st, p)
    st[2] += 1.0
    st[3] += (1.0 / st[2]) * (x - st[3])  # River's Mean: (w / n) * (x - mean), same rounding
    dev = x - st[3]
    st[4] = p[3] * st[4] + dev - p[1]
    st[5] = p[3] * st[5] + dev + p[1]
    if st[4] < st[6]:
        st[6] = st[4]
    if st[5] > st[7]:
        st[7] = st[5]
    if st[2] >= p[0]:
        up = st[4] - st[6] > p[2]
        down = st[7] - st[5] > p[2]
        mode = p[4]
        drift = up if mode == 0.0 else (down if mode == 1.0 else (up or down))
        st[0] = 1.0 if drift else 0.0
    return DRIFT if st[0] != 0.0 else NONE


class PageHinkley(Detector):
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
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

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
        check_range("delta", delta, 0, low_open=False)
        check_range("threshold", threshold, 0)
        check_range("alpha", alpha, 0, 1)
        check_choice("mode", mode, _MODES)
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return 8

    def _param_row(self) -> np.ndarray:
        return np.array(
            [self.min_instances, self.delta, self.threshold, self.alpha, _MODES.index(self.mode)],
            dtype=np.float64,
        )

    @property
    def n(self) -> int:
        """Values seen since the last reset."""
        return int(self._row[2])

    @property
    def mean(self) -> float:
        """Running mean since the last reset."""
        return float(self._row[3])

    @property
    def statistic(self) -> float:
        """The larger of the increase and decrease test statistics (compared to threshold)."""
        return float(max(self._row[4] - self._row[6], self._row[7] - self._row[5]))
