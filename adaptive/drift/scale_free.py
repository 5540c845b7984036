"""Scale-free use of any detector: standardise the stream on a robust warm-up estimate.

Most detectors' defaults are in the units of the data (``PageHinkley(threshold=50)``,
``ADWIN``'s bounds on values in [0, 1], KSWIN's nothing but ranks): meaningful for one unit and
meaningless for another. :class:`ScaleFree` holds the first ``warm_start`` values, estimates the
location (median) and scale (3-sigma trimmed standard deviation around it, see
:mod:`adaptive.drift._robust`) once, and from then on passes ``(x - location) / scale`` to the
wrapped detector, replaying the held values first. The unit is fixed once: a change of level or
spread later on is the detector's to see, not something to standardise away. After a drift the
wrapped detector restarts as it always does, on the same unit.

What the warm-up costs: no alarm can come before the ``warm_start``-th value, and a change
inside the warm-up is seen only at its end, with the unit it biased (the robust estimate keeps
that bias small while less than half of the warm-up is after the change). On the TCPD benchmark
(``benchmarks/results/tcpd.md``) the scale-free rows measure it on real series of 15 to 800
values.

:class:`BOCPD`, :class:`ScaleCUSUM` and :class:`MeanScaleCUSUM` standardise inside their own
kernels (so they run in a :class:`~adaptive.Fleet` and the sensor monitor); this wrapper is the
single-stream path for every other detector (``update`` / ``update_many``, not fleets).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
from river import base as river_base

from adaptive._checks import check_int
from adaptive.drift._robust import robust_location_scale
from adaptive.drift.base import STATE_VERSION, Alarms, Detector, as_float_array

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


class ScaleFree(river_base.DriftDetector):
    """Wrap a detector so that it sees robustly standardised values.

    Parameters
    ----------
    detector
        The detector to feed (a template: the wrapper keeps a fresh copy).
    warm_start
        Values held to estimate the unit (>= 3), then replayed through the detector.

    Examples
    --------
    >>> import numpy as np
    >>> from adaptive import PageHinkley
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 1, 300), rng.normal(3, 1, 300)])
    >>> a = ScaleFree(PageHinkley()).update_many(x).drift
    >>> b = ScaleFree(PageHinkley()).update_many(1e6 * x + 42.0).drift
    >>> a.tolist(), b.tolist()  # the same alarms in any unit
    ([314], [314])
    >>> PageHinkley().update_many(1e6 * x + 42.0).drift.size  # in raw units: false alarms
    20
    """

    def __init__(
        self,
        detector: river_base.DriftDetector,
        warm_start: int = 30,
    ):
        if not (hasattr(detector, "update") and hasattr(detector, "drift_detected")):
            raise ValueError(
                f"detector={detector!r} must be a drift detector (update, drift_detected)")
        check_int("warm_start", warm_start, 3, 100_000)
        self.detector = detector
        self.warm_start = warm_start
        super().__init__()
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._inner = self.detector.clone() if hasattr(self.detector, "clone") \
            else copy.deepcopy(self.detector)
        self._held: list[float] = []
        self.location_: float | None = None
        self.scale_: float | None = None
        self._lag: int | None = None

    @classmethod
    def _unit_test_params(cls):
        from adaptive.drift.page_hinkley import PageHinkley

        yield {"detector": PageHinkley(threshold=15.0), "warm_start": 10}

    @property
    def _tags(self) -> set[str]:
        return set()

    @property
    def drift_detected(self) -> bool:
        return self._drift_detected

    @property
    def warning_detected(self) -> bool:
        """Whether the wrapped detector signalled a warning on the last update."""
        return not self._drift_detected and bool(getattr(self._inner, "warning_detected", False))

    @property
    def change_lag(self) -> int | None:
        """After an alarm: values between the wrapped detector's estimated change and the alarm
        (when it estimates one; 0 otherwise)."""
        return self._lag if self._drift_detected else None

    def _feed(self, z: float) -> bool:
        self._inner.update(z)
        if self._inner.drift_detected:
            self._lag = int(getattr(self._inner, "change_lag", None) or 0)
            return True
        return False

    def update(self, x: float) -> None:
        """Update with one value (raw units); read ``drift_detected`` afterwards."""
        v = float(x)
        if v != v or v in (np.inf, -np.inf):
            raise ValueError(f"x={x!r} is not finite")
        self._drift_detected = False
        if self.scale_ is not None:
            self._drift_detected = self._feed((v - self.location_) / self.scale_)  # type: ignore[operator]
            return
        self._held.append(v)
        if len(self._held) < self.warm_start:
            return
        self.location_, self.scale_ = robust_location_scale(np.array(self._held))
        held, self._held = self._held, []
        for j, h in enumerate(held):  # the first alarm of the replay is this update's alarm
            if self._feed((h - self.location_) / self.scale_):
                self._lag += len(held) - 1 - j  # type: ignore[operator]
                self._drift_detected = True
                return

    def update_many(self, values: ArrayLike) -> Alarms:
        """Update with a 1-D array of values, in order; the indices of the drift alarms."""
        arr = as_float_array(values, "values")
        if arr.ndim != 1:
            raise ValueError(f"values must be 1-D with shape (T,), got shape {arr.shape}")
        drift = []
        for t, v in enumerate(arr.tolist()):
            self.update(v)
            if self._drift_detected:
                drift.append(t)
        return Alarms(np.array(drift, dtype=np.int64), np.zeros(0, dtype=np.int64))

    def state_dict(self) -> dict[str, Any]:
        """Versioned state: the held values, the unit and the wrapped detector's state."""
        if not isinstance(self._inner, Detector):
            raise TypeError(f"state_dict needs an adaptive Detector inside, got "
                            f"{type(self._inner).__name__}")
        return {"version": STATE_VERSION, "detector": "ScaleFree",
                "params": {"warm_start": self.warm_start}, "held": list(self._held),
                "location": self.location_, "scale": self.scale_,
                "drift": self._drift_detected, "lag": self._lag,
                "inner": self._inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` of a wrapper like this one."""
        if not isinstance(state, dict) or state.get("detector") != "ScaleFree" \
                or state.get("version") != STATE_VERSION:
            raise ValueError("not a ScaleFree state of version "
                             f"{STATE_VERSION}: {str(state)[:80]}")
        if state["params"] != {"warm_start": self.warm_start}:
            raise ValueError(f"state was saved with {state['params']}, "
                             f"not warm_start={self.warm_start}")
        self._inner.load_state_dict(state["inner"])  # type: ignore[union-attr]
        self._held = [float(v) for v in state["held"]]
        self.location_, self.scale_ = state["location"], state["scale"]
        self._drift_detected, self._lag = bool(state["drift"]), state["lag"]
