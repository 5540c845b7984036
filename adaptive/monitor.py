"""Sensor monitor: one drift detector per sensor of a plant, fed from CSV, stdin or MQTT.

Each sensor is one stream of a :class:`adaptive.Fleet`; readings arrive one at a time or in
micro-batches with any interleaving of sensors, and a whole micro-batch goes through one
``Fleet.update_events`` call (the compiled kernel loops over the events). An alarm becomes an
alert: a dict with the sensor, the reading's timestamp and source offset, the detector's name,
its main statistic at that reading, and the kind (``"drift"`` or ``"warning"``).

Exactly-once protocol (``run`` with a ``state_path``)
-----------------------------------------------------
1. At start, without a state file, a first checkpoint is written before any reading is
   processed (it records the current lengths of the alert and dead-letter files).
2. Every ``checkpoint_every`` readings (at the next batch boundary) and at shutdown (end of
   input, SIGTERM, SIGINT): the alert and dead-letter files are flushed and fsynced, then the
   state is written atomically (temp file, fsync, rename, fsync of the directory). It holds the
   source position (CSV: byte offset and row; stdin: rows; MQTT: record count and each
   sensor's last ``seq``/timestamp), the detector states, and the lengths of both files.
3. On restart the files are truncated to the recorded lengths (dropping whatever a killed
   process wrote after its last checkpoint) and the source resumes at the recorded position.
   The detectors are deterministic, so the replay writes exactly the lines that were dropped:
   across ``kill -9`` no alert is lost or repeated. MQTT messages are acknowledged only after
   the checkpoint that covers them, so the broker redelivers what a crash lost; redeliveries of
   checkpointed messages are recognised by their per-sensor ``seq``/timestamp and dropped.
   Alerts published to MQTT cannot be recalled: after a crash they are at-least-once, with an
   ``id`` identical in the replay.

A state file written under another configuration (detector, parameters, sensor list, shard,
calibration, source format) is refused with a ValueError and left untouched.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import tempfile
import zlib
from collections import Counter
from typing import Any

import numpy as np

from adaptive.alerts import DeadLetters
from adaptive.base import _STATE_VERSION as _FLEET_STATE_VERSION
from adaptive.base import Detector, Fleet
from adaptive.sources import Batch, shard_of

_MONITOR_VERSION = 1
_STAT_NAMES = ("statistic", "estimation", "p_value")
_CALIBRATE_KEYS = {"n_streams", "max_steps", "param", "tol", "level"}


class _Stop(Exception):
    """Raised by the signal handler while the monitor is blocked reading its source."""


def _main_statistic(det: Detector) -> float | None:
    for name in _STAT_NAMES:
        if hasattr(type(det), name):
            v = float(getattr(det, name))
            return v if np.isfinite(v) else None
    return None


def calibrate_sensor(detector: Detector, reference: np.ndarray, arl0: float, *, seed: int = 0,
                     **options: Any) -> dict[str, Any]:
    """Per-stream parameters that give ``detector`` an ARL0 of ``arl0`` on ``reference``.

    :func:`adaptive.calibrate` simulates the detector on bootstrap resamples of the reference
    readings and picks its threshold parameter; ``seed`` makes it reproducible (the monitor
    derives it from the sensor name, so a replay after a restart calibrates identically).
    """
    from adaptive.calibrate import calibrate

    result = calibrate(detector, target_arl0=arl0, reference=reference, seed=seed, **options)
    return {result.param: result.value}


class SensorMonitor:
    """Drift monitoring of many sensors with alerts, dead letters and resumable state.

    Parameters
    ----------
    detector
        A configured detector (template); each sensor gets its own stream of a Fleet of it.
    sensors
        A fixed list of sensor names (readings of other sensors become dead letters with reason
        ``unknown_sensor``), or None: sensors join when they first appear.
    calibrate_first
        None, or n: each sensor's first n readings are its reference; its per-stream
        parameters are then calibrated to ``arl0`` on them and detection starts with reading
        n + 1 (the reference readings themselves are not monitored).
    arl0
        Target mean run length to a false alarm, in readings (needs ``calibrate_first``).
    alert_sinks
        Objects with ``write(list_of_dicts)``, ``commit()`` and ``truncate(n)`` (for example
        :class:`adaptive.alerts.JSONLSink`); alerts are also returned by the update methods.
    dead_letters
        A path, a :class:`adaptive.alerts.DeadLetters`, or None (counted only).
    state_path
        Where :meth:`run` checkpoints (None: no checkpoints).
    checkpoint_every
        Checkpoint after at least this many readings (at a batch boundary); None: only at
        start and at shutdown.
    shard
        None or (i, n): keep only sensors with ``shard_of(name, n) == i``; the others are
        counted as ``other_shard`` and ignored.
    calibrate_options
        Extra keyword arguments of :func:`adaptive.calibrate` (``n_streams``, ``max_steps``,
        ``param``, ``tol``) for the per-sensor calibration.

    Examples
    --------
    >>> import numpy as np
    >>> from adaptive import PageHinkley
    >>> rng = np.random.default_rng(0)
    >>> mon = SensorMonitor(PageHinkley(threshold=100.0))
    >>> values = rng.normal(0.0, 1.0, 4000)                  # (K,) readings in arrival order
    >>> sensors = ["oven", "press"] * 2000                   # (K,) interleaved sensors
    >>> values[3000::2] += 3.0                               # the oven shifts at its reading 1500
    >>> alerts = mon.update_many(sensors, values, timestamps=list(range(4000)))
    >>> [(a["sensor"], a["kind"], a["index"], a["timestamp"]) for a in alerts]
    [('oven', 'drift', 1519, 3038)]
    >>> round(alerts[0]["statistic"], 2)                     # PageHinkley's statistic > threshold
    100.88
    """

    def __init__(
        self,
        detector: Detector,
        *,
        sensors: list[str] | None = None,
        calibrate_first: int | None = None,
        arl0: float | None = None,
        alert_sinks: tuple | list = (),
        dead_letters: str | DeadLetters | None = None,
        state_path: str | None = None,
        checkpoint_every: int | None = None,
        shard: tuple[int, int] | None = None,
        calibrate_options: dict[str, Any] | None = None,
    ):
        if not isinstance(detector, Detector):
            raise TypeError(f"detector must be an adaptive Detector, got {type(detector).__name__}")
        if sensors is not None:
            if isinstance(sensors, str) or not all(isinstance(s, str) and s for s in sensors):
                raise ValueError(f"sensors={sensors!r} must be None or a list of non-empty names")
            if len(set(sensors)) != len(sensors):
                raise ValueError(f"sensors={sensors!r} contains repeated names")
        if calibrate_first is not None and (
            not isinstance(calibrate_first, (int, np.integer)) or calibrate_first < 2
        ):
            raise ValueError(f"calibrate_first={calibrate_first!r} must be None or an int >= 2")
        if (calibrate_first is None) != (arl0 is None):
            raise ValueError(
                f"calibrate_first={calibrate_first!r} and arl0={arl0!r}: give both (per-sensor "
                "calibration to a target ARL0 on each sensor's first readings) or neither"
            )
        if arl0 is not None and not (isinstance(arl0, (int, float)) and arl0 > 1):
            raise ValueError(f"arl0={arl0!r} must be a number > 1 (readings)")
        if calibrate_first is not None and not detector._fleet_params:
            raise ValueError(f"{type(detector).__name__} has no per-stream parameter to calibrate")
        if checkpoint_every is not None and (
            not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1
        ):
            raise ValueError(f"checkpoint_every={checkpoint_every!r} must be None or an int >= 1")
        if shard is not None and not (
            len(shard) == 2 and all(isinstance(v, (int, np.integer)) for v in shard)
            and 0 <= shard[0] < shard[1]
        ):
            raise ValueError(f"shard={shard!r} must be (i, n) with 0 <= i < n")
        self.detector = detector
        self.sensors = list(sensors) if sensors is not None else None
        self.calibrate_first = calibrate_first
        self.arl0 = arl0
        self.alert_sinks = list(alert_sinks)
        self.dead_letters = (
            dead_letters if isinstance(dead_letters, DeadLetters) else DeadLetters(dead_letters)
        )
        self.state_path = state_path
        self.checkpoint_every = checkpoint_every
        self.shard = tuple(shard) if shard is not None else None
        self.calibrate_options = dict(calibrate_options or {})
        bad = set(self.calibrate_options) - _CALIBRATE_KEYS
        if bad:
            raise ValueError(f"calibrate_options {sorted(bad)} unknown; allowed: "
                             f"{sorted(_CALIBRATE_KEYS)}")
        for key in ("n_streams", "max_steps"):
            v = self.calibrate_options.get(key, 1)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"calibrate_options[{key!r}]={v!r} must be an integer >= 1")
        self._reset()

    # -- state --------------------------------------------------------------------------------
    def _reset(self) -> None:
        self._fleet = self._new_fleet()
        self._names: list[str] = []  # sensor index -> name
        self._index: dict[str, int] = {}  # name -> sensor index
        self._stream_of = np.zeros(0, dtype=np.int64)  # (N,) stream of each sensor, -1: calib.
        self._counts = np.zeros(0, dtype=np.int64)  # (N,) readings per sensor
        self._calib: dict[int, list[float]] = {}  # sensor index -> reference readings so far
        self._foreign: set[str] = set()  # names seen that belong to another shard
        self._probes: dict[int, Detector] = {}  # stream -> detector reading its state row
        self.stats: Counter = Counter()  # readings, drift, warning, other_shard, duplicates
        self.position: dict[str, Any] = {"byte": 0, "row": 0}
        self._stop = False
        self._restored: bool | None = None  # None: restore() not called yet
        if self.sensors is not None:
            self._add_sensors([s for s in self.sensors if self.shard is None
                               or shard_of(s, self.shard[1]) == self.shard[0]])

    def _new_fleet(self) -> Fleet:
        # NaN cells of wide blocks (dead letters already) are skipped by the dense kernel
        return Fleet(self.detector.clone(nan_policy="skip"), 0)

    def config(self) -> dict[str, Any]:
        """What must match for a saved state to be resumed."""
        return {
            "detector": type(self.detector).__name__,
            "params": self.detector._get_params(),
            "sensors": self.sensors,
            "calibrate_first": self.calibrate_first,
            "arl0": self.arl0,
            "shard": list(self.shard) if self.shard else None,
            "calibrate_options": self.calibrate_options,
        }

    def _add_sensors(self, names: list[str]) -> None:
        n0 = len(self._names)
        for i, name in enumerate(names):
            self._index[name] = n0 + i
        self._names.extend(names)
        self._counts = np.concatenate([self._counts, np.zeros(len(names), dtype=np.int64)])
        if self.calibrate_first is None:
            s0 = self._fleet.n_streams
            self._fleet.add_streams(len(names))
            new = np.arange(s0, s0 + len(names), dtype=np.int64)
        else:
            new = np.full(len(names), -1, dtype=np.int64)
            for i in range(len(names)):
                self._calib[n0 + i] = []
        self._stream_of = np.concatenate([self._stream_of, new])

    @property
    def sensor_names(self) -> list[str]:
        """Sensors known so far, in the order they joined."""
        return list(self._names)

    def stream(self, sensor: str) -> Detector | None:
        """A copy of one sensor's detector (None while it is still calibrating)."""
        s = self._stream_of[self._index[sensor]]
        return None if s < 0 else self._fleet.stream(int(s))

    def state_dict(self) -> dict[str, Any]:
        """The whole monitor state as plain Python values (JSON-serialisable)."""
        return {
            "version": _MONITOR_VERSION,
            "config": self.config(),
            "names": list(self._names),
            "stream_of": self._stream_of.tolist(),
            "counts": self._counts.tolist(),
            "calib": {str(k): v for k, v in self._calib.items()},
            "fleet": _fleet_state(self._fleet),
            "stats": dict(self.stats),
            "dead_by_reason": dict(self.dead_letters.by_reason),
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; ValueError if it comes from another configuration."""
        if not isinstance(state, dict) or state.get("version") != _MONITOR_VERSION:
            raise ValueError("not a sensor-monitor state of version 1")
        if state.get("config") != json.loads(json.dumps(self.config())):
            raise ValueError(
                f"state was saved with configuration {state.get('config')}, "
                f"not {self.config()}"
            )
        fleet = self._new_fleet()
        fleet.load_state_dict(_fleet_unpack(state["fleet"]))
        self._fleet = fleet
        self._probes = {}
        self._names = list(state["names"])
        self._index = {n: i for i, n in enumerate(self._names)}
        self._stream_of = np.asarray(state["stream_of"], dtype=np.int64)
        self._counts = np.asarray(state["counts"], dtype=np.int64)
        self._calib = {int(k): list(v) for k, v in state["calib"].items()}
        self.stats = Counter(state["stats"])
        self.dead_letters.by_reason = Counter(state["dead_by_reason"])
        self.position = dict(state["position"])

    # -- updates ------------------------------------------------------------------------------
    def update(self, sensor: str, value: float, *, timestamp: Any = None,
               offset: int | None = None) -> list[dict[str, Any]]:
        """One reading; returns its alerts (a list of 0 or 1 dict)."""
        return self.update_many([sensor], [value], timestamps=[timestamp],
                                offsets=None if offset is None else [offset])

    def update_many(self, sensors: list[str], values: Any, *, timestamps: list | None = None,
                    offsets: Any = None) -> list[dict[str, Any]]:
        """A micro-batch of readings in arrival order; returns the alerts in that order.

        ``sensors`` and ``values`` are (K,); non-numeric or non-finite values and (with a fixed
        sensor list) unknown sensors go to the dead letters. ``offsets`` default to a running
        reading count.
        """
        if isinstance(sensors, str):
            raise TypeError("sensors must be a sequence of names, not one string")
        sensors = list(sensors)
        raw = values
        try:
            vals = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            vals = np.array([_to_float(v) for v in raw], dtype=np.float64)
        if vals.ndim != 1 or vals.shape[0] != len(sensors):
            raise ValueError(
                f"values must be 1-D with one entry per sensor name ({len(sensors)}), "
                f"got shape {vals.shape}"
            )
        if offsets is None:
            offs = np.arange(self.stats["offset"], self.stats["offset"] + len(sensors))
        else:
            offs = np.asarray(offsets, dtype=np.int64)
        self.stats["offset"] = int(offs[-1]) + 1 if len(offs) else self.stats["offset"]
        ts = timestamps if timestamps is not None else [None] * len(sensors)
        fin = np.isfinite(vals)
        if not fin.all():
            dead = [{"reason": "non_finite" if isinstance(raw[k], (int, float, np.floating))
                     else "non_numeric", "raw": str(raw[k]), "offset": int(offs[k]),
                     "sensor": sensors[k]} for k in np.flatnonzero(~fin)]
            self.dead_letters.write(dead)
            keep = np.flatnonzero(fin)
            sensors = [sensors[k] for k in keep]
            vals, offs, ts = vals[keep], offs[keep], [ts[k] for k in keep]
        return self._events(sensors, vals, ts, offs)

    def _sensor_ids(self, sensors: list[str]) -> np.ndarray:
        """Names -> sensor indexes (K,); new sensors join (dynamic list); -1 marks a sensor of
        another shard, -3 an unknown sensor (fixed list)."""
        index = self._index
        sidx = np.fromiter((index.get(s, -1) for s in sensors), dtype=np.int64,
                           count=len(sensors))
        if not (sidx < 0).any():
            return sidx
        new: dict[str, None] = {}
        code: dict[str, int] = {}
        for k in np.flatnonzero(sidx < 0):
            name = sensors[k]
            if name in code or name in new:
                continue
            if name in self._foreign or (
                self.shard is not None and shard_of(name, self.shard[1]) != self.shard[0]
            ):
                self._foreign.add(name)
                code[name] = -1
            elif self.sensors is not None:
                code[name] = -3
            else:
                new[name] = None
        if new:
            self._add_sensors(list(new))
        code.update(index)
        return np.fromiter((code[s] for s in sensors), dtype=np.int64, count=len(sensors))

    def _drop(self, sidx: np.ndarray, names: Any, vals: np.ndarray, offs: np.ndarray) -> None:
        """Count other-shard readings; dead-letter the unknown sensors' readings."""
        self.stats["other_shard"] += int(np.count_nonzero(sidx == -1))
        unknown = np.flatnonzero(sidx == -3)
        self.dead_letters.write([
            {"reason": "unknown_sensor", "raw": f"{names[k]},{float(vals[k])!r}",
             "offset": int(offs[k]), "sensor": names[k]} for k in unknown
        ])

    def _events(self, sensors: list[str], vals: np.ndarray, ts: list,
                offs: np.ndarray) -> list[dict[str, Any]]:
        sidx = self._sensor_ids(sensors)
        if (sidx < 0).any():
            self._drop(sidx, sensors, vals, offs)
            keep = np.flatnonzero(sidx >= 0)
            sidx, vals, offs = sidx[keep], vals[keep], offs[keep]
            names = [sensors[k] for k in keep]
            ts = [ts[k] for k in keep]
        else:
            names = sensors
        return self._detect(sidx, vals, ts, offs, names)

    def update_coded(self, names: list[str], codes: np.ndarray, values: np.ndarray,
                     timestamps: Any, offsets: np.ndarray) -> list[dict[str, Any]]:
        """Readings (K,) whose sensors are ``names[codes[k]]`` (U distinct names), in arrival
        order; the values are finite (the parser made the rest dead letters)."""
        ids = self._sensor_ids(list(names))  # (U,)
        codes = np.asarray(codes, dtype=np.int64)
        sidx = ids[codes] if codes.size else codes  # (K,)
        vals = np.asarray(values, dtype=np.float64)
        offs = np.asarray(offsets, dtype=np.int64)
        ts = timestamps
        if (ids < 0).any():
            self._drop(sidx, _RowView(names, codes), vals, offs)
            keep = np.flatnonzero(sidx >= 0)
            sidx, vals, offs, codes = sidx[keep], vals[keep], offs[keep], codes[keep]
            ts = _RowView(timestamps, keep)
        return self._detect(sidx, vals, ts, offs, _RowView(names, codes))

    def update_wide(self, columns: list[str], values: np.ndarray, timestamps: list,
                    offsets: np.ndarray) -> list[dict[str, Any]]:
        """A block of rows (T, C) of C sensor columns; NaN cells are skipped (the parser already
        made them dead letters). Event order: row by row, columns left to right."""
        vals = np.asarray(values, dtype=np.float64)  # (T, C)
        n_cols = vals.shape[1]
        cols = list(columns)
        col_idx = self._sensor_ids(cols)  # (C,)
        n = self._fleet.n_streams
        if n == n_cols and n_cols and np.array_equal(self._stream_of[col_idx],
                                                     np.arange(n)) and (col_idx >= 0).all():
            return self._detect_dense(col_idx, vals, timestamps, offsets, cols)
        fin = np.isfinite(vals).ravel()  # row-major = arrival order
        ev = np.flatnonzero(fin)  # (K,) positions in the flattened block
        rows, cidx = ev // max(n_cols, 1), ev % max(n_cols, 1)
        sidx = col_idx[cidx]
        flat = vals.ravel()[ev]
        offs = np.asarray(offsets, np.int64)[rows]
        names = _RowView(cols, cidx)
        if (col_idx < 0).any():
            self._drop(sidx, names, flat, offs)
            keep = np.flatnonzero(sidx >= 0)
            sidx, flat, offs, rows, cidx = sidx[keep], flat[keep], offs[keep], rows[keep], \
                cidx[keep]
            names = _RowView(cols, cidx)
        return self._detect(sidx, flat, _RowView(timestamps, rows), offs, names)

    def _detect_dense(self, col_idx: np.ndarray, vals: np.ndarray, ts: list, offsets: Any,
                      cols: list[str]) -> list[dict[str, Any]]:
        """Fast path of a wide block whose columns are the fleet's streams 0..S-1 in order:
        one dense kernel call, no flattening. Same alerts as the event path."""
        fin = np.isfinite(vals)  # (T, S)
        n_fin = fin.sum(axis=0)  # (S,) readings per column
        self.stats["readings"] += int(n_fin.sum())
        before = self._counts.copy()
        self._counts[col_idx] += n_fin
        fleet = self._fleet
        snap = fleet._state.copy()  # (S, F)
        codes = fleet.update(vals, output="pairs")
        if not (codes.drift.size or codes.warning.size):
            return []
        kinds = {(int(t), int(c)): "drift" for t, c in codes.drift}
        kinds.update({(int(t), int(c)): "warning" for t, c in codes.warning})
        pos = sorted(kinds)  # (t, c) in arrival order
        astreams = np.unique([c for _, c in pos])  # (A,) stream = column here
        # replay the alarming columns from the snapshot as events, cut after each alarm
        sub = vals[:, astreams]  # (T, A)
        ev = np.flatnonzero(np.isfinite(sub).ravel())
        st_ev = astreams[ev % astreams.size]
        x_ev = sub.ravel()[ev]
        rows_ev = ev // astreams.size
        fleet._state[astreams] = snap[astreams]
        where = {(int(r), int(c)): j for j, (r, c) in enumerate(zip(rows_ev, st_ev))}
        lo = 0
        stats = {}
        for key in pos:
            j = where[key]
            fleet.update_events(st_ev[lo:j + 1], x_ev[lo:j + 1])
            stats[key] = _main_statistic(self._probe(key[1]))
            lo = j + 1
        fleet.update_events(st_ev[lo:], x_ev[lo:])
        alerts = []
        name = type(self.detector).__name__
        offs = np.asarray(offsets, dtype=np.int64)
        for t, c in pos:
            sensor, off, kind = cols[c], int(offs[t]), kinds[(t, c)]
            alerts.append({
                "id": f"{sensor}:{kind}:{off}", "sensor": sensor, "timestamp": ts[t],
                "offset": off,
                "index": int(before[col_idx[c]] + np.count_nonzero(fin[: t + 1, c]) - 1),
                "value": float(vals[t, c]), "kind": kind, "detector": name,
                "statistic": stats[(t, c)],
            })
        self.stats["drift"] += len(codes.drift)
        self.stats["warning"] += len(codes.warning)
        return alerts

    def _detect(self, sidx: np.ndarray, vals: np.ndarray, ts: Any, offs: np.ndarray,
                names: Any) -> list[dict[str, Any]]:
        """Known sensors' readings (K,) -> alerts; the calibration phase comes first."""
        n_ev = sidx.shape[0]
        self.stats["readings"] += n_ev
        if n_ev == 0:
            return []
        before = self._counts.copy()
        self._counts += np.bincount(sidx, minlength=self._counts.shape[0])
        stream = self._stream_of[sidx]
        if (stream < 0).any():
            det_ev = self._calibration(sidx, vals, stream)
            stream = self._stream_of[sidx[det_ev]]
        else:
            det_ev = None
        x = vals if det_ev is None else vals[det_ev]
        fleet = self._fleet
        snap = fleet._state.copy()  # (S, F): to read the statistics at each alarm
        alarms = fleet.update_events(stream, x)
        if not (alarms.drift.size or alarms.warning.size):
            return []
        kinds = dict.fromkeys(alarms.drift.tolist(), "drift")
        kinds.update(dict.fromkeys(alarms.warning.tolist(), "warning"))
        pos = np.array(sorted(kinds), dtype=np.int64)  # alarm positions among detection events
        # Replay the alarming streams from the snapshot, cut after each alarm, to read the
        # statistic there; the other streams are independent and already final.
        astreams = np.unique(stream[pos])
        sel = np.flatnonzero(np.isin(stream, astreams))  # their events, in order
        fleet._state[astreams] = snap[astreams]
        stats = {}
        lo = 0
        for j, k in zip(np.searchsorted(sel, pos).tolist(), pos.tolist()):
            fleet.update_events(stream[sel[lo:j + 1]], x[sel[lo:j + 1]])
            stats[k] = _main_statistic(self._probe(int(stream[k])))
            lo = j + 1
        fleet.update_events(stream[sel[lo:]], x[sel[lo:]])
        # each reading's index among its sensor's readings: counts before + rank in the batch
        first = det_ev[pos] if det_ev is not None else pos
        asens = np.unique(sidx[first])
        on = np.flatnonzero(np.isin(sidx, asens))  # the alarming sensors' readings, in order
        s_on = sidx[on]
        alerts = []
        name = type(self.detector).__name__
        for k in pos.tolist():
            e = k if det_ev is None else int(det_ev[k])  # position in the batch
            sensor = names[e]
            off = int(offs[e])
            alerts.append({
                "id": f"{sensor}:{kinds[k]}:{off}",
                "sensor": sensor,
                "timestamp": ts[e],
                "offset": off,
                "index": int(before[sidx[e]] + np.count_nonzero(
                    s_on[: np.searchsorted(on, e) + 1] == sidx[e]) - 1),
                "value": float(vals[e]),
                "kind": kinds[k],
                "detector": name,
                "statistic": stats[k],
            })
        self.stats["drift"] += len(alarms.drift)
        self.stats["warning"] += len(alarms.warning)
        return alerts

    def _probe(self, s: int) -> Detector:
        """A detector viewing stream s's state row (its statistics read that row)."""
        probe = self._probes.get(s)
        if probe is None:
            probe = self._probes[s] = self._fleet.stream(s)
        probe._row = self._fleet._state[s]
        return probe

    def _calibration(self, sidx: np.ndarray, vals: np.ndarray, stream: np.ndarray) -> np.ndarray:
        """Feed reference readings to the calibration buffers; return the detection events."""
        n = self.calibrate_first
        cal = np.flatnonzero(stream < 0)
        s_cal = sidx[cal]
        order = np.argsort(s_cal, kind="stable")
        ss = s_cal[order]
        starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
        rank = np.empty_like(order)
        rank[order] = np.arange(ss.size) - np.repeat(starts, np.diff(np.r_[starts, ss.size]))
        have = np.array([len(self._calib[int(s)]) for s in s_cal], dtype=np.int64)
        take = rank < n - have
        done = []
        for s in np.unique(s_cal):
            buf = self._calib[int(s)]
            buf.extend(vals[cal[take & (s_cal == s)]].tolist())
            if len(buf) >= n:
                done.append(int(s))
        for s in done:  # calibrate, then the sensor's stream joins the fleet
            try:
                params = calibrate_sensor(self.detector, np.asarray(self._calib.pop(s)),
                                          self.arl0, seed=zlib.crc32(self._names[s].encode()),
                                          **self.calibrate_options)
            except (ValueError, ArithmeticError):  # e.g. a constant reference: no bracket
                params = {}  # the sensor keeps the detector's own parameters, and it is said
                self.stats["calibration_failed"] += 1
            else:
                self.stats["calibrated"] += 1
            self._stream_of[s] = self._fleet.n_streams
            self._fleet.add_streams(1, **params)
        det = np.ones(sidx.shape[0], dtype=bool)
        det[cal[take]] = False
        det &= self._stream_of[sidx] >= 0
        return np.flatnonzero(det)

    def process(self, batch: Batch) -> list[dict[str, Any]]:
        """One source batch: dead letters written, readings detected, alerts written."""
        self.dead_letters.write(batch.dead)
        if batch.kind == "coded":
            alerts = self.update_coded(batch.sensors, batch.codes, batch.values,
                                       batch.timestamps, batch.offsets)
        elif batch.kind == "wide":
            alerts = self.update_wide(batch.sensors, batch.values, batch.timestamps,
                                      batch.offsets)
        else:
            alerts = self._events(list(batch.sensors), batch.values, list(batch.timestamps),
                                  batch.offsets)
        self.stats["records"] += batch.n_records
        self.stats["duplicates"] += batch.duplicates
        for sink in self.alert_sinks:
            sink.write(alerts)
        self.position = batch.position
        return alerts

    # -- the resumable loop -------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Make alerts and dead letters durable, then write the state atomically."""
        if self.state_path is None:
            return
        state = self.state_dict()
        state["files"] = {"alerts": [sink.commit() for sink in self.alert_sinks],
                          "dead_letters": self.dead_letters.commit()}
        _atomic_write_json(self.state_path, state)

    def restore(self) -> bool:
        """Load ``state_path`` if it exists and cut the output files back to the checkpoint.

        Returns True when a state was loaded. ValueError (the file untouched) if the state is
        corrupt or from another configuration.
        """
        self._restored = False
        if self.state_path is None or not os.path.exists(self.state_path):
            return False
        try:
            with open(self.state_path, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError) as err:
            raise ValueError(f"state file {self.state_path!r} is unreadable or corrupt: {err}") \
                from None
        try:
            self.load_state_dict(state)
            files = state["files"]
            if len(files["alerts"]) != len(self.alert_sinks):
                raise ValueError("the state was saved with a different set of alert sinks")
        except (KeyError, TypeError) as err:
            raise ValueError(f"state file {self.state_path!r} is incomplete: {err}") from None
        except ValueError as err:
            raise ValueError(f"state file {self.state_path!r} does not match: {err}") from None
        for sink, n in zip(self.alert_sinks, files["alerts"]):
            sink.truncate(n)
        self.dead_letters.truncate(files["dead_letters"])
        self._restored = True
        return True

    def request_stop(self) -> None:
        """Stop :meth:`run` at the next batch boundary (what SIGTERM/SIGINT do)."""
        self._stop = True

    def run(self, source: Any, *, handle_signals: bool = True) -> dict[str, Any]:
        """Process ``source`` to its end (or a stop request) with checkpoints; return a summary.

        On a restart (the state file exists) the source resumes at the saved position.
        """
        if self._restored is None:
            self.restore()
        if self._restored:
            source.seek(self.position)
        else:
            self.checkpoint()
        old = {}
        blocked = [False]

        def handler(signum, frame):
            self._stop = True
            if hasattr(source, "stop"):
                source.stop()
            if blocked[0]:
                raise _Stop

        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, handler)
        since = 0
        pending_acks: list = []
        try:
            it = source.batches()
            while not self._stop:
                blocked[0] = True
                try:
                    batch = next(it, None)
                except _Stop:
                    break
                finally:
                    blocked[0] = False
                if batch is None:
                    break
                self.process(batch)
                pending_acks.extend(batch.acks)
                since += batch.values.size
                if self.checkpoint_every is not None and since >= self.checkpoint_every:
                    self.checkpoint()
                    since = 0
                    if pending_acks:
                        source.ack(pending_acks)
                        pending_acks = []
            self.checkpoint()
            if pending_acks:
                source.ack(pending_acks)
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """Counts: records, readings, alerts by kind, dead letters by reason, sensors."""
        return {
            "records": int(self.stats["records"]),
            "readings": int(self.stats["readings"]),
            "sensors": len(self._names),
            "alerts": {"drift": int(self.stats["drift"]), "warning": int(self.stats["warning"])},
            "dead_letters": int(sum(self.dead_letters.by_reason.values())),
            "dead_by_reason": dict(sorted(self.dead_letters.by_reason.items())),
            "duplicates": int(self.stats["duplicates"]),
            "other_shard": int(self.stats["other_shard"]),
            "calibrated": int(self.stats["calibrated"]),
            "calibration_failed": int(self.stats["calibration_failed"]),
            "position": self.position,
        }

    def close(self) -> None:
        for sink in self.alert_sinks:
            sink.close()
        self.dead_letters.close()


class _RowView:
    """``view[k] == seq[idx[k]]`` without building the list (timestamps of wide blocks)."""

    def __init__(self, seq: Any, idx: np.ndarray):
        self.seq, self.idx = seq, idx

    def __getitem__(self, k: int) -> Any:
        return self.seq[int(self.idx[k])]


def _pack(arr: np.ndarray) -> dict[str, Any]:
    """An array as base64 of its little-endian bytes: exact, and fast for big states (ADWIN's
    rows are ~600 floats per sensor; a JSON list of 600k floats takes ~0.5 s to write)."""
    arr = np.ascontiguousarray(arr)
    dt = arr.dtype.newbyteorder("<")
    return {"dtype": dt.str, "shape": list(arr.shape),
            "b64": base64.b64encode(arr.astype(dt, copy=False).tobytes()).decode("ascii")}


def _unpack(d: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["b64"]), dtype=np.dtype(d["dtype"])).reshape(
        d["shape"]).copy()


def _fleet_state(fleet: Fleet) -> dict[str, Any]:
    """Fleet.state_dict() with the arrays packed (same header, same keys)."""
    return {"version": _FLEET_STATE_VERSION, "detector": type(fleet.detector).__name__,
            "params": fleet.detector._get_params(), "stream_params": _pack(fleet._params),
            "state": _pack(fleet._state), "n_skipped": _pack(fleet.n_skipped)}


def _fleet_unpack(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, **{k: _unpack(d[k]) for k in ("stream_params", "state", "n_skipped")}}


def _to_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _atomic_write_json(path: str, obj: Any) -> None:
    """Temp file in the same directory, fsync, rename over ``path``, fsync the directory."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
