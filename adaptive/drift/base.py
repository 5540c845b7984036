"""The detector base: River's object protocol on top of one step kernel per detector.

Each detector writes its recurrence once, as a *step kernel*::

    step(st, x, p) -> code        # st: (F,) float64 state row, mutated in place
                                  # x:  the new value (float)
                                  # p:  (P,) float64 parameter row
                                  # code: NONE, WARNING or DRIFT

plus an ``init(st, p)`` kernel that (re)builds a fresh state row. The slots of both rows are
module-level integer constants of the detector's file (numba folds them); slots
``DRIFT_FLAG`` and ``WARNING_FLAG`` hold the flags of the last update in every detector, and
the step kernel starts with ``if st[DRIFT_FLAG] != 0.0: init(st, p)``, which gives River's
"reset on the update after a drift".

The same compiled step serves ``update(x)`` (one value), ``update_many(values)`` (one stream)
and :class:`~adaptive.Fleet` (S streams); :mod:`adaptive.drift._drivers` compiles the loops
around it. The plain reference is the same source run by the interpreter
(``NUMBA_DISABLE_JIT=1``), tested against the compiled path and against River.

Detectors subclass River's own bases (``river.base.DriftDetector`` and its binary and warning
variants), so River's ``clone``, ``mutate``, ``_get_params``, ``repr`` and checks apply, and a
River wrapper that clones its detector gets a fresh one.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from river import base as river_base

from adaptive._checks import check_choice
from adaptive.drift._drivers import _entry_point, _FastPath, _run_dense

NONE, WARNING, DRIFT = 0, 1, 2  # step kernel return codes
DRIFT_FLAG, WARNING_FLAG = 0, 1  # state slots shared by every detector
STATE_VERSION = 1
NAN_POLICIES = ("raise", "skip")


class Alarms(NamedTuple):
    """Drift and warning alarms: index arrays, (t, s) pairs, or boolean masks.

    ``warning`` marks the updates after which a warning and no drift was signalled (a detector
    whose flags read both true after an update, as River's EDDM or two-sided HDDM can, counts
    as a drift there).
    """

    drift: np.ndarray
    warning: np.ndarray


class Threshold(NamedTuple):
    """The parameter :func:`adaptive.calibrate` searches for a detector.

    ``direction`` is +1 when the in-control run length grows with the value (a threshold) and
    -1 when it shrinks (a significance level); ``grid_factor`` is the ratio of neighbouring
    values in the first search grid.
    """

    param: str
    direction: int
    grid_factor: float


def nan_if_none(value: Any) -> Any:
    """An optional parameter as a param-row entry: nan stands for None."""
    return math.nan if value is None else value


def none_if_nan(value: float) -> float | None:
    """A state-row entry that holds nan for "not available yet" as a Python float or None."""
    return None if value != value else float(value)


def as_float_array(values: Any, name: str) -> np.ndarray:
    """``values`` as float64, refusing text (``float("1.5")`` would convert it silently)."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    if isinstance(values, (str, bytes)) or np.asarray(values).dtype.kind in "USV":
        raise ValueError(f"{name} must be numeric, got text: {values!r:.80}")
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric, got {type(values).__name__}: {err}") from None


def validate_values(arr: np.ndarray, nan_policy: str, binary: bool, who: str) -> int:
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


def check_state_header(state: Any, name: str, params: dict[str, Any]) -> None:
    """ValueError unless ``state`` is a detector state of this version, class and parameters."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        found = state.get("version") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"not a detector state of version {STATE_VERSION}: {found!r}")
    if state.get("detector") != name:
        raise ValueError(f"state belongs to {state.get('detector')!r}, not {name!r}")
    if state.get("params") != params:
        raise ValueError(f"state was saved with parameters {state.get('params')}, not {params}")


class Detector(river_base.Base):
    """Base of the drift detectors: River's single-stream API on top of one step kernel.

    A subclass also derives from the River base it stands in for (``DriftDetector``,
    ``DriftAndWarningDetector``, ``BinaryDriftDetector`` or ``BinaryDriftAndWarningDetector``)
    and sets:

    - ``_step``, ``_init``: the row kernels; ``_n_state``: the state row's length (or override
      ``_state_size()`` when it depends on the parameters);
    - ``_param_names``: the parameters in param-row order (``_param_row()`` maps options that
      are not numbers); ``_fleet_params``: those that may differ between a fleet's streams;
    - ``_binary`` (inputs must be 0/1), ``_has_warning``;
    - ``_threshold``: the :class:`Threshold` that calibration searches, or None;
    - ``_statistic``: the name of the property an alert reports as the detector's statistic,
      or None.
    """

    _step = None
    _init = None
    _n_state = 0
    _param_names: tuple[str, ...] = ()
    _fleet_params: tuple[str, ...] = ()
    _binary = False
    _has_warning = False
    _threshold: Threshold | None = None
    _statistic: str | None = None
    _fast_path: _FastPath | None = None

    # -- construction -------------------------------------------------------------------------
    def _state_size(self) -> int:
        return self._n_state

    def _param_row(self) -> np.ndarray:
        return np.array([nan_if_none(getattr(self, n)) for n in self._param_names],
                        dtype=np.float64)

    def _check_nan_policy(self) -> None:
        check_choice("nan_policy", self.nan_policy, NAN_POLICIES)

    def _reset(self) -> None:
        self._prow = self._param_row()  # (P,)
        self._row = np.zeros(self._state_size(), dtype=np.float64)  # (F,)
        type(self)._init(self._row, self._prow)
        self.n_skipped = 0

    def _state_params(self) -> dict[str, Any]:
        """The constructor's parameters as a state header records them (JSON values)."""
        return self._get_params()

    def _fresh(self, **new_params: Any) -> Detector:
        """A new detector with the constructor's parameters (some replaced), no state."""
        return type(self)(**{**self._state_params(), **new_params})

    @property
    def _tags(self) -> set[str]:
        return set()

    # -- River's API --------------------------------------------------------------------------
    @property
    def drift_detected(self) -> bool:
        """True when the last update signalled a drift (the next update resets the detector)."""
        return self._row.item(DRIFT_FLAG) != 0.0  # .item: a Python float, half row[0]'s cost

    @property
    def warning_detected(self) -> bool:
        """True when the last update signalled a warning (always False without warning zone)."""
        return self._row.item(WARNING_FLAG) != 0.0

    def _check_value(self, x: Any) -> float | None:
        if isinstance(x, (bool, np.bool_)):
            return float(x)
        if isinstance(x, (str, bytes)):  # float("1.5") would convert text silently
            raise ValueError(f"x={x!r} is not a number")
        try:
            v = float(x)
        except (TypeError, ValueError):
            raise ValueError(f"x={x!r} is not a number") from None
        if v != v or v in (math.inf, -math.inf):
            if self.nan_policy == "skip":
                self.n_skipped += 1
                return None
            raise ValueError(f"x={x!r} is not finite; pass nan_policy='skip' to ignore such values")
        if self._binary and v != 0.0 and v != 1.0:
            raise ValueError(
                f"x={x!r}: {type(self).__name__} is a binary detector, values must be 0/1 or bool"
            )
        return v

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
        arr = as_float_array(values, "values")
        if arr.ndim != 1:
            raise ValueError(f"values must be 1-D with shape (T,), got shape {arr.shape}")
        n_bad = validate_values(arr, self.nan_policy, self._binary, type(self).__name__)
        codes = np.zeros((arr.shape[0], 1), dtype=np.int8)
        _run_dense(type(self)._step, self._row[None, :], self._prow[None, :], arr[:, None], codes)
        self.n_skipped += n_bad
        codes = codes[:, 0]
        return Alarms(np.flatnonzero(codes == DRIFT), np.flatnonzero(codes == WARNING))

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Versioned state: class name, parameters and the state row, as plain Python values."""
        return {
            "version": STATE_VERSION,
            "detector": type(self).__name__,
            "params": self._state_params(),
            "state": self._row.tolist(),
            "n_skipped": self.n_skipped,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` from a detector with the same parameters."""
        check_state_header(state, type(self).__name__, self._state_params())
        row = np.asarray(state["state"], dtype=np.float64)
        if row.shape != self._row.shape:
            raise ValueError(f"state has {row.size} entries, this detector needs {self._row.size}")
        self._row = row
        self.n_skipped = int(state["n_skipped"])


# The River base each kind of detector stands in for: (binary, has a warning zone) -> class.
RIVER_BASES = {
    (False, False): river_base.DriftDetector,
    (False, True): river_base.DriftAndWarningDetector,
    (True, False): river_base.BinaryDriftDetector,
    (True, True): river_base.BinaryDriftAndWarningDetector,
}
