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

from adaptive._checks import check_int, check_range
from adaptive.base import DRIFT, NONE, WARNING, Detector, kernel, none_if_nan

# state row: 0 drift flag, 1 warning flag, 2 n, 3 p (error rate), 4 p_min, 5 s_min,
#            6 p_min + s_min; 7..11 the same five statistics (n, p, p_min, s_min, ps_min) of the
#            shadow estimate used by the optional ``max_concept_size`` restart (RDDM-style)
# param row: 0 warm_start, 1 warning_threshold, 2 drift_threshold,
#            3 max_concept_size (0 = off), 4 min_stable_size


@kernel
def _init(st, p):
    st[:] = 0.0
    st[4] = np.nan  # River's p_min = None until the warm-up is over
    st[5] = np.nan
    st[6] = np.inf
    st[9] = np.nan
    st[10] = np.nan
    st[11] = np.inf


@kernel
def _accumulate(st, o, x, warm_start):
    """One value into the estimate at st[o:o+5] (n, p, p_min, s_min, ps_min); returns s."""
    st[o] += 1.0
    st[o + 1] += (1.0 / st[o]) * (x - st[o + 1])  # River's Mean update, same rounding
    n = st[o]
    p_i = st[o + 1]
    s_i = math.sqrt(p_i * (1.0 - p_i) / n)  # binomial standard deviation of the rate
    if n > warm_start and p_i + s_i <= st[o + 4]:
        st[o + 2] = p_i
        st[o + 3] = s_i
        st[o + 4] = p_i + s_i
    return s_i


@kernel
def _step(st, x, p):
    if st[0] != 0.0:
        _init(st, p)
    s_i = _accumulate(st, 2, x, p[0])
    n = st[2]
    if n > p[0]:
        ps = st[3] + s_i
        st[1] = 1.0 if ps > st[4] + p[1] * st[5] else 0.0
        if ps > st[4] + p[2] * st[5]:
            st[0] = 1.0
            st[1] = 0.0
    max_concept = p[3]
    if max_concept > 0.0 and st[0] == 0.0:
        if n > max_concept - p[4]:  # the last min_stable_size values feed the shadow estimate
            _accumulate(st, 7, x, p[0])
        if n >= max_concept:  # restart from the shadow: forget the old minimum (RDDM)
            st[2:7] = st[7:12]
            st[7] = 0.0
            st[8] = 0.0
            st[9] = np.nan
            st[10] = np.nan
            st[11] = np.inf
    if st[0] != 0.0:
        return DRIFT
    return WARNING if st[1] != 0.0 else NONE


class DDM(Detector):
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
    _has_warning = True

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
        check_range("warning_threshold", warning_threshold, 0)
        check_range("drift_threshold", drift_threshold, 0)
        if max_concept_size is not None:
            if not isinstance(min_stable_size, (int, np.integer)) or min_stable_size <= warm_start:
                raise ValueError(
                    f"min_stable_size={min_stable_size!r} must be an integer > warm_start"
                    f" ({warm_start})"
                )
            if (not isinstance(max_concept_size, (int, np.integer))
                    or max_concept_size <= min_stable_size):
                raise ValueError(
                    f"max_concept_size={max_concept_size!r} must be None or an integer > "
                    f"min_stable_size ({min_stable_size})"
                )
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return 12

    def _param_row(self) -> np.ndarray:
        return np.array(
            [self.warm_start, self.warning_threshold, self.drift_threshold,
             self.max_concept_size or 0, self.min_stable_size],
            dtype=np.float64,
        )

    @property
    def n(self) -> int:
        """Values seen in the current concept."""
        return int(self._row[2])

    @property
    def p(self) -> float:
        """Running error rate of the current concept."""
        return float(self._row[3])

    @property
    def s(self) -> float:
        """Binomial standard deviation of the error rate, sqrt(p (1 - p) / n) (0 before data)."""
        n = self._row[2]
        return math.sqrt(self._row[3] * (1.0 - self._row[3]) / n) if n > 0 else 0.0

    @property
    def p_min(self) -> float | None:
        """Error rate where p + s was smallest (None during the warm-up)."""
        return none_if_nan(self._row[4])

    @property
    def s_min(self) -> float | None:
        """Standard deviation where p + s was smallest (None during the warm-up)."""
        return none_if_nan(self._row[5])

    @property
    def ps_min(self) -> float:
        """p_min + s_min (inf during the warm-up)."""
        return float(self._row[6])
