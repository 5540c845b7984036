"""Structure-of-arrays fleet kernels: many streams of one detector, vectorised across streams.

The row step ``step(st, x, p)`` updates one stream's state row; a fleet of S streams walks S rows
one by one, so nothing is vectorised and one core idles. A detector may add a *lane kernel*

    lane(L, P, I, x, i) -> code, or -1

that performs the common path of the same update for stream ``i`` of a block whose state is held
transposed, one row per state slot (``L`` (F, LANES) float64, ``P`` (NP, LANES) parameters,
``I`` (N_INT, LANES) uint64 for state kept in another form, e.g. FHDDM's window as a bit
register). Written without control flow (``&``/``|`` instead of ``and``/``or``, every store
unconditional), the loop over the lanes of a block compiles to SIMD code. For what it does not
handle (the reset after a drift, EDDM's ``pow`` on a new maximum, ...) it returns -1 having
changed nothing, and the driver runs the row kernel on that lane: the rare paths are the
reference code itself. ``load(L, P, I, i)`` / ``store(L, P, I, i)`` convert a lane between the
row layout and its block form (for ``I``); they run when a block is loaded and stored and around
each row-kernel fallback.

The driver walks time outside and the lanes of a block inside, counts skipped values (non-finite
or above ``max_abs``) per stream and binary violations, and writes the new state into a separate
array: the caller raises on bad values with the state untouched, as the row path does. Blocks
of streams run on threads (the kernels release the GIL); each stream is computed by the same
code whatever the number of threads, so results never depend on it. Tests check lanes and rows
bit for bit, and that the loop over lanes compiles to packed (SIMD) arithmetic.

What keeps that loop vectorised (each found by LLVM's remarks when it was not): IEEE division
(``error_model="numpy"``: Python's raises ZeroDivisionError, a branch per division); ``&``,
``|`` and ``not`` instead of ``and`` / ``or``; conditional expressions instead of ``max``,
``min`` and of ``math.copysign`` next to selects; every store unconditional (:func:`put`); no
early return; ``np.int64(v)``, not ``int(v)``; per-step row views of the values
(``values[t, s0:s1]``, no negative-index wraparound per lane); and blocks allocated with a
compile-time lane count: with a runtime row stride LLVM needs an alias check per pair of rows
and gives up beyond a few. Data-dependent rows (a ring buffer slot per lane) do not vectorise;
FHDDM keeps its window as a bit register in the block instead.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from adaptive.drift._drivers import bind, limit, numba, remember_source

LANES = 256  # streams per block: a compile-time row stride (rows provably disjoint for LLVM)
MIN_PARALLEL = 1 << 16  # updates per call below which threads cost more than they save


def lane_kernel(fn):
    """Compile a lane kernel (or a load/store hook): inlined into the driver, IEEE division."""
    remember_source(fn)
    if numba is None or numba.config.DISABLE_JIT:
        fn.py_func = fn
        return fn
    return numba.njit(inline="always", error_model="numpy", cache=True)(fn)


@lane_kernel
def put(L, k, i, keep, value):  # noqa: E741
    """``L[k, i] = value`` unless ``keep``: an unconditional store (conditional ones stop the
    loop over lanes from vectorising)."""
    L[k, i] = L[k, i] if keep else value


def _block_template(state, params, values, s0, s1, max_abs, binary, has_warn,
                    out_state, drift, warn, skipped):
    """Streams [s0, s1) over all steps, in blocks of LANES; returns the binary violations."""
    invalid = 0
    for b0 in range(s0, s1, LANES):
        b1 = min(s1, b0 + LANES)
        invalid += _block(state, params, values, b0, b1, max_abs, binary,  # noqa: F821
                          has_warn, out_state, drift, warn, skipped)
    return invalid


def _one_block_template(state, params, values, s0, s1, max_abs, binary, has_warn,
                        out_state, drift, warn, skipped):
    n_steps = values.shape[0]
    nb = s1 - s0
    nf = state.shape[1]
    npar = params.shape[1]
    L = np.empty((nf, LANES))  # (F, LANES)
    P = np.empty((npar, LANES))  # (NP, LANES)
    I = np.zeros((N_INT, LANES), np.uint64)  # noqa: E741, F821 - (N_INT, LANES)
    for i in range(nb):
        for k in range(nf):
            L[k, i] = state[s0 + i, k]
        for k in range(npar):
            P[k, i] = params[s0 + i, k]
        load(L, P, I, i)  # noqa: F821
    row = np.empty(nf)
    prow = np.empty(npar)
    codes = np.empty(nb, np.int8)
    nskip = np.zeros(nb, np.int64)
    invalid = 0
    for t in range(n_steps):
        vrow = values[t, s0:s1]
        drow = drift[t, s0:s1]
        nfall = 0
        for i in range(nb):  # the vectorised loop
            x = vrow[i]
            ok = abs(x) <= max_abs  # False for nan
            c = 0
            if ok:
                c = lane(L, P, I, x, i)  # noqa: F821
            codes[i] = c
            drow[i] = c == 2
            nskip[i] += 0 if ok else 1
            nfall += 1 if c < 0 else 0
            invalid += 1 if (binary & ok & (x != 0.0) & (x != 1.0)) else 0
        if nfall:  # the lanes the lane kernel left to the row kernel
            for i in range(nb):
                if codes[i] < 0:
                    store(L, P, I, i)  # noqa: F821
                    for k in range(nf):
                        row[k] = L[k, i]
                    for k in range(npar):
                        prow[k] = P[k, i]
                    c = step(row, vrow[i], prow)  # noqa: F821
                    for k in range(nf):
                        L[k, i] = row[k]
                    load(L, P, I, i)  # noqa: F821
                    codes[i] = c
                    drow[i] = c == 2
        if has_warn:
            wrow = warn[t, s0:s1]
            for i in range(nb):
                wrow[i] = codes[i] == 1
    for i in range(nb):
        store(L, P, I, i)  # noqa: F821
        for k in range(nf):
            out_state[s0 + i, k] = L[k, i]
        skipped[s0 + i] = nskip[i]
    return invalid


def _no_hook(L, P, I, i):  # noqa: E741
    pass


_KERNELS: dict = {}
_LOCK = threading.Lock()


def _compile(step, lane, load, store, n_int, *, cache: bool = True):
    """The block driver of one detector, its kernels inlined, cached on disk per source hash
    (``cache=False``: a fresh compilation, whose machine code can be inspected)."""
    jit = numba is not None and not numba.config.DISABLE_JIT  # type: ignore[attr-defined]
    hook = lane_kernel(_no_hook)
    env = {"LANES": LANES, "N_INT": n_int, "lane": lane, "step": step,
           "load": load or hook, "store": store or hook}
    block = bind(_one_block_template, "soa_block", lane, env,
                 numba.njit(nogil=True, error_model="numpy", cache=cache) if jit else _plain)
    return bind(_block_template, "soa_run", lane, {"LANES": LANES, "_block": block},
                numba.njit(nogil=True, cache=cache) if jit else _plain)


def _plain(fn):
    return fn


def _kernel(spec, step):
    key = (spec, step)
    found = _KERNELS.get(key)
    if found is None:
        with _LOCK:
            found = _KERNELS.get(key)
            if found is None:
                found = _KERNELS[key] = _compile(step, *spec)
    return found


# -- threads ------------------------------------------------------------------------------------
_POOL: ThreadPoolExecutor | None = None


def _reset_pool() -> None:  # a forked child inherits the pool object but not its threads
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pool)


def default_threads() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        with _LOCK:
            if _POOL is None:
                _POOL = ThreadPoolExecutor(default_threads(), thread_name_prefix="adaptive-soa")
    return _POOL


def split(n_streams: int, n_parts: int) -> list[tuple[int, int]]:
    """Contiguous stream ranges, whole blocks of LANES where possible, one per thread."""
    n_blocks = -(-n_streams // LANES)
    n_parts = max(1, min(n_parts, n_blocks))
    edges = [min(n_streams, (n_blocks * j // n_parts) * LANES) for j in range(n_parts + 1)]
    edges[-1] = n_streams
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def run(spec, step, state, params, values, max_abs, binary, has_warn, n_threads=None):
    """One fleet update through the lane kernel ``spec`` = (lane, load, store, n_int).

    state (S, F) and params (S, P) C-contiguous float64, values (T, S) C-contiguous float64.
    Returns (new state (S, F), drift (T, S) bool, warning (T, S) bool, skipped (S,) int64,
    number of binary violations). ``state`` itself is not modified.
    """
    kern = _kernel(spec, step)
    n_steps, n_streams = values.shape
    out_state = np.empty_like(state)
    drift = np.empty((n_steps, n_streams), np.uint8)
    warn = np.empty((n_steps, n_streams), np.uint8) if has_warn else drift[:0]
    skipped = np.zeros(n_streams, np.int64)
    n_threads = default_threads() if n_threads is None else int(n_threads)
    if values.size < MIN_PARALLEL:
        n_threads = 1
    parts = split(n_streams, n_threads)
    tail = (limit(max_abs), binary, has_warn, out_state, drift, warn, skipped)
    if len(parts) <= 1:
        invalid = kern(state, params, values, 0, n_streams, *tail) if n_streams else 0
    else:
        futures = [pool().submit(kern, state, params, values, a, b, *tail) for a, b in parts]
        invalid = sum(f.result() for f in futures)
    warning = warn.view(np.bool_) if has_warn else np.zeros((n_steps, n_streams), np.bool_)
    return out_state, drift.view(np.bool_), warning, skipped, int(invalid)
