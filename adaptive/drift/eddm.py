"""Early Drift Detection Method (EDDM) for a stream of errors, with River 0.26's semantics.

EDDM (Baena-Garcia et al., 2006) watches the distance (in updates) between consecutive errors:
its running mean ``p'`` and standard deviation ``s'``. It records the largest ``p' + 2 s'``
and signals a drift when the current ``p' + 2 s'`` falls below ``beta`` times that maximum
(errors came closer together), a warning below ``alpha`` times it.

References
----------
M. Baena-Garcia, J. del Campo-Avila, R. Fidalgo, A. Bifet, R. Gavalda, R. Morales-Bueno.
Early drift detection method. Fourth International Workshop on Knowledge Discovery from Data
Streams, 2006.
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
)

# state slots (0, 1: the drift and warning flags)
N = 2  # values seen
LAST_ERROR = 3  # index of the last error
N_ERRORS = 4
D_COUNT, D_MEAN, D_M2 = 5, 6, 7  # distances between errors: count, mean, Welford's M2
P2S_MAX = 8  # max of p' + 2 s' (-1 before the first)
STATE_SIZE = 9
# param slots
P_WARM_START, P_ALPHA, P_BETA = 0, 1, 2
P_HALF = 3  # the exponent 0.5 (see _step)


@kernel
def _init(st, p):
    st[:] = 0.0
    st[P2S_MAX] = -1.0


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    st[N] += 1.0
    if x == 1.0:
        st[N_ERRORS] += 1.0
        d = st[N] - st[LAST_ERROR]  # distance to the previous error (updates)
        mean_old = st[D_MEAN]
        st[D_COUNT] += 1.0
        st[D_MEAN] += (1.0 / st[D_COUNT]) * (d - st[D_MEAN])
        st[D_M2] += (d - mean_old) * (d - st[D_MEAN])
        if st[N] > p[P_WARM_START]:
            # ddof = 1, as River's Var
            var = st[D_M2] / (st[D_COUNT] - 1.0) if st[D_COUNT] > 1.0 else 0.0
            # River takes var ** 0.5, i.e. C pow(), which differs from sqrt in the last bit for
            # ~0.1% of inputs, and pow() is several times slower. sqrt decides whenever the
            # comparisons below are far (1e-12 relative) from a tie, where an ulp cannot flip
            # them and nothing is stored; otherwise (and for a new maximum, which is stored)
            # pow() is used, with the exponent from the parameter row so that numba calls
            # pow() instead of folding it into sqrt.
            p2s = st[D_MEAN] + 2.0 * math.sqrt(var)
            level = p2s / st[P2S_MAX]
            if (st[P2S_MAX] <= 0.0 or level > 1.0 - 1e-12 or abs(level - p[P_BETA]) <= 1e-12
                    or abs(level - p[P_ALPHA]) <= 1e-12):
                p2s = st[D_MEAN] + 2.0 * var ** p[P_HALF]
            if p2s > st[P2S_MAX]:
                st[P2S_MAX] = p2s
            elif st[N_ERRORS] > p[P_WARM_START]:
                level = p2s / st[P2S_MAX]
                if level < p[P_BETA]:
                    st[DRIFT_FLAG] = 1.0  # River leaves the warning flag as it was
                elif level < p[P_ALPHA]:
                    st[WARNING_FLAG] = 1.0
                else:
                    st[WARNING_FLAG] = 0.0
        st[LAST_ERROR] = st[N]
    if st[DRIFT_FLAG] != 0.0:
        return DRIFT
    return WARNING if st[WARNING_FLAG] != 0.0 else NONE


@lane_kernel
def _lane(L, P, I, x, i):  # noqa: E741
    """_step on lane i of a fleet block, without branches. -1 leaves the lane to _step: the
    reset after a drift, and a tested error near a tie (a new maximum, or p' + 2 s' within
    2e-12 of alpha or beta times the maximum), where _step may take River's pow() and divides.

    Outside that band a comparison of the ratio p2s / max with a level is decided by p2s
    against level * max (no division): the band is wider than the rounding of either."""
    n = L[N, i] + 1.0
    err = x == 1.0
    d = n - L[LAST_ERROR, i]
    k = L[D_COUNT, i] + 1.0
    mean_old = L[D_MEAN, i]
    mean = mean_old + (1.0 / k) * (d - mean_old)
    m2 = L[D_M2, i] + (d - mean_old) * (d - mean)
    var = m2 / (k - 1.0) if k > 1.0 else 0.0
    p2s = mean + 2.0 * math.sqrt(var)  # pow() gives the same outside the band
    top = L[P2S_MAX, i]
    beta = P[P_BETA, i] * top
    alpha = P[P_ALPHA, i] * top
    band = 2e-12 * top
    tested = err & (n > P[P_WARM_START, i])
    tie = ((top <= 0.0) | (p2s > top - band) | (abs(p2s - beta) <= band)
           | (abs(p2s - alpha) <= band))
    keep = (L[DRIFT_FLAG, i] != 0.0) | (tested & tie)
    n_errors = L[N_ERRORS, i] + 1.0
    judged = tested & (n_errors > P[P_WARM_START, i])  # no new maximum outside the band
    drift = judged & (p2s < beta)
    warn_on = judged & (not drift) & (p2s < alpha)
    warn_off = judged & (not drift) & (not (p2s < alpha))
    same = keep | (not err)  # a correct value only counts
    put(L, N, i, keep, n)
    put(L, N_ERRORS, i, same, n_errors)
    put(L, D_COUNT, i, same, k)
    put(L, D_MEAN, i, same, mean)
    put(L, D_M2, i, same, m2)
    put(L, LAST_ERROR, i, same, n)
    put(L, DRIFT_FLAG, i, keep, 1.0 if drift else 0.0)  # River leaves the warning flag
    w = 1.0 if warn_on else (0.0 if warn_off else L[WARNING_FLAG, i])
    put(L, WARNING_FLAG, i, keep, w)
    return -1 if keep else (DRIFT if drift else (WARNING if w != 0.0 else NONE))


class EDDM(Detector, river_base.BinaryDriftAndWarningDetector):
    """Early Drift Detection Method (drop-in for ``river.drift.binary.EDDM``).

    Parameters
    ----------
    warm_start
        Values (strictly more) before the maximum is tracked, and errors (strictly more) before
        a warning or drift can be signalled.
    alpha
        Warning when ``(p' + 2 s') / max < alpha``; in (0, 1], ``alpha >= beta``.
    beta
        Drift when ``(p' + 2 s') / max < beta``; in (0, 1].
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Notes
    -----
    Inputs are bits (1 = error). As in River, the warning flag only changes on an error that is
    tested, so it persists over the correct values in between, and it keeps its value when a
    drift is signalled.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> stream = np.concatenate([rng.random(1000) < 0.2, rng.random(1000) < 0.5])
    >>> eddm = EDDM(alpha=0.8, beta=0.75)
    >>> eddm.update_many(stream).drift
    array([1190])
    """

    _step = _step
    _init = _init
    _param_names = ("warm_start", "alpha", "beta")
    _fleet_params = ("warm_start", "alpha", "beta")
    _binary = True
    _max_abs = math.inf  # inputs are bits: nothing to overflow
    _has_warning = True
    _n_state = STATE_SIZE
    _lanes = (_lane, None, None, 0)
    _threshold = Threshold("beta", -1, 1.05)

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"alpha": 0.9, "beta": 0.8, "warm_start": 10}

    def __init__(
        self,
        warm_start: int = 30,
        alpha: float = 0.95,
        beta: float = 0.9,
        *,
        nan_policy: str = "raise",
    ):
        self.warm_start = warm_start
        self.alpha = alpha
        self.beta = beta
        self.nan_policy = nan_policy
        check_int("warm_start", warm_start, 0)
        check_number("beta", beta, 0, 1)
        check_number("alpha", alpha, 0, 1)
        if alpha < beta:
            raise ValueError(f"alpha={alpha!r} must be >= beta={beta!r}")
        self._check_nan_policy()
        self._reset()

    def _param_row(self) -> np.ndarray:
        return np.array([self.warm_start, self.alpha, self.beta, 0.5], dtype=np.float64)

    n = Slot(N, int, "Values seen since the last reset.")
    n_errors = Slot(N_ERRORS, int, "Errors (ones) seen since the last reset.")
    mean_distance = Slot(D_MEAN, float, "p': running mean distance between consecutive errors.")

    @property
    def std_distance(self) -> float:
        """s': running standard deviation (ddof=1) of the distance between errors."""
        k = self._row[D_COUNT]
        return (self._row[D_M2] / (k - 1.0)) ** 0.5 if k > 1.0 else 0.0

    p2s_max = Slot(P2S_MAX, float, "Largest p' + 2 s' seen since the last reset (-1 before the "
                                   "first).")
