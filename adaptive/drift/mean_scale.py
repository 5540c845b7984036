"""One chart for a change of level or of spread: four CUSUMs of log-likelihood ratios.

On standardised values ``z = (x - mu0) / sigma`` the detector accumulates, each as Page's
CUSUM, the per-value log-likelihood ratio of four alternatives against N(0, 1):

    mean up by shift:        shift z - shift^2 / 2
    mean down by shift:     -shift z - shift^2 / 2
    spread up by ratio:      a_up z^2 - b_up          (see :class:`ScaleCUSUM`)
    spread down by ratio:    a_dn z^2 - b_dn

and signals a drift when any sum exceeds the one decision interval ``h``. All four are in
log-likelihood units, so a single ``h`` is one false-alarm budget for both kinds of change:
calibrating ``h`` (:func:`adaptive.calibrate`) sets the joint in-control run length, and the
share of each kind stays about the same at every ``h`` (simulated, N(0, 1), known mu0/sigma,
shift 1, ratio 1.5: the joint ARL0 is 331 at ``h = 5`` and 6,465 at ``h = 8``, of which the
mean sums take about 70% of the false alarms;
``estimate_arl0(MeanScaleCUSUM(mu0=0.0, sigma=1.0, h=5.0), n_streams=64, seed=0)``). With
``shift = 1`` the mean part is the standard tabular CUSUM ``k = 0.5``.

``mu0`` and ``sigma`` are given, or estimated robustly (median, MAD) from the first
``warm_start`` values after each (re)start, then replayed (:mod:`adaptive.drift._robust`):
a sensor in any unit gets meaningful defaults. After an alarm, ``change_kind`` says which sum
crossed and ``change_lag`` how many values before the alarm it last left 0.

References
----------
E. S. Page. Continuous inspection schemes. Biometrika 41(1/2), 100-115, 1954.
D. M. Hawkins, D. H. Olwell. Cumulative Sum Charts and Charting for Quality Improvement,
Springer, 1998 (CUSUMs of the likelihood ratio for location and for scale).
"""

from __future__ import annotations

import math

import numpy as np
from river import base as river_base

from adaptive._checks import check_int, check_number
from adaptive.drift._drivers import kernel
from adaptive.drift._robust import buffer_warm_up, refine_unit, seed_refinement
from adaptive.drift.base import DRIFT, DRIFT_FLAG, NONE, Detector, Slot, Threshold, none_if_nan

KINDS = ("mean up", "mean down", "spread up", "spread down")  # change_kind, by code 1..4
# state slots (0, 1: the flags)
N = 2  # values since the (re)start, warm-up included
MU_HAT, SIGMA_HAT = 3, 4  # location and scale in use (nan while estimated)
CHANGE_LAG = 5  # at an alarm: values between the estimated change and the alarm
KIND = 6  # at an alarm: 1 + the index in KINDS of the sum that crossed h
S_POS, S_NEG, RUN_POS, RUN_NEG = 7, 8, 9, 10  # the mean sums; values since each left 0
S_UP, S_DN, RUN_UP, RUN_DN = 11, 12, 13, 14  # the spread sums
ACC = 15  # 15, 16, 17: the refinement's count, mean, squared deviations (_robust.refine_unit)
BUF = 18  # the warm-up buffer (warm_start slots)
# param slots: the parameters in _param_names order (a fleet's per-stream columns), then the
# spread sums' log-likelihood coefficients a_up, b_up, a_dn, b_dn
P_H, P_RATIO, P_WARM_START, P_MU0, P_SIGMA, P_SHIFT, P_REFINE = range(7)
P_COEF = 7


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
def _charts(st, z, p):
    """The four sums with the standardised value z; the KINDS code of an alarm, else 0."""
    d = p[P_SHIFT]  # 0 for ScaleCUSUM: the mean sums stay at 0
    z2 = z * z
    sums = (cusum_add(st, S_POS, RUN_POS, d * z - 0.5 * d * d),
            cusum_add(st, S_NEG, RUN_NEG, -d * z - 0.5 * d * d),
            cusum_add(st, S_UP, RUN_UP, p[P_COEF] * z2 - p[P_COEF + 1]),
            cusum_add(st, S_DN, RUN_DN, p[P_COEF + 2] * z2 - p[P_COEF + 3]))
    kind = 0
    if sums[2] > p[P_H] and sums[2] >= sums[3]:
        kind = 3
    elif sums[3] > p[P_H]:
        kind = 4
    if sums[0] > p[P_H] and sums[0] >= sums[1]:
        kind = 1
    elif sums[1] > p[P_H]:
        kind = 2
    if kind:
        st[KIND] = kind
        run = (RUN_POS, RUN_NEG, RUN_UP, RUN_DN)[kind - 1]
        st[CHANGE_LAG] = st[run] - 1.0
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
        seed_refinement(st, MU_HAT, SIGMA_HAT, ACC, warm)
        for j in range(warm):
            if _charts(st, (st[BUF + j] - st[MU_HAT]) / st[SIGMA_HAT], p):
                st[CHANGE_LAG] += warm - 1 - j
                return DRIFT
        return NONE
    if _charts(st, (x - st[MU_HAT]) / st[SIGMA_HAT], p):
        return DRIFT
    refine_unit(st, x, p, MU_HAT, SIGMA_HAT, ACC, P_MU0, P_SIGMA, P_REFINE)
    return NONE


class MeanScaleCUSUM(Detector, river_base.DriftDetector):
    """CUSUM charts for a shift of the mean and a change of spread, one threshold for both.

    Parameters
    ----------
    shift
        The shift of the mean to detect, in standard deviations, > 0.
    ratio
        The change of standard deviation to detect, > 1 (up by ``ratio``, down by 1/ratio).
    h
        Decision interval of all four sums, in log-likelihood units, > 0.
    warm_start
        Values used to estimate ``mu0`` / ``sigma`` when not given (>= 3; then replayed).
    mu0, sigma
        In-control mean and standard deviation (raw units); ``None`` estimates them (median,
        MAD) from the warm-up after each (re)start.
    refine
        After the warm-up, the estimates keep improving on up to ``refine`` in-control-looking
        values (within 3 sigma; :func:`adaptive.drift._robust.refine_unit`), 0 to freeze them.
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Notes
    -----
    The defaults are the sensor monitor's, for hundreds of sensors without a false alarm in a
    day: ``h = 16``, ``warm_start = 100``, ``refine = 2000`` give an in-control ARL0 of about
    16 million readings on Gaussian data (8 alarms in 128 million; 95% interval 8-88 million:
    ``estimate_arl0(MeanScaleCUSUM(), n_streams=64, max_steps=2_000_000, seed=0)``), and 3 of
    4,000 fresh streams alarm within their first 5,000 readings
    (``Fleet(MeanScaleCUSUM(), 4000).update(np.random.default_rng(0).normal(size=(5000,
    4000))).drift.any(axis=0).sum()``); ``h = 12`` gives about 290,000. Without the refinement
    (``refine=0``) a unit estimated on 100 values is often 20% off for good, and 12% of the
    streams alarm within 5,000 readings at ``h = 16`` (465 of 4,000, the same command). The
    monitor demo's 1.5 sigma step is found 12 readings after it. For one stream or another
    budget, calibrate ``h``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(11)
    >>> level = np.concatenate([rng.normal(20.0, 0.5, 300), rng.normal(21.0, 0.5, 100)])
    >>> spread = np.concatenate([rng.normal(20.0, 0.5, 300), rng.normal(20.0, 1.0, 100)])
    >>> for x in (level, spread):
    ...     det = MeanScaleCUSUM()
    ...     for t, v in enumerate(x):
    ...         det.update(v)
    ...         if det.drift_detected:  # alarm, kind, estimated change point
    ...             print(t, det.change_kind, t - det.change_lag)
    310 mean up 300
    327 spread up 299
    """

    _step = _step
    _init = _init
    _param_names = ("h", "ratio", "warm_start", "mu0", "sigma", "shift", "refine")
    _fleet_params: tuple[str, ...] = ("h", "shift", "ratio", "mu0", "sigma")
    _threshold = Threshold("h", 1, 1.25)
    _statistic = "statistic"

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"h": 4.0, "warm_start": 10}
        yield {"mu0": 0.0, "sigma": 1.0, "shift": 2.0, "ratio": 2.0}

    def __init__(self, shift: float = 1.0, ratio: float = 1.5, h: float = 16.0,
                 warm_start: int = 100, mu0: float | None = None, sigma: float | None = None,
                 refine: int = 2000, *, nan_policy: str = "raise"):
        check_number("shift", shift, 0)
        self.shift = shift
        self._setup(ratio, h, warm_start, mu0, sigma, refine, nan_policy)

    def _setup(self, ratio, h, warm_start, mu0, sigma, refine, nan_policy) -> None:
        """Store and check the parameters shared with ScaleCUSUM, then build the state."""
        self.ratio = ratio
        self.h = h
        self.warm_start = warm_start
        self.mu0 = mu0
        self.sigma = sigma
        self.refine = refine
        self.nan_policy = nan_policy
        check_number("ratio", ratio, 1)
        check_number("h", h, 0)
        check_int("warm_start", warm_start, 3, 100_000)
        check_number("mu0", mu0, optional=True)
        check_number("sigma", sigma, 0, optional=True)
        check_int("refine", refine, 0)
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return BUF + self.warm_start

    def _param_row(self) -> np.ndarray:
        return np.concatenate([super()._param_row(), spread_llr(self.ratio)])

    mu0_ = Slot(MU_HAT, none_if_nan, "The location used to standardise (None while it is being "
                                     "estimated).")
    sigma_ = Slot(SIGMA_HAT, none_if_nan, "The scale used to standardise (None while it is being "
                                          "estimated).")

    @property
    def statistic(self) -> float:
        """The largest of the sums: compared to h."""
        return float(max(self._row[S_POS], self._row[S_NEG], self._row[S_UP], self._row[S_DN]))

    @property
    def change_lag(self) -> int | None:
        """After an alarm: how many values before the alarming one the change began."""
        return int(self._row[CHANGE_LAG]) if self.drift_detected else None

    @property
    def change_kind(self) -> str | None:
        """After an alarm: "mean up", "mean down", "spread up" or "spread down"."""
        return KINDS[int(self._row[KIND]) - 1] if self.drift_detected else None
