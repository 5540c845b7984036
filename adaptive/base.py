"""Kernel machinery shared by every drift detector.

Each detector writes its recurrence once, as a *step kernel*::

    step(st, x, p) -> code        # st: (F,) float64 state row, mutated in place
                                  # x:  the new value (float)
                                  # p:  (P,) float64 parameter row
                                  # code: NONE, WARNING or DRIFT

plus an ``init(st, p)`` kernel that (re)builds a fresh state row. By convention ``st[0]`` holds
the drift flag and ``st[1]`` the warning flag of the last update; the step kernel starts with
``if st[0] != 0.0: init(st, p)``, which gives River's "reset on the update after a drift".

The same compiled step serves the three ways of feeding a detector: ``update(x)`` (one value),
``update_many(values)`` (a 1-D array, one stream) and :class:`Fleet` (state arrays of shape
(S, F), values of shape (T, S) or a sequence of (stream, value) events). They agree by
construction. Per detector, :mod:`adaptive._drivers` compiles (and caches on disk) the drivers
with the step inlined: a dense (T, S) loop, an events loop, and a single-value entry point
that takes the rows by address, which is what makes ``update(x)`` cost about one River update.
The plain reference is the same source run by the interpreter: with
``NUMBA_DISABLE_JIT=1`` every kernel is ordinary Python, and the test suite checks both modes
against each other and against River.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, NamedTuple

import numpy as np

from adaptive._checks import check_choice
from adaptive._drivers import _entry_point, _FastPath, _run_dense, _run_events
from adaptive._drivers import kernel as kernel  # re-exported: detector modules import it here

NONE, WARNING, DRIFT = 0, 1, 2
_STATE_VERSION = 1
NAN_POLICIES = ("raise", "skip")


class Alarms(NamedTuple):
    """Drift and warning alarms: index arrays, (t, s) pairs, or boolean masks.

    ``warning`` marks the updates after which a warning and no drift was signalled (a detector
    whose flags read both true after an update, as River's EDDM or two-sided HDDM can, counts
    as a drift there).
    """

    drift: np.ndarray
    warning: np.ndarray


def nan_if_none(value: Any) -> Any:
    """An optional parameter as a param-row entry: nan stands for None."""
    return math.nan if value is None else value


def none_if_nan(value: float) -> float | None:
    """A state-row entry that holds nan for "not available yet" as a Python float or None."""
    return None if value != value else float(value)


def _as_float_array(values: Any, name: str) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    if isinstance(values, (str, bytes)) or np.asarray(values).dtype.kind in "USV":
        raise ValueError(f"{name} must be numeric, got text: {values!r:.80}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric, got {type(values).__name__}: {err}") from None
    return arr


class Detector:
    """Base of the drift detectors: River's single-stream API on top of one step kernel.

    Subclasses set ``_step``, ``_init``, ``_param_names`` (order of the parameter row),
    ``_fleet_params`` (parameters that may differ between the streams of a fleet),
    ``_binary`` (inputs must be 0/1), ``_has_warning``, and implement ``_state_size()``;
    ``_param_row()`` maps string options to numbers where needed.
    """

    _step = None
    _init = None
    _param_names: tuple[str, ...] = ()
    _fleet_params: tuple[str, ...] = ()
    _binary = False
    _has_warning = False

    # -- construction -------------------------------------------------------------------------
    def _state_size(self) -> int:
        raise NotImplementedError

    def _param_row(self) -> np.ndarray:
        return np.array([float(getattr(self, n)) for n in self._param_names], dtype=np.float64)

    def _check_nan_policy(self) -> None:
        check_choice("nan_policy", self.nan_policy, NAN_POLICIES)

    def _reset(self) -> None:
        self._prow = self._param_row()  # (P,)
        self._row = np.zeros(self._state_size(), dtype=np.float64)  # (F,)
        type(self)._init(self._row, self._prow)
        self.n_skipped = 0

    @classmethod
    def _init_arg_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [n for n in sig.parameters if n != "self"]

    def _get_params(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self._init_arg_names()}

    def clone(self, **new_params: Any) -> Detector:
        """A fresh detector with the same parameters, some of them optionally replaced."""
        return type(self)(**{**self._get_params(), **new_params})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({args})"

    # -- River's API --------------------------------------------------------------------------
    @property
    def drift_detected(self) -> bool:
        """True when the last update signalled a drift (the next update resets the detector)."""
        return bool(self._row[0] != 0.0)

    @property
    def warning_detected(self) -> bool:
        """True when the last update signalled a warning (always False without warning zone)."""
        return bool(self._row[1] != 0.0)

    def _check_value(self, x: Any) -> float | None:
        if isinstance(x, (bool, np.bool_)):
            return float(x)
        if isinstance(x, (str, bytes)):  # float("1.5") would convert text silently
            raise ValueError(f"x={x!r} is not a number")
        try:
            v = float(x)
        except (TypeError, ValueError):
            raise ValueError(f"x={x!r} is not a number") from None
        if v != v or v in (float("inf"), float("-inf")):
            if self.nan_policy == "skip":
                self.n_skipped += 1
                return None
            raise ValueError(f"x={x!r} is not finite; pass nan_policy='skip' to ignore such values")
        if self._binary and v != 0.0 and v != 1.0:
            raise ValueError(
                f"x={x!r}: {type(self).__name__} is a binary detector, values must be 0/1 or bool"
            )
        return v

    _fast_path = None

    def _bind_fast_path(self) -> _FastPath:
        row, prow = self._row, self._prow
        entry = _entry_point(type(self)._step)
        ok = entry is not None and all(
            a.dtype == np.float64 and a.flags.c_contiguous and a.flags.writeable
            for a in (row, prow)
        )
        fp = _FastPath()
        fp.entry, fp.row, fp.prow = (entry if ok else None), row, prow
        fp.addr, fp.n = (row.ctypes.data if ok else 0), row.size
        fp.paddr, fp.np = (prow.ctypes.data if ok else 0), prow.size
        self._fast_path = fp
        return fp

    def update(self, x: float | bool) -> None:
        """Update with one value; read ``drift_detected`` / ``warning_detected`` afterwards."""
        # Fast path for plain Python floats/ints (the common case in River-style loops): the
        # per-call overhead is the whole cost of a single update, so the checks are inlined
        # and the compiled step is entered with the rows' addresses (a dispatcher call with
        # two arrays costs several times the step itself).
        fp = self._fast_path
        if fp is None or fp.row is not self._row or fp.prow is not self._prow:
            fp = self._bind_fast_path()
        tx = type(x)
        if fp.entry is not None and (tx is float or tx is int or tx is bool):
            v = float(x)
            if v - v == 0.0 and (not self._binary or v == 0.0 or v == 1.0):
                fp.entry(fp.addr, fp.n, v, fp.paddr, fp.np)
                return
        v = self._check_value(x)
        if v is not None:
            type(self)._step(self._row, v, self._prow)

    def update_many(self, values: Any) -> Alarms:
        """Update with a 1-D array of values, in order; return the indices of the alarms.

        The state afterwards equals that after calling :meth:`update` on each value.
        """
        arr = _as_float_array(values, "values")
        if arr.ndim != 1:
            raise ValueError(f"values must be 1-D with shape (T,), got shape {arr.shape}")
        n_bad = _validate_values(arr, self.nan_policy, self._binary, type(self).__name__)
        codes = np.zeros((arr.shape[0], 1), dtype=np.int8)
        _run_dense(type(self)._step, self._row[None, :], self._prow[None, :], arr[:, None], codes)
        self.n_skipped += n_bad
        codes = codes[:, 0]
        return Alarms(np.flatnonzero(codes == DRIFT), np.flatnonzero(codes == WARNING))

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Versioned state: class name, parameters and the state row, as plain Python values."""
        return {
            "version": _STATE_VERSION,
            "detector": type(self).__name__,
            "params": self._get_params(),
            "state": self._row.tolist(),
            "n_skipped": self.n_skipped,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` from a detector with the same parameters."""
        _check_state_header(state, type(self).__name__, self._get_params())
        row = np.asarray(state["state"], dtype=np.float64)
        if row.shape != self._row.shape:
            raise ValueError(f"state has {row.size} entries, this detector needs {self._row.size}")
        self._row = row
        self.n_skipped = int(state["n_skipped"])


def _check_state_header(state: Any, name: str, params: dict[str, Any]) -> None:
    if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
        raise ValueError(
            f"not a detector state of version {_STATE_VERSION}: "
            f"{state.get('version') if isinstance(state, dict) else type(state).__name__!r}"
        )
    if state.get("detector") != name:
        raise ValueError(f"state belongs to {state.get('detector')!r}, not {name!r}")
    if state.get("params") != params:
        raise ValueError(f"state was saved with parameters {state.get('params')}, not {params}")


def _validate_values(arr: np.ndarray, nan_policy: str, binary: bool, who: str) -> int:
    """Raise on bad values (before any state changes); return the count of skipped ones."""
    finite = np.isfinite(arr)
    n_bad = int(arr.size - np.count_nonzero(finite))
    if n_bad and nan_policy != "skip":
        first = np.argwhere(~finite)[0]
        raise ValueError(
            f"values contain {n_bad} non-finite entries (first at index {tuple(first.tolist())}: "
            f"{arr[tuple(first)]}); pass nan_policy='skip' to ignore them"
        )
    if binary:
        ok = (arr == 0.0) | (arr == 1.0) | ~finite
        if not ok.all():
            first = np.argwhere(~ok)[0]
            raise ValueError(
                f"{who} is a binary detector: values must be 0/1 or bool, got "
                f"{arr[tuple(first)]} at index {tuple(first.tolist())}"
            )
    return n_bad


class Fleet:
    """S independent streams of one detector: state arrays of shape (S, F), one kernel.

    Parameters
    ----------
    detector
        A configured detector; it is a template and is never updated itself.
    n_streams
        Number of streams S.
    **params
        Per-stream values, shape (S,), for the parameters in the detector's ``_fleet_params``
        (for example ``threshold``); the others are shared.

    Examples
    --------
    >>> import numpy as np
    >>> from adaptive import Fleet, PageHinkley
    >>> rng = np.random.default_rng(0)
    >>> values = rng.normal(0.0, 1.0, size=(2000, 3))  # (T, S)
    >>> values[1000:, 1] += 3.0                           # a shift in stream 1
    >>> fleet = Fleet(PageHinkley(threshold=200.0), 3)
    >>> fleet.update(values, output="pairs").drift  # (t, s) pairs
    array([[1069,    1]])
    """

    def __init__(self, detector: Detector, n_streams: int, /, **params: Any):
        if not isinstance(detector, Detector):
            raise TypeError(f"detector must be an adaptive Detector, got {type(detector).__name__}")
        if not isinstance(n_streams, (int, np.integer)) or n_streams < 0:
            raise ValueError(f"n_streams={n_streams!r} must be an integer >= 0")
        self.detector = detector.clone()
        self._state = np.zeros((0, detector._state_size()), dtype=np.float64)  # (S, F)
        self._params = np.zeros((0, detector._param_row().size), dtype=np.float64)  # (S, P)
        self.n_skipped = np.zeros(0, dtype=np.int64)  # (S,)
        self.add_streams(int(n_streams), **params)

    @property
    def n_streams(self) -> int:
        return self._state.shape[0]

    @property
    def nan_policy(self) -> str:
        return self.detector.nan_policy

    def add_streams(self, n_new: int, /, **params: Any) -> None:
        """Append n_new fresh streams (per-stream parameters as in the constructor).

        ``n_new`` is positional-only so that a detector parameter may be called ``k``.
        """
        if not isinstance(n_new, (int, np.integer)) or n_new < 0:
            raise ValueError(f"n_new={n_new!r} must be an integer >= 0")
        k = int(n_new)
        rows = np.tile(self.detector._param_row(), (k, 1))  # (k, P)
        given = []
        for name, value in params.items():
            if name not in self.detector._fleet_params:
                raise ValueError(
                    f"{name!r} cannot vary per stream; per-stream parameters of "
                    f"{type(self.detector).__name__}: {self.detector._fleet_params}"
                )
            arr = _as_float_array(value, name)
            if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, k)):
                raise ValueError(
                    f"{name} must be a scalar or have shape ({k},), got shape {arr.shape}"
                )
            given.append((name, np.broadcast_to(arr, (k,))))
        if given and k:
            # The parameter row may hold derived values (logs, squares computed exactly as the
            # peer computes them), so each distinct combination gets its row from a validated
            # clone of the template rather than by overwriting single columns.
            combos = np.stack([a for _, a in given], axis=1)  # (k, m)
            uniq, inverse = np.unique(combos, axis=0, return_inverse=True)
            for j, combo in enumerate(uniq):
                kw = {n: self._cast_param(n, v) for (n, _), v in zip(given, combo)}
                rows[inverse.reshape(-1) == j] = self.detector.clone(**kw)._param_row()
        state = np.zeros((k, self._state.shape[1]), dtype=np.float64)
        for s in range(k):
            type(self.detector)._init(state[s], rows[s])
        self._state = np.concatenate([self._state, state])
        self._params = np.concatenate([self._params, rows])
        self.n_skipped = np.concatenate([self.n_skipped, np.zeros(k, dtype=np.int64)])

    def param(self, name: str) -> np.ndarray:
        """The (S,) values of one parameter."""
        return self._params[:, self.detector._param_names.index(name)].copy()

    def reset(self, streams: Any = None) -> None:
        """Reset the given streams (all by default) to a fresh state."""
        idx = range(self.n_streams) if streams is None else np.atleast_1d(streams)
        for s in idx:
            self._state[s] = 0.0
            type(self.detector)._init(self._state[s], self._params[s])

    @property
    def drift_detected(self) -> np.ndarray:
        """(S,) bool: streams whose last update signalled a drift."""
        return self._state[:, 0] != 0.0

    @property
    def warning_detected(self) -> np.ndarray:
        """(S,) bool: streams whose last update signalled a warning."""
        return self._state[:, 1] != 0.0

    def update(self, values: Any, *, output: str = "mask") -> Alarms:
        """Feed one step (S,) or T steps (T, S).

        Returns boolean masks shaped like ``values`` (``output="mask"``) or (K, 2) arrays of
        (t, s) pairs (``output="pairs"``; t is 0 for a single step).
        """
        if output not in ("mask", "pairs"):
            raise ValueError(f"output={output!r} must be 'mask' or 'pairs'")
        arr = _as_float_array(values, "values")
        single = arr.ndim == 1
        arr2 = arr[None, :] if single else arr
        if arr2.ndim != 2 or arr2.shape[1] != self.n_streams:
            raise ValueError(
                f"values must have shape ({self.n_streams},) or (T, {self.n_streams}), "
                f"got {arr.shape}"
            )
        who = type(self.detector).__name__
        n_bad = _validate_values(arr2, self.nan_policy, self.detector._binary, who)
        codes = np.zeros(arr2.shape, dtype=np.int8)
        _run_dense(type(self.detector)._step, self._state, self._params, arr2, codes)
        if n_bad:  # per-stream counts only when something was skipped (a second full pass)
            self.n_skipped += arr2.shape[0] - np.isfinite(arr2).sum(axis=0)
        if output == "pairs":
            return Alarms(np.argwhere(codes == DRIFT), np.argwhere(codes == WARNING))
        if single:
            codes = codes[0]
        return Alarms(codes == DRIFT, codes == WARNING)

    def update_events(self, streams: Any, values: Any) -> Alarms:
        """Feed events in arrival order: ``values[k]`` goes to stream ``streams[k]``.

        Returns the event positions k at which a drift (and a warning) was signalled.
        """
        idx = np.asarray(streams)
        arr = _as_float_array(values, "values")
        if idx.ndim != 1 or arr.shape != idx.shape:
            raise ValueError(
                f"streams and values must be 1-D of equal length, got {idx.shape} and {arr.shape}"
            )
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0
                         or idx.max() >= self.n_streams):
            raise ValueError(f"streams must be integers in [0, {self.n_streams}), got {idx}")
        n_bad = _validate_values(arr, self.nan_policy, self.detector._binary,
                                 type(self.detector).__name__)
        codes = np.zeros(arr.shape[0], dtype=np.int8)
        _run_events(type(self.detector)._step, self._state, self._params, idx.astype(np.int64), arr,
                    codes)
        if n_bad:
            np.add.at(self.n_skipped, idx[~np.isfinite(arr)], 1)
        return Alarms(np.flatnonzero(codes == DRIFT), np.flatnonzero(codes == WARNING))

    def _cast_param(self, name: str, v: float) -> Any:
        """A per-stream value converted to the type of the template's parameter."""
        ref = getattr(self.detector, name)
        if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
            if v != int(v):
                raise ValueError(f"{name}={v!r} must be an integer")
            return int(v)
        return float(v)

    def stream(self, s: int) -> Detector:
        """A standalone detector holding a copy of stream s's current state and parameters."""
        names = self.detector._param_names
        template = self.detector._param_row()
        changed = {}  # per-stream values that differ from the template (nan == nan: unchanged)
        for n in self.detector._fleet_params:
            i = names.index(n)
            v = self._params[s, i]
            if not (v == template[i] or (v != v and template[i] != template[i])):
                changed[n] = self._cast_param(n, v)
        det = self.detector.clone(**changed)
        det._row = self._state[s].copy()
        det.n_skipped = int(self.n_skipped[s])
        return det

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "detector": type(self.detector).__name__,
            "params": self.detector._get_params(),
            "stream_params": self._params.tolist(),
            "state": self._state.tolist(),
            "n_skipped": self.n_skipped.tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state_header(state, type(self.detector).__name__, self.detector._get_params())
        st = np.asarray(state["state"], dtype=np.float64).reshape(-1, self._state.shape[1])
        self._params = np.asarray(state["stream_params"], dtype=np.float64).reshape(
            st.shape[0], self._params.shape[1]
        )
        self._state = st
        self.n_skipped = np.asarray(state["n_skipped"], dtype=np.int64)
