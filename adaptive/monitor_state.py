"""The resumable state of :class:`adaptive.SensorMonitor` and its exactly-once protocol.

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
import signal
import tempfile
from collections import Counter
from typing import Any

import numpy as np

from adaptive.base import _STATE_VERSION as _FLEET_STATE_VERSION
from adaptive.base import Fleet

_MONITOR_VERSION = 1


class _Stop(Exception):
    """Raised by the signal handler while the monitor is blocked reading its source."""



class _Resumable:
    """State, checkpoints and the resumable loop of :class:`adaptive.SensorMonitor` (a mixin
    over its attributes)."""

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
