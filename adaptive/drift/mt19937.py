"""CPython's Mersenne Twister (MT19937) and ``random.Random.sample``, as numba kernels.

KSWIN draws its sample with ``random.Random(seed).sample(...)`` in River; to give the very same
draws inside a compiled step kernel, the generator lives in the detector's float64 state row:
624 words from slot ``words`` on and the position of the next word in slot ``index``. The
functions follow CPython's ``_randommodule.c`` and ``random.py``: ``init_by_array`` seeding from
the 32-bit words of |seed|, ``genrand_uint32``, ``_randbelow`` by rejection on
``getrandbits(k)``, and ``sample``'s choice between its pool and its set method. The oracle is
Python's own ``random`` module (``tests/adaptive/test_parity_river.py`` and the KSWIN tests).
"""

from __future__ import annotations

import math

import numpy as np

from adaptive.drift._drivers import kernel

N_WORDS = 624  # words of generator state
_MASK = 0xFFFFFFFF


@kernel
def _mul32(a, b):
    """(a * b) mod 2**32 for a, b < 2**32, without overflowing int64."""
    lo = a * (b & 0xFFFF)
    hi = ((a * (b >> 16)) & 0xFFFF) << 16
    return (lo + hi) & _MASK


@kernel
def mt_seed(st, words, index, seed):
    """CPython's random.seed(int): init_genrand(19650218), then init_by_array(words of |seed|)."""
    key0 = seed & _MASK
    key1 = seed >> 32
    nkey = 2 if key1 > 0 else 1
    st[words] = 19650218
    for i in range(1, N_WORDS):
        prev = int(st[words + i - 1])
        st[words + i] = (_mul32(prev ^ (prev >> 30), 1812433253) + i) & _MASK
    i = 1
    j = 0
    for _ in range(max(N_WORDS, nkey)):
        prev = int(st[words + i - 1])
        key = key0 if j == 0 else key1
        cur = int(st[words + i])
        st[words + i] = ((cur ^ _mul32(prev ^ (prev >> 30), 1664525)) + key + j) & _MASK
        i += 1
        j += 1
        if i >= N_WORDS:
            st[words] = st[words + N_WORDS - 1]
            i = 1
        if j >= nkey:
            j = 0
    for _ in range(N_WORDS - 1):
        prev = int(st[words + i - 1])
        cur = int(st[words + i])
        st[words + i] = ((cur ^ _mul32(prev ^ (prev >> 30), 1566083941)) - i) & _MASK
        i += 1
        if i >= N_WORDS:
            st[words] = st[words + N_WORDS - 1]
            i = 1
    st[words] = 0x80000000
    st[index] = N_WORDS


@kernel
def mt_next(st, words, index):
    """Next 32-bit output of the generator (CPython's genrand_uint32)."""
    if st[index] >= N_WORDS:  # regenerate the 624 words
        for kk in range(N_WORDS):
            y = ((int(st[words + kk]) & 0x80000000)
                 | (int(st[words + (kk + 1) % N_WORDS]) & 0x7FFFFFFF))
            v = int(st[words + (kk + 397) % N_WORDS]) ^ (y >> 1)
            if y & 1:
                v ^= 0x9908B0DF
            st[words + kk] = v
        st[index] = 0
    k = int(st[index])
    st[index] = k + 1
    y = int(st[words + k])
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & _MASK


@kernel
def randbelow(st, words, index, n):
    """random.Random._randbelow(n): rejection sampling on getrandbits(n.bit_length())."""
    k = 0
    while (n >> k) > 0:
        k += 1
    r = mt_next(st, words, index) >> (32 - k)
    while r >= n:
        r = mt_next(st, words, index) >> (32 - k)
    return r


@kernel
def sample(st, words, index, n, k, use_pool, out):
    """random.Random.sample(range(n), k) into out (k,), in selection order."""
    if use_pool:
        pool = np.arange(n)
        for i in range(k):
            j = randbelow(st, words, index, n - i)
            out[i] = pool[j]
            pool[j] = pool[n - i - 1]
    else:  # rejection of repeats; the selected set is an open-addressing table of O(k) slots
        cap = 4
        while cap < 2 * k:
            cap *= 2
        table = np.zeros(cap, dtype=np.int64)  # j + 1, or 0 for an empty slot
        for i in range(k):
            while True:
                j = randbelow(st, words, index, n)
                slot = (j * 2654435761) & (cap - 1)
                while table[slot] != 0 and table[slot] != j + 1:
                    slot = (slot + 1) & (cap - 1)
                if table[slot] == 0:
                    table[slot] = j + 1
                    break
            out[i] = j


def sample_uses_pool(n: int, k: int) -> bool:
    """random.sample's choice between its pool and its set method, computed as CPython does."""
    setsize = 21
    if k > 5:
        setsize += 4 ** math.ceil(math.log(k * 3, 4))
    return n <= setsize
