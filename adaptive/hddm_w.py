"""HDDM_W: drift detection with McDiarmid's bounds on EWMAs (River 0.26 semantics).

HDDM_W (Frias-Blanco et al., 2015) keeps an exponentially weighted moving average (EWMA) of
all values since the reset, and, from a cut point on (where "EWMA + bound" was smallest for an
increase, "EWMA - bound" largest for a decrease), the EWMA of the values after it. A drift
(warning) is signalled when the later EWMA exceeds the cut point's EWMA by more than
McDiarmid's bound at ``drift_confidence`` (``warning_confidence``).

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

# A "sample" is 3 floats: EWMA, is_init (0/1), ibc (independent bounded condition, sum of the
# squared EWMA weights). Offsets of the five samples in the state row:
_TOTAL, _S1_INCR, _S2_INCR, _S1_DECR, _S2_DECR = 2, 5, 8, 11, 14
# state row: 0 drift flag, 1 warning flag, 2..16 the five samples, 17 cut point (EWMA + bound)
#            for increases, 18 cut point (EWMA - bound) for decreases
# param row: 0 drift_confidence, 1 warning_confidence, 2 lambda_val, 3 two_sided_test (0/1),
#            4 lambda^2, 5 (1 - lambda)^2, 6 ln(1/drift_confidence), 7 ln(1/warning_confidence)
#            (derived; computed in Python exactly as River does)


@kernel
def _fresh(st, o):
    st[o] = 0.0
    st[o + 1] = 0.0
    st[o + 2] = 1.0


@kernel
def _init(st, p):
    st[:] = 0.0
    for o in (_TOTAL, _S1_INCR, _S2_INCR, _S1_DECR, _S2_DECR):
        _fresh(st, o)
    st[17] = np.inf
    st[18] = -np.inf


@kernel
def _sample_update(st, o, x, p):
    if st[o + 1] == 0.0:
        st[o] = x  # the EWMA starts at the first value
    else:
        st[o] = p[2] * x + (1.0 - p[2]) * st[o]
    st[o + 1] = 1.0
    st[o + 2] = p[4] + p[5] * st[o + 2]


@kernel
def _bound(ibc, log_term):
    """McDiarmid's bound for a weighted mean with squared-weight sum ibc."""
    return math.sqrt(ibc * log_term / 2.0)


@kernel
def _changed(st, a, b, log_term):
    """Is EWMA of sample b above that of sample a by more than the bound?"""
    if st[a + 1] == 0.0 or st[b + 1] == 0.0:
        return False
    return st[b] - st[a] > _bound(st[a + 2] + st[b + 2], log_term)


@kernel
def _step(st, x, p):
    if st[0] != 0.0:
        _init(st, p)
    _sample_update(st, _TOTAL, x, p)
    # increases: move the cut point when EWMA + bound reaches a new minimum
    eps = _bound(st[_TOTAL + 2], p[6])
    if st[_TOTAL] + eps < st[17]:
        st[17] = st[_TOTAL] + eps
        st[_S1_INCR:_S1_INCR + 3] = st[_TOTAL:_TOTAL + 3]
        _fresh(st, _S2_INCR)
    else:
        _sample_update(st, _S2_INCR, x, p)
    if _changed(st, _S1_INCR, _S2_INCR, p[6]):
        st[0] = 1.0
        st[1] = 0.0
    elif _changed(st, _S1_INCR, _S2_INCR, p[7]):
        st[0] = 0.0
        st[1] = 1.0
    else:
        st[0] = 0.0
        st[1] = 0.0
    # decreases: the mirror image (updated even for a one-sided test, as River does)
    eps = _bound(st[_TOTAL + 2], p[6])
    if st[_TOTAL] - eps > st[18]:
        st[18] = st[_TOTAL] - eps
        st[_S1_DECR:_S1_DECR + 3] = st[_TOTAL:_TOTAL + 3]
        _fresh(st, _S2_DECR)
    else:
        _sample_update(st, _S2_DECR, x, p)
    if p[3] != 0.0:
        if _changed(st, _S2_DECR, _S1_DECR, p[6]):
            st[0] = 1.0
        elif _changed(st, _S2_DECR, _S1_DECR, p[7]):
            st[1] = 1.0
    if st[0] != 0.0:
        return DRIFT
    return WARNING if st[1] != 0.0 else NONE


class HDDMW(Detector):
    """HDDM with the W-test (drop-in for ``river.drift.binary.HDDMW``; alias ``HDDM_W``).

    Parameters
    ----------
    drift_confidence
        Confidence (significance) of the drift test, in (0, 1).
    warning_confidence
        Confidence of the warning test, in (0, 1).
    lambda_val
        Weight of the newest value in the EWMAs, in (0, 1].
    two_sided_test
        Also monitor decreases of the mean (default: increases only).
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> stream = np.concatenate([rng.random(1000) < 0.2, rng.random(1000) < 0.5])
    >>> hddm = HDDMW()
    >>> hddm.update_many(stream).drift
    array([1014, 1834])
    """

    _step = _step
    _init = _init
    _param_names = ("drift_confidence", "warning_confidence", "lambda_val", "two_sided_test")
    _fleet_params = ("drift_confidence", "warning_confidence", "lambda_val")
    _binary = True
    _has_warning = True

    def __init__(
        self,
        drift_confidence: float = 0.001,
        warning_confidence: float = 0.005,
        lambda_val: float = 0.05,
        two_sided_test: bool = False,
        *,
        nan_policy: str = "raise",
    ):
        self.drift_confidence = drift_confidence
        self.warning_confidence = warning_confidence
        self.lambda_val = lambda_val
        self.two_sided_test = two_sided_test
        self.nan_policy = nan_policy
        check_range("drift_confidence", drift_confidence, 0, 1, high_open=True)
        check_range("warning_confidence", warning_confidence, 0, 1, high_open=True)
        check_range("lambda_val", lambda_val, 0, 1)
        check_bool("two_sided_test", two_sided_test)
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return 19

    def _param_row(self) -> np.ndarray:
        lam = self.lambda_val
        return np.array(
            [self.drift_confidence, self.warning_confidence, lam, float(self.two_sided_test),
             lam * lam, (1 - lam) ** 2, math.log(1 / self.drift_confidence),
             math.log(1 / self.warning_confidence)],
            dtype=np.float64,
        )

    @property
    def ewma(self) -> float:
        """EWMA of the values since the last reset (0 before the first value)."""
        return float(self._row[_TOTAL])

    @property
    def increase_cutpoint(self) -> float:
        """Smallest EWMA + bound so far (inf before the first value)."""
        return float(self._row[17])

    @property
    def decrease_cutpoint(self) -> float:
        """Largest EWMA - bound so far (-inf before the first value)."""
        return float(self._row[18])

    @property
    def ewma_after_increase_cut(self) -> float:
        """EWMA of the values after the increase cut point (0 if none yet)."""
        return float(self._row[_S2_INCR])

    @property
    def ewma_after_decrease_cut(self) -> float:
        """EWMA of the values after the decrease cut point (0 if none yet)."""
        return float(self._row[_S2_DECR])


HDDM_W = HDDMW
