"""Fast Hoeffding Drift Detection Method (FHDDM), with River 0.26's semantics.

FHDDM (Pesaranghader and Viktor, 2016) slides a window of ``sliding_window_size`` bits and
tracks the largest window mean ``u_max`` of the *ones* (River counts ones, its inputs being
"1 = error" it therefore watches for a drop of the rate of ones). A drift is signalled when
``u_max - u > epsilon`` with Hoeffding's ``epsilon = sqrt(ln(1 / confidence_level) / (2 W))``.
The stacking variant adds a short window of the latest ``short_window_size`` bits with its own
maximum and epsilon.

References
----------
A. Pesaranghader, H. L. Viktor. Fast Hoeffding drift detection method for evolving data
streams. ECML PKDD 2016, LNCS 9852, 96-111.
A. Pesaranghader, H. Viktor, E. Paquet. Reservoir of diverse adaptive learners and stacking
fast Hoeffding drift detection methods for evolving data streams. Machine Learning 107,
1711-1743, 2018.
"""

from __future__ import annotations

import math

import numpy as np
from river import base as river_base

from adaptive._checks import check_int, check_number
from adaptive.drift._drivers import kernel
from adaptive.drift._soa import lane_kernel, put
from adaptive.drift.base import DRIFT, DRIFT_FLAG, NONE, Detector, Slot, Threshold

# state slots (0, 1: the drift and warning flags; FHDDM never warns)
COUNT = 2  # values in the window (0..W-1 between updates)
HEAD = 3  # ring-buffer index of the oldest value
N_ONE = 4  # ones in the window
U_MAX, U_SHORT_MAX = 5, 6  # largest window means of ones (long and short window)
BUF = 7  # the ring buffer of the window's W bits (the row has BUF + W slots)
# param slots (the epsilons are derived, computed as River does)
P_WINDOW, P_CONFIDENCE, P_SHORT_WINDOW, P_EPS, P_EPS_SHORT = range(5)  # short window 0: none


@kernel
def _init(st, p):
    st[:] = 0.0


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    w = int(p[P_WINDOW])
    count = int(st[COUNT])
    head = int(st[HEAD])
    tail = head + count  # ring-buffer slot of the new bit (no integer division: hot path)
    if tail >= w:
        tail -= w
    st[BUF + tail] = x
    count += 1
    st[N_ONE] += x
    if count == w:
        u = st[N_ONE] / p[P_WINDOW]
        if st[U_MAX] < u:
            st[U_MAX] = u
        short_drift = False
        if p[P_SHORT_WINDOW] > 0.0:
            ones = 0.0  # ones among the latest short_window_size bits (exact: integers)
            # the latest short_window_size slots, oldest first
            i = head + w - int(p[P_SHORT_WINDOW])
            for _ in range(int(p[P_SHORT_WINDOW])):
                if i >= w:
                    i -= w
                ones += st[BUF + i]
                i += 1
            u_s = ones / p[P_SHORT_WINDOW]
            if st[U_SHORT_MAX] < u_s:
                st[U_SHORT_MAX] = u_s
            short_drift = st[U_SHORT_MAX] - u_s > p[P_EPS_SHORT]
        st[DRIFT_FLAG] = 1.0 if (st[U_MAX] - u > p[P_EPS]) or short_drift else 0.0
        st[N_ONE] -= st[BUF + head]  # the oldest bit leaves the window
        head = head + 1 if head + 1 < w else 0
        count -= 1
    st[COUNT] = count
    st[HEAD] = head
    return DRIFT if st[DRIFT_FLAG] != 0.0 else NONE


# In a fleet block the window is a shift register of the last W bits written (bit k: the k-th
# most recent; zeros before the first since the reset), in two uint64 words: W <= 128. The ring
# slots are a function of it and of HEAD/COUNT (slot (HEAD + COUNT - 1 - k) mod W holds bit k,
# stale slots included), so a lane converts to and from the row exactly.
LANE_BITS = 128


@lane_kernel
def _load(L, P, I, i):  # noqa: E741
    """The ring of lane i as the bit register I[0, i] (newest 64 bits), I[1, i]."""
    w = np.int64(P[P_WINDOW, i])
    tail = np.int64(L[HEAD, i]) + np.int64(L[COUNT, i])  # the slot written next
    lo = np.uint64(0)
    hi = np.uint64(0)
    for k in range(w):
        slot = (tail - 1 - k) % w
        bit = np.uint64(1) if L[BUF + slot, i] != 0.0 else np.uint64(0)
        if k < 64:
            lo |= bit << np.uint64(k)
        else:
            hi |= bit << np.uint64(k - 64)
    I[0, i] = lo
    I[1, i] = hi


@lane_kernel
def _store(L, P, I, i):  # noqa: E741
    """The bit register of lane i back into its ring slots."""
    w = np.int64(P[P_WINDOW, i])
    tail = np.int64(L[HEAD, i]) + np.int64(L[COUNT, i])
    for k in range(w):
        word = I[0, i] if k < 64 else I[1, i]
        L[BUF + (tail - 1 - k) % w, i] = float((word >> np.uint64(k % 64)) & np.uint64(1))


@lane_kernel
def _lane(L, P, I, x, i):  # noqa: E741
    """_step on lane i of a fleet block (window as a bit register), without branches; -1 leaves
    the lane to _step (the reset after a drift)."""
    keep = L[DRIFT_FLAG, i] != 0.0
    w = P[P_WINDOW, i]
    count = L[COUNT, i] + 1.0
    head = L[HEAD, i]
    lo = I[0, i]
    hi = I[1, i]
    new_lo = (lo << np.uint64(1)) | (np.uint64(1) if x != 0.0 else np.uint64(0))
    new_hi = (hi << np.uint64(1)) | (lo >> np.uint64(63))
    oldest = np.int64(w) - 1  # the bit that leaves the window once it is full
    word = new_lo if oldest < 64 else new_hi
    leaving = float((word >> np.uint64(oldest & 63)) & np.uint64(1))
    n_one = L[N_ONE, i] + x
    full = count == w
    u = n_one / w
    u_max = u if (full & (L[U_MAX, i] < u)) else L[U_MAX, i]
    drift = full & (u_max - u > P[P_EPS, i])
    I[0, i] = lo if keep else new_lo
    I[1, i] = hi if keep else new_hi
    put(L, N_ONE, i, keep, n_one - leaving if full else n_one)
    put(L, U_MAX, i, keep, u_max)
    put(L, HEAD, i, keep, (head + 1.0 if head + 1.0 < w else 0.0) if full else head)
    put(L, COUNT, i, keep, count - 1.0 if full else count)
    put(L, DRIFT_FLAG, i, keep, 1.0 if drift else 0.0)
    return -1 if keep else (DRIFT if drift else NONE)


class FHDDM(Detector, river_base.BinaryDriftDetector):
    """Fast Hoeffding Drift Detection Method (drop-in for ``river.drift.binary.FHDDM``).

    Parameters
    ----------
    sliding_window_size
        Window length W; no drift before W values were seen.
    confidence_level
        delta of Hoeffding's inequality, in (0, 1).
    short_window_size
        Length of the short window of the stacking variant (``None``: plain FHDDM); in
        [1, sliding_window_size].
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Notes
    -----
    The window is a ring buffer inside the state row, so the state has ``7 + W`` floats.
    FHDDM has no warning zone (``warning_detected`` is always False), as in River.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> stream = np.concatenate([rng.random(250) < 0.5, rng.random(250) < 0.1])
    >>> FHDDM().update_many(stream).drift
    array([311])
    >>> FHDDM(short_window_size=20).update_many(stream).drift
    array([268])
    """

    _step = _step
    _init = _init
    _param_names = ("sliding_window_size", "confidence_level", "short_window_size")
    _fleet_params = ("confidence_level",)
    _binary = True
    _max_abs = math.inf  # inputs are bits: nothing to overflow
    _has_warning = False
    _threshold = Threshold("confidence_level", -1, 10.0)

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"sliding_window_size": 40}
        yield {"sliding_window_size": 30, "short_window_size": 10}

    def __init__(
        self,
        sliding_window_size: int = 100,
        confidence_level: float = 0.000001,
        short_window_size: int | None = None,
        *,
        nan_policy: str = "raise",
    ):
        self.sliding_window_size = sliding_window_size
        self.confidence_level = confidence_level
        self.short_window_size = short_window_size
        self.nan_policy = nan_policy
        check_int("sliding_window_size", sliding_window_size, 1)
        check_number("confidence_level", confidence_level, 0, 1, high_open=True)
        check_int("short_window_size", short_window_size, 1, sliding_window_size, optional=True)
        self._check_nan_policy()
        self._reset()

    _lanes = (_lane, _load, _store, 2)

    def _lane_spec(self):
        # the short window's sum over the latest bits, and windows beyond the bit register,
        # are the row kernel's
        if self.short_window_size is not None or self.sliding_window_size > LANE_BITS:
            return None
        return type(self)._lanes

    def _state_size(self) -> int:
        return BUF + int(self.sliding_window_size)

    def _param_row(self) -> np.ndarray:
        # epsilons computed with the same expression as River, so they are bit-identical
        eps = math.sqrt(math.log(1 / self.confidence_level) / (2 * self.sliding_window_size))
        sws = self.short_window_size
        eps_s = math.sqrt(math.log(1 / self.confidence_level) / (2 * sws)) if sws else 0.0
        return np.array(
            [self.sliding_window_size, self.confidence_level, sws or 0, eps, eps_s],
            dtype=np.float64,
        )

    n_one = Slot(N_ONE, int, "Ones in the current window (River's ``n_one``).")
    u_max = Slot(U_MAX, float, "Largest window mean of ones since the last reset.")
    u_short_max = Slot(U_SHORT_MAX, float, "Largest short-window mean of ones since the last reset "
                                           "(0 without short window).")

    @property
    def epsilon(self) -> float:
        """Hoeffding bound of the long window."""
        return float(self._prow[P_EPS])
