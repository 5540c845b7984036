"""KSWIN (Kolmogorov-Smirnov WINdowing) change detector, with River 0.26's semantics.

A sliding window of ``window_size`` values; once it is full, every update compares a random
sample of ``stat_size`` values drawn without replacement from the older ``window_size -
stat_size`` values with the ``stat_size`` most recent ones by a two-sample Kolmogorov-Smirnov
test, and signals a drift when the p-value is <= ``alpha`` and the statistic is > 0.1.

Everything River does through Python and SciPy runs inside the numba step kernel:

- the sample is ``random.Random(seed).sample(range(window_size - stat_size), stat_size)``:
  CPython's Mersenne Twister (MT19937, seeded by ``init_by_array`` from the 32-bit words of the
  seed), ``_randbelow`` by rejection on ``getrandbits`` and ``sample``'s pool or set selection,
  so that with an integer seed the very same values are drawn as in River;
- the statistic is the largest gap between the two empirical CDFs evaluated at every observed
  value (ties count fully, as ``scipy.stats.ks_2samp`` does); with equal sample sizes n it is
  h / n for an integer h;
- the p-value is SciPy's exact two-sided probability for two samples of equal size,
  P(D >= h/n) = 2 * (A1 - A1*A2 + ...), evaluated by the same Horner-like recurrence.

The state row holds the generator (624 words and an index), the window as a ring buffer and the
scalars below; its size is fixed (``633 + window_size``), so memory is bounded.

.. note:: where SciPy's exact series rounds to slightly above 1 (it happens for h <= 4, i.e.
   p-values above 0.9999), SciPy falls back to an asymptotic p-value in (0.99996, 1]; this
   kernel reports 1.0 there. Drift decisions differ only for an ``alpha`` in that range.

References
----------
C. Raab, M. Heusinger, F.-M. Schleif. Reactive soft prototype computing for concept drift
streams. Neurocomputing 416, 340-351, 2020.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from adaptive._checks import INT32_MAX, check_int, check_number
from adaptive.base import DRIFT, NONE, Detector, kernel

_N = 624  # MT19937 state words
_MT = 9  # offset of the generator's words in the state row
_BUF = _MT + _N  # offset of the ring buffer (window_size values)
# state row: 0 drift flag, 1 warning flag (always 0), 2 p_value, 3 n (updates since reset),
#            4 count (values in the window), 5 head (ring position of the oldest value),
#            6 statistic of the last test, 7 generator index (0..624), 8 unused,
#            [9, 633) generator words, [633, 633 + window_size) ring buffer
# param row: 0 alpha, 1 window_size, 2 stat_size, 3 seed (NaN: fresh entropy at every reset),
#            4 sample method (1: pool, 0: set, as random.sample decides), 5 n0 (initial values),
#            6.. the initial window (n0 values)
_MASK = 0xFFFFFFFF
_MAX_EXACT_N = 10_000  # ks_2samp(method="auto") is exact up to this sample size


@kernel
def _mul32(a, b):
    """(a * b) mod 2**32 for a, b < 2**32, without overflowing int64."""
    lo = a * (b & 0xFFFF)
    hi = ((a * (b >> 16)) & 0xFFFF) << 16
    return (lo + hi) & _MASK


@kernel
def _mt_seed(st, seed):
    """CPython's random.seed(int): init_genrand(19650218), then init_by_array(words of |seed|)."""
    key0 = seed & _MASK
    key1 = seed >> 32
    nkey = 2 if key1 > 0 else 1
    st[_MT] = 19650218
    for i in range(1, _N):
        prev = int(st[_MT + i - 1])
        st[_MT + i] = (_mul32(prev ^ (prev >> 30), 1812433253) + i) & _MASK
    i = 1
    j = 0
    for _ in range(max(_N, nkey)):
        prev = int(st[_MT + i - 1])
        key = key0 if j == 0 else key1
        cur = int(st[_MT + i])
        st[_MT + i] = ((cur ^ _mul32(prev ^ (prev >> 30), 1664525)) + key + j) & _MASK
        i += 1
        j += 1
        if i >= _N:
            st[_MT] = st[_MT + _N - 1]
            i = 1
        if j >= nkey:
            j = 0
    for _ in range(_N - 1):
        prev = int(st[_MT + i - 1])
        cur = int(st[_MT + i])
        st[_MT + i] = ((cur ^ _mul32(prev ^ (prev >> 30), 1566083941)) - i) & _MASK
        i += 1
        if i >= _N:
            st[_MT] = st[_MT + _N - 1]
            i = 1
    st[_MT] = 0x80000000
    st[7] = _N


@kernel
def _mt_next(st):
    """Next 32-bit output of the generator (CPython's genrand_uint32)."""
    if st[7] >= _N:  # regenerate the 624 words
        for kk in range(_N):
            y = (int(st[_MT + kk]) & 0x80000000) | (int(st[_MT + (kk + 1) % _N]) & 0x7FFFFFFF)
            v = int(st[_MT + (kk + 397) % _N]) ^ (y >> 1)
            if y & 1:
                v ^= 0x9908B0DF
            st[_MT + kk] = v
        st[7] = 0
    k = int(st[7])
    st[7] = k + 1
    y = int(st[_MT + k])
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & _MASK


@kernel
def _randbelow(st, n):
    """random.Random._randbelow(n): rejection sampling on getrandbits(n.bit_length())."""
    k = 0
    while (n >> k) > 0:
        k += 1
    r = _mt_next(st) >> (32 - k)
    while r >= n:
        r = _mt_next(st) >> (32 - k)
    return r


@kernel
def _sample(st, n, k, use_pool, out):
    """random.Random.sample(range(n), k) into out (k,), in selection order."""
    if use_pool:
        pool = np.arange(n)
        for i in range(k):
            j = _randbelow(st, n - i)
            out[i] = pool[j]
            pool[j] = pool[n - i - 1]
    else:  # rejection of repeats; the selected set is an open-addressing table of O(k) slots
        cap = 4
        while cap < 2 * k:
            cap *= 2
        table = np.zeros(cap, dtype=np.int64)  # j + 1, or 0 for an empty slot
        for i in range(k):
            while True:
                j = _randbelow(st, n)
                slot = (j * 2654435761) & (cap - 1)
                while table[slot] != 0 and table[slot] != j + 1:
                    slot = (slot + 1) & (cap - 1)
                if table[slot] == 0:
                    table[slot] = j + 1
                    break
            out[i] = j


@kernel
def _insertion_sort(a):
    """Sort a small (r,) array in place (r is stat_size: faster than np.sort, no allocation)."""
    for i in range(1, a.shape[0]):
        v = a[i]
        j = i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@kernel
def ks_statistic_count(a, b):
    """h = n * max |F_a - F_b| over all observed values, for sorted samples of equal size n."""
    n = a.shape[0]
    i = 0
    j = 0
    h = 0
    while i < n and j < n:
        v = min(a[i], b[j])
        while i < n and a[i] <= v:
            i += 1
        while j < n and b[j] <= v:
            j += 1
        h = max(h, abs(i - j))
    return h


@kernel
def ks_pvalue_equal(n, h):
    """Exact two-sided P(D >= h/n) for two samples of size n (SciPy's ks_2samp, method exact)."""
    if h == 0:
        return 1.0
    total = 0.0
    k = n // h
    while k >= 0:
        p1 = 1.0
        for j in range(h):
            p1 = (n - k * h - j) * p1 / (n + k * h + j + 1)
        total = p1 * (1.0 - total)
        k -= 1
    prob = 2.0 * total
    return prob if prob <= 1.0 else 1.0  # see the module note


@kernel
def _fresh(st, p):
    st[:] = 0.0
    seed = p[3]
    if seed != seed:  # seed=None: River seeds from the OS at every reset; so do we
        _mt_seed(st, np.random.randint(0, 2**53))
    else:
        _mt_seed(st, int(abs(seed)))


@kernel
def _push(st, w, x):
    count = int(st[4])
    head = int(st[5])
    if count < w:
        st[_BUF + (head + count) % w] = x
        st[4] = count + 1.0
    else:
        st[_BUF + head] = x
        st[5] = (head + 1) % w


@kernel
def _init(st, p):
    """A fresh detector, holding the initial window (the last window_size of its values)."""
    _fresh(st, p)
    w = int(p[1])
    for i in range(int(p[5])):
        _push(st, w, p[6 + i])


@kernel
def _step(st, x, p):
    if st[0] != 0.0:
        _fresh(st, p)  # River's reset: the initial window is not restored
    w = int(p[1])
    r = int(p[2])
    st[3] += 1.0
    _push(st, w, x)
    st[0] = 0.0
    if st[4] < w:
        return NONE
    head = int(st[5])
    idx = np.empty(r, dtype=np.int64)
    _sample(st, w - r, r, p[4] != 0.0, idx)
    old = np.empty(r, dtype=np.float64)  # (r,) the random sample of the older part
    new = np.empty(r, dtype=np.float64)  # (r,) the r most recent values
    for i in range(r):
        old[i] = st[_BUF + (head + idx[i]) % w]
        new[i] = st[_BUF + (head + w - r + i) % w]
    if r <= 64:
        _insertion_sort(old)
        _insertion_sort(new)
    else:
        old.sort()
        new.sort()
    h = ks_statistic_count(old, new)
    pv = ks_pvalue_equal(r, h)
    stat = h / r
    st[2] = pv
    st[6] = stat
    if pv <= p[0] and stat > 0.1:
        st[0] = 1.0
        st[4] = r  # keep only the recent part
        st[5] = (head + w - r) % w
        return DRIFT
    return NONE


def _sample_uses_pool(n: int, k: int) -> bool:
    """random.sample's choice between its pool and its set method, computed as CPython does."""
    setsize = 21
    if k > 5:
        setsize += 4 ** math.ceil(math.log(k * 3, 4))
    return n <= setsize


class KSWIN(Detector):
    """Kolmogorov-Smirnov windowing change detector (drop-in for ``river.drift.KSWIN``).

    Parameters
    ----------
    alpha
        Significance level of the KS test, in [0, 1].
    window_size
        Length of the sliding window.
    stat_size
        Size of the two samples compared; ``2 * stat_size <= window_size`` (River fails at the
        first test otherwise) and ``stat_size <= 10000`` (the exact p-value's range).
    seed
        Integer seed of the sampler (|seed| < 2**53), or None for fresh OS entropy at every
        reset. With the same integer seed the alarms equal River's.
    window
        Values the window starts with (the last ``window_size`` are kept), as in River. Not
        restored by the reset after a drift.
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Notes
    -----
    River's ``window`` attribute (the deque of current values) is :attr:`window_values` here:
    ``window`` keeps the constructor argument (as a list), as every parameter is kept.
    The state row has ``633 + window_size`` float64 entries. In a :class:`~adaptive.Fleet`,
    ``alpha`` and (with an integer seed) ``seed`` may vary per stream.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(12345)
    >>> stream = np.concatenate([rng.integers(0, 2, 1000), rng.integers(4, 8, 1000)])
    >>> kswin = KSWIN(alpha=0.0001, seed=42)
    >>> kswin.update_many(stream).drift
    array([1016])
    >>> kswin = KSWIN(alpha=0.0001, seed=42)
    >>> for i, x in enumerate(stream):
    ...     kswin.update(x)
    ...     if kswin.drift_detected:
    ...         print(i, kswin.p_value < 0.0001)
    1016 True
    """

    _step = _step
    _init = _init
    _param_names: tuple[str, ...] = (
        "alpha", "window_size", "stat_size", "seed", "_sample_pool", "_n_window",
    )
    _fleet_params = ("alpha", "seed")

    def __init__(
        self,
        alpha: float = 0.005,
        window_size: int = 100,
        stat_size: int = 30,
        seed: int | None = None,
        window: Iterable[float] | None = None,
        *,
        nan_policy: str = "raise",
    ):
        self.alpha = alpha
        self.window_size = window_size
        self.stat_size = stat_size
        self.seed = seed
        # a list copy: an iterator would be spent by the first read, an array breaks ==
        try:
            self.window = None if window is None else [float(v) for v in window]
        except (TypeError, ValueError) as err:
            raise ValueError(f"window must be an iterable of numbers or None: {err}") from None
        self.nan_policy = nan_policy
        check_number("alpha", alpha, 0, 1, low_open=False, allow_bool=False)
        check_int("window_size", window_size, 2, INT32_MAX, allow_bool=False)
        check_int("stat_size", stat_size, 1, INT32_MAX, allow_bool=False)
        if stat_size > _MAX_EXACT_N:
            raise ValueError(
                f"stat_size={stat_size!r} must be <= {_MAX_EXACT_N}: beyond it SciPy's "
                "ks_2samp (River's method='auto') switches to an asymptotic p-value, which this "
                "kernel does not implement"
            )
        if 2 * stat_size > window_size:
            raise ValueError(
                f"stat_size={stat_size!r} must be <= window_size - stat_size "
                f"(window_size={window_size!r}): the sample is drawn from the older part"
            )
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
            or not abs(seed) < 2**53
        ):
            raise ValueError(f"seed={seed!r} must be None or an integer with |seed| < 2**53")
        self._window0 = np.zeros(0, dtype=np.float64)
        if self.window is not None:
            w0 = np.asarray(self.window, dtype=np.float64)
            if w0.ndim != 1 or not np.isfinite(w0).all():
                raise ValueError("window must be a 1-D iterable of finite numbers")
            self._window0 = w0[-window_size:] if w0.size else w0  # (n0,)
        self._param_names = KSWIN._param_names + tuple(
            f"_window[{i}]" for i in range(self._window0.size)
        )
        if seed is None:  # a per-stream seed needs an integer seed in the template
            self._fleet_params = ("alpha",)
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return _BUF + self.window_size

    def _param_row(self) -> np.ndarray:
        n = self.window_size - self.stat_size
        head = [
            self.alpha, self.window_size, self.stat_size,
            np.nan if self.seed is None else float(self.seed),
            1.0 if _sample_uses_pool(n, self.stat_size) else 0.0, float(self._window0.size),
        ]
        return np.concatenate([np.array(head, dtype=np.float64), self._window0])

    @property
    def p_value(self) -> float:
        """p-value of the last KS test (0.0 before the first test, as in River)."""
        return float(self._row[2])

    @property
    def statistic(self) -> float:
        """KS statistic of the last test (0.0 before the first test)."""
        return float(self._row[6])

    @property
    def n(self) -> int:
        """Updates since the last reset."""
        return int(self._row[3])

    @property
    def window_values(self) -> np.ndarray:
        """A copy of the current window, oldest first (River's ``window`` deque)."""
        w = self.window_size
        count, head = int(self._row[4]), int(self._row[5])
        return self._row[_BUF + (head + np.arange(count)) % w].copy()
