"""``update(x)`` at the cost of one River update: a builtin whose body is the compiled step.

In a River-style loop (``for x in stream: det.update(x)``) the per-call overhead is the whole
cost: a Python method frame, argument parsing and the call into compiled code cost several
times the step itself. For a detector instance, :func:`make` builds a builtin function
(``METH_FASTCALL``, made by ``PyCFunction_NewEx``) whose C body is a numba ``cfunc``:

- ``x`` an exact ``float`` with ``|x| <= max_abs_input`` (0 or 1 for a binary detector): the
  value is read from the float object, the detector's step kernel runs on its state row, and
  the row's two flags are stored as the bools ``_drift`` and ``_warning`` in the detector's
  ``__dict__`` (what ``drift_detected`` / ``warning_detected`` return, without a Python frame);
- anything else (ints, bools, NumPy scalars, text, non-finite or huge values, wrong arity): the
  call goes to the detector's Python ``update``, which checks, raises or skips as always.

The detector keeps the builtin as its instance attribute ``update`` (found before the class's
method) and drops it whenever its rows are replaced; pickles, copies and clones never carry it.
The builtin's ``self`` is a tuple owning everything its C body reads or writes (the handle
words, the ``PyMethodDef``, both rows, the Python fallback, the detector's ``__dict__``), so it
stays valid as long as anyone holds it.

It relies on CPython's object layout (``ob_type`` at byte 8, a float's value at 16, a tuple's
items at 24, an ndarray's data pointer at 16). :func:`available` checks that on live objects;
without it (another interpreter, a debug or free-threaded build, ``NUMBA_DISABLE_JIT``) no
builtin is made and ``update`` stays the plain Python method.
"""

from __future__ import annotations

import ctypes
import sys
import types

import numpy as np

from adaptive.drift._drivers import _f64_ptr, cache_tag, limit, numba

METH_FASTCALL = 0x0080
# handle words (int64): row address, row length, param row address, param length,
# max_abs_input (the float64's bits), binary (0/1), the Python fallback, type(1.0), None,
# the detector's __dict__, the keys "_drift" and "_warning", True, False
(_ROW, _NROW, _PAR, _NPAR, _MAX_ABS, _BINARY, _FALLBACK, _FLOAT, _NONE, _DICT, _KEY_DRIFT,
 _KEY_WARNING, _TRUE, _FALSE) = range(14)
_N_HANDLE = 14
FLAG_KEYS = ("_drift", "_warning")  # instance attributes mirroring the row's two flags


def _layout_ok() -> bool:
    if sys.implementation.name != "cpython" or numba is None or numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
        return False
    if getattr(sys, "_is_gil_enabled", lambda: True)() is False:  # a free-threaded build
        return False
    f, a = 1.2345678, np.zeros(3)
    t = (f,)
    try:
        return (ctypes.c_double.from_address(id(f) + 16).value == f
                and ctypes.c_void_p.from_address(id(f) + 8).value == id(float)
                and ctypes.c_void_p.from_address(id(t) + 24).value == id(f)
                and ctypes.c_void_p.from_address(id(a) + 16).value == a.ctypes.data)
    except (ValueError, OSError):  # pragma: no cover
        return False


_AVAILABLE: bool | None = None


def available() -> bool:
    """True when the builtin update can be made in this interpreter (checked once)."""
    global _AVAILABLE
    if _AVAILABLE is None:
        _AVAILABLE = _layout_ok()
    return _AVAILABLE


if numba is not None:
    from llvmlite import ir
    from numba import types as nt
    from numba.core import cgutils
    from numba.extending import intrinsic

    def _c_api(name, ret, args):
        """An intrinsic calling the C API function ``name``, resolved by symbol (cacheable).

        ``args``: one letter per argument, "p" a pointer, "i" a Py_ssize_t, all passed as
        integers; ``ret``: "p" (a pointer, as an integer), "i" (an int) or "" (nothing).
        """
        ptr = cgutils.voidptr_t
        rty = {"p": ptr, "i": ir.IntType(32), "": ir.VoidType()}[ret]
        fnty = ir.FunctionType(rty, [ptr if a == "p" else cgutils.intp_t for a in args])
        sig = {"p": nt.intp, "i": nt.int32, "": nt.void}[ret](*[nt.intp] * len(args))

        def codegen(context, builder, signature, values):
            fn = cgutils.get_or_insert_function(builder.module, fnty, name)
            out = builder.call(fn, [builder.inttoptr(v, ptr) if a == "p" else v
                                    for v, a in zip(values, args)])
            if ret == "p":
                return builder.ptrtoint(out, cgutils.intp_t)
            return out if ret == "i" else context.get_dummy_value()

        def typer1(typingctx, a):
            return sig, codegen

        def typer2(typingctx, a, b):
            return sig, codegen

        def typer3(typingctx, a, b, c):
            return sig, codegen

        return intrinsic((typer1, typer2, typer3)[len(args) - 1])

    _incref = _c_api("Py_IncRef", "", "p")
    _decref = _c_api("Py_DecRef", "", "p")
    _tuple_new = _c_api("PyTuple_New", "p", "i")
    _tuple_set = _c_api("PyTuple_SetItem", "i", "pip")  # steals the item's reference
    _call = _c_api("PyObject_Call", "p", "ppp")
    _dict_set = _c_api("PyDict_SetItem", "i", "ppp")  # takes its own reference

    @intrinsic
    def _i64_ptr(typingctx, addr):
        sig = nt.CPointer(nt.int64)(nt.intp)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

    @numba.njit(inline="always")
    def _word(addr):
        return numba.carray(_i64_ptr(addr), (1,))[0]


def _body_template(owner, args, nargs):
    """The builtin's C body: owner is its ``self`` (a tuple whose item 0 is the handle)."""
    words = _word(_word(owner + 24) + 16)  # noqa: F821 - tuple item 0, then its data pointer
    h = numba.carray(_i64_ptr(words), (_N_HANDLE,))  # noqa: F821
    if nargs == 1:
        x_obj = _word(args)  # noqa: F821
        if _word(x_obj + 8) == h[_FLOAT]:  # noqa: F821 - type(x) is float
            v = numba.carray(_f64_ptr(x_obj + 16), (1,))[0]  # noqa: F821 - its value
            limit = numba.carray(_f64_ptr(words + 8 * _MAX_ABS), (1,))[0]  # noqa: F821
            if abs(v) <= limit and (h[_BINARY] == 0 or v == 0.0 or v == 1.0):
                st = numba.carray(_f64_ptr(h[_ROW]), (h[_NROW],))  # noqa: F821 - (F,)
                p = numba.carray(_f64_ptr(h[_PAR]), (h[_NPAR],))  # noqa: F821 - (P,)
                step(st, v, p)  # noqa: F821 - bound per detector
                flag = h[_TRUE] if st[0] != 0.0 else h[_FALSE]  # the drift flag, slot 0
                if _dict_set(h[_DICT], h[_KEY_DRIFT], flag) != 0:  # noqa: F821
                    return 0
                flag = h[_TRUE] if st[1] != 0.0 else h[_FALSE]  # the warning flag, slot 1
                if _dict_set(h[_DICT], h[_KEY_WARNING], flag) != 0:  # noqa: F821
                    return 0
                _incref(h[_NONE])  # noqa: F821
                return h[_NONE]
    # anything else: the Python update (checks, errors, skips), with the same arguments
    tup = _tuple_new(nargs)  # noqa: F821
    if tup == 0:
        return 0
    for i in range(nargs):
        item = _word(args + 8 * i)  # noqa: F821
        _incref(item)  # noqa: F821
        _tuple_set(tup, i, item)  # noqa: F821
    out = _call(h[_FALLBACK], tup, 0)  # noqa: F821
    _decref(tup)  # noqa: F821
    return out


_CFUNCS: dict = {}


def _cfunc(step):
    """The C body for one step kernel: compiled once per kernel, cached on disk."""
    found = _CFUNCS.get(step)
    if found is None:
        env = {"numba": numba, "step": step, "_f64_ptr": _f64_ptr, "_i64_ptr": _i64_ptr,
               "_word": _word, "_incref": _incref, "_decref": _decref,
               "_tuple_new": _tuple_new, "_tuple_set": _tuple_set, "_call": _call,
               "_dict_set": _dict_set, "_DICT": _DICT, "_KEY_DRIFT": _KEY_DRIFT,
               "_KEY_WARNING": _KEY_WARNING, "_TRUE": _TRUE, "_FALSE": _FALSE,
               "__name__": __name__, "_N_HANDLE": _N_HANDLE, "_ROW": _ROW, "_NROW": _NROW,
               "_PAR": _PAR, "_NPAR": _NPAR, "_MAX_ABS": _MAX_ABS, "_BINARY": _BINARY,
               "_FALLBACK": _FALLBACK, "_FLOAT": _FLOAT, "_NONE": _NONE}
        fn = types.FunctionType(_body_template.__code__, env, "update")
        fn.__qualname__ = f"fastcall__{cache_tag(step)}"
        sig = nt.intp(nt.intp, nt.intp, nt.intp)
        found = _CFUNCS[step] = numba.cfunc(sig, error_model="numpy", cache=True)(fn)
    return found


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_NEW = None


def make(step, row: np.ndarray, prow: np.ndarray, max_abs: float, binary: bool, fallback,
         attrs: dict, doc: str | None = None):
    """A builtin ``update(x)`` running ``step`` on ``row`` / ``prow``, or None if unavailable.

    ``fallback`` (a bound method) handles every call the builtin does not; it must not call the
    builtin. ``attrs`` is the detector's ``__dict__``, where the flags are mirrored. The rows
    must be C-contiguous writeable float64 arrays (else None).
    """
    global _NEW
    if not available() or not all(a.dtype == np.float64 and a.flags.c_contiguous
                                   and a.flags.writeable for a in (row, prow)):
        return None
    if _NEW is None:
        new = ctypes.pythonapi.PyCFunction_NewEx
        new.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.py_object]
        new.restype = ctypes.py_object
        _NEW = new
    handle = np.zeros(_N_HANDLE, dtype=np.int64)
    handle[[_ROW, _NROW, _PAR, _NPAR]] = (row.ctypes.data, row.size, prow.ctypes.data,
                                          prow.size)
    handle[_MAX_ABS:_MAX_ABS + 1].view(np.float64)[0] = limit(max_abs)
    handle[_BINARY] = 1 if binary else 0
    handle[[_FALLBACK, _FLOAT, _NONE, _DICT, _KEY_DRIFT, _KEY_WARNING, _TRUE, _FALSE]] = (
        id(fallback), id(float), id(None), id(attrs), id(FLAG_KEYS[0]), id(FLAG_KEYS[1]),
        id(True), id(False))
    mdef = _MethodDef(b"update", _cfunc(step).address, METH_FASTCALL,
                      doc.encode() if doc else None)
    owner = (handle, mdef, row, prow, fallback, attrs)  # all the C body uses, alive with it
    return _NEW(ctypes.byref(mdef), owner, None)
