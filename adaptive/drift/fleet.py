"""Fleets: S independent streams of one detector, as state arrays of shape (S, F).

One compiled kernel call updates every stream: a dense block of values (T, S), or events in
arrival order ((stream, value) pairs). Each stream's recurrence is the detector's own step
kernel, so stream s of a fleet and a standalone detector fed the same values agree exactly.

A dense block goes through the detector's lane kernel when it has one (vectorised across
streams, :mod:`adaptive.drift._soa`), else through the row kernel; either way blocks of streams
run on threads, ``n_threads`` of them (all the cores by default), with identical results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive.drift import _soa
from adaptive.drift._drivers import _run_dense, _run_events
from adaptive.drift.base import (
    DRIFT,
    DRIFT_FLAG,
    STATE_VERSION,
    WARNING,
    WARNING_FLAG,
    Alarms,
    Detector,
    accepted_mask,
    as_float_array,
    check_state_header,
    validate_values,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

_FLEET_KEYS = ("version", "detector", "params", "stream_params", "state", "n_skipped")


def _array(state: dict[str, Any], key: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """state[key] as an array of numbers of this fleet's shape; ValueError naming the key."""
    value = state[key]
    arr = np.asarray(value) if not isinstance(value, (str, bytes)) else np.asarray([value])
    if arr.dtype.kind not in "iuf" or (dtype is np.int64 and arr.dtype.kind == "f"
                                       and not np.array_equal(arr, np.round(arr))):
        raise ValueError(f"fleet state[{key!r}] must hold numbers, got {value!r:.80}")
    if arr.shape != shape:
        raise ValueError(f"fleet state[{key!r}] has shape {arr.shape}; this fleet of "
                         f"{shape[0]} streams needs {shape} (build Fleet(detector, n) first)")
    return arr.astype(dtype)



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

    Attributes
    ----------
    n_threads
        Threads a dense update may use (None: every core this process may run on; 1: the
        calling thread only). Results do not depend on it.

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
        self.detector = detector._fresh()
        self._probes: dict[int, Detector] = {}  # stream -> detector viewing its row (statistic)
        self._state = np.zeros((0, detector._state_size()), dtype=np.float64)  # (S, F)
        self._params = np.zeros((0, detector._param_row().size), dtype=np.float64)  # (S, P)
        self.n_skipped = np.zeros(0, dtype=np.int64)  # (S,)
        self.n_threads: int | None = None
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
            arr = as_float_array(value, name)
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
                rows[inverse.reshape(-1) == j] = self.detector._fresh(**kw)._param_row()
        state = np.zeros((k, self._state.shape[1]), dtype=np.float64)
        for s in range(k):
            type(self.detector)._init(state[s], rows[s])
        self._state = np.concatenate([self._state, state])
        self._params = np.concatenate([self._params, rows])
        self.n_skipped = np.concatenate([self.n_skipped, np.zeros(k, dtype=np.int64)])

    def param(self, name: str) -> np.ndarray:
        """The (S,) values of one parameter."""
        return self._params[:, self.detector._param_names.index(name)].copy()

    def reset(self, streams: ArrayLike | None = None) -> None:
        """Reset the given streams (all by default) to a fresh state."""
        idx = range(self.n_streams) if streams is None else np.atleast_1d(streams)
        for s in idx:
            self._state[s] = 0.0
            type(self.detector)._init(self._state[s], self._params[s])

    @property
    def drift_detected(self) -> np.ndarray:
        """(S,) bool: streams whose last update signalled a drift."""
        return self._state[:, DRIFT_FLAG] != 0.0

    @property
    def warning_detected(self) -> np.ndarray:
        """(S,) bool: streams whose last update signalled a warning."""
        return self._state[:, WARNING_FLAG] != 0.0

    def update(self, values: ArrayLike, *, output: str = "mask") -> Alarms:
        """Feed one step (S,) or T steps (T, S).

        Returns boolean masks shaped like ``values`` (``output="mask"``) or (K, 2) arrays of
        (t, s) pairs (``output="pairs"``; t is 0 for a single step).
        """
        if output not in ("mask", "pairs"):
            raise ValueError(f"output={output!r} must be 'mask' or 'pairs'")
        arr = as_float_array(values, "values")
        single = arr.ndim == 1
        arr2 = arr[None, :] if single else arr
        if arr2.ndim != 2 or arr2.shape[1] != self.n_streams:
            raise ValueError(
                f"values must have shape ({self.n_streams},) or (T, {self.n_streams}), "
                f"got {arr.shape}"
            )
        spec = self.detector._lane_spec()
        if spec is not None:
            drift, warning = self._update_lanes(spec, arr2)
        else:
            drift, warning = self._update_rows(arr2)
        if output == "pairs":
            return Alarms(np.argwhere(drift), np.argwhere(warning))
        if single:
            drift, warning = drift[0], warning[0]
        return Alarms(drift, warning)

    def _check(self, arr: np.ndarray) -> int:
        """validate_values for this fleet's detector: raises on refused values, else counts."""
        det = self.detector
        return validate_values(arr, self.nan_policy, det._binary, type(det).__name__,
                               det._max_abs)

    def _update_lanes(self, spec, arr2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The vectorised path: bad values are counted by the kernel, which writes a new state;
        it replaces the old one only if nothing had to be refused."""
        det = self.detector
        new, drift, warning, skipped, invalid = _soa.run(
            spec, type(det)._step, self._state, self._params, np.ascontiguousarray(arr2),
            det._max_abs, det._binary, det._has_warning, getattr(self, "n_threads", None))
        if invalid or (skipped.any() and self.nan_policy != "skip"):
            self._check(arr2)  # raises, naming the first bad value; the state is untouched
        self._state[...] = new
        self.n_skipped += skipped
        return drift, warning

    def _update_rows(self, arr2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The row kernel over blocks of streams, one block per thread."""
        n_bad = self._check(arr2)
        codes = np.zeros(arr2.shape, dtype=np.int8)
        step, max_abs = type(self.detector)._step, self.detector._max_abs
        n_threads = getattr(self, "n_threads", None)
        parts = _soa.split(self.n_streams, _soa.default_threads() if n_threads is None
                           else n_threads) if arr2.size >= _soa.MIN_PARALLEL else []
        if len(parts) <= 1:
            _run_dense(step, self._state, self._params, arr2, codes, max_abs)
        else:
            jobs = [_soa.pool().submit(_run_dense, step, self._state[a:b], self._params[a:b],
                                       arr2[:, a:b], codes[:, a:b], max_abs) for a, b in parts]
            for job in jobs:
                job.result()
        if n_bad:  # per-stream counts only when something was skipped (a second full pass)
            self.n_skipped += arr2.shape[0] - accepted_mask(arr2, max_abs).sum(axis=0)
        return codes == DRIFT, codes == WARNING

    def update_events(self, streams: ArrayLike, values: ArrayLike) -> Alarms:
        """Feed events in arrival order: ``values[k]`` goes to stream ``streams[k]``.

        Returns the event positions k at which a drift (and a warning) was signalled.
        """
        idx = np.asarray(streams)
        arr = as_float_array(values, "values")
        if idx.ndim != 1 or arr.shape != idx.shape:
            raise ValueError(
                f"streams and values must be 1-D of equal length, got {idx.shape} and {arr.shape}"
            )
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0
                         or idx.max() >= self.n_streams):
            raise ValueError(f"streams must be integers in [0, {self.n_streams}), got {idx}")
        n_bad = self._check(arr)
        codes = np.zeros(arr.shape[0], dtype=np.int8)
        max_abs = self.detector._max_abs
        _run_events(type(self.detector)._step, self._state, self._params, idx.astype(np.int64), arr,
                    codes, max_abs)
        if n_bad:
            np.add.at(self.n_skipped, idx[~accepted_mask(arr, max_abs)], 1)
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
        det = self.detector._fresh(**changed)
        det._row = self._state[s].copy()
        det.n_skipped = int(self.n_skipped[s])
        return det

    def rows(self, streams: int | Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """A copy of the state rows (k, F) of the given streams (all by default)."""
        return self._state.copy() if streams is None else self._state[streams].copy()

    def set_rows(self, streams: int | Sequence[int] | np.ndarray, rows: np.ndarray) -> None:
        """Overwrite the state rows of ``streams`` with ``rows`` (k, F), e.g. a snapshot."""
        self._state[streams] = rows

    def statistic(self, s: int) -> float | None:
        """Stream s's current value of the detector's alert statistic (None if it has none)."""
        name = type(self.detector)._statistic
        if name is None:
            return None
        probe = self._probes.get(s)
        if probe is None:
            probe = self._probes[s] = self.stream(s)
        probe._row = self._state[s]  # a view: the probe reads the live row
        v = float(getattr(probe, name))
        return v if np.isfinite(v) else None

    def state_dict(self, *, as_arrays: bool = False) -> dict[str, Any]:
        """Versioned state; the arrays as lists (JSON-ready) or, ``as_arrays``, as copies."""
        conv = np.copy if as_arrays else np.ndarray.tolist
        return {
            "version": STATE_VERSION,
            "detector": type(self.detector).__name__,
            "params": self.detector._state_params(),
            "stream_params": conv(self._params),
            "state": conv(self._state),
            "n_skipped": conv(self.n_skipped),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` of a fleet of the same detector, parameters and size."""
        check_state_header(state, type(self.detector).__name__, self.detector._state_params(),
                           _FLEET_KEYS)
        n, n_f, n_p = self.n_streams, self._state.shape[1], self._params.shape[1]
        st = _array(state, "state", np.float64, (n, n_f))
        params = _array(state, "stream_params", np.float64, (n, n_p))
        skipped = _array(state, "n_skipped", np.int64, (n,))
        if (skipped < 0).any():
            raise ValueError(f"fleet state['n_skipped'] holds negative counts: {skipped}")
        self._state, self._params, self.n_skipped = st, params, skipped
        self._probes = {}
