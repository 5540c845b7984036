"""Sensor monitor: one drift detector per sensor of a plant, fed from CSV, stdin or MQTT.

Each sensor is one stream of a :class:`adaptive.Fleet`; readings arrive one at a time or in
micro-batches with any interleaving of sensors, and a whole micro-batch goes through one
``Fleet.update_events`` call (the compiled kernel loops over the events). An alarm becomes an
alert: a dict with the sensor, the reading's timestamp and source offset, the detector's name,
its main statistic at that reading, and the kind (``"drift"`` or ``"warning"``).

The monitor is composed of a :class:`~adaptive.monitor.sensors.SensorTable` (names, indices,
shard filter, calibration buffers), an :class:`~adaptive.monitor.alerting.AlertBuilder` (alarms
to alerts with the detector's statistic), a :class:`~adaptive.monitor.state.StateFile`
(atomic checkpoints) and the run loop of :mod:`adaptive.monitor.runner`, with its exactly-once
protocol: across ``kill -9`` no alert is lost or repeated.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive.drift import Detector, Fleet
from adaptive.monitor import runner
from adaptive.monitor._inputs import (
    RowView,
    check_arguments,
    overflow_letters,
    to_float,
    value_letters,
)
from adaptive.monitor.alerting import AlertBuilder, calibrate_sensor, check_calibrate_options
from adaptive.monitor.alerts import DeadLetters
from adaptive.monitor.sensors import OTHER_SHARD, UNKNOWN, SensorTable
from adaptive.monitor.sources import Batch
from adaptive.monitor.state import MonitorState

if TYPE_CHECKING:
    from adaptive.monitor.sources.csv_source import CSVSource
    from adaptive.monitor.sources.mqtt import MQTTSource


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
        check_arguments(detector, sensors, calibrate_first, arl0, checkpoint_every, shard)
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
        check_calibrate_options(self.calibrate_options)
        self._resumable = MonitorState(self)
        self._alerting = AlertBuilder(type(detector).__name__)
        # readings beyond what the detector's state can take are dead letters ("overflow")
        self.max_abs = float(getattr(detector, "max_abs_input", math.inf))
        self._reset()

    def _reset(self) -> None:
        self._fleet = self._new_fleet(0)
        self._table = SensorTable(self.sensors, self.shard, self.calibrate_first)  # type: ignore[arg-type]
        self._wide_ids: tuple = (None, [], None)  # (table, columns, their indices)
        self.stats: Counter = Counter()  # readings, drift, warning, other_shard, duplicates
        self.position: dict[str, Any] = {"byte": 0, "row": 0}
        self._stop = False
        self._restored: bool | None = None  # None: restore() not called yet
        self._join(self._table.initial())

    def _new_fleet(self, n_streams: int) -> Fleet:
        # NaN cells of wide blocks (dead letters already) are skipped by the dense kernel
        return Fleet(self.detector.clone({"nan_policy": "skip"}), n_streams)

    def _join(self, names: list[str]) -> None:
        """New sensors: in the table, and (without calibration) a fleet stream each."""
        new = self._table.join(names) if names else np.zeros(0, np.int64)
        self._give_streams(new)

    def _give_streams(self, sensors: np.ndarray) -> None:
        if self.calibrate_first is None and sensors.size:
            s0 = self._fleet.n_streams
            self._fleet.add_streams(int(sensors.size))
            self._table.stream_of[sensors] = np.arange(s0, s0 + sensors.size)

    def _sensor_ids(self, sensors: list[str]) -> np.ndarray:
        sidx, joined = self._table.ids(sensors)
        if joined:
            self._give_streams(np.array([self._table.index[n] for n in joined], np.int64))
        return sidx

    @property
    def sensor_names(self) -> list[str]:
        """Sensors known so far, in the order they joined."""
        return list(self._table.names)

    def stream(self, sensor: str) -> Detector | None:
        """A copy of one sensor's detector (None while it is still calibrating)."""
        s = self._table.stream_of[self._table.index[sensor]]
        return None if s < 0 else self._fleet.stream(int(s))

    # -- updates ------------------------------------------------------------------------------
    def update(self, sensor: str, value: float, *, timestamp: Any = None,
               offset: int | None = None) -> list[dict[str, Any]]:
        """One reading; returns its alerts (a list of 0 or 1 dict)."""
        return self.update_many([sensor], [value], timestamps=[timestamp],
                                offsets=None if offset is None else [offset])

    def update_many(self, sensors: list[str], values: Sequence[float | str] | np.ndarray, *,
                    timestamps: list | None = None,
                    offsets: Sequence[int] | np.ndarray | None = None) -> list[dict[str, Any]]:
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
            vals = np.array([to_float(v) for v in raw], dtype=np.float64)
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
        ok, dead = value_letters(raw, vals, sensors, offs, self.max_abs)
        if dead:
            self.dead_letters.write(dead)
            keep = np.flatnonzero(ok)
            sensors = [sensors[k] for k in keep]
            vals, offs, ts = vals[keep], offs[keep], [ts[k] for k in keep]
        return self._events(sensors, vals, ts, offs)

    def _overflow(self, vals: np.ndarray, names: Any, offsets: Any) -> np.ndarray | None:
        """Dead-letter the readings beyond ``max_abs`` (a parser told the limit already did);
        returns their mask, the shape of ``vals``, or None when there are none."""
        big, letters = overflow_letters(vals, names, offsets, self.max_abs)
        if letters:
            self.dead_letters.write(letters)
        return big

    def _drop(self, sidx: np.ndarray, names: Any, vals: np.ndarray, offs: np.ndarray) -> None:
        """Count other-shard readings; dead-letter the unknown sensors' readings."""
        self.stats["other_shard"] += int(np.count_nonzero(sidx == OTHER_SHARD))
        unknown = np.flatnonzero(sidx == UNKNOWN)
        self.dead_letters.write([
            {"reason": "unknown_sensor", "raw": f"{names[k]},{float(vals[k])!r}",
             "offset": int(offs[k]), "sensor": names[k]} for k in unknown
        ])

    def _events(self, sensors: list[str], vals: np.ndarray, ts: list,
                offs: np.ndarray) -> list[dict[str, Any]]:
        big = self._overflow(vals, sensors, offs)
        if big is not None:
            keep = np.flatnonzero(~big)
            sensors, vals, offs, ts = [sensors[k] for k in keep], vals[keep], offs[keep], \
                [ts[k] for k in keep]
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
        codes = np.asarray(codes, dtype=np.int64)
        vals = np.asarray(values, dtype=np.float64)
        offs = np.asarray(offsets, dtype=np.int64)
        ts = timestamps
        big = self._overflow(vals, RowView(names, codes), offs)
        if big is not None:
            keep = np.flatnonzero(~big)
            codes, vals, offs, ts = codes[keep], vals[keep], offs[keep], RowView(ts, keep)
        ids = self._sensor_ids(list(names))  # (U,)
        sidx = ids[codes] if codes.size else codes  # (K,)
        if (ids < 0).any():
            self._drop(sidx, RowView(names, codes), vals, offs)
            keep = np.flatnonzero(sidx >= 0)
            sidx, vals, offs, codes = sidx[keep], vals[keep], offs[keep], codes[keep]
            ts = RowView(timestamps, keep)
        return self._detect(sidx, vals, ts, offs, RowView(names, codes))

    def update_wide(self, columns: list[str], values: np.ndarray, timestamps: list,
                    offsets: np.ndarray) -> list[dict[str, Any]]:
        """A block of rows (T, C) of C sensor columns; NaN cells are skipped (the parser already
        made them dead letters). Event order: row by row, columns left to right."""
        vals = np.asarray(values, dtype=np.float64)  # (T, C)
        n_cols = vals.shape[1]
        cols = list(columns)
        big = self._overflow(vals, cols, offsets)
        if big is not None:
            vals = np.where(big, np.nan, vals)
        col_idx = self._column_ids(cols)  # (C,)
        n = self._fleet.n_streams
        if n == n_cols and n_cols and (col_idx >= 0).all() and np.array_equal(
                self._table.stream_of[col_idx], np.arange(n)):
            return self._detect_dense(col_idx, vals, timestamps, offsets, cols)
        fin = np.isfinite(vals).ravel()  # row-major = arrival order
        ev = np.flatnonzero(fin)  # (K,) positions in the flattened block
        rows, cidx = ev // max(n_cols, 1), ev % max(n_cols, 1)
        sidx = col_idx[cidx]
        flat = vals.ravel()[ev]
        offs = np.asarray(offsets, np.int64)[rows]
        names = RowView(cols, cidx)
        if (col_idx < 0).any():
            self._drop(sidx, names, flat, offs)
            keep = np.flatnonzero(sidx >= 0)
            sidx, flat, offs, rows, cidx = sidx[keep], flat[keep], offs[keep], rows[keep], \
                cidx[keep]
            names = RowView(cols, cidx)
        return self._detect(sidx, flat, RowView(timestamps, rows), offs, names)

    def _column_ids(self, cols: list[str]) -> np.ndarray:
        """Sensor indices of wide columns; the same columns batch after batch are looked up
        once (a name's index never changes while the table lives)."""
        table, known, ids = self._wide_ids
        if table is self._table and cols == known:
            return ids
        ids = self._sensor_ids(cols)
        self._wide_ids = (self._table, list(cols), ids)
        return ids

    def process(self, batch: Batch) -> list[dict[str, Any]]:
        """One source batch: dead letters written, readings detected, alerts written."""
        self.dead_letters.write(batch.dead)
        if batch.kind == "coded":
            alerts = self.update_coded(batch.sensors, batch.codes, batch.values,  # type: ignore[arg-type]
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

    # -- detection ------------------------------------------------------------------------------
    def _detect_dense(self, col_idx: np.ndarray, vals: np.ndarray, ts: list, offsets: Any,
                      cols: list[str]) -> list[dict[str, Any]]:
        """A wide block whose columns are the fleet's streams 0..S-1 in order: one dense
        kernel call, no flattening. Same alerts as the event path."""
        n_fin = np.isfinite(vals).sum(axis=0)  # (S,) readings per column
        self.stats["readings"] += int(n_fin.sum())
        before = self._table.counts.copy()
        self._table.counts[col_idx] += n_fin
        alerts, alarms = self._alerting.dense(self._fleet, before, col_idx, vals, ts, offsets,
                                              cols)
        self._count_alarms(alarms)
        return alerts

    def _detect(self, sidx: np.ndarray, vals: np.ndarray, ts: Any, offs: np.ndarray,
                names: Any) -> list[dict[str, Any]]:
        """Known sensors' readings (K,) -> alerts; the calibration phase comes first."""
        n_ev = sidx.shape[0]
        self.stats["readings"] += n_ev
        if n_ev == 0:
            return []
        table = self._table
        before = table.counts.copy()
        table.counts += np.bincount(sidx, minlength=table.counts.shape[0])
        stream = table.stream_of[sidx]
        det_ev = None
        if (stream < 0).any():
            det_ev = self._calibration(sidx, vals, stream)
            stream = table.stream_of[sidx[det_ev]]
        x = vals if det_ev is None else vals[det_ev]
        alerts, alarms = self._alerting.events(self._fleet, before, sidx, stream, x, det_ev,
                                               vals, ts, offs, names)
        self._count_alarms(alarms)
        return alerts

    def _count_alarms(self, alarms: Any) -> None:
        self.stats["drift"] += len(alarms.drift)
        self.stats["warning"] += len(alarms.warning)

    def _calibration(self, sidx: np.ndarray, vals: np.ndarray, stream: np.ndarray) -> np.ndarray:
        """Feed reference readings to the calibration buffers; return the detection events."""
        taken, full = self._table.fill_calibration(sidx, vals, stream)
        for s in full:  # calibrate, then the sensor's stream joins the fleet
            name = self._table.names[s]
            try:
                params = calibrate_sensor(self.detector, self._table.take_reference(s),
                                          self.arl0, seed=zlib.crc32(name.encode()),  # type: ignore[arg-type]
                                          **self.calibrate_options)
            except (ValueError, ArithmeticError):  # e.g. a constant reference: no bracket
                params = {}  # the sensor keeps the detector's own parameters, and it is said
                self.stats["calibration_failed"] += 1
            else:
                self.stats["calibrated"] += 1
            self._table.stream_of[s] = self._fleet.n_streams
            self._fleet.add_streams(1, **params)
        return np.flatnonzero(~taken & (self._table.stream_of[sidx] >= 0))

    # -- state (see adaptive.monitor.state) -------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """What must match for a saved state to be resumed."""
        return self._resumable.config()

    def state_dict(self) -> dict[str, Any]:
        """The whole monitor state as plain Python values (JSON-serialisable)."""
        return self._resumable.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; ValueError if it comes from another configuration."""
        self._resumable.load_state_dict(state)

    def checkpoint(self) -> None:
        """Make alerts and dead letters durable, then write the state atomically."""
        self._resumable.checkpoint()

    def restore(self, source: CSVSource | MQTTSource | None = None, *, reset: bool = False) -> bool:
        """Lock ``state_path`` (one writer), load it if it exists and cut the output files back
        to the checkpoint; with ``source``, also check that the state was saved on it.

        Returns True when a state was loaded. ValueError (the file untouched) if the state is
        locked by another process, corrupt, inconsistent, from another configuration or from
        another source. ``reset``: take the state file over without loading it (the monitor
        starts from scratch and its first checkpoint replaces the file).
        """
        loaded = self._resumable.restore(reset)
        if source is not None:
            self._resumable.bind(getattr(source, "identity", None))
        return loaded

    def request_stop(self) -> None:
        """Stop :meth:`run` at the next batch boundary (what SIGTERM/SIGINT do)."""
        self._stop = True

    def run(self, source: CSVSource | MQTTSource, *, handle_signals: bool = True) -> dict[str, Any]:
        """Process ``source`` to its end (or a stop request) with checkpoints; return a summary.

        On a restart (the state file exists) the source resumes at the saved position.
        """
        return runner.run(self, source, handle_signals=handle_signals)

    def summary(self) -> dict[str, Any]:
        """Counts: records, readings, alerts by kind, dead letters by reason, sensors."""
        return {
            "records": int(self.stats["records"]),
            "readings": int(self.stats["readings"]),
            "sensors": len(self._table.names),
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
        """Close the alert sinks and the dead letters, and release the state's lock."""
        try:
            for sink in self.alert_sinks:
                sink.close()
            self.dead_letters.close()
        finally:
            self._resumable.close()
