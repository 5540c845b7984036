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

from adaptive._checks import check_bool, check_range
from adaptive.base import DRIFT, NONE, WARNING, Detector, kernel

# state row: 0 drift flag, 1 warning flag, 2 n, 3 mean (all values since the reset),
#            4 n, 5 mean at the cut point for increases, 6 n, 7 mean at the cut point for
#            decreases
# param row: 0 drift_confidence, 1 warning_confidence, 2 two_sided_test (0/1),
#            3 ln(1/drift_confidence), 4 ln(2/drift_confidence), 5 ln(2/warning_confidence)
#            (derived; computed in Python exactly as River does)


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
    if st[0] != 0.0:
        _init(st, p)
    st[2] += 1.0
    st[3] += (1.0 / st[2]) * (x - st[3])  # River's Mean update, same rounding
    if st[4] == 0.0:
        st[4] = st[2]
        st[5] = st[3]
    if st[6] == 0.0:
        st[6] = st[2]
        st[7] = st[3]
    eps_z = _bound(st[2], p[3])
    if st[5] + _bound(st[4], p[3]) >= st[3] + eps_z:  # new cut point for increases
        st[4] = st[2]
        st[5] = st[3]
    if st[7] - _bound(st[6], p[3]) <= st[3] - eps_z:  # new cut point for decreases
        st[6] = st[2]
        st[7] = st[3]
    if _changed(st[2], st[3], st[4], st[5], p[4]):
        st[0] = 1.0
        st[1] = 0.0
    elif _changed(st[2], st[3], st[4], st[5], p[5]):
        st[0] = 0.0
        st[1] = 1.0
    else:
        st[0] = 0.0
        st[1] = 0.0
    if p[2] != 0.0:  # decrease: the same test, cut-point mean minus overall mean
        if _changed(st[2], st[7], st[6], st[3], p[4]):
            st[0] = 1.0
        elif _changed(st[2], st[7], st[6], st[3], p[5]):
            st[1] = 1.0
    if st[0] != 0.0:
        return DRIFT
    return WARNING if st[1] != 0.0 else NONE


class HDDMA(Detector):
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
    _has_warning = True

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
        check_range("drift_confidence", drift_confidence, 0, 1, high_open=True)
        check_range("warning_confidence", warning_confidence, 0, 1, high_open=True)
        check_bool("two_sided_test", two_sided_test)
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return 8

    def _param_row(self) -> np.ndarray:
        return np.array(
            [self.drift_confidence, self.warning_confidence, float(self.two_sided_test),
             math.log(1.0 / self.drift_confidence), math.log(2.0 / self.drift_confidence),
             math.log(2.0 / self.warning_confidence)],
            dtype=np.float64,
        )

    @property
    def n(self) -> int:
        """Values seen since the last reset."""
        return int(self._row[2])

    @property
    def mean(self) -> float:
        """Mean of the values since the last reset."""
        return float(self._row[3])

    @property
    def n_cut_increase(self) -> int:
        """Values up to the cut point used to detect an increase."""
        return int(self._row[4])

    @property
    def mean_cut_increase(self) -> float:
        """Mean up to the cut point used to detect an increase."""
        return float(self._row[5])

    @property
    def n_cut_decrease(self) -> int:
        """Values up to the cut point used to detect a decrease."""
        return int(self._row[6])

    @property
    def mean_cut_decrease(self) -> float:
        """Mean up to the cut point used to detect a decrease."""
        return float(self._row[7])


HDDM_A = HDDMA
