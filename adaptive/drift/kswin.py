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

import collections
from collections.abc import Iterable
from typing import Any

import numpy as np
from river import base as river_base

from adaptive._checks import INT32_MAX, check_int, check_number
from adaptive.drift._drivers import kernel
from adaptive.drift.base import DRIFT, DRIFT_FLAG, NONE, Detector, Slot, Threshold
from adaptive.drift.mt19937 import N_WORDS, mt_seed, sample, sample_uses_pool

# state slots (0, 1: the drift and warning flags; KSWIN never warns)
P_VALUE = 2  # p-value of the last KS test
N = 3  # updates since the last reset
COUNT = 4  # values in the window
HEAD = 5  # ring position of the oldest value
STAT = 6  # KS statistic of the last test
MT_INDEX = 7  # the generator's next-word position (slot 8 is unused)
MT_WORDS = 9  # the generator's 624 words
BUF = MT_WORDS + N_WORDS  # the ring buffer of window_size values (633 + window_size in all)
# param slots
P_ALPHA, P_WINDOW_SIZE, P_STAT_SIZE = 0, 1, 2
P_SEED = 3  # NaN: fresh entropy at every reset
P_POOL = 4  # 1: random.sample's pool method, 0: its set method
P_N0 = 5  # number of initial values
P_WINDOW0 = 6  # the initial values (n0 of them)
_MAX_EXACT_N = 10_000  # ks_2samp(method="auto") is exact up to this sample size


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
    seed = p[P_SEED]
    if seed != seed:  # seed=None: River seeds from the OS at every reset; so do we
        mt_seed(st, MT_WORDS, MT_INDEX, np.random.randint(0, 2**53))
    else:
        mt_seed(st, MT_WORDS, MT_INDEX, int(abs(seed)))


@kernel
def _push(st, w, x):
    count = int(st[COUNT])
    head = int(st[HEAD])
    if count < w:
        st[BUF + (head + count) % w] = x
        st[COUNT] = count + 1.0
    else:
        st[BUF + head] = x
        st[HEAD] = (head + 1) % w


@kernel
def _init(st, p):
    """A fresh detector, holding the initial window (the last window_size of its values)."""
    _fresh(st, p)
    w = int(p[P_WINDOW_SIZE])
    for i in range(int(p[P_N0])):
        _push(st, w, p[P_WINDOW0 + i])


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _fresh(st, p)  # River's reset: the initial window is not restored
    w = int(p[P_WINDOW_SIZE])
    r = int(p[P_STAT_SIZE])
    st[N] += 1.0
    _push(st, w, x)
    st[DRIFT_FLAG] = 0.0
    if st[COUNT] < w:
        return NONE
    head = int(st[HEAD])
    idx = np.empty(r, dtype=np.int64)
    sample(st, MT_WORDS, MT_INDEX, w - r, r, p[P_POOL] != 0.0, idx)
    old = np.empty(r, dtype=np.float64)  # (r,) the random sample of the older part
    new = np.empty(r, dtype=np.float64)  # (r,) the r most recent values
    for i in range(r):
        old[i] = st[BUF + (head + idx[i]) % w]
        new[i] = st[BUF + (head + w - r + i) % w]
    if r <= 64:
        _insertion_sort(old)
        _insertion_sort(new)
    else:
        old.sort()
        new.sort()
    h = ks_statistic_count(old, new)
    pv = ks_pvalue_equal(r, h)
    stat = h / r
    st[P_VALUE] = pv
    st[STAT] = stat
    if pv <= p[P_ALPHA] and stat > 0.1:
        st[DRIFT_FLAG] = 1.0
        st[COUNT] = r  # keep only the recent part
        st[HEAD] = (head + w - r) % w
        return DRIFT
    return NONE


class KSWIN(Detector, river_base.DriftDetector):
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
    As in River, ``window`` is the live window (a deque of the current values, oldest first),
    so River's ``clone()`` hands the current window to the copy as its initial window, exactly
    as it does for River's own KSWIN. The constructor's window is kept for the state header.
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
    _fleet_params: tuple[str, ...] = ("alpha", "seed")
    _max_abs = np.inf  # the window only stores and compares values: nothing can overflow
    _threshold = Threshold("alpha", -1, 10.0)
    _statistic = "statistic"

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
        self.nan_policy = nan_policy
        check_number("alpha", alpha, 0, 1, low_open=False)
        check_int("window_size", window_size, 2, INT32_MAX)
        check_int("stat_size", stat_size, 1, INT32_MAX)
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
        check_int("seed", seed, -(2**53) + 1, 2**53 - 1, optional=True)
        self._window_init = _initial_window(window)
        w0 = np.asarray(self._window_init or [], dtype=np.float64)
        self._window0 = w0[-window_size:] if w0.size else w0  # (n0,)
        self._param_names = KSWIN._param_names + tuple(
            f"_window[{i}]" for i in range(self._window0.size)
        )
        if seed is None:  # a per-stream seed needs an integer seed in the template
            self._fleet_params = ("alpha",)
        self._check_nan_policy()
        self._reset()

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"alpha": 0.01, "window_size": 60, "stat_size": 20, "seed": 1}

    def _state_params(self) -> dict[str, Any]:
        return {**self._get_params(), "window": self._window_init}

    def _state_size(self) -> int:
        return BUF + self.window_size

    def _param_row(self) -> np.ndarray:
        n = self.window_size - self.stat_size
        head = [
            self.alpha, self.window_size, self.stat_size,
            np.nan if self.seed is None else float(self.seed),
            1.0 if sample_uses_pool(n, self.stat_size) else 0.0, float(self._window0.size),
        ]
        return np.concatenate([np.array(head, dtype=np.float64), self._window0])

    p_value = Slot(P_VALUE, float, "p-value of the last KS test (0.0 before the first test, as in "
                                   "River).")

    statistic = Slot(STAT, float, "KS statistic of the last test (0.0 before the first test).")
    n = Slot(N, int, "Updates since the last reset.")

    @property
    def window(self) -> collections.deque:
        """The current window, oldest first (River's live ``window`` deque; a copy)."""
        w = self.window_size
        count, head = int(self._row[COUNT]), int(self._row[HEAD])
        values = self._row[BUF + (head + np.arange(count)) % w].tolist()
        return collections.deque(values, maxlen=w)


def _initial_window(window: Any) -> list[float] | None:
    """The constructor's ``window`` as a list of finite floats (None stays None)."""
    if window is None:
        return None
    if isinstance(window, (str, bytes)) or not isinstance(window, Iterable):
        raise ValueError(f"window={window!r} must be None or an iterable of numbers")
    values = list(window)  # a list copy: an iterator would be spent by the first read
    arr = np.array(values, dtype=object)
    if arr.ndim != 1 or not all(isinstance(v, (int, float, np.number)) and not isinstance(
            v, (bool, np.bool_)) and np.isfinite(v) for v in values):
        raise ValueError(f"window={window!r:.80} must be None or an iterable of finite numbers")
    return [float(v) for v in values]
