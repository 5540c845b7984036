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

# A "sample" is 3 consecutive slots: EWMA, is_init (0/1), ibc (independent bounded condition,
# the sum of the squared EWMA weights).
EWMA, IS_INIT, IBC = 0, 1, 2  # offsets within a sample
# state slots (0, 1: the drift and warning flags): the five samples, then the two cut points
TOTAL, S1_INCR, S2_INCR, S1_DECR, S2_DECR = 2, 5, 8, 11, 14
CUT_INCR = 17  # cut point (EWMA + bound) for increases
CUT_DECR = 18  # cut point (EWMA - bound) for decreases
STATE_SIZE = 19
# param slots (derived ones computed in Python exactly as River does)
P_DRIFT_CONF, P_WARNING_CONF, P_LAMBDA, P_TWO_SIDED = 0, 1, 2, 3
P_LAMBDA2, P_DECAY2 = 4, 5  # lambda^2, (1 - lambda)^2
P_LOG_DRIFT, P_LOG_WARNING = 6, 7  # ln(1/drift_confidence), ln(1/warning_confidence)


@kernel
def _fresh(st, o):
    st[o + EWMA] = 0.0
    st[o + IS_INIT] = 0.0
    st[o + IBC] = 1.0


@kernel
def _init(st, p):
    st[:] = 0.0
    for o in (TOTAL, S1_INCR, S2_INCR, S1_DECR, S2_DECR):
        _fresh(st, o)
    st[CUT_INCR] = np.inf
    st[CUT_DECR] = -np.inf


@kernel
def _sample_update(st, o, x, p):
    if st[o + IS_INIT] == 0.0:
        st[o + EWMA] = x  # the EWMA starts at the first value
    else:
        st[o + EWMA] = p[P_LAMBDA] * x + (1.0 - p[P_LAMBDA]) * st[o + EWMA]
    st[o + IS_INIT] = 1.0
    st[o + IBC] = p[P_LAMBDA2] + p[P_DECAY2] * st[o + IBC]


@kernel
def _bound(ibc, log_term):
    """McDiarmid's bound for a weighted mean with squared-weight sum ibc."""
    return math.sqrt(ibc * log_term / 2.0)


@kernel
def _changed(st, a, b, log_term):
    """Is EWMA of sample b above that of sample a by more than the bound?"""
    if st[a + IS_INIT] == 0.0 or st[b + IS_INIT] == 0.0:
        return False
    return st[b + EWMA] - st[a + EWMA] > _bound(st[a + IBC] + st[b + IBC], log_term)


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    _sample_update(st, TOTAL, x, p)
    # increases: move the cut point when EWMA + bound reaches a new minimum
    eps = _bound(st[TOTAL + IBC], p[P_LOG_DRIFT])
    if st[TOTAL + EWMA] + eps < st[CUT_INCR]:
        st[CUT_INCR] = st[TOTAL + EWMA] + eps
        st[S1_INCR:S1_INCR + 3] = st[TOTAL:TOTAL + 3]
        _fresh(st, S2_INCR)
    else:
        _sample_update(st, S2_INCR, x, p)
    if _changed(st, S1_INCR, S2_INCR, p[P_LOG_DRIFT]):
        st[DRIFT_FLAG] = 1.0
        st[WARNING_FLAG] = 0.0
    elif _changed(st, S1_INCR, S2_INCR, p[P_LOG_WARNING]):
        st[DRIFT_FLAG] = 0.0
        st[WARNING_FLAG] = 1.0
    else:
        st[DRIFT_FLAG] = 0.0
        st[WARNING_FLAG] = 0.0
    # decreases: the mirror image (updated even for a one-sided test, as River does)
    eps = _bound(st[TOTAL + IBC], p[P_LOG_DRIFT])
    if st[TOTAL + EWMA] - eps > st[CUT_DECR]:
        st[CUT_DECR] = st[TOTAL + EWMA] - eps
        st[S1_DECR:S1_DECR + 3] = st[TOTAL:TOTAL + 3]
        _fresh(st, S2_DECR)
    else:
        _sample_update(st, S2_DECR, x, p)
    if p[P_TWO_SIDED] != 0.0:
        if _changed(st, S2_DECR, S1_DECR, p[P_LOG_DRIFT]):
            st[DRIFT_FLAG] = 1.0
        elif _changed(st, S2_DECR, S1_DECR, p[P_LOG_WARNING]):
            st[WARNING_FLAG] = 1.0
    if st[DRIFT_FLAG] != 0.0:
        return DRIFT
    return WARNING if st[WARNING_FLAG] != 0.0 else NONE


class HDDMW(Detector, river_base.BinaryDriftAndWarningDetector):
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
    _max_abs = math.inf  # inputs are bits: nothing to overflow
    _has_warning = True
    _n_state = STATE_SIZE
    _threshold = Threshold("drift_confidence", -1, 10.0)

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"two_sided_test": True, "lambda_val": 0.1}

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
        check_number("drift_confidence", drift_confidence, 0, 1, high_open=True)
        check_number("warning_confidence", warning_confidence, 0, 1, high_open=True)
        check_number("lambda_val", lambda_val, 0, 1)
        check_bool("two_sided_test", two_sided_test)
        self._check_nan_policy()
        self._reset()

    def _param_row(self) -> np.ndarray:
        lam = self.lambda_val
        return np.array(
            [self.drift_confidence, self.warning_confidence, lam, float(self.two_sided_test),
             lam * lam, (1 - lam) ** 2, math.log(1 / self.drift_confidence),
             math.log(1 / self.warning_confidence)],
            dtype=np.float64,
        )

    ewma = Slot(TOTAL + EWMA, float, "EWMA of the values since the last reset (0 before the first "
                                     "value).")

    increase_cutpoint = Slot(CUT_INCR, float, "Smallest EWMA + bound so far (inf before the first "
                                              "value).")

    decrease_cutpoint = Slot(CUT_DECR, float, "Largest EWMA - bound so far (-inf before the first "
                                              "value).")

    ewma_after_increase_cut = Slot(S2_INCR + EWMA, float, "EWMA of the values after the increase "
                                                          "cut point (0 if none yet).")

    ewma_after_decrease_cut = Slot(S2_DECR + EWMA, float, "EWMA of the values after the decrease "
                                                          "cut point (0 if none yet).")


HDDM_W = HDDMW
