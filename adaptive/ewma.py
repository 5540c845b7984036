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

import numpy as np

from adaptive._checks import check_int, check_number, check_optional_number
from adaptive.base import DRIFT, NONE, WARNING, Detector, kernel, nan_if_none, none_if_nan

# state row: 0 drift flag, 1 warning flag, 2 n (values since the (re)start, warm-up included),
#            3 t (values monitored), 4 z (EWMA), 5 mu0 in use, 6 sigma in use, 7 warm-up mean,
#            8 warm-up sum of squared deviations (Welford), 9 (1 - lambda)^(2 t)
# param row: 0 lambda_, 1 L, 2 mu0 (nan: estimate), 3 sigma (nan: estimate), 4 warm_start,
#            5 warning_L (nan: no warning)


@kernel
def _init(st, p):
    st[:] = 0.0
    st[4] = p[2]
    st[5] = p[2]
    st[6] = p[3]
    st[9] = 1.0


@kernel
def _step(st, x, p):
    if st[0] != 0.0:
        _init(st, p)
    st[2] += 1.0
    if st[2] <= p[4] and (p[2] != p[2] or p[3] != p[3]):
        n = st[2]
        mean_old = st[7]
        st[7] += (x - mean_old) / n
        st[8] += (x - mean_old) * (x - st[7])
        if n >= p[4]:  # end of the warm-up: fix the estimates, start the chart at mu0
            if p[2] != p[2]:
                st[5] = st[7]
            if p[3] != p[3]:
                st[6] = math.sqrt(st[8] / (n - 1.0))
            st[4] = st[5]
        return NONE
    lam = p[0]
    st[3] += 1.0
    st[4] = lam * x + (1.0 - lam) * st[4]
    st[9] *= (1.0 - lam) * (1.0 - lam)
    width = st[6] * math.sqrt(lam / (2.0 - lam) * (1.0 - st[9]))  # limit per unit of L
    dev = abs(st[4] - st[5])
    if dev > p[1] * width:
        st[0] = 1.0
        st[1] = 0.0
        return DRIFT
    st[1] = 1.0 if dev > p[5] * width else 0.0  # nan warning_L: never
    return WARNING if st[1] != 0.0 else NONE


class EWMA(Detector):
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
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

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
        check_number("L", L, 0, finite=True)
        check_optional_number("mu0", mu0)
        check_optional_number("sigma", sigma, low=0)
        check_int("warm_start", warm_start, 2)
        if warning_L is not None and not (isinstance(warning_L, (int, float, np.number))
                                          and 0 < warning_L < L):
            raise ValueError(f"warning_L={warning_L!r} must be None or in (0, L={L!r})")
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return 10

    def _param_row(self) -> np.ndarray:
        return np.array(
            [self.lambda_, self.L, nan_if_none(self.mu0), nan_if_none(self.sigma),
             self.warm_start, nan_if_none(self.warning_L)],
            dtype=np.float64,
        )

    @property
    def n(self) -> int:
        """Values seen since the last (re)start, warm-up included."""
        return int(self._row[2])

    @property
    def z(self) -> float | None:
        """The EWMA statistic (None during the warm-up)."""
        return none_if_nan(self._row[4])

    @property
    def control_limit(self) -> float | None:
        """Current half-width L sigma sqrt(...) of the control limits (None during warm-up)."""
        sigma, lam = self._row[6], self.lambda_
        if sigma != sigma:
            return None
        return float(self.L * (sigma * math.sqrt(lam / (2.0 - lam) * (1.0 - self._row[9]))))

    @property
    def mu0_(self) -> float | None:
        """The in-control mean in use (None while it is being estimated)."""
        return none_if_nan(self._row[5])

    @property
    def sigma_(self) -> float | None:
        """The in-control standard deviation in use (None while it is being estimated)."""
        return none_if_nan(self._row[6])
