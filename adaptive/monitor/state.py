"""The state file of :class:`adaptive.SensorMonitor` and its exactly-once protocol.

The monitor's state (detector rows, sensor table, calibration buffers, counts, source
position) is plain JSON; the fleet's arrays go in as base64 of their little-endian bytes, which
is exact and fast for big states.

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
import tempfile
from collections import Counter
from typing import Any

import numpy as np

from adaptive.drift import Fleet

_MONITOR_VERSION = 1


class MonitorState:
    """The resumable state of one :class:`~adaptive.SensorMonitor`: what it saves, checks and
    restores (it reads and writes the monitor's table, fleet, counts and position)."""

    def __init__(self, monitor: Any):
        self.monitor = monitor
        self.file = None if monitor.state_path is None else StateFile(monitor.state_path)

    def config(self) -> dict[str, Any]:
        """What must match for a saved state to be resumed."""
        m = self.monitor
        return {
            "detector": type(m.detector).__name__,
            "params": m.detector._state_params(),
            "sensors": m.sensors,
            "calibrate_first": m.calibrate_first,
            "arl0": m.arl0,
            "shard": list(m.shard) if m.shard else None,
            "calibrate_options": m.calibrate_options,
        }

    def state_dict(self) -> dict[str, Any]:
        m = self.monitor
        return {
            "version": _MONITOR_VERSION,
            "config": self.config(),
            **m._table.state_dict(),
            "fleet": pack_fleet(m._fleet),
            "stats": dict(m.stats),
            "dead_by_reason": dict(m.dead_letters.by_reason),
            "position": m.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        m = self.monitor
        if not isinstance(state, dict) or state.get("version") != _MONITOR_VERSION:
            raise ValueError(f"not a sensor-monitor state of version {_MONITOR_VERSION}")
        if state.get("config") != json.loads(json.dumps(self.config())):
            raise ValueError(
                f"state was saved with configuration {state.get('config')}, "
                f"not {self.config()}"
            )
        fleet_state = unpack_fleet(state["fleet"])
        fleet = m._new_fleet(np.asarray(fleet_state["state"]).shape[0])
        fleet.load_state_dict(fleet_state)
        m._fleet = fleet
        m._table.load_state_dict(state)
        m.stats = Counter(state["stats"])
        m.dead_letters.by_reason = Counter(state["dead_by_reason"])
        m.position = dict(state["position"])

    def checkpoint(self) -> None:
        if self.file is None:
            return
        m = self.monitor
        state = self.state_dict()
        state["files"] = {"alerts": [sink.commit() for sink in m.alert_sinks],
                          "dead_letters": m.dead_letters.commit()}
        self.file.write(state)

    def restore(self) -> bool:
        m = self.monitor
        m._restored = False
        if self.file is None or not self.file.exists():
            return False
        state = self.file.read()
        path = self.file.path
        try:
            self.load_state_dict(state)
            files = state["files"]
            if len(files["alerts"]) != len(m.alert_sinks):
                raise ValueError("the state was saved with a different set of alert sinks")
        except (KeyError, TypeError) as err:
            raise ValueError(f"state file {path!r} is incomplete: {err}") from None
        except ValueError as err:
            raise ValueError(f"state file {path!r} does not match: {err}") from None
        for sink, n in zip(m.alert_sinks, files["alerts"]):
            sink.truncate(n)
        m.dead_letters.truncate(files["dead_letters"])
        m._restored = True
        return True


class StateFile:
    """Where a monitor checkpoints: atomic JSON writes, and reads that name what went wrong."""

    def __init__(self, path: str):
        self.path = path

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def read(self) -> dict[str, Any]:
        """The saved state; ValueError (the file untouched) if it is unreadable or corrupt."""
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError) as err:
            raise ValueError(f"state file {self.path!r} is unreadable or corrupt: {err}") \
                from None

    def write(self, state: dict[str, Any]) -> None:
        _atomic_write_json(self.path, state)


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


_ARRAYS = ("stream_params", "state", "n_skipped")


def pack_fleet(fleet: Fleet) -> dict[str, Any]:
    """Fleet.state_dict() with the arrays packed (same header, same keys)."""
    state = fleet.state_dict(as_arrays=True)
    return {**state, **{k: _pack(state[k]) for k in _ARRAYS}}


def unpack_fleet(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, **{k: _unpack(d[k]) for k in _ARRAYS}}



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
