"""EWMA control chart (Roberts, 1959) for a shift of the mean.

The chart smooths the values, ``z_t = lambda x_t + (1 - lambda) z_{t-1}`` with ``z_0 = mu0``,
and signals a drift when ``|z_t - mu0|`` exceeds the exact (time-varying) control limit

    L sigma sqrt(lambda / (2 - lambda) (1 - (1 - lambda)^(2 t))),

and a warning, if ``warning_L`` is given, when it exceeds the same limit with ``warning_L``
in place of ``L``. ``lambda = 0.1, L = 2.814`` gives an in-control average run length ARL0 of
about 500 (Lucas and Saccucci, 1990, table 3); the defaults ``lambda = 0.2, L = 3`` give about
560. ``mu0`` and ``sigma`` are given or estimated from the first ``warm_start`` values after
each (re)start; like River's detectors the chart starts afresh on the update after a drift.

References
----------
S. W. Roberts. Control chart tests based on geometric moving averages. Technometrics 1(3),
239-250, 1959.
J. M. Lucas, M. S. Saccucci. Exponentially weighted moving average control schemes: properties
and enhancements. Technometrics 32(1), 1-12, 1990.
"""

from __future__ import annotations

import math

from river import base as river_base

from adaptive._checks import check_int, check_number
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
    WARNING,
    WARNING_FLAG,
    Detector,
    Slot,
    Threshold,
    none_if_nan,
)

# state slots (0, 1: the flags; N, MU0, SIGMA and the warm-up's 7, 8: see _welford)
T = 3  # values monitored (after the warm-up)
Z = 4  # the EWMA statistic
DECAY = 9  # (1 - lambda)^(2 t), for the exact time-varying limit
STATE_SIZE = 10
# param slots (P_MU0 = 2, P_SIGMA = 3, P_WARM_START = 4: see _welford)
P_LAMBDA, P_L, P_WARNING_L = 0, 1, 5  # P_WARNING_L: nan for no warning zone


@kernel
def _init(st, p):
    st[:] = 0.0
    st[Z] = p[P_MU0]
    st[MU0] = p[P_MU0]
    st[SIGMA] = p[P_SIGMA]
    st[DECAY] = 1.0


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    st[N] += 1.0
    if st[N] <= p[P_WARM_START] and estimating(p):
        if warm_up(st, x, p):  # end of the warm-up: the chart starts at mu0
            st[Z] = st[MU0]
        return NONE
    lam = p[P_LAMBDA]
    st[T] += 1.0
    st[Z] = lam * x + (1.0 - lam) * st[Z]
    st[DECAY] *= (1.0 - lam) * (1.0 - lam)
    width = st[SIGMA] * math.sqrt(lam / (2.0 - lam) * (1.0 - st[DECAY]))  # limit per unit of L
    dev = abs(st[Z] - st[MU0])
    if dev > p[P_L] * width:
        st[DRIFT_FLAG] = 1.0
        st[WARNING_FLAG] = 0.0
        return DRIFT
    st[WARNING_FLAG] = 1.0 if dev > p[P_WARNING_L] * width else 0.0  # nan warning_L: never
    return WARNING if st[WARNING_FLAG] != 0.0 else NONE


@lane_kernel
def _chart_lane(L, P, x, i, estimate):  # noqa: E741
    """_step on lane i of a fleet block, without branches; -1 leaves the lane to _step (the
    reset after a drift). ``estimate``: a constant, False when mu0 and sigma are given."""
    keep = L[DRIFT_FLAG, i] != 0.0
    lam = P[P_LAMBDA, i]
    z = lam * x + (1.0 - lam) * L[Z, i]
    decay = L[DECAY, i] * ((1.0 - lam) * (1.0 - lam))
    width = L[SIGMA, i] * math.sqrt(lam / (2.0 - lam) * (1.0 - decay))
    dev = abs(z - L[MU0, i])
    warming, end, mu0 = warm_up_lane(L, P, x, i, keep, estimate)  # (the chart rests meanwhile)
    drift = (dev > P[P_L, i] * width) & (not warming)
    warning = (not drift) & (dev > P[P_WARNING_L, i] * width) & (not warming)
    chart = keep | warming  # the chart's slots keep their values during the warm-up
    put(L, T, i, chart, L[T, i] + 1.0)
    put(L, Z, i, keep | (warming & (not end)), mu0 if warming else z)  # the chart starts at mu0
    put(L, DECAY, i, chart, decay)
    put(L, DRIFT_FLAG, i, keep, 1.0 if drift else 0.0)
    put(L, WARNING_FLAG, i, chart, 1.0 if warning else 0.0)
    return -1 if keep else (DRIFT if drift else (WARNING if warning else NONE))


@lane_kernel
def _lane(L, P, I, x, i):  # noqa: E741
    return _chart_lane(L, P, x, i, True)


@lane_kernel
def _lane_known(L, P, I, x, i):  # noqa: E741
    return _chart_lane(L, P, x, i, False)


class EWMA(Detector, river_base.DriftAndWarningDetector):
    """EWMA control chart with exact time-varying limits.

    Parameters
    ----------
    lambda_
        Weight of the newest value, in (0, 1].
    L
        Width of the control limits in units of the EWMA's standard deviation, > 0.
    mu0
        In-control mean; ``None`` estimates it from the first ``warm_start`` values.
    sigma
        In-control standard deviation of the values, > 0; ``None`` estimates it (ddof=1).
    warm_start
        Number of values used for the estimates (>= 2; ignored when both are given). No alarm
        during the warm-up; after a drift the warm-up starts again.
    warning_L
        Width of the warning limits (``None``: no warning zone); in (0, L).
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and values above
        ``max_abs_input`` (1e100), and count them).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.normal(0, 1, 500), rng.normal(1.0, 1, 500)])
    >>> chart = EWMA(mu0=0.0, sigma=1.0, warning_L=2.0)
    >>> alarms = chart.update_many(stream)
    >>> alarms.drift[:3]  # a false alarm at 250, then the shift at 500
    array([250, 516, 559])
    """

    _step = _step
    _init = _init
    _param_names = ("lambda_", "L", "mu0", "sigma", "warm_start", "warning_L")
    _fleet_params = ("lambda_", "L", "mu0", "sigma")
    _has_warning = True
    _n_state = STATE_SIZE
    _lanes = (_lane, None, None, 0)
    _lanes_known = (_lane_known, None, None, 0)  # mu0 and sigma given: no warm-up
    _threshold = Threshold("L", 1, 1.25)

    def _lane_spec(self):
        # per-stream mu0 and sigma are numbers: given in the template, given in every stream
        known = self.mu0 is not None and self.sigma is not None
        return self._lanes_known if known else self._lanes

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"lambda_": 0.3, "warning_L": 2.0, "warm_start": 20}
        yield {"mu0": 0.0, "sigma": 1.0, "lambda_": 0.1, "L": 2.5}  # no warm-up

    def __init__(
        self,
        lambda_: float = 0.2,
        L: float = 3.0,
        mu0: float | None = None,
        sigma: float | None = None,
        warm_start: int = 30,
        warning_L: float | None = None,
        *,
        nan_policy: str = "raise",
    ):
        self.lambda_ = lambda_
        self.L = L
        self.mu0 = mu0
        self.sigma = sigma
        self.warm_start = warm_start
        self.warning_L = warning_L
        self.nan_policy = nan_policy
        check_number("lambda_", lambda_, 0, 1)
        check_number("L", L, 0)
        check_number("mu0", mu0, optional=True)
        check_number("sigma", sigma, 0, optional=True)
        check_int("warm_start", warm_start, 2)
        check_number("warning_L", warning_L, 0, L, high_open=True, optional=True)
        self._check_nan_policy()
        self._reset()

    n = Slot(N, int, "Values seen since the last (re)start, warm-up included.")
    z = Slot(Z, none_if_nan, "The EWMA statistic (None during the warm-up).")

    @property
    def control_limit(self) -> float | None:
        """Current half-width L sigma sqrt(...) of the control limits (None during warm-up)."""
        sigma, lam = self._row[SIGMA], self.lambda_
        if sigma != sigma:
            return None
        return float(self.L * (sigma * math.sqrt(lam / (2.0 - lam) * (1.0 - self._row[DECAY]))))

    mu0_ = Slot(MU0, none_if_nan, "The in-control mean in use (None while it is being estimated).")
    sigma_ = Slot(SIGMA, none_if_nan, "The in-control standard deviation in use (None while it is "
                                      "being estimated).")
