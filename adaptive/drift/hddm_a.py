"""HDDM_A: drift detection with Hoeffding's bounds on moving averages (River 0.26 semantics).

HDDM_A (Frias-Blanco et al., 2015) compares the mean of all values since the last reset with
the mean up to a cut point, the moment where "mean + Hoeffding bound" was smallest (for an
increase; largest "mean - bound" for a decrease). A drift (warning) is signalled when the
difference exceeds the bound of the two-sample test at ``drift_confidence``
(``warning_confidence``).

References
----------
I. Frias-Blanco, J. del Campo-Avila, G. Ramos-Jimenez, R. Morales-Bueno, A. Ortiz-Diaz,
Y. Caballero-Mota. Online and non-parametric drift detection methods based on Hoeffding's
bounds. IEEE Transactions on Knowledge and Data Engineering 27(3), 810-823, 2015.
"""

from __future__ import annotations

import math

import numpy as np
from river import base as river_base

from adaptive._checks import check_bool, check_number
from adaptive.drift._drivers import kernel
from adaptive.drift.base import (
    DRIFT,
    DRIFT_FLAG,
    NONE,
    WARNING,
    WARNING_FLAG,
    Detector,
    Slot,
    Threshold,
)

# state slots (0, 1: the drift and warning flags)
N, MEAN = 2, 3  # values since the reset and their mean
N_INC, MEAN_INC = 4, 5  # count and mean at the cut point for increases
N_DEC, MEAN_DEC = 6, 7  # count and mean at the cut point for decreases
STATE_SIZE = 8
# param slots (the logs are derived, computed in Python exactly as River does)
P_DRIFT_CONF, P_WARNING_CONF, P_TWO_SIDED = 0, 1, 2
P_LOG1_DRIFT, P_LOG2_DRIFT, P_LOG2_WARNING = 3, 4, 5  # ln(1/dc), ln(2/dc), ln(2/wc)


@kernel
def _init(st, p):
    st[:] = 0.0


@kernel
def _bound(n, log_term):
    """Hoeffding bound of a mean over n values."""
    return math.sqrt(1.0 / (2.0 * n) * log_term)


@kernel
def _changed(n_z, m_z, n_c, m_c, log_term):
    """Two-sample test on means m_z (n_z values) and m_c (n_c <= n_z values): m_z - m_c >= eps.

    For increases m_z is the mean since the reset and m_c the cut point's; for decreases the
    roles are swapped (River's ``x_max - z``) while the counts stay as they are.
    """
    if n_c == n_z:
        return False
    m = (n_z - n_c) / n_c * (1.0 / n_z)
    return m_z - m_c >= math.sqrt(m / 2.0 * log_term)


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    st[N] += 1.0
    st[MEAN] += (1.0 / st[N]) * (x - st[MEAN])  # River's Mean update, same rounding
    if st[N_INC] == 0.0:
        st[N_INC] = st[N]
        st[MEAN_INC] = st[MEAN]
    if st[N_DEC] == 0.0:
        st[N_DEC] = st[N]
        st[MEAN_DEC] = st[MEAN]
    eps_z = _bound(st[N], p[P_LOG1_DRIFT])
    # a new cut point for increases, for decreases
    if st[MEAN_INC] + _bound(st[N_INC], p[P_LOG1_DRIFT]) >= st[MEAN] + eps_z:
        st[N_INC] = st[N]
        st[MEAN_INC] = st[MEAN]
    if st[MEAN_DEC] - _bound(st[N_DEC], p[P_LOG1_DRIFT]) <= st[MEAN] - eps_z:
        st[N_DEC] = st[N]
        st[MEAN_DEC] = st[MEAN]
    if _changed(st[N], st[MEAN], st[N_INC], st[MEAN_INC], p[P_LOG2_DRIFT]):
        st[DRIFT_FLAG] = 1.0
        st[WARNING_FLAG] = 0.0
    elif _changed(st[N], st[MEAN], st[N_INC], st[MEAN_INC], p[P_LOG2_WARNING]):
        st[DRIFT_FLAG] = 0.0
        st[WARNING_FLAG] = 1.0
    else:
        st[DRIFT_FLAG] = 0.0
        st[WARNING_FLAG] = 0.0
    if p[P_TWO_SIDED] != 0.0:  # decrease: the same test, cut-point mean minus overall mean
        if _changed(st[N], st[MEAN_DEC], st[N_DEC], st[MEAN], p[P_LOG2_DRIFT]):
            st[DRIFT_FLAG] = 1.0
        elif _changed(st[N], st[MEAN_DEC], st[N_DEC], st[MEAN], p[P_LOG2_WARNING]):
            st[WARNING_FLAG] = 1.0
    if st[DRIFT_FLAG] != 0.0:
        return DRIFT
    return WARNING if st[WARNING_FLAG] != 0.0 else NONE


class HDDMA(Detector, river_base.BinaryDriftAndWarningDetector):
    """HDDM with the A-test (drop-in for ``river.drift.binary.HDDMA``; alias ``HDDM_A``).

    Parameters
    ----------
    drift_confidence
        Confidence (significance) of the drift test, in (0, 1).
    warning_confidence
        Confidence of the warning test, in (0, 1).
    two_sided_test
        Also monitor decreases of the mean (default: increases only).
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> stream = np.concatenate([rng.random(1000) < 0.2, rng.random(1000) < 0.5])
    >>> hddm = HDDMA()
    >>> hddm.update_many(stream).drift
    array([1014])
    """

    _step = _step
    _init = _init
    _param_names = ("drift_confidence", "warning_confidence", "two_sided_test")
    _fleet_params = ("drift_confidence", "warning_confidence")
    _binary = True
    _max_abs = math.inf  # inputs are bits: nothing to overflow
    _has_warning = True
    _n_state = STATE_SIZE
    _threshold = Threshold("drift_confidence", -1, 10.0)

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"two_sided_test": True}

    def __init__(
        self,
        drift_confidence: float = 0.001,
        warning_confidence: float = 0.005,
        two_sided_test: bool = False,
        *,
        nan_policy: str = "raise",
    ):
        self.drift_confidence = drift_confidence
        self.warning_confidence = warning_confidence
        self.two_sided_test = two_sided_test
        self.nan_policy = nan_policy
        check_number("drift_confidence", drift_confidence, 0, 1, high_open=True)
        check_number("warning_confidence", warning_confidence, 0, 1, high_open=True)
        check_bool("two_sided_test", two_sided_test)
        self._check_nan_policy()
        self._reset()

    def _param_row(self) -> np.ndarray:
        return np.array(
            [self.drift_confidence, self.warning_confidence, float(self.two_sided_test),
             math.log(1.0 / self.drift_confidence), math.log(2.0 / self.drift_confidence),
             math.log(2.0 / self.warning_confidence)],
            dtype=np.float64,
        )

    n = Slot(N, int, "Values seen since the last reset.")
    mean = Slot(MEAN, float, "Mean of the values since the last reset.")
    n_cut_increase = Slot(N_INC, int, "Values up to the cut point used to detect an increase.")
    mean_cut_increase = Slot(MEAN_INC, float, "Mean up to the cut point used to detect an "
                                              "increase.")

    n_cut_decrease = Slot(N_DEC, int, "Values up to the cut point used to detect a decrease.")
    mean_cut_decrease = Slot(MEAN_DEC, float, "Mean up to the cut point used to detect a decrease.")


HDDM_A = HDDMA
