"""Compiled drivers of the detectors' step kernels (internal to :mod:`adaptive.drift`).

For each step kernel ``step(st, x, p) -> code`` this module builds, on first use, two numba
functions with the step inlined: a dense loop over values (T, S) for S streams and a loop over
(stream, value) events. Each is the code of a template below bound to globals where ``step`` is
the detector's kernel, and cached on disk under a name that carries the detector module's source
hash (:func:`cache_tag`). Both skip values that are non-finite or above the detector's
``max_abs_input`` and release the GIL, so that blocks of a fleet's streams run on threads
(:mod:`adaptive.drift._soa` holds the vectorised fleet kernels, :mod:`adaptive.drift._fastcall`
the single-value entry). With ``NUMBA_DISABLE_JIT=1`` (or without numba) the drivers are the
plain-Python templates: the reference implementation.
"""

from __future__ import annotations

import hashlib
import os
import sys
import types

import numpy as np

_DIGESTS: dict[str, bytes] = {}  # source file -> sha1 of its bytes when its kernels were defined


def remember_source(fn=None, path: str | None = None) -> None:
    """Hash ``fn``'s file (or ``path``) now, while its module is being imported: the compiled
    drivers are cached under that hash, so it must describe the code this process runs (a
    file edited after the import must not lend its hash to the old code)."""
    path = path or getattr(getattr(fn, "__code__", None), "co_filename", None)
    if path and path not in _DIGESTS:
        try:
            with open(path, "rb") as f:
                _DIGESTS[path] = hashlib.sha1(f.read()).digest()
        except OSError:  # no source file: cache_tag then names the function by its id
            pass


try:  # optional fast path, detected by feature
    import numba
    from numba.extending import intrinsic

    def kernel(fn):
        """Compile ``fn`` with numba (lazily, on first call; cached on disk)."""
        remember_source(fn)
        return numba.njit(cache=True)(fn)

    def inline_kernel(fn):
        """As :func:`kernel`, inlined into its callers (numba IR): a big step kernel that is
        not inlined by LLVM costs a call with its array arguments per update."""
        remember_source(fn)
        return numba.njit(cache=True, inline="always")(fn)

    def _driver(fn):
        return numba.njit(cache=True, nogil=True)(fn)

    @intrinsic
    def _f64_ptr(typingctx, addr):
        """An integer address as a float64 pointer (for the single-value entry point)."""
        sig = numba.types.CPointer(numba.types.float64)(numba.types.intp)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

except ImportError:  # pragma: no cover - numba is a dependency, but keep the library usable
    numba = None  # type: ignore[assignment]

    def kernel(fn):
        remember_source(fn)
        fn.py_func = fn
        return fn

    _driver = inline_kernel = kernel
    _f64_ptr = None  # type: ignore[assignment]


def _dense_template(state, params, values, codes, max_abs):
    """values (T, S) -> codes (T, S); values with |x| > max_abs (nan too) are skipped."""
    n_steps, n_streams = values.shape
    for t in range(n_steps):
        for s in range(n_streams):
            x = values[t, s]
            if abs(x) <= max_abs:
                codes[t, s] = step(state[s], x, params[s])  # noqa: F821 - bound per detector


def _events_template(state, params, streams, values, codes, max_abs):
    """Events in arrival order: values[k] belongs to stream streams[k]; codes (K,)."""
    for k in range(values.shape[0]):
        x = values[k]
        if abs(x) <= max_abs:
            s = streams[k]
            codes[k] = step(state[s], x, params[s])  # noqa: F821 - bound per detector


def _dense_ptr_template(state, params, values, codes, max_abs):
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
            if abs(x) <= max_abs:
                st = numba.carray(_f64_ptr(st_addr + 8 * n_f * s), (n_f,))  # noqa: F821
                p = numba.carray(_f64_ptr(p_addr + 8 * n_p * s), (n_p,))  # noqa: F821
                codes[t, s] = step(st, x, p)  # noqa: F821 - bound per detector


def _events_ptr_template(state, params, streams, values, codes, max_abs):
    """As the events driver, with rows taken by address (JIT only; C-contiguous arrays)."""
    n_f, n_p = state.shape[1], params.shape[1]
    st_addr, p_addr = state.ctypes.data, params.ctypes.data
    for k in range(values.shape[0]):
        x = values[k]
        if abs(x) <= max_abs:
            s = streams[k]
            st = numba.carray(_f64_ptr(st_addr + 8 * n_f * s), (n_f,))  # noqa: F821
            p = numba.carray(_f64_ptr(p_addr + 8 * n_p * s), (n_p,))  # noqa: F821
            codes[k] = step(st, x, p)  # noqa: F821 - bound per detector


# kernel helpers that step kernels of other files inline: part of every driver's cache key, so
# that editing one of them recompiles the drivers (numba checks only the cached file's stamp)
_HERE = os.path.dirname(os.path.abspath(__file__))
_SHARED_KERNELS = tuple(os.path.join(_HERE, f) for f in ("_drivers.py", "_welford.py",
                                                          "mt19937.py", "_robust.py"))
remember_source(path=_SHARED_KERNELS[0])  # this file, as imported


def cache_tag(fn) -> str:
    """``<module>__<name>__<hash>`` of a kernel: the name its compiled drivers are cached under.

    The hash covers the kernel's file and the shared kernel files as they were when imported
    (:func:`remember_source`): numba checks only the stamp of the file a cached function is
    defined in (the template's), so an edited detector or helper must change the name to get a
    fresh cache entry. Passing the step as an argument to one shared driver would put
    dispatcher types in one cache index: they cannot be matched across processes, so the
    drivers were recompiled in every process, and saving that index can fail on a dispatcher
    that was garbage-collected.
    """
    py = getattr(fn, "py_func", fn)
    files = (py.__code__.co_filename, *_SHARED_KERNELS)
    for f in _SHARED_KERNELS:  # imported with the package; read now if not
        remember_source(path=f)
    if all(f in _DIGESTS for f in files):
        digest = hashlib.sha1(b"".join(_DIGESTS[f] for f in files)).hexdigest()[:12]
    else:  # not defined through kernel(): a fresh name per process, nothing reused
        digest = f"id{id(fn):x}"
    return f"{py.__module__.replace('.', '_')}__{py.__name__}__{digest}"


def bind(template, name: str, fn, env: dict, compile_with):
    """``template``'s code with ``env`` as its globals, named ``<name>__<cache_tag(fn)>``."""
    py = getattr(fn, "py_func", fn)
    glob = {"np": np, "numba": numba, "_f64_ptr": _f64_ptr, "__name__": py.__module__, **env}
    out = types.FunctionType(template.__code__, glob, template.__name__)
    out.__qualname__ = f"{name}__{cache_tag(fn)}"
    out.__doc__ = template.__doc__
    return compile_with(out)


def _make_runners(step):
    """The two drivers of one step kernel, compiled with the step inlined and cached on disk."""
    jit = numba is not None and not numba.config.DISABLE_JIT
    templates = ((_dense_ptr_template, _events_ptr_template) if jit else
                 (_dense_template, _events_template))
    return tuple(bind(t, n, step, {"step": step}, _driver)
                 for t, n in zip(templates, ("run_dense", "run_events")))


_RUNNERS: dict = {}  # step kernel -> (run_dense, run_events), built on first use


def _runners(step):
    found = _RUNNERS.get(step)
    if found is None:
        found = _RUNNERS[step] = _make_runners(step)
    return found


def limit(max_abs: float) -> float:
    """The drivers' bound: |x| <= limit accepts x (inf would accept inf)."""
    return min(max_abs, sys.float_info.max)


def _contiguous_call(run, state, params, *args):
    """Call a driver on C-contiguous float64 state/params (copied back if they were not)."""
    st = np.ascontiguousarray(state, dtype=np.float64)
    run(st, np.ascontiguousarray(params, dtype=np.float64), *args)
    if st is not state:
        state[...] = st


def _run_dense(step, state, params, values, codes, max_abs):
    """Run ``step`` over values (T, S) for S streams; codes (T, S) int8 out."""
    _contiguous_call(_runners(step)[0], state, params, values, codes, limit(max_abs))


def _run_events(step, state, params, streams, values, codes, max_abs):
    """Run ``step`` over events (stream ids (K,) int64, values (K,)); codes (K,) int8 out."""
    _contiguous_call(_runners(step)[1], state, params, streams, values, codes, limit(max_abs))
