"""Two-sided CUSUM chart for a change of spread (Page, 1954, on the log-likelihood ratio).

On standardised values ``z = (x - mu0) / sigma`` the log-likelihood ratio of N(0, ratio^2)
against N(0, 1) for one value is ``a z^2 - b`` with ``a = (1 - 1/ratio^2) / 2`` and
``b = log(ratio)``; the chart accumulates it for an increase of the standard deviation by
``ratio`` and for a decrease by ``1 / ratio``:

    U = max(0, U + a_up z^2 - b_up)          D = max(0, D + a_dn z^2 - b_dn)

and signals a drift when ``U > h`` or ``D > h``. Because both sums are in log-likelihood units
(as is :class:`MeanScaleCUSUM`'s mean part), one decision interval ``h`` serves both
directions; by Wald's approximation the in-control run length grows like ``exp(h)``. For
N(0, 1) data and ``ratio = 1.5`` (known mu0 and sigma), the simulated ARL0 of each one-sided
sum is about 2,700 (up) and 1,500 (down) at ``h = 5``, 54,000 and 32,000 at ``h = 8``.

``mu0`` and ``sigma`` are given, or estimated robustly (median, MAD) from the first
``warm_start`` values after each (re)start, which are then replayed through the chart
(:mod:`adaptive.drift._robust`). After an alarm ``change_lag`` is the number of values between
the estimated change (where the alarming sum last left 0) and the alarm.

References
----------
E. S. Page. Continuous inspection schemes. Biometrika 41(1/2), 100-115, 1954.
D. M. Hawkins, D. H. Olwell. Cumulative Sum Charts and Charting for Quality Improvement,
Springer, 1998, ch. 6 (CUSUMs for scale).
"""

from __future__ import annotations

import math

import numpy as np
from river import base as river_base

from adaptive._checks import check_int, check_number
from adaptive.drift._drivers import kernel
from adaptive.drift._robust import buffer_warm_up
from adaptive.drift.base import DRIFT, DRIFT_FLAG, NONE, Detector, Threshold, nan_if_none
from adaptive.drift.base import none_if_nan as none_if_nan

KINDS = ("mean up", "mean down", "spread up", "spread down")  # change_kind, by code 1..4
# state slots (0, 1: the flags)
N = 2  # values since the (re)start, warm-up included
MU_HAT, SIGMA_HAT = 3, 4  # location and scale in use (nan while estimated)
CHANGE_LAG = 5  # at an alarm: values between the estimated change and the alarm
KIND = 6  # at an alarm: 1 + the index in KINDS of the sum that crossed h
S_UP, S_DN, RUN_UP, RUN_DN = 7, 8, 9, 10  # the two sums; values since each last left 0
BUF = 11  # the warm-up buffer (warm_start slots)
# param slots: the parameters in _param_names order (a fleet's per-stream columns), then the
# derived log-likelihood coefficients a_up, b_up, a_dn, b_dn
P_H, P_RATIO, P_WARM_START, P_MU0, P_SIGMA = range(5)
P_COEF = 5


def spread_llr(ratio: float) -> tuple[float, float, float, float]:
    """(a_up, b_up, a_dn, b_dn): the per-value LLR ``a z^2 - b`` for sigma x ratio, / ratio."""
    up = (0.5 * (1.0 - 1.0 / ratio**2), math.log(ratio))
    down = (0.5 * (1.0 - ratio**2), -math.log(ratio))
    return up + down


@kernel
def cusum_add(st, s, run, inc):
    """One step of a one-sided CUSUM in slot s; slot run counts the values since it left 0."""
    st[s] = max(0.0, st[s] + inc)
    st[run] = st[run] + 1.0 if st[s] > 0.0 else 0.0
    return st[s]


@kernel
def spread_sums(st, z, p, s_up, s_dn, run_up, run_dn, p_coef):
    """Both spread sums with z; the KINDS code (3 or 4) of a sum above h, else 0."""
    z2 = z * z
    up = cusum_add(st, s_up, run_up, p[p_coef] * z2 - p[p_coef + 1])
    dn = cusum_add(st, s_dn, run_dn, p[p_coef + 2] * z2 - p[p_coef + 3])
    if up > p[P_H] and up >= dn:
        return 3
    if dn > p[P_H]:
        return 4
    return 0


@kernel
def standardise(st, x, mu_slot, sigma_slot):
    """(x - mu) / sigma, with sigma > 0 guaranteed by the warm-up or the constructor."""
    return (x - st[mu_slot]) / st[sigma_slot]


@kernel
def _charts(st, z, p):
    kind = spread_sums(st, z, p, S_UP, S_DN, RUN_UP, RUN_DN, P_COEF)
    if kind:
        st[KIND] = kind
        st[CHANGE_LAG] = st[RUN_UP if kind == 3 else RUN_DN] - 1.0
        st[DRIFT_FLAG] = 1.0
    return kind


@kernel
def _init(st, p):
    st[:] = 0.0
    st[MU_HAT] = p[P_MU0]
    st[SIGMA_HAT] = p[P_SIGMA]
    st[CHANGE_LAG] = np.nan


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    st[N] += 1.0
    phase = buffer_warm_up(st, x, p, N, BUF, MU_HAT, SIGMA_HAT, P_WARM_START, P_MU0, P_SIGMA)
    if phase < 0:
        return NONE
    if phase > 0:  # replay the warm-up
        warm = int(p[P_WARM_START])
        for j in range(warm):
            if _charts(st, standardise(st, st[BUF + j], MU_HAT, SIGMA_HAT), p):
                st[CHANGE_LAG] += warm - 1 - j
                return DRIFT
        return NONE
    return DRIFT if _charts(st, standardise(st, x, MU_HAT, SIGMA_HAT), p) else NONE


class ScaleCUSUM(Detector, river_base.DriftDetector):
    """Two-sided CUSUM chart for a change of the standard deviation (scale-free by default).

    Parameters
    ----------
    ratio
        The change of standard deviation to detect, > 1: up by ``ratio`` or down by
        ``1 / ratio``.
    h
        Decision interval, in log-likelihood units, > 0.
    warm_start
        Values used to estimate ``mu0`` / ``sigma`` when not given (>= 3; then replayed).
    mu0, sigma
        In-control mean and standard deviation (raw units); ``None`` estimates them (median,
        MAD) from the warm-up after each (re)start.
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Notes
    -----
    The defaults ``h = 6``, ``warm_start = 50`` give an in-control ARL0 of about 1,200 on
    Gaussian data (parameters estimated in the warm-up; ``estimate_arl0(ScaleCUSUM(),
    n_streams=50, max_steps=50_000, seed=0)``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(4)
    >>> x = np.concatenate([rng.normal(5.0, 1.0, 400), rng.normal(5.0, 2.0, 200)])
    >>> det = ScaleCUSUM()
    >>> for t, v in enumerate(x):
    ...     det.update(v)
    ...     if det.drift_detected:  # alarm, kind, estimated change point
    ...         print(t, det.change_kind, t - det.change_lag)
    401 spread up 400
    """

    _step = _step
    _init = _init
    _param_names = ("h", "ratio", "warm_start", "mu0", "sigma")
    _fleet_params = ("h", "ratio", "mu0", "sigma")
    _threshold = Threshold("h", 1, 1.25)
    _statistic = "statistic"

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"h": 3.0, "warm_start": 10}
        yield {"mu0": 0.0, "sigma": 1.0, "ratio": 2.0, "h": 4.0}

    def __init__(self, ratio: float = 1.5, h: float = 6.0, warm_start: int = 50,
                 mu0: float | None = None, sigma: float | None = None, *,
                 nan_policy: str = "raise"):
        self.ratio = ratio
        self.h = h
        self.warm_start = warm_start
        self.mu0 = mu0
        self.sigma = sigma
        self.nan_policy = nan_policy
        check_number("ratio", ratio, 1)
        check_number("h", h, 0)
        check_int("warm_start", warm_start, 3, 100_000)
        check_number("mu0", mu0, optional=True)
        check_number("sigma", sigma, 0, optional=True)
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return BUF + self.warm_start

    def _param_row(self) -> np.ndarray:
        head = [nan_if_none(getattr(self, n)) for n in self._param_names]
        return np.array([*head, *spread_llr(self.ratio)], dtype=np.float64)

    @property
    def statistic(self) -> float:
        """max(U, D): compared to h."""
        return float(max(self._row[S_UP], self._row[S_DN]))

    @property
    def change_lag(self) -> int | None:
        """After an alarm: how many values before the alarming one the change began."""
        return int(self._row[CHANGE_LAG]) if self.drift_detected else None

    @property
    def change_kind(self) -> str | None:
        """After an alarm: "spread up" or "spread down"."""
        return KINDS[int(self._row[KIND]) - 1] if self.drift_detected else None

    @property
    def mu0_(self) -> float | None:
        """The in-control mean in use (None while it is being estimated)."""
        return none_if_nan(self._row[MU_HAT])

    @property
    def sigma_(self) -> float | None:
        """The in-control standard deviation in use (None while it is being estimated)."""
        return none_if_nan(self._row[SIGMA_HAT])
