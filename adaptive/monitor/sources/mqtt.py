"""MQTT source of :class:`adaptive.SensorMonitor`: QoS 1 readings from a broker, acknowledged
after the checkpoint that covers them.

``mqtt://host:port/<filter>``: with a filter ending in ``/#`` (``plant/#``) the sensor is the
topic suffix and the payload a number; a payload starting with ``{`` is a JSON object with
``sensor`` (optional when the topic names it), ``value``, ``timestamp`` and an optional ``seq``;
a payload starting with ``[`` is a JSON array of such objects (a batch). See
:mod:`adaptive.monitor.sources` on sharding and why shared subscriptions do not suit detection.

The messages come through :mod:`~adaptive.monitor.sources.mqtt_wire` (the socket read in bulk,
packets cut by a compiled kernel) and are parsed per micro-batch: bare numeric payloads all at
once by the CSV scanner's number kernel, JSON payloads one by one. A number is a number by the
sources' grammar (``1_000`` is a dead letter, as in CSV), and a reading beyond the detector's
``max_abs_input`` is an ``overflow`` dead letter.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from adaptive.monitor.sources import mqtt_wire
from adaptive.monitor.sources.batch import Batch, _cell_fate, _dead, _float_or_none
from adaptive.monitor.sources.csv_scan import _OK, _POW10, _payload_numbers
from adaptive.monitor.sources.mqtt_wire import parse_mqtt_url


def _number(v: Any) -> float | None:
    """A record's ``value`` as a float, or None; bool is not a number here, and a string must
    be a number by the sources' grammar."""
    if type(v) is float:  # the common case first
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    return _float_or_none(v) if isinstance(v, str) else float(v)


def _invalid(rec: dict, sensor: Any, v: float | None, raw: str, off: int,
             max_abs: float) -> dict | None:
    """The dead letter of a record without a sensor name or a usable value (None: good)."""
    if not isinstance(sensor, str) or not sensor:
        return _dead("missing_sensor", raw, off)
    if "value" not in rec:
        return _dead("missing_value", raw, off, sensor)
    if v is None:
        return _dead("non_numeric", raw, off, sensor)
    if not math.isfinite(v):
        return _dead("non_finite", raw, off, sensor)
    if abs(v) > max_abs:
        return _dead("overflow", raw, off, sensor)
    return None


def _add_runs(runs: list[list[int]], ids: np.ndarray) -> None:
    """Append ids (in arrival order) to ``runs``, a list of [first, last] runs of consecutive
    ids (the broker numbers messages 1, 2, 3, ...: a few runs cover many ids).

    Examples
    --------
    >>> runs = [[1, 4]]
    >>> _add_runs(runs, np.array([5, 6, 9, 10, 2]))
    >>> runs
    [[1, 6], [9, 10], [2, 2]]
    """
    if not ids.size:
        return
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    firsts = np.r_[0, breaks]
    lasts = np.r_[breaks - 1, ids.size - 1]
    new = np.column_stack([ids[firsts], ids[lasts]]).tolist()
    if runs and runs[-1][1] + 1 == new[0][0]:
        runs[-1][1] = new.pop(0)[1]
    runs.extend(new)


def _ids(runs: list[list[int]]) -> list[int]:
    return [i for a, b in runs for i in range(a, b + 1)]


def _warm_up() -> None:
    """Call the kernels once on empty input (numba loads or compiles them on first use)."""
    mqtt_wire.scan(b"")
    empty = np.zeros(0, dtype=np.int64)
    _payload_numbers(np.zeros(0, dtype=np.uint8), empty, empty, _POW10, np.zeros(0),
                     np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.uint8))


class MQTTSource:
    """Readings from an MQTT broker, QoS 1, persistent session, acknowledged after checkpoints.

    The client connects with a fixed ``client_id`` and a persistent session (clean session
    off) and acknowledges a message only once the monitor has checkpointed its effect, so after
    a crash the broker redelivers exactly the messages whose effect was lost. Redeliveries of
    work already saved are dropped and counted as duplicates: the messages a checkpoint covered
    but a crash (or a lost connection) kept from being acknowledged are recognised by their
    packet id (the position lists them; the broker resends them first, flagged DUP), and JSON
    records by a ``seq`` (or numeric ``timestamp``) not above the last one checkpointed for
    their sensor.

    The broker must keep unacknowledged messages in flight and queue them while the monitor is
    away: for mosquitto set ``max_inflight_messages 0`` and ``max_queued_messages 0`` (or large).

    Parameters
    ----------
    url
        ``mqtt://host:port/<topic filter>``.
    client_id
        The persistent session's client id (one monitor per id).
    max_batch
        At most this many messages per batch.
    idle_exit
        Stop after this many seconds without a message (None: run until stopped).
    connect_timeout
        Seconds to wait for the broker's CONNACK.
    max_delay
        Seconds a message may wait for more to fill its micro-batch (latency vs. per-batch
        work: the monitor's cost per batch is paid once per ``max_delay`` at most rates).
    """

    def __init__(self, url: str, *, client_id: str = "adaptive-monitor", max_batch: int = 65536,
                 idle_exit: float | None = None, connect_timeout: float = 10.0,
                 max_delay: float = 0.02):
        self.host, self.port, self.topic = parse_mqtt_url(url)
        self._prefix = self.topic[:-1] if self.topic.endswith("#") else None
        if self._prefix is not None and self._prefix.startswith("$share/"):
            self._prefix = self._prefix.split("/", 2)[2]
        self.client_id = client_id
        self.max_batch = max_batch
        self.max_delay = max_delay  # seconds a message may wait for its micro-batch
        self.idle_exit = idle_exit
        self.max_abs = math.inf  # readings beyond: overflow dead letters (the monitor sets it)
        self._count = 0
        self._last_seen: dict[str, float] = {}
        self._pending: list[list[int]] = []  # runs of ids handed out, not acknowledged yet
        self._skip: set[int] = set()  # ids a checkpoint covered that the broker may resend
        self._names: dict[bytes, str] = {}  # topic -> sensor name (the topic suffix)
        self._stop = threading.Event()
        _warm_up()  # load the compiled kernels now, not when the first message waits
        self._conn = mqtt_wire.Connection(self.host, self.port, client_id, self.topic,
                                          connect_timeout=connect_timeout)

    @property
    def identity(self) -> dict[str, Any]:
        """What a state saved on this source is bound to (see :mod:`adaptive.monitor.state`)."""
        return {"kind": "mqtt", "host": self.host, "port": self.port, "topic": self.topic,
                "client_id": self.client_id}

    @property
    def position(self) -> dict[str, Any]:
        return {"byte": 0, "row": self._count, "last_seen": dict(self._last_seen),
                "unacked": [list(r) for r in self._pending]
                + [[i, i] for i in sorted(self._skip)]}

    def seek(self, position: dict) -> None:
        """Restore the message count, the per-sensor last-seen keys and the checkpointed but
        unacknowledged message ids of a checkpoint."""
        self._count = int(position.get("row", 0))
        self._last_seen = {k: float(v) for k, v in position.get("last_seen", {}).items()}
        self._skip = {i for a, b in position.get("unacked", []) for i in range(a, b + 1)}

    def stop(self) -> None:
        self._stop.set()

    def ack(self, mids: list) -> None:
        """Acknowledge the messages ``mids`` (after the checkpoint that covers them)."""
        done = set(mids)
        self._conn.send(mqtt_wire.puback_packets(np.array(sorted(done), dtype=np.int64)))
        left = np.array([i for i in _ids(self._pending) if i not in done], dtype=np.int64)
        self._pending = []
        _add_runs(self._pending, left)

    def close(self) -> None:
        self._conn.close()

    def batches(self) -> Iterator[Batch]:
        """Micro-batches of what the socket holds, until ``stop()`` or ``idle_exit`` seconds
        without a message (the time the monitor spends on a batch does not count)."""
        buf = b""
        idle_since = time.monotonic()
        reconnects = self._conn.reconnects
        while not self._stop.is_set():
            data = self._conn.read(0.1)
            if self._conn.reconnects != reconnects:  # the broker resends what is not acked
                reconnects, buf = self._conn.reconnects, b""
                self._skip.update(_ids(self._pending))
            if not data:
                if self.idle_exit is not None and time.monotonic() - idle_since > self.idle_exit:
                    return
                continue
            buf += data + self._more(buf)
            pkts, used = mqtt_wire.scan(buf)
            if not used:
                continue
            chunk, buf = buf[:used], buf[used:]
            self._check_subacks(chunk, pkts)
            pub = pkts[pkts[:, 0] == mqtt_wire.PUBLISH]
            for lo in range(0, pub.shape[0], self.max_batch):
                yield self._parse(chunk, pub[lo:lo + self.max_batch])
            idle_since = time.monotonic()

    def _more(self, buf: bytes) -> bytes:
        """What arrives within ``max_delay`` seconds (up to 4 MiB; the socket's buffer holds
        it meanwhile): one micro-batch per call of the monitor rather than one per read."""
        if len(buf) < 1 << 20:
            time.sleep(self.max_delay)
        parts, size = [], len(buf)
        while size < 1 << 22:
            data = self._conn.read(0)
            if not data:
                break
            parts.append(data)
            size += len(data)
        return b"".join(parts)

    def _check_subacks(self, chunk: bytes, pkts: np.ndarray) -> None:
        for row in pkts[pkts[:, 0] == mqtt_wire.SUBACK].tolist():
            if chunk[row[3] - 1] == 0x80:
                raise ValueError(f"MQTT broker {self.host}:{self.port} refused the "
                                 f"subscription to {self.topic!r}")

    def _topic_name(self, topic: bytes) -> str:
        name = self._names.get(topic)
        if name is None:
            text = topic.decode("utf-8", "replace")
            name = self._names[topic] = text[len(self._prefix):] if self._prefix is not None \
                else text
        return name

    def _parse(self, chunk: bytes, pub: np.ndarray) -> Batch:
        """PUBLISH packets (M, 6) of ``chunk`` -> one batch, in arrival order."""
        buf = np.frombuffer(chunk, dtype=np.uint8)
        n = buf.shape[0]
        qos = (pub[:, 1] >> 1) & 3  # (M,)
        dup = (pub[:, 1] & 8) != 0
        t1 = pub[:, 5]
        mids = np.where(qos > 0, buf[np.minimum(t1, n - 1)].astype(np.int64) * 256
                        + buf[np.minimum(t1 + 1, n - 1)], 0)
        starts, ends = t1 + 2 * (qos > 0), pub[:, 3]
        _add_runs(self._pending, mids[qos > 0])
        drop = dup & (qos > 0) & np.isin(mids, list(self._skip))
        fresh = np.flatnonzero(~dup)
        if fresh.size:  # the broker resends first: nothing after a new message is a resend
            drop[fresh[0]:] = False
        self._skip.difference_update(mids[drop].tolist())
        if fresh.size:
            self._skip.clear()
        vals = np.empty(pub.shape[0])
        status = np.empty(pub.shape[0], dtype=np.int8)
        first = np.empty(pub.shape[0], dtype=np.uint8)
        _payload_numbers(buf, starts, ends, _POW10, vals, status, first)
        keep = np.flatnonzero(~drop)
        topics = [self._topic_name(chunk[a:b]) for a, b in pub[keep][:, 4:6].tolist()]
        is_json = (first[keep] == 123) | (first[keep] == 91)
        args = (chunk, keep, starts, ends, vals, status, topics)
        batch = self._json_batch(*args, is_json) if is_json.any() else self._bare_batch(*args)
        return batch._replace(acks=mids[qos > 0].tolist(),
                              duplicates=batch.duplicates + int(drop.sum()))

    def _bare_batch(self, chunk, keep, starts, ends, vals, status, topics) -> Batch:
        """Bare numeric payloads only: one record each, numbers from the kernel."""
        k = keep.size
        v = vals[keep]
        offs = self._count + np.arange(k, dtype=np.int64)
        self._count += k
        named = np.fromiter(map(bool, topics), dtype=bool, count=k)
        ok = (status[keep] == _OK) & (np.abs(v) <= self.max_abs) & named
        dead = []
        for j in np.flatnonzero(~ok).tolist():  # left to the grammar, beyond max_abs, unnamed
            x, reason, raw = self._bare(chunk, keep[j], starts, ends, None, topics[j])
            if reason is None:
                v[j], ok[j] = x, True
            else:
                dead.append(_dead(reason, raw, int(offs[j]), topics[j] or None))
        good = np.flatnonzero(ok)
        codes_of: dict[str, int] = {}
        codes = np.fromiter((codes_of.setdefault(topics[j], len(codes_of))
                             for j in good.tolist()), dtype=np.int64, count=good.size)
        return Batch("coded", list(codes_of), v[good], [None] * good.size, offs[good], dead,
                     self.position, k, codes=codes)

    def _bare(self, chunk, m, starts, ends, x, topic) -> tuple[float | None, str | None, str]:
        """One bare payload -> (value, dead-letter reason or None, its text); ``x``: the
        kernel's value when it read one."""
        raw = chunk[starts[m]:ends[m]].decode("utf-8", "replace")
        reason = None
        if x is None:
            x, reason = _cell_fate(raw, self.max_abs)
        elif abs(x) > self.max_abs:
            reason = "overflow"
        if not topic:
            reason = "missing_sensor"
        return x, reason, raw

    def _json_batch(self, chunk, keep, starts, ends, vals, status, topics, is_json) -> Batch:
        """A batch with JSON payloads: records one by one, in arrival order (as a coded batch:
        the distinct sensor names and a code per reading)."""
        out = _Coded()
        for j, m in enumerate(keep.tolist()):
            if not is_json[j]:
                x, reason, raw = self._bare(chunk, m, starts, ends,
                                            vals[m] if status[m] == _OK else None, topics[j])
                if reason is not None:
                    out.dead.append(_dead(reason, raw, self._count, topics[j] or None))
                else:
                    out.add(topics[j], x, None, self._count)  # type: ignore[arg-type]
                self._count += 1
                continue
            text = chunk[starts[m]:ends[m]].decode("utf-8", "replace")
            try:
                obj = json.loads(text)
            except ValueError as err:
                out.dead.append(_dead("bad_json", text, self._count, topics[j] or None))
                out.dead[-1]["error"] = str(err)
                self._count += 1
                continue
            self._records(obj if type(obj) is list else [obj], text, topics[j], out)
        return Batch("coded", list(out.codes), np.asarray(out.values, dtype=np.float64), out.ts,
                     np.asarray(out.offs, dtype=np.int64), out.dead, self.position, keep.size,
                     duplicates=out.dups, codes=np.asarray(out.code_of, dtype=np.int64))

    def _records(self, recs: list, text: str, topic: str, out: _Coded) -> None:
        """The records of one JSON payload into ``out`` (the common case with few checks)."""
        max_abs, last_seen = self.max_abs, self._last_seen
        for rec in recs:
            off = self._count
            self._count += 1
            if type(rec) is not dict:
                out.dead.append(_dead("bad_json", json.dumps(rec), off, topic or None))
                continue
            sensor = rec.get("sensor", topic)
            v = rec.get("value")
            if type(v) is not float:
                v = _number(v)
            if not (type(sensor) is str and sensor and v is not None and math.isfinite(v)
                    and abs(v) <= max_abs):
                raw = text if len(recs) == 1 else json.dumps(rec)
                out.dead.append(_invalid(rec, sensor, v, raw, off, max_abs))  # type: ignore[arg-type]
                continue
            key = rec.get("seq", rec.get("timestamp"))
            if type(key) is int or type(key) is float:
                if key <= last_seen.get(sensor, -math.inf):
                    self._count -= 1  # a redelivery is not a new record
                    out.dups += 1
                    continue
                last_seen[sensor] = float(key)
            out.add(sensor, v, rec.get("timestamp"), off)


class _Coded:
    """A coded batch being built: distinct names -> codes, and per reading its code, value,
    timestamp and offset."""

    def __init__(self):
        self.codes: dict[str, int] = {}
        self.code_of: list[int] = []
        self.values: list[float] = []
        self.ts: list = []
        self.offs: list[int] = []
        self.dead: list[dict] = []
        self.dups = 0

    def add(self, sensor: str, value: float, timestamp: Any, offset: int) -> None:
        code = self.codes.get(sensor)
        if code is None:
            code = self.codes[sensor] = len(self.codes)
        self.code_of.append(code)
        self.values.append(value)
        self.ts.append(timestamp)
        self.offs.append(offset)
