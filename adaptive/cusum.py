"""Two-sided tabular CUSUM (Page, 1954) for a shift of the mean.

On standardised values ``z = (x - mu0) / sigma`` the chart keeps

    S+ = max(0, S+ + z - k)        S- = max(0, S- - z - k)

and signals a drift when ``S+ > h`` (increase) or ``S- > h`` (decrease). ``k`` (reference
value) and ``h`` (decision interval) are in units of sigma; the standard ``k = 0.5, h = 5``
is tuned to a shift of one sigma and gives an in-control average run length ARL0 of about 465
for the two-sided chart on N(mu0, sigma^2) data (about 930 for each one-sided chart; Montgomery,
*Introduction to Statistical Quality Control*, table 9.3). ``mu0`` and ``sigma`` are either
given or estimated from the first ``warm_start`` values after each (re)start; like River's
detectors the chart starts afresh on the update after a drift.

References
----------
E. S. Page. Continuous inspection schemes. Biometrika 41(1/2), 100-115, 1954.
D. C. Montgomery. Introduction to Statistical Quality Control, 6th ed., Wiley, 2009, ch. 9.1.
"""

from __future__ import annotations

import math

import numpy as np

from adaptive._checks import (
    check_choice,
    check_int,
    check_number,
    check_optional_number,
)
from adaptive.base import DRIFT, NONE, Detector, kernel, nan_if_none, none_if_nan

_MODES = ("up", "down", "both")
# state row: 0 drift flag, 1 warning flag (always 0), 2 n (values since the (re)start),
#            3 S+, 4 S-, 5 mu0 in use, 6 sigma in use, 7 warm-up mean, 8 warm-up sum of squared
#            deviations (Welford)
# param row: 0 k, 1 h, 2 mu0 (nan: estimate), 3 sigma (nan: estimate), 4 warm_start,
#            5 mode (index into _MODES)


@kernel
def _init(st, p):
    st[:] = 0.0
    st[5] = p[2]
    st[6] = p[3]


@kernel
def _warm_up(st, x, p):
    """Welford update of the warm-up estimates; fixes mu0/sigma at the end of the warm-up."""
    n = st[2]
    mean_old = st[7]
    st[7] += (x - mean_old) / n
    st[8] += (x - mean_old) * (x - st[7])
    if n >= p[4]:
        if p[2] != p[2]:
            st[5] = st[7]
        if p[3] != p[3]:
            st[6] = math.sqrt(st[8] / (n - 1.0))


@kernel
def _step(st, x, p):
    if st[0] != 0.0:
        _init(st, p)
    st[2] += 1.0
    if st[2] <= p[4] and (p[2] != p[2] or p[3] != p[3]):
        _warm_up(st, x, p)
        return NONE
    d = x - st[5]
    if st[6] > 0.0:
        z = d / st[6]
    elif d == 0.0:
        z = 0.0
    else:  # a constant warm-up (sigma 0): any departure is a change
        z = math.copysign(np.inf, d)
    st[3] = max(0.0, st[3] + z - p[0])
    st[4] = max(0.0, st[4] - z - p[0])
    mode = p[5]
    up = st[3] > p[1]
    down = st[4] > p[1]
    drift = up if mode == 0.0 else (down if mode == 1.0 else (up or down))
    st[0] = 1.0 if drift else 0.0
    return DRIFT if drift else NONE


class CUSUM(Detector):
    """Tabular CUSUM chart for a shift of the mean (two-sided by default).

    Parameters
    ----------
    k
        Reference value (allowance) in units of sigma, >= 0; half the shift to detect.
    h
        Decision interval in units of sigma, > 0.
    mu0
        In-control mean; ``None`` estimates it from the first ``warm_start`` values.
    sigma
        In-control standard deviation, > 0; ``None`` estimates it (ddof=1) from the first
        ``warm_start`` values.
    warm_start
        Number of values used for the estimates (>= 2; ignored when both are given). No alarm
        during the warm-up; after a drift the warm-up starts again.
    mode
        ``"up"``, ``"down"`` or ``"both"``: which direction of shift to detect.
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Notes
    -----
    The ARL0 quoted above holds for known ``mu0`` and ``sigma``; estimating them from a short
    warm-up shortens the run length between false alarms (use a long warm-up, or calibrate
    ``h`` by simulation).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0, 1, 500), rng.normal(1.5, 1, 500)])
    >>> CUSUM(mu0=0.0, sigma=1.0).update_many(stream).drift[:4]  # two false alarms, then
    array([ 26, 250, 505, 514])
    >>> CUSUM(warm_start=100).update_many(stream).drift[:4]  # re-estimated after each drift
    array([204, 504, 627, 844])
    """

    _step = _step
    _init = _init
    _param_names = ("k", "h", "mu0", "sigma", "warm_start", "mode")
    _fleet_params = ("k", "h", "mu0", "sigma")

    def __init__(
        self,
        k: float = 0.5,
        h: float = 5.0,
        mu0: float | None = None,
        sigma: float | None = None,
        warm_start: int = 30,
        mode: str = "both",
        *,
        nan_policy: str = "raise",
    ):
        self.k = k
        self.h = h
        self.mu0 = mu0
        self.sigma = sigma
        self.warm_start = warm_start
        self.mode = mode
        self.nan_policy = nan_policy
        check_number("k", k, 0, low_open=False, finite=True)
        check_number("h", h, 0, finite=True)
        check_optional_number("mu0", mu0)
        check_optional_number("sigma", sigma, low=0)
        check_int("warm_start", warm_start, 2)
        check_choice("mode", mode, _MODES)
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return 9

    def _param_row(self) -> np.ndarray:
        return np.array(
            [self.k, self.h, nan_if_none(self.mu0), nan_if_none(self.sigma), self.warm_start,
             _MODES.index(self.mode)],
            dtype=np.float64,
        )

    @property
    def n(self) -> int:
        """Values seen since the last (re)start, warm-up included."""
        return int(self._row[2])

    @property
    def s_pos(self) -> float:
        """Upper cumulative sum S+ (in sigma units)."""
        return float(self._row[3])

    @property
    def s_neg(self) -> float:
        """Lower cumulative sum S- (in sigma units)."""
        return float(self._row[4])

    @property
    def statistic(self) -> float:
        """max(S+, S-): compared to h."""
        return float(max(self._row[3], self._row[4]))

    @property
    def mu0_(self) -> float | None:
        """The in-control mean in use (None while it is being estimated)."""
        return none_if_nan(self._row[5])

    @property
    def sigma_(self) -> float | None:
        """The in-control standard deviation in use (None while it is being estimated)."""
        return none_if_nan(self._row[6])
