"""Drift Detection Method (DDM) for a stream of errors, with River 0.26's semantics.

DDM (Gama et al., 2004) watches the running error rate ``p`` of a stream of bits (1 = error)
and its binomial standard deviation ``s = sqrt(p (1 - p) / n)``. It records ``p_min`` and
``s_min`` where ``p + s`` was smallest and signals a warning when
``p + s > p_min + warning_threshold * s_min`` and a drift when
``p + s > p_min + drift_threshold * s_min``, once more than ``warm_start`` values were seen.

References
----------
J. Gama, P. Medas, G. Castillo, P. Rodrigues. Learning with drift detection. SBIA 2004,
LNCS 3171, 286-295.
R. S. M. Barros, D. R. L. Cabral, P. M. Goncalves Jr., S. G. T. C. Santos. RDDM: Reactive drift
detection method. Expert Systems with Applications 90, 344-355, 2017.
"""

from __future__ import annotations

import math

import numpy as np
from river import base as river_base

from adaptive._checks import check_int, check_number
from adaptive.drift._drivers import kernel
from adaptive.drift._soa import lane_kernel, put
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

# An estimate is five consecutive slots, at offset o: n, p (error rate), p_min, s_min, p_min +
# s_min. The state holds the concept's estimate and the shadow estimate of the optional
# ``max_concept_size`` restart (RDDM-style).
N, RATE, P_MIN, S_MIN, PS_MIN = 0, 1, 2, 3, 4  # offsets within an estimate (RATE: p)
EST = 2  # the concept's estimate: slots 2..6
SHADOW = 7  # the shadow estimate: slots 7..11
STATE_SIZE = SHADOW + 5
# param slots
P_WARM_START, P_WARNING, P_DRIFT = 0, 1, 2
P_MAX_CONCEPT, P_MIN_STABLE = 3, 4  # P_MAX_CONCEPT 0: off


@kernel
def _fresh_estimate(st, o):
    st[o + N] = 0.0
    st[o + RATE] = 0.0
    st[o + P_MIN] = np.nan  # River's p_min = None until the warm-up is over
    st[o + S_MIN] = np.nan
    st[o + PS_MIN] = np.inf


@kernel
def _init(st, p):
    st[:] = 0.0
    _fresh_estimate(st, EST)
    _fresh_estimate(st, SHADOW)


@kernel
def _accumulate(st, o, x, warm_start):
    """One value into the estimate at offset o; returns s, the rate's standard deviation."""
    st[o + N] += 1.0
    st[o + RATE] += (1.0 / st[o + N]) * (x - st[o + RATE])  # River's Mean update, same rounding
    n = st[o + N]
    p_i = st[o + RATE]
    s_i = math.sqrt(p_i * (1.0 - p_i) / n)  # binomial standard deviation of the rate
    if n > warm_start and p_i + s_i <= st[o + PS_MIN]:
        st[o + P_MIN] = p_i
        st[o + S_MIN] = s_i
        st[o + PS_MIN] = p_i + s_i
    return s_i


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    s_i = _accumulate(st, EST, x, p[P_WARM_START])
    n = st[EST + N]
    if n > p[P_WARM_START]:
        ps = st[EST + RATE] + s_i
        p_min, s_min = st[EST + P_MIN], st[EST + S_MIN]
        st[WARNING_FLAG] = 1.0 if ps > p_min + p[P_WARNING] * s_min else 0.0
        if ps > p_min + p[P_DRIFT] * s_min:
            st[DRIFT_FLAG] = 1.0
            st[WARNING_FLAG] = 0.0
    max_concept = p[P_MAX_CONCEPT]
    if max_concept > 0.0 and st[DRIFT_FLAG] == 0.0:
        if n > max_concept - p[P_MIN_STABLE]:  # the last min_stable_size values feed the shadow
            _accumulate(st, SHADOW, x, p[P_WARM_START])
        if n >= max_concept:  # restart from the shadow: forget the old minimum (RDDM)
            st[EST:EST + 5] = st[SHADOW:SHADOW + 5]
            _fresh_estimate(st, SHADOW)
    if st[DRIFT_FLAG] != 0.0:
        return DRIFT
    return WARNING if st[WARNING_FLAG] != 0.0 else NONE


@lane_kernel
def _lane(L, P, I, x, i):  # noqa: E741
    """_step on lane i of a fleet block without ``max_concept_size``, without branches; -1
    leaves the lane to _step (the reset after a drift)."""
    keep = L[DRIFT_FLAG, i] != 0.0
    o = EST
    n = L[o + N, i] + 1.0
    p = L[o + RATE, i] + (1.0 / n) * (x - L[o + RATE, i])
    s = math.sqrt(p * (1.0 - p) / n)
    ps = p + s
    tested = n > P[P_WARM_START, i]
    new_min = tested & (ps <= L[o + PS_MIN, i])
    p_min = p if new_min else L[o + P_MIN, i]
    s_min = s if new_min else L[o + S_MIN, i]
    warning = tested & (ps > p_min + P[P_WARNING, i] * s_min)
    drift = tested & (ps > p_min + P[P_DRIFT, i] * s_min)
    put(L, o + N, i, keep, n)
    put(L, o + RATE, i, keep, p)
    put(L, o + P_MIN, i, keep, p_min)
    put(L, o + S_MIN, i, keep, s_min)
    put(L, o + PS_MIN, i, keep, ps if new_min else L[o + PS_MIN, i])
    put(L, DRIFT_FLAG, i, keep, 1.0 if drift else 0.0)
    w = 0.0 if drift else (1.0 if warning else (0.0 if tested else L[WARNING_FLAG, i]))
    put(L, WARNING_FLAG, i, keep, w)
    return -1 if keep else (DRIFT if drift else (WARNING if w != 0.0 else NONE))


class DDM(Detector, river_base.BinaryDriftAndWarningDetector):
    """Drift Detection Method (drop-in for ``river.drift.binary.DDM``).

    Parameters
    ----------
    warm_start
        Number of values that must be seen (strictly more) before a warning or drift.
    warning_threshold
        Multiple of ``s_min`` above ``p_min`` that signals a warning.
    drift_threshold
        Multiple of ``s_min`` above ``p_min`` that signals a drift.
    max_concept_size
        Keyword-only, off (``None``) by default, which gives River's behaviour. DDM's error
        rate ``p`` is the mean over the whole concept and ``p_min + s_min`` only ever decreases,
        so after a long stable concept the detector reacts ever more slowly (its statistics
        lock in). With an integer here, a concept that reaches ``max_concept_size`` values
        without a drift restarts its statistics from the last ``min_stable_size`` values, as
        RDDM (Barros et al., 2017) does; no alarm is raised by the restart. RDDM uses 40000.
    min_stable_size
        Keyword-only: how many of the latest values the restart keeps (RDDM uses 7000); must
        be > ``warm_start`` and < ``max_concept_size``. Only used with ``max_concept_size``.
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Notes
    -----
    Inputs are bits (1 = error, 0 = correct; bools accepted); anything else raises
    ``ValueError``. The statistics are computed with the same operations in the same order as
    River, so alarms and statistics equal River's exactly.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> stream = np.concatenate([rng.random(1000) < 0.2, rng.random(1000) < 0.5])
    >>> ddm = DDM()
    >>> alarms = ddm.update_many(stream)
    >>> alarms.drift
    array([1067])
    >>> int(alarms.warning[alarms.warning >= 1000][0])  # warnings lead up to the drift
    1026
    """

    _step = _step
    _init = _init
    _param_names = ("warm_start", "warning_threshold", "drift_threshold")
    _fleet_params = ("warm_start", "warning_threshold", "drift_threshold")
    _binary = True
    _max_abs = math.inf  # inputs are bits: nothing to overflow
    _has_warning = True
    _n_state = STATE_SIZE
    _lanes = (_lane, None, None, 0)
    _threshold = Threshold("drift_threshold", 1, 1.25)

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"warm_start": 20}
        yield {"max_concept_size": 300, "min_stable_size": 100}

    def __init__(
        self,
        warm_start: int = 30,
        warning_threshold: float = 2.0,
        drift_threshold: float = 3.0,
        *,
        max_concept_size: int | None = None,
        min_stable_size: int = 7000,
        nan_policy: str = "raise",
    ):
        self.warm_start = warm_start
        self.warning_threshold = warning_threshold
        self.drift_threshold = drift_threshold
        self.max_concept_size = max_concept_size
        self.min_stable_size = min_stable_size
        self.nan_policy = nan_policy
        check_int("warm_start", warm_start, 0)
        check_number("warning_threshold", warning_threshold, 0)
        check_number("drift_threshold", drift_threshold, 0)
        check_int("min_stable_size", min_stable_size, 1)
        if max_concept_size is not None:
            check_int("min_stable_size", min_stable_size, warm_start + 1)
            check_int("max_concept_size", max_concept_size, min_stable_size + 1)
        self._check_nan_policy()
        self._reset()

    def _lane_spec(self):
        # the RDDM restart is not in the lane kernel: it would leave every lane to _step
        return None if self.max_concept_size is not None else type(self)._lanes

    def _param_row(self) -> np.ndarray:
        return np.array(
            [self.warm_start, self.warning_threshold, self.drift_threshold,
             self.max_concept_size or 0, self.min_stable_size],
            dtype=np.float64,
        )

    n = Slot(EST + N, int, "Values seen in the current concept.")
    p = Slot(EST + RATE, float, "Running error rate of the current concept.")

    @property
    def s(self) -> float:
        """Binomial standard deviation of the error rate, sqrt(p (1 - p) / n) (0 before data)."""
        n, p = self._row[EST + N], self._row[EST + RATE]
        return math.sqrt(p * (1.0 - p) / n) if n > 0 else 0.0

    p_min = Slot(EST + P_MIN, none_if_nan, "Error rate where p + s was smallest (None during the "
                                           "warm-up).")

    s_min = Slot(EST + S_MIN, none_if_nan, "Standard deviation where p + s was smallest (None "
                                           "during the warm-up).")

    ps_min = Slot(EST + PS_MIN, float, "p_min + s_min (inf during the warm-up).")
