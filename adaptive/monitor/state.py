"""The state file of :class:`adaptive.SensorMonitor` and its exactly-once protocol.

The monitor's state (detector rows, sensor table, calibration buffers, counts, source
position) is plain JSON; the fleet's arrays go in as base64 of their little-endian bytes, which
is exact and fast for big states.

Exactly-once protocol (``run`` with a ``state_path``)
-----------------------------------------------------
1. One writer: the state is locked (``<state>.lock``, an OS lock held while the monitor runs
   and released by the OS if it dies) and so are the alert and dead-letter files; a second
   monitor on any of them is refused, naming the holder's pid. Temp files that a killed
   monitor left (``.<state name>.<random>.tmp`` beside the state) are removed on start.
2. At start, without a state file, a first checkpoint is written before any reading is
   processed: the source's start position (after the CSV header) and the current lengths of
   the alert and dead-letter files.
3. Every ``checkpoint_every`` readings (at the next batch boundary) and at shutdown (end of
   input, SIGTERM, SIGINT): the alert and dead-letter files are flushed and fsynced, then the
   state is written atomically (temp file, fsync, rename, fsync of the directory). It holds the
   source position (CSV: byte offset, row and a CRC-32 of the bytes before it; stdin: the same,
   checked while the replay is skipped; MQTT: record count, each sensor's last
   ``seq``/timestamp and the checkpointed messages not yet acknowledged), the detector states,
   and the lengths of both files.
4. On restart the files are truncated to the recorded lengths (dropping whatever a killed
   process wrote after its last checkpoint) and the source resumes at the recorded position.
   The detectors are deterministic, so the replay writes exactly the lines that were dropped:
   across ``kill -9`` no alert is lost or repeated. MQTT messages are acknowledged only after
   the checkpoint that covers them, so the broker redelivers what a crash lost; redeliveries of
   checkpointed messages are recognised (their packet id, or their ``seq``/timestamp) and
   dropped. Alerts published to MQTT cannot be recalled: after a crash they are at-least-once,
   with an ``id`` identical in the replay.

A state file is bound to its configuration (detector, parameters, sensor list, shard,
calibration) and to its source (path, format, header, and the bytes before its position), and
is checked field by field (:mod:`adaptive.monitor.state_checks`); anything else is refused with
a ValueError and the file left untouched.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from collections import Counter
from typing import Any

import numpy as np

from adaptive.drift import Fleet
from adaptive.monitor import _faults, _locks
from adaptive.monitor.state_checks import check_state

_MONITOR_VERSION = 2


class MonitorState:
    """The resumable state of one :class:`~adaptive.SensorMonitor`: what it saves, checks and
    restores (it reads and writes the monitor's table, fleet, counts and position)."""

    def __init__(self, monitor: Any):
        self.monitor = monitor
        self.file = None if monitor.state_path is None else StateFile(monitor.state_path)
        self.source: dict[str, Any] | None = None  # the identity of the bound source
        self._saved_source: Any = None  # the identity in the restored state

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
        if "fleet" not in state:
            raise ValueError("the state has no 'fleet'")
        fleet_state = unpack_fleet(state["fleet"])
        check_state(state, fleet_state, m)
        fleet = m._new_fleet(np.asarray(fleet_state["state"]).shape[0])
        fleet.load_state_dict(fleet_state)
        m._fleet = fleet
        m._table.load_state_dict(state)
        m._wide_ids = (None, [], None)  # column lookups of the old table
        m.stats = Counter(state["stats"])
        m.dead_letters.by_reason = Counter(state["dead_by_reason"])
        m.position = dict(state["position"])

    def checkpoint(self) -> None:
        if self.file is None:
            return
        m = self.monitor
        state = self.state_dict()
        state["source"] = self.source
        state["files"] = {"alerts": [sink.commit() for sink in m.alert_sinks],
                          "dead_letters": m.dead_letters.commit()}
        self.file.write(state)

    def restore(self, reset: bool = False) -> bool:
        """Lock the state, remove stale temp files, load and check the state if there is one
        (unless ``reset``: the next checkpoint replaces it) and cut the output files back to
        it."""
        m = self.monitor
        m._restored = False
        if self.file is None:
            return False
        self.file.lock()
        self.file.remove_stale_temps()
        if reset or not self.file.exists():
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
        self._saved_source = state.get("source")
        for sink, n in zip(m.alert_sinks, files["alerts"]):
            sink.truncate(n)
        m.dead_letters.truncate(files["dead_letters"])
        m._restored = True
        return True

    def bind(self, identity: dict[str, Any] | None) -> None:
        """Tie the state to a source; ValueError if a restored state belongs to another."""
        if self.monitor._restored and identity != self._saved_source:
            raise ValueError(
                f"state file {self.file.path!r} was saved reading {_describe(self._saved_source)}"  # type: ignore[union-attr]
                f", not {_describe(identity)}: give its own --state, or --reset-state to start "
                "over")
        self.source = identity

    def close(self) -> None:
        if self.file is not None:
            self.file.unlock()


def _describe(identity: Any) -> str:
    if not isinstance(identity, dict):
        return repr(identity)
    what = identity.get("path") or identity.get("topic") or "?"
    return f"source {what!r} ({', '.join(f'{k}={v}' for k, v in identity.items() if k != 'path')})"


class StateFile:
    """Where a monitor checkpoints: an OS lock held while it runs, atomic JSON writes, reads
    that name what went wrong, and the removal of temp files a killed writer left behind."""

    def __init__(self, path: str):
        self.path = path
        self.dir = os.path.dirname(os.path.abspath(path))
        self.name = os.path.basename(path)
        self._lock = None

    def lock(self) -> None:
        """Lock ``<state>.lock`` for this process (ValueError naming the holder's pid)."""
        if self._lock is not None:
            return
        if not os.path.isdir(self.dir):
            raise ValueError(f"--state {self.path!r}: folder {self.dir!r} does not exist")
        if os.path.isdir(self.path):
            raise ValueError(f"--state {self.path!r} is a directory")
        try:
            f = open(self.path + ".lock", "a+")  # noqa: SIM115 - closed by unlock()
        except OSError as err:
            raise ValueError(f"--state {self.path!r}: cannot create its lock file: "
                             f"{err.strerror}") from None
        try:
            _locks.lock(f, f"state file {self.path!r}")
        except ValueError:
            f.close()
            raise
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._lock = f  # type: ignore[assignment]

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def remove_stale_temps(self) -> list[str]:
        """Remove ``.<state name>.<random>.tmp`` files (ours, from a killed writer: the lock is
        held, so no writer of this state is alive); returns their names."""
        pat = re.compile(r"\." + re.escape(self.name) + r"\.[A-Za-z0-9_]+\.tmp")
        gone = []
        for entry in os.scandir(self.dir):
            if pat.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                gone.append(entry.name)
        return gone

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
        """Temp file beside the state, fsync, rename over it, fsync the directory."""
        data = json.dumps(state).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.name}.", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as f:
                _faults.point("checkpoint.open")
                _faults.write(f, data, "checkpoint")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        _faults.point("checkpoint.renamed")
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _pack(arr: np.ndarray) -> dict[str, Any]:
    """An array as base64 of its little-endian bytes: exact, and fast for big states (ADWIN's
    rows are ~600 floats per sensor; a JSON list of 600k floats takes ~0.5 s to write)."""
    arr = np.ascontiguousarray(arr)
    dt = arr.dtype.newbyteorder("<")
    return {"dtype": dt.str, "shape": list(arr.shape),
            "b64": base64.b64encode(arr.astype(dt, copy=False).tobytes()).decode("ascii")}


def _unpack(d: dict[str, Any]) -> np.ndarray:
    """The inverse of :func:`_pack`; ValueError when ``d`` is not a packed array."""
    if not isinstance(d, dict) or not isinstance(d.get("b64"), str) or not isinstance(
            d.get("shape"), list) or not isinstance(d.get("dtype"), str):
        raise ValueError(f"not a packed array: {str(d)[:80]}")
    try:
        dt = np.dtype(d["dtype"])
        if dt.kind not in "fiub":
            raise TypeError(dt)
        return np.frombuffer(base64.b64decode(d["b64"], validate=True), dtype=dt).reshape(
            d["shape"]).copy()
    except (TypeError, ValueError) as err:
        raise ValueError(f"a packed array is damaged: {err}") from None


_ARRAYS = ("stream_params", "state", "n_skipped")


def pack_fleet(fleet: Fleet) -> dict[str, Any]:
    """Fleet.state_dict() with the arrays packed (same header, same keys)."""
    state = fleet.state_dict(as_arrays=True)
    return {**state, **{k: _pack(state[k]) for k in _ARRAYS}}


def unpack_fleet(d: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ValueError(f"fleet must be a dict, not {type(d).__name__}")
    return {**d, **{k: _unpack(d.get(k)) for k in _ARRAYS}}  # type: ignore[arg-type]
