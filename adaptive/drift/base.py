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

The same compiled step serves ``update(x)`` (one value: :mod:`adaptive.drift._fastcall`),
``update_many(values)`` (one stream) and :class:`~adaptive.Fleet` (S streams);
:mod:`adaptive.drift._drivers` compiles the loops around it, and a detector may add a lane
kernel that vectorises its fleets (:mod:`adaptive.drift._soa`). The plain reference is the same
source run by the interpreter (``NUMBA_DISABLE_JIT=1``), tested against the compiled path and
against River.

Every detector refuses values above ``max_abs_input`` in absolute value as it refuses
non-finite ones (by its ``nan_policy``): a finite but huge reading would otherwise overflow the
state (sums, squares) and leave it non-finite for good.

Detectors subclass River's own bases (``river.base.DriftDetector`` and its binary and warning
variants), so River's ``clone``, ``mutate``, ``_get_params``, ``repr`` and checks apply, and a
River wrapper that clones its detector gets a fresh one.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from river import base as river_base

from adaptive._checks import check_choice
from adaptive.drift import _fastcall
from adaptive.drift._drivers import _run_dense, limit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from typing_extensions import Self

NONE, WARNING, DRIFT = 0, 1, 2  # step kernel return codes
DRIFT_FLAG, WARNING_FLAG = 0, 1  # state slots shared by every detector
STATE_VERSION = 1
NAN_POLICIES = ("raise", "skip")
# |x| above this is refused by real-valued detectors: the sums of squared deviations over any
# window (up to ~1e15 values) stay far below the float64 maximum (~1.8e308)
MAX_ABS_INPUT = 1e100
_STATE_KEYS = ("version", "detector", "params", "state", "n_skipped")


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


class Slot:
    """A read-only detector attribute that reads one slot of the state row.

    ``n = Slot(N, int, "Values seen since the last reset.")`` in a detector class stands for a
    property returning ``int(self._row[N])``; ``kind`` converts the float64 (``int``, ``float``,
    or :func:`none_if_nan` for a slot that holds nan while the value is not available yet).
    """

    def __init__(self, index: int, kind: Callable[[float], Any] = float, doc: str = ""):
        self.index, self.kind, self.__doc__ = index, kind, doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, det: Any, owner: type | None = None) -> Any:
        if det is None:
            return self
        return self.kind(det._row[self.index])

    def __set__(self, det: Any, value: Any) -> None:
        raise AttributeError(f"{self.name} is read-only: it reads the detector's state")


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


def accepted_mask(arr: np.ndarray, max_abs: float) -> np.ndarray:
    """``|arr| <= max_abs`` (False for nan; inf only with an infinite bound never accepted),
    with bool temporaries only (``np.abs`` would allocate a float copy)."""
    lim = limit(max_abs)
    ok = arr <= lim
    ok &= arr >= -lim
    return ok


def validate_values(arr: np.ndarray, nan_policy: str, binary: bool, who: str,
                    max_abs: float = math.inf) -> int:
    """Raise on bad values (before any state changes); return the count of skipped ones.

    Non-finite values and values with ``|x| > max_abs`` are bad; under ``nan_policy="skip"``
    they are counted (the drivers skip them), otherwise the first one is named in the error.
    """
    accepted = accepted_mask(arr, max_abs)
    n_bad = int(arr.size - np.count_nonzero(accepted))
    if n_bad and nan_policy != "skip":
        finite = np.isfinite(arr)
        n_inf = int(arr.size - np.count_nonzero(finite))
        if n_inf:
            first = np.argwhere(~finite)[0]
            raise ValueError(
                f"values contain {n_inf} non-finite entries (first at index "
                f"{tuple(first.tolist())}: {arr[tuple(first)]}); pass nan_policy='skip' to "
                "ignore them"
            )
        first = np.argwhere(~accepted)[0]
        raise ValueError(
            f"values contain {n_bad} entries above max_abs_input={max_abs!r} of {who} in "
            f"absolute value (first at index {tuple(first.tolist())}: {arr[tuple(first)]}): "
            "they would overflow its state; pass nan_policy='skip' to skip them"
        )
    if binary:
        ok = (arr == 0.0) | (arr == 1.0) | ~accepted
        if not ok.all():
            first = np.argwhere(~ok)[0]
            raise ValueError(
                f"{who} is a binary detector: values must be 0/1 or bool, got "
                f"{arr[tuple(first)]} at index {tuple(first.tolist())}"
            )
    return n_bad


def check_state_header(state: Any, name: str, params: dict[str, Any],
                       keys: tuple[str, ...] = ()) -> None:
    """ValueError unless ``state`` is a detector state of this version, class and parameters
    holding all of ``keys``."""
    missing = [k for k in keys if k not in state] if isinstance(state, dict) else []
    if missing:
        raise ValueError(f"detector state lacks the keys {missing} (has {sorted(state)})")
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

    _step: Any = None  # the row kernels (numba dispatchers), set by every subclass
    _init: Any = None
    _n_state = 0
    _param_names: tuple[str, ...] = ()
    _fleet_params: tuple[str, ...] = ()
    _binary = False
    _has_warning = False
    _threshold: Threshold | None = None
    _statistic: str | None = None
    _max_abs = MAX_ABS_INPUT  # math.inf where no finite value can overflow the state
    # a lane kernel (lane, load, store, n_int) that vectorises fleets: _soa
    _lanes: tuple | None = None
    nan_policy: str  # set by every subclass's constructor

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

    def _lane_spec(self):
        """The lane kernel for fleets of this configuration, or None (the row kernel)."""
        return type(self)._lanes

    @property
    def _tags(self) -> set[str]:
        return set()

    @property
    def max_abs_input(self) -> float:
        """Largest accepted ``|x|``: larger values are refused like non-finite ones (by
        ``nan_policy``), since they could overflow the state (1e100 for real-valued detectors,
        ``inf`` for those whose state cannot overflow)."""
        return float(self._max_abs)

    # -- the rows and the compiled update bound to them ---------------------------------------
    # The state row and the parameter row are properties: replacing either (load_state_dict,
    # Fleet.stream, a probe viewing a fleet's row) drops the builtin ``update`` bound to the old
    # arrays and mirrors the new row's flags.
    @property
    def _row(self) -> np.ndarray:
        return self.__dict__["_state_row"]

    @_row.setter
    def _row(self, row: np.ndarray) -> None:
        d = self.__dict__
        d["_state_row"] = row
        d.pop("update", None)
        self._sync_flags()

    def _sync_flags(self) -> None:
        """Mirror the row's flags as the bools the flag properties return (the compiled update
        writes them itself)."""
        row = self.__dict__["_state_row"]
        self._drift = row.item(DRIFT_FLAG) != 0.0
        self._warning = row.item(WARNING_FLAG) != 0.0

    @property
    def _prow(self) -> np.ndarray:
        return self.__dict__["_param_row_"]

    @_prow.setter
    def _prow(self, prow: np.ndarray) -> None:
        self.__dict__["_param_row_"] = prow
        self.__dict__.pop("update", None)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("update", None)  # a builtin bound to this object's arrays
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._row = state["_state_row"]

    def clone(self, new_params: dict | None = None, include_attributes: bool = False) -> Self:
        """River's clone; ``include_attributes`` deep-copies the state too (not the compiled
        update, which is bound to this detector's arrays)."""
        clone = super().clone(new_params)
        if include_attributes:
            params = self._get_params()
            for attr, value in self.__getstate__().items():
                if attr not in params:
                    clone.__dict__[attr] = copy.deepcopy(value)
        return clone

    # -- River's API --------------------------------------------------------------------------
    # read-only properties whose getter is C code (attrgetter): no Python frame per read
    drift_detected = property(
        operator.attrgetter(_fastcall.FLAG_KEYS[0]),
        doc="True when the last update signalled a drift (the next update resets the detector).")
    warning_detected = property(
        operator.attrgetter(_fastcall.FLAG_KEYS[1]),
        doc="True when the last update signalled a warning (always False without warning zone).")

    def _check_value(self, x: Any) -> float | None:
        """x as a float, or None when it is skipped (and counted); ValueError when refused."""
        if isinstance(x, (bool, np.bool_)):
            return float(x)
        if isinstance(x, (str, bytes)):  # float("1.5") would convert text silently
            raise ValueError(f"x={x!r} is not a number")
        try:
            v = float(x)
            finite_input = True
        except OverflowError:  # an int beyond any float: beyond max_abs_input too
            v, finite_input = math.inf, False
        except (TypeError, ValueError):
            raise ValueError(f"x={x!r} is not a number") from None
        if not abs(v) <= limit(self._max_abs):
            if self.nan_policy == "skip":
                self.n_skipped += 1
                return None
            if finite_input and (v != v or v in (math.inf, -math.inf)):
                raise ValueError(
                    f"x={x!r} is not finite; pass nan_policy='skip' to ignore such values")
            raise ValueError(
                f"x={x!r:.60} exceeds max_abs_input={self._max_abs!r} of {type(self).__name__} "
                "in absolute value: it would overflow the state; pass nan_policy='skip' to "
                "skip such values"
            )
        if self._binary and v != 0.0 and v != 1.0:
            raise ValueError(
                f"x={x!r}: {type(self).__name__} is a binary detector, values must be 0/1 or bool"
            )
        return v

    def update(self, x: float | bool) -> None:
        """Update with one value; read ``drift_detected`` / ``warning_detected`` afterwards.

        This is the complete Python path. After the first call an instance normally answers
        ``update`` with a compiled builtin (:mod:`adaptive.drift._fastcall`) that handles a
        plain float itself and hands every other call back here.
        """
        v = self._check_value(x)
        if v is not None:
            type(self)._step(self._row, v, self._prow)
            self._sync_flags()
        if "update" not in self.__dict__:
            bound = _fastcall.make(type(self)._step, self._row, self._prow, self._max_abs,
                                   self._binary, Detector.update.__get__(self), self.__dict__,
                                   Detector.update.__doc__)
            if bound is not None:
                self.__dict__["update"] = bound

    def update_many(self, values: ArrayLike) -> Alarms:
        """Update with a 1-D array of values, in order; return the indices of the alarms.

        The state afterwards equals that after calling :meth:`update` on each value.
        """
        arr = as_float_array(values, "values")
        if arr.ndim != 1:
            raise ValueError(f"values must be 1-D with shape (T,), got shape {arr.shape}")
        n_bad = validate_values(arr, self.nan_policy, self._binary, type(self).__name__,
                                self._max_abs)
        codes = np.zeros((arr.shape[0], 1), dtype=np.int8)
        _run_dense(type(self)._step, self._row[None, :], self._prow[None, :], arr[:, None], codes,
                   self._max_abs)
        self.n_skipped += n_bad
        self._sync_flags()
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
        """Restore a state saved by :meth:`state_dict` from a detector with the same parameters.

        Everything is checked before anything changes: missing keys, a row of other length or
        with entries that are not numbers, a negative or non-integer ``n_skipped``.
        """
        check_state_header(state, type(self).__name__, self._state_params(), _STATE_KEYS)
        row = state["state"]
        if not isinstance(row, (list, tuple, np.ndarray)) or not all(
                isinstance(v, (int, float, np.integer, np.floating))
                and not isinstance(v, (bool, np.bool_)) for v in row):
            raise ValueError(
                f"state['state'] must be a list of {self._row.size} numbers, got {row!r:.80}")
        row = np.asarray(row, dtype=np.float64)
        if row.shape != self._row.shape:
            raise ValueError(
                f"state['state'] has {row.size} entries, this detector needs {self._row.size}")
        n_skipped = state["n_skipped"]
        if (not isinstance(n_skipped, (int, np.integer)) or isinstance(n_skipped, bool)
                or n_skipped < 0):
            raise ValueError(f"state['n_skipped']={n_skipped!r} must be an integer >= 0")
        self._row = row
        self.n_skipped = int(n_skipped)

