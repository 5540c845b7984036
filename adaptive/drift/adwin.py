"""ADWIN (ADaptive WINdowing) change detector, with River 0.26's semantics.

The window is summarised by an exponential histogram: level i holds up to ``max_buckets`` buckets
(transiently ``max_buckets + 1``), each the (total, variance) summary of 2**i values. Every
``clock`` updates, once more than ``grace_period`` values are in the window, every split of the
window into an older part W0 and a newer part W1 at a bucket boundary is tested; when the means
differ by more than the Hoeffding/Bernstein bound, the oldest bucket is dropped and the scan
starts over, until no split is significant. The update signals a drift if at least one bucket
was dropped.

The order of the floating-point operations (variance recurrence, bucket merges, cut test) follows
River's compiled core (``river._river_rust.drift.AdaptiveWindowing``) so that width, total,
variance, estimation and the drift indices agree exactly, not just closely. Splits that are far
from significant are passed over by a division-free certificate (see ``_surely_no_cut``); every
split it cannot rule out is tested with River's formula, so the decisions stay River's.

The whole state is one float64 row of fixed size (see :func:`state_size`): a header, then for each
of ``MAX_LEVELS`` levels a bucket count and ``max_buckets + 1`` (total, variance) slots. Memory is
O(log W) by construction and bounded for any stream: the histogram can hold a window of up to
``max_buckets * (2**MAX_LEVELS - 1)`` values (more than 10**15 with the defaults), beyond which
the kernel raises instead of dropping data silently.

References
----------
A. Bifet and R. Gavalda. Learning from time-changing data with adaptive windowing.
Proceedings of the 2007 SIAM International Conference on Data Mining, 443-448, 2007.
"""

from __future__ import annotations

import math

from river import base as river_base

from adaptive._checks import INT32_MAX, check_int, check_number
from adaptive.drift._drivers import inline_kernel, kernel
from adaptive.drift.base import DRIFT, DRIFT_FLAG, NONE, Detector, Slot, Threshold

MAX_LEVELS = 48  # levels of the exponential histogram: window up to max_buckets * (2**48 - 1)
# state slots (0, 1: the drift and warning flags; ADWIN never warns)
WIDTH = 2  # values in the window
TOTAL = 3  # their sum
VARIANCE = 4  # their sum of squared deviations from the mean (River's `variance`)
TICK = 5  # updates since reset, wrapped like River's 32-bit counter
N_DETECTIONS = 6
N_LEVELS = 7  # levels in use, >= 1
PHASE = 8  # tick mod clock: a test is due when it is 0
COUNTS = 9  # bucket counts per level (MAX_LEVELS,); then the totals (L, M + 1) and the
# variances (L, M + 1), M = max_buckets, L = MAX_LEVELS. Slot 0 of a level is its oldest bucket.
# param slots
P_DELTA, P_CLOCK, P_MAX_BUCKETS, P_MIN_WINDOW, P_GRACE = range(5)
_I32 = 2147483648.0  # River's tick is an i32 that wraps around


def state_size(max_buckets: int) -> int:
    """Length of ADWIN's float64 state row: 9 + L * (1 + 2 * (max_buckets + 1)), L = 48."""
    return COUNTS + MAX_LEVELS * (1 + 2 * (max_buckets + 1))


@kernel
def _init(st, p):
    st[:] = 0.0
    st[N_LEVELS] = 1.0  # one (empty) level, like River's initial bucket list


@inline_kernel
def _insert(st, x, m):
    """Append x as a bucket of level 0, update width/total/variance, then merge full levels."""
    cap = m + 1  # slots per level
    tot0 = COUNTS + MAX_LEVELS  # start of the totals block
    c = int(st[COUNTS])
    st[tot0 + c] = x
    st[tot0 + MAX_LEVELS * cap + c] = 0.0  # its variance
    st[COUNTS] = c + 1.0
    w_old = st[WIDTH]  # == width - 1.0 below, exactly (integer-valued)
    width = w_old + 1.0
    st[WIDTH] = width
    total = st[TOTAL]
    inc = 0.0
    if w_old > 0.0:
        dv = x - total / w_old
        inc = w_old * dv * dv / width
    st[VARIANCE] += inc
    st[TOTAL] = total + x
    if c + 1 == cap:  # level 0 overflowed (every other insert with the default max_buckets)
        _merge(st, m)


@inline_kernel
def _merge(st, m):
    """Merge the two oldest buckets of each overflowing level, from level 0 upwards."""
    cap = m + 1
    tot0 = COUNTS + MAX_LEVELS
    var0 = tot0 + MAX_LEVELS * cap
    i = 0
    n1 = 1.0  # values per bucket at level i (2**i)
    inv = 1.0  # 1 / n1: t * 2**-i and t / 2**i are the same real number, so the same double
    while int(st[COUNTS + i]) == cap:  # level i overflowed: merge its two oldest buckets
        if i + 1 >= MAX_LEVELS:
            raise OverflowError("ADWIN window exceeds max_buckets * (2**MAX_LEVELS - 1) values")
        a = tot0 + i * cap
        b = var0 + i * cap
        mu1 = st[a] * inv
        mu2 = st[a + 1] * inv
        t12 = st[a] + st[a + 1]
        v12 = st[b] + st[b + 1] + n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2)
        if i + 1 >= st[N_LEVELS]:
            st[N_LEVELS] = i + 2.0
        c1 = int(st[COUNTS + i + 1])
        st[tot0 + (i + 1) * cap + c1] = t12
        st[var0 + (i + 1) * cap + c1] = v12
        st[COUNTS + i + 1] = c1 + 1.0
        for j in range(cap - 2):  # drop the two merged buckets, shift the rest to the front
            st[a + j] = st[a + j + 2]
            st[b + j] = st[b + j + 2]
        for j in range(cap - 2, cap):
            st[a + j] = 0.0
            st[b + j] = 0.0
        st[COUNTS + i] = cap - 2.0
        if c1 + 1 <= m:
            break
        i += 1
        n1 *= 2.0
        inv *= 0.5


@kernel
def _delete_oldest(st, m):
    """Drop the oldest bucket (slot 0 of the last level) and downdate width/total/variance."""
    cap = m + 1
    tot0 = COUNTS + MAX_LEVELS
    var0 = tot0 + MAX_LEVELS * cap
    last = int(st[N_LEVELS]) - 1
    a = tot0 + last * cap
    b = var0 + last * cap
    n = 1.0
    for _ in range(last):
        n *= 2.0  # 2**last, without a pow call
    u = st[a]
    v = st[b]
    mu = u / n
    st[WIDTH] -= n
    st[TOTAL] -= u
    width = st[WIDTH]
    mu_w = st[TOTAL] / width
    st[VARIANCE] -= v + n * width * (mu - mu_w) * (mu - mu_w) / (n + width)
    for j in range(cap - 1):
        st[a + j] = st[a + j + 1]
        st[b + j] = st[b + j + 1]
    st[a + cap - 1] = 0.0
    st[b + cap - 1] = 0.0
    st[COUNTS + last] -= 1.0
    # River pops an emptied last level; an empty level below it (possible only with
    # max_buckets=1, where River's core panics on the next delete) is popped as well.
    while st[N_LEVELS] > 1.0 and st[COUNTS + int(st[N_LEVELS]) - 1] == 0.0:
        st[N_LEVELS] -= 1.0


@inline_kernel
def _surely_no_cut(n0, n1, u0, u1, mwl, var_w, dprime):
    """A division-free certificate that River's cut test fails at this split.

    The test is |u0/n0 - u1/n1| > sqrt(2 m V dp) + 2/3 dp m with m = 1/a + 1/b,
    a = n0 - mwl + 1, b = n1 - mwl + 1. Multiplied by P Q (P = n0 n1, Q = a b) it needs only
    products. The certificate is used only with margins (1e-14 of the sums' magnitude added to
    the mean difference, which bounds the cancellation error of River's u0/n0 - u1/n1; 1e-9
    relative on the bound) far above the rounding of either computation; where it cannot decide,
    or on inf/nan, the exact test runs, in River's order. So the decisions are River's, bit for
    bit, at a fraction of the cost (most splits are far from significant).
    """
    a = n0 - mwl + 1.0
    b = n1 - mwl + 1.0
    pp = n0 * n1
    qq = a * b
    d = abs(u0 * n1 - u1 * n0) + 1e-14 * (abs(u0) * n1 + abs(u1) * n0)  # >= |dmean| P
    lin = (2.0 / 3.0) * dprime * (a + b) * pp  # the linear term of the bound, times P Q
    y = d * qq - lin
    if y <= -1e-9 * lin:
        return True
    rhs = (1.0 - 1e-9) * (2.0 * (a + b) * qq * var_w * dprime) * pp * pp
    # an overflowed bound proves nothing (inf <= inf): leave such splits to the exact test
    return y > 0.0 and y * y <= rhs and rhs < math.inf


@kernel
def _scan_and_cut(st, p):
    """One scan over the splits, oldest to newest; drop the oldest bucket at the first cut."""
    m = int(p[P_MAX_BUCKETS])
    cap = m + 1
    tot0 = COUNTS + MAX_LEVELS
    mwl = p[P_MIN_WINDOW]
    width = st[WIDTH]
    total = st[TOTAL]
    # the cut bound's log term depends on the width only: the same for every split of a scan
    dprime = math.log(2.0 * math.log(width) / p[P_DELTA])
    var_w = st[VARIANCE] / width
    n0 = 0.0
    n1 = width
    u0 = 0.0
    u1 = total
    top = int(st[N_LEVELS]) - 1
    size = 1.0
    for _ in range(top):
        size *= 2.0  # 2**top, values per bucket of the oldest level
    for idx in range(top, -1, -1):
        cnt = int(st[COUNTS + idx])
        for k in range(cnt):
            n0 += size
            n1 -= size
            t = st[tot0 + idx * cap + k]
            u0 += t
            u1 -= t
            if idx == 0 and k == cnt - 1:  # W1 would be empty
                return False
            if n1 >= mwl and n0 >= mwl:  # (and so n1 > 0: no division by zero below)
                if _surely_no_cut(n0, n1, u0, u1, mwl, var_w, dprime):
                    continue
                dmean = (u0 / n0) - (u1 / n1)
                m_recip = 1.0 / (n0 - mwl + 1.0) + 1.0 / (n1 - mwl + 1.0)
                s = 2.0 * m_recip * var_w * dprime
                # River's sqrt of a (rounding-)negative variance is NaN: never a cut
                if s >= 0.0:
                    eps = math.sqrt(s) + 2.0 / 3.0 * dprime * m_recip
                    if abs(dmean) > eps:
                        _delete_oldest(st, m)
                        return True
        size *= 0.5
    return False


@inline_kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    _insert(st, x, int(p[P_MAX_BUCKETS]))
    tick = st[TICK] + 1.0
    phase = st[PHASE] + 1.0  # tick mod clock, kept incrementally: no integer division per update
    if phase >= p[P_CLOCK]:
        phase = 0.0
    if tick >= _I32:  # River's i32 tick wraps to -2**31; the phase follows (divisibility only
        tick -= 2.0 * _I32  # matters, and it does not depend on the sign convention)
        phase = float(int(tick) % int(p[P_CLOCK]))
    st[TICK] = tick
    st[PHASE] = phase
    drift = False
    if phase == 0.0 and st[WIDTH] > p[P_GRACE]:
        while _scan_and_cut(st, p):
            drift = True
    if drift:
        st[N_DETECTIONS] += 1.0
        st[DRIFT_FLAG] = 1.0
        return DRIFT
    st[DRIFT_FLAG] = 0.0
    return NONE


class ADWIN(Detector, river_base.DriftDetector):
    """ADaptive WINdowing change detector (drop-in for ``river.drift.ADWIN``).

    Parameters
    ----------
    delta
        Significance value of the cut test, in (0, 1).
    clock
        The window is tested for a cut every ``clock`` updates (1 = after every value).
    max_buckets
        Buckets of each size kept before the two oldest are merged (River's M), >= 1.
    min_window_length
        Both sub-windows of a split must hold at least this many values to be tested, >= 1.
    grace_period
        No test until the window holds more than this many values, >= 0.
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and values above
        ``max_abs_input`` (1e100), and count them).

    Notes
    -----
    The state is a fixed float64 row of ``9 + 48 * (1 + 2 * (max_buckets + 1))`` entries
    (633 with the defaults): memory does not grow with the stream. ``width`` is returned as an
    int (River returns the same number as a float).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(12345)
    >>> stream = np.concatenate([rng.integers(0, 2, 1000), rng.integers(4, 8, 1000)])
    >>> adwin = ADWIN()
    >>> adwin.update_many(stream).drift
    array([1023])
    >>> adwin = ADWIN()
    >>> for i, x in enumerate(stream):
    ...     adwin.update(x)
    ...     if adwin.drift_detected:
    ...         print(i, adwin.width, adwin.estimation)
    1023 32 4.5
    """

    _step = _step
    _init = _init
    _param_names = ("delta", "clock", "max_buckets", "min_window_length", "grace_period")
    _fleet_params = ("delta", "clock", "min_window_length", "grace_period")
    _threshold = Threshold("delta", -1, 10.0)
    _statistic = "estimation"

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"delta": 0.01, "clock": 4}

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
        *,
        nan_policy: str = "raise",
    ):
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self.nan_policy = nan_policy
        check_number("delta", delta, 0, 1, high_open=True)
        check_int("clock", clock, 1, INT32_MAX)
        check_int("max_buckets", max_buckets, 1, 1000)
        check_int("min_window_length", min_window_length, 1, INT32_MAX)
        check_int("grace_period", grace_period, 0, INT32_MAX)
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return state_size(self.max_buckets)

    width = Slot(WIDTH, int, "Number of values in the current window.")

    @property
    def n_detections(self) -> int:
        """Drifts detected since the last reset (River's count: 1 right after a drift, 0 after
        the next update, because River rebuilds its core on that update)."""
        return int(self._row[N_DETECTIONS])

    variance = Slot(VARIANCE, float, "Sum of squared deviations from the mean over the window "
                                     "(River's ``variance``).")

    total = Slot(TOTAL, float, "Sum of the values in the window.")

    @property
    def estimation(self) -> float:
        """Mean of the window (0.0 when it is empty)."""
        w = self._row[WIDTH]
        return 0.0 if w == 0.0 else float(self._row[TOTAL] / w)
