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

import numpy as np
from river import base as river_base

from adaptive._checks import check_choice, check_int, check_number
from adaptive.drift._drivers import kernel
from adaptive.drift._soa import lane_kernel, put
from adaptive.drift._welford import (
    MU0,
    P_MU0,
    P_SIGMA,
    P_WARM_START,
    SIGMA,
    N,
    estimating,
    warm_up,
    warm_up_lane,
)
from adaptive.drift.base import (
    DRIFT,
    DRIFT_FLAG,
    NONE,
    Detector,
    Slot,
    Threshold,
    nan_if_none,
    none_if_nan,
)

MODES = ("up", "down", "both")
# state slots (0, 1: the flags; N, MU0, SIGMA and the warm-up's 7, 8: see _welford)
S_POS, S_NEG = 3, 4  # the upper and lower cumulative sums, in sigma units
STATE_SIZE = 9
# param slots (P_MU0 = 2, P_SIGMA = 3, P_WARM_START = 4: see _welford)
P_K, P_H, P_MODE = 0, 1, 5  # P_MODE: index into MODES
# |z| and the sums are capped here, far above any decision interval, so that no accepted value
# (a tiny or zero sigma: any departure) can make the state infinite; a chart keeps alarming
LIMIT = 1e300


@lane_kernel
def _chart(s_pos, s_neg, x, mu0, sigma, k):
    """The new sums (S+, S-) after x: z standardised and capped, the sums floored at 0 and
    capped (no branches: the fleet's lane kernel inlines it too)."""
    d = x - mu0
    # sigma 0 (a constant warm-up): any departure is a change; a select, not copysign, which
    # stops the fleet's loop over lanes from vectorising
    z = d / sigma if sigma > 0.0 else (0.0 if d == 0.0 else (LIMIT if d > 0.0 else -LIMIT))
    z = z if z <= LIMIT else LIMIT
    z = z if z >= -LIMIT else -LIMIT
    up = s_pos + z - k
    down = s_neg - z - k
    up = up if up > 0.0 else 0.0  # max(0.0, up) as Python computes it, without a branch
    down = down if down > 0.0 else 0.0
    return (up if up < LIMIT else LIMIT), (down if down < LIMIT else LIMIT)


@kernel
def _init(st, p):
    st[:] = 0.0
    st[MU0] = p[P_MU0]
    st[SIGMA] = p[P_SIGMA]


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    st[N] += 1.0
    if st[N] <= p[P_WARM_START] and estimating(p):
        warm_up(st, x, p)
        return NONE
    # a constant warm-up (sigma 0): any departure is a change (|z| = LIMIT)
    st[S_POS], st[S_NEG] = _chart(st[S_POS], st[S_NEG], x, st[MU0], st[SIGMA], p[P_K])
    mode = p[P_MODE]
    up = st[S_POS] > p[P_H]
    down = st[S_NEG] > p[P_H]
    drift = up if mode == 0.0 else (down if mode == 1.0 else (up or down))
    st[DRIFT_FLAG] = 1.0 if drift else 0.0
    return DRIFT if drift else NONE


@lane_kernel
def _chart_lane(L, P, x, i, estimate):  # noqa: E741
    """_step on lane i of a fleet block, without branches; -1 leaves the lane to _step (the
    reset after a drift). ``estimate``: a constant, False when mu0 and sigma are given."""
    keep = L[DRIFT_FLAG, i] != 0.0
    s_pos, s_neg = _chart(L[S_POS, i], L[S_NEG, i], x, L[MU0, i], L[SIGMA, i], P[P_K, i])
    warming, _, _ = warm_up_lane(L, P, x, i, keep, estimate)  # (the chart rests while warming)
    mode = P[P_MODE, i]
    drift = (((s_pos > P[P_H, i]) & (mode != 1.0)) | ((s_neg > P[P_H, i]) & (mode != 0.0)))
    drift = drift & (not warming)
    put(L, S_POS, i, keep | warming, s_pos)
    put(L, S_NEG, i, keep | warming, s_neg)
    put(L, DRIFT_FLAG, i, keep, 1.0 if drift else 0.0)
    return -1 if keep else (DRIFT if drift else NONE)


@lane_kernel
def _lane(L, P, I, x, i):  # noqa: E741
    return _chart_lane(L, P, x, i, True)


@lane_kernel
def _lane_known(L, P, I, x, i):  # noqa: E741
    return _chart_lane(L, P, x, i, False)


class CUSUM(Detector, river_base.DriftDetector):
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
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and values above
        ``max_abs_input`` (1e100), and count them).

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
    _n_state = STATE_SIZE
    _lanes = (_lane, None, None, 0)
    _lanes_known = (_lane_known, None, None, 0)  # mu0 and sigma given: no warm-up
    _threshold = Threshold("h", 1, 1.5)
    _statistic = "statistic"

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"h": 4.0, "warm_start": 20}
        yield {"mu0": 0.0, "sigma": 1.0, "mode": "up"}

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
        check_number("k", k, 0, low_open=False)
        check_number("h", h, 0)
        check_number("mu0", mu0, optional=True)
        check_number("sigma", sigma, 0, optional=True)
        check_int("warm_start", warm_start, 2)
        check_choice("mode", mode, MODES)
        self._check_nan_policy()
        self._reset()

    def _lane_spec(self):
        # per-stream mu0 and sigma are numbers: given in the template, given in every stream
        known = self.mu0 is not None and self.sigma is not None
        return self._lanes_known if known else self._lanes

    def _param_row(self) -> np.ndarray:
        return np.array(
            [self.k, self.h, nan_if_none(self.mu0), nan_if_none(self.sigma), self.warm_start,
             MODES.index(self.mode)],
            dtype=np.float64,
        )

    n = Slot(N, int, "Values seen since the last (re)start, warm-up included.")
    s_pos = Slot(S_POS, float, "Upper cumulative sum S+ (in sigma units).")
    s_neg = Slot(S_NEG, float, "Lower cumulative sum S- (in sigma units).")

    @property
    def statistic(self) -> float:
        """max(S+, S-): compared to h."""
        return float(max(self._row[S_POS], self._row[S_NEG]))

    mu0_ = Slot(MU0, none_if_nan, "The in-control mean in use (None while it is being estimated).")
    sigma_ = Slot(SIGMA, none_if_nan, "The in-control standard deviation in use (None while it is "
                                      "being estimated).")
