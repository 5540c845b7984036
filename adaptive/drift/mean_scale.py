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
shift 1, ratio 1.5: the joint ARL0 is 340 at ``h = 5`` and 6,900 at ``h = 8``, of which the
mean sums take about 70% of the false alarms). With ``shift = 1`` the mean part is the
standard tabular CUSUM ``k = 0.5``.

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

import numpy as np

from adaptive._checks import check_int, check_number
from adaptive.drift._drivers import kernel
from adaptive.drift._robust import buffer_warm_up, refine_unit, seed_refinement
from adaptive.drift.base import DRIFT, DRIFT_FLAG, NONE, Threshold
from adaptive.drift.scale_cusum import (
    CHANGE_LAG,
    KIND,
    KINDS,
    MU_HAT,
    P_H,
    P_MU0,
    P_SIGMA,
    P_WARM_START,
    SIGMA_HAT,
    N,
    ScaleCUSUM,
    cusum_add,
    spread_sums,
    standardise,
)

# state slots (the flags and slots 2-6 as in ScaleCUSUM)
S_POS, S_NEG, RUN_POS, RUN_NEG = 7, 8, 9, 10  # the mean sums; values since each left 0
S_UP, S_DN, RUN_UP, RUN_DN = 11, 12, 13, 14  # the spread sums
ACC = 15  # 15, 16, 17: the refinement's count, mean, squared deviations (_robust.refine_unit)
BUF = 18  # the warm-up buffer (warm_start slots)
# param slots: P_H .. P_SIGMA as in ScaleCUSUM, then the shift, then the spread coefficients
P_SHIFT, P_REFINE, P_COEF = 5, 6, 7


@kernel
def _charts(st, z, p):
    d = p[P_SHIFT]
    pos = cusum_add(st, S_POS, RUN_POS, d * z - 0.5 * d * d)
    neg = cusum_add(st, S_NEG, RUN_NEG, -d * z - 0.5 * d * d)
    kind = spread_sums(st, z, p, S_UP, S_DN, RUN_UP, RUN_DN, P_COEF)
    if pos > p[P_H] and pos >= neg:
        kind = 1
    elif neg > p[P_H]:
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
            if _charts(st, standardise(st, st[BUF + j], MU_HAT, SIGMA_HAT), p):
                st[CHANGE_LAG] += warm - 1 - j
                return DRIFT
        return NONE
    if _charts(st, standardise(st, x, MU_HAT, SIGMA_HAT), p):
        return DRIFT
    refine_unit(st, x, p, MU_HAT, SIGMA_HAT, ACC, P_MU0, P_SIGMA, P_REFINE)
    return NONE


class MeanScaleCUSUM(ScaleCUSUM):
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
    4,000 fresh streams alarm within their first 5,000 readings; ``h = 12`` gives about
    290,000. Without the refinement (``refine=0``) a unit estimated on 100 values is often
    20% off for good, and 11% of the streams alarm within 5,000 readings at ``h = 16``. The
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
    _fleet_params = ("h", "shift", "ratio", "mu0", "sigma")
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
        self.shift = shift
        self.refine = refine
        check_number("shift", shift, 0)
        check_int("refine", refine, 0)
        super().__init__(ratio, h, warm_start, mu0, sigma, nan_policy=nan_policy)

    def _state_size(self) -> int:
        return BUF + self.warm_start

    @property
    def statistic(self) -> float:
        """The largest of the four sums: compared to h."""
        return float(max(self._row[S_POS], self._row[S_NEG], self._row[S_UP], self._row[S_DN]))

    @property
    def change_kind(self) -> str | None:
        """After an alarm: "mean up", "mean down", "spread up" or "spread down"."""
        return KINDS[int(self._row[KIND]) - 1] if self.drift_detected else None
