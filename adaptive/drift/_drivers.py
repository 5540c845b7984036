"""Compiled drivers of the detectors' step kernels (internal to :mod:`adaptive.drift`).

For each step kernel ``step(st, x, p) -> code`` this module builds, on first use, three
numba functions with the step inlined: a dense loop over values (T, S) for S streams, a loop
over (stream, value) events, and a single-value entry point that takes the two rows by address
(a dispatcher call with two array arguments costs several times the step itself). Each is the
code of a template below bound to globals where ``step`` is the detector's kernel, and cached on
disk under a name that carries the detector module's source hash. With ``NUMBA_DISABLE_JIT=1``
(or without numba) the drivers are the plain-Python templates: the reference implementation.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import types

import numpy as np

try:  # optional fast path, detected by feature
    import numba
    from numba.extending import intrinsic

    def kernel(fn):
        """Compile ``fn`` with numba (lazily, on first call; cached on disk)."""
        return numba.njit(cache=True)(fn)

    @intrinsic
    def _f64_ptr(typingctx, addr):
        """An integer address as a float64 pointer (for the single-value entry point)."""
        sig = numba.types.CPointer(numba.types.float64)(numba.types.intp)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

except ImportError:  # pragma: no cover - numba is a dependency, but keep the library usable
    numba = None

    def kernel(fn):
        fn.py_func = fn
        return fn


def _dense_template(state, params, values, codes):
    """values (T, S) -> codes (T, S); non-finite values are skipped (code NONE)."""
    n_steps, n_streams = values.shape
    for t in range(n_steps):
        for s in range(n_streams):
            x = values[t, s]
            if np.isfinite(x):
                codes[t, s] = step(state[s], x, params[s])  # noqa: F821 - bound per detector


def _events_template(state, params, streams, values, codes):
    """Events in arrival order: values[k] belongs to stream streams[k]; codes (K,)."""
    for k in range(values.shape[0]):
        x = values[k]
        if np.isfinite(x):
            s = streams[k]
            codes[k] = step(state[s], x, params[s])  # noqa: F821 - bound per detector


def _dense_ptr_template(state, params, values, codes):
    """As the dense driver, with each stream's rows taken by address (JIT only).

    A row view ``state[s]`` costs two atomic reference-count updates per update; a view built
    from the address has no owner to count (state and params must be C-contiguous).
    """
    n_steps, n_streams = values.shape
    n_f, n_p = state.shape[1], params.shape[1]
    st_addr, p_addr = state.ctypes.data, params.ctypes.data
    for t in range(n_steps):
        for s in range(n_streams):
            x = values[t, s]
            if np.isfinite(x):
                st = numba.carray(_f64_ptr(st_addr + 8 * n_f * s), (n_f,))  # noqa: F821
                p = numba.carray(_f64_ptr(p_addr + 8 * n_p * s), (n_p,))  # noqa: F821
                codes[t, s] = step(st, x, p)  # noqa: F821 - bound per detector


def _events_ptr_template(state, params, streams, values, codes):
    """As the events driver, with rows taken by address (JIT only; C-contiguous arrays)."""
    n_f, n_p = state.shape[1], params.shape[1]
    st_addr, p_addr = state.ctypes.data, params.ctypes.data
    for k in range(values.shape[0]):
        x = values[k]
        if np.isfinite(x):
            s = streams[k]
            st = numba.carray(_f64_ptr(st_addr + 8 * n_f * s), (n_f,))  # noqa: F821
            p = numba.carray(_f64_ptr(p_addr + 8 * n_p * s), (n_p,))  # noqa: F821
            codes[k] = step(st, x, p)  # noqa: F821 - bound per detector


def _at_template(st_addr, n_st, x, p_addr, n_p):
    """step on rows given by address: no array unboxing, the cost of a single update(x)."""
    st = numba.carray(_f64_ptr(st_addr), (n_st,))  # noqa: F821 - (F,) the detector's row
    p = numba.carray(_f64_ptr(p_addr), (n_p,))  # noqa: F821 - (P,)
    return step(st, x, p)  # noqa: F821 - bound per detector


# kernel helpers that step kernels of other files inline: part of every driver's cache key, so
# that editing one of them recompiles the drivers (numba checks only the cached file's stamp)
_HERE = os.path.dirname(os.path.abspath(__file__))
_SHARED_KERNELS = tuple(os.path.join(_HERE, f) for f in ("_drivers.py", "_welford.py",
                                                          "mt19937.py"))


def _make_runners(step):
    """The two drivers of one step kernel, compiled with the step inlined and cached on disk.

    Each driver is the template's code bound to globals where ``step`` is this detector's
    kernel, under its own name: ``run_dense__<module>__<hash of the module's source>``. The name
    gives each detector its own numba cache file, and the hash (of the detector's file and of
    the shared kernel files) makes an edited kernel get a fresh one (numba only checks the stamp
    of the driver's own file, _drivers.py). Passing the step as an argument to one shared
    driver would put dispatcher types in one cache index: they cannot be matched across
    processes, so the drivers were recompiled in every process, and saving that index can fail
    on a dispatcher that was garbage-collected.
    """
    py = getattr(step, "py_func", step)
    try:
        sha = hashlib.sha1()
        for path in (inspect.getsourcefile(py), *_SHARED_KERNELS):
            with open(path, "rb") as f:
                sha.update(f.read())
        digest = sha.hexdigest()[:12]
    except (OSError, TypeError):  # no source file: a fresh name per process, nothing reused
        digest = f"id{id(step):x}"
    tag = f"{py.__module__.replace('.', '_')}__{py.__name__}__{digest}"
    out = []
    jit = numba is not None and not numba.config.DISABLE_JIT
    templates = ((_dense_ptr_template, _events_ptr_template, _at_template) if jit else
                 (_dense_template, _events_template, _at_template))
    for template in templates:
        env = {"np": np, "step": step, "__name__": py.__module__, "numba": numba,
               "_f64_ptr": _f64_ptr if numba is not None else None}  # the driver's globals
        fn = types.FunctionType(template.__code__, env, template.__name__)
        fn.__qualname__ = f"{template.__name__.replace('_template', '')}__{tag}"
        fn.__doc__ = template.__doc__
        out.append(kernel(fn))
    return tuple(out)


_RUNNERS: dict = {}  # step kernel -> (run_dense, run_events, run_at), built on first use
_ENTRIES: dict = {}  # step kernel -> compiled entry point of run_at (None: unavailable)


def _entry_point(step):
    """The compiled (intp, intp, float64, intp, intp) entry of run_at, or None without JIT."""
    if step not in _ENTRIES:
        entry = None
        if numba is not None and not numba.config.DISABLE_JIT:
            i, f = numba.types.intp, numba.types.float64
            try:
                entry = _runners(step)[2].compile((i, i, f, i, i))
            except Exception:  # noqa: BLE001 - the dispatcher path below stays correct
                entry = None
        _ENTRIES[step] = entry
    return _ENTRIES[step]


class _FastPath:
    """The bound single-value entry: rows (kept alive here) and their raw addresses.

    Never copied: pickling or deep-copying a detector drops it (the addresses would belong to
    the old rows), and ``update`` rebinds whenever ``_row`` or ``_prow`` is another object.
    """

    __slots__ = ("entry", "row", "addr", "n", "prow", "paddr", "np")

    def __reduce__(self):
        return _no_fast_path, ()


def _no_fast_path() -> None:
    return None


def _runners(step):
    found = _RUNNERS.get(step)
    if found is None:
        found = _RUNNERS[step] = _make_runners(step)
    return found


def _contiguous_call(run, state, params, *args):
    """Call a driver on C-contiguous float64 state/params (copied back if they were not)."""
    st = np.ascontiguousarray(state, dtype=np.float64)
    run(st, np.ascontiguousarray(params, dtype=np.float64), *args)
    if st is not state:
        state[...] = st


def _run_dense(step, state, params, values, codes):
    """Run ``step`` over values (T, S) for S streams; codes (T, S) int8 out."""
    _contiguous_call(_runners(step)[0], state, params, values, codes)


def _run_events(step, state, params, streams, values, codes):
    """Run ``step`` over events (stream ids (K,) int64, values (K,)); codes (K,) int8 out."""
    _contiguous_call(_runners(step)[1], state, params, streams, values, codes)
