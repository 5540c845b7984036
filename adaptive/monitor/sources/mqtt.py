"""MQTT source of :class:`adaptive.SensorMonitor`: QoS 1 readings from a broker, acknowledged
after the checkpoint that covers them.

``mqtt://host:port/<filter>``: with a filter ending in ``/#`` (``plant/#``) the sensor is the
topic suffix and the payload a number; a payload starting with ``{`` is a JSON object with
``sensor`` (optional when the topic names it), ``value``, ``timestamp`` and an optional ``seq``;
a payload starting with ``[`` is a JSON array of such objects (a batch). See
:mod:`adaptive.sources` on sharding and why shared subscriptions do not suit detection.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from adaptive.monitor.sources.batch import Batch, _dead, _float_or_none


def parse_mqtt_url(url: str) -> tuple[str, int, str]:
    """``mqtt://host:port/topic`` -> (host, port, topic); ValueError naming what is wrong.

    Examples
    --------
    >>> parse_mqtt_url("mqtt://127.0.0.1:1883/plant/#")
    ('127.0.0.1', 1883, 'plant/#')
    """
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"MQTT URL {url!r} must look like mqtt://host:port/topic")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ValueError(f"MQTT URL {url!r} has an invalid port") from None
    topic = parts.path.lstrip("/")
    if parts.fragment == "" and url.endswith("#"):
        topic += "#"  # urlsplit reads '#' as the start of a fragment
    elif parts.fragment:
        topic += "#" + parts.fragment
    if not topic:
        raise ValueError(f"MQTT URL {url!r} names no topic")
    return parts.hostname, port, topic


def start_client(client: Any, host: str, port: int) -> None:
    """Connect a paho ``client`` (keepalive 30 s) and start its network thread; ValueError when
    the broker cannot be reached."""
    try:
        client.connect(host, port, keepalive=30)
    except OSError as err:
        raise ValueError(f"cannot connect to MQTT broker {host}:{port}: {err}") from None
    client.loop_start()


def _payload_records(text: str) -> list:
    """A payload as records: a JSON object or array, else one bare value (ValueError: bad
    JSON)."""
    if text[:1] in "{[" and text:
        obj = json.loads(text)
        return obj if isinstance(obj, list) else [obj]
    return [{"value": text}]


def _number(v: Any) -> float | None:
    """A record's ``value`` as a float, or None; bool is not a number here."""
    if type(v) is float:  # the common case first
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    return _float_or_none(v) if isinstance(v, str) else float(v)


def _invalid(rec: dict, sensor: Any, v: float | None, raw: str, off: int) -> dict:
    """The dead letter of a record without a sensor name or a finite value."""
    if not isinstance(sensor, str) or not sensor:
        return _dead("missing_sensor", raw, off)
    if "value" not in rec:
        return _dead("missing_value", raw, off, sensor)
    if v is None:
        return _dead("non_numeric", raw, off, sensor)
    return _dead("non_finite", raw, off, sensor)


class MQTTSource:
    """Readings from an MQTT broker, QoS 1, persistent session, acknowledged after checkpoints.

    The client connects with a fixed ``client_id`` and ``clean_session=False`` and acknowledges
    a message (``manual_ack``) only once the monitor has checkpointed its effect, so after a
    crash the broker redelivers exactly the messages whose effect was lost. Messages whose
    ``seq`` (or numeric ``timestamp``) is not above the last one checkpointed for their sensor
    are redeliveries of work already saved: they are dropped and counted as duplicates.

    The broker must keep unacknowledged messages in flight and queue them while the monitor is
    away: for mosquitto set ``max_inflight_messages 0`` and ``max_queued_messages 0`` (or large).
    """

    def __init__(self, url: str, *, client_id: str = "adaptive-monitor", max_batch: int = 65536,
                 idle_exit: float | None = None, connect_timeout: float = 10.0):
        try:
            import paho.mqtt.client as mqtt
        except ImportError:  # pragma: no cover - an optional dependency
            raise ValueError("MQTT sources need paho-mqtt >= 2: pip install paho-mqtt") from None
        self.host, self.port, self.topic = parse_mqtt_url(url)
        self._prefix = self.topic[:-1] if self.topic.endswith("#") else None
        if self._prefix is not None and self._prefix.startswith("$share/"):
            self._prefix = self._prefix.split("/", 2)[2]
        self.max_batch = max_batch
        self.idle_exit = idle_exit
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._count = 0
        self._last_seen: dict[str, float] = {}
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
            manual_ack=True,
        )
        self._client.on_message = lambda c, u, m: self._q.put((m.topic, m.payload, m.mid))
        self._client.on_connect = self._on_connect
        start_client(self._client, self.host, self.port)
        if not self._connected.wait(connect_timeout):
            self._client.loop_stop()
            raise ValueError(f"MQTT broker {self.host}:{self.port} did not accept the connection")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe(self.topic, qos=1)
            self._connected.set()

    def seek(self, position: dict) -> None:
        """Restore the message count and per-sensor last-seen keys of a checkpoint."""
        self._count = int(position.get("row", 0))
        self._last_seen = {k: float(v) for k, v in position.get("last_seen", {}).items()}

    def stop(self) -> None:
        self._stop.set()

    def ack(self, mids: list) -> None:
        for mid in mids:
            self._client.ack(mid, 1)

    def close(self) -> None:
        self._client.disconnect()  # queued after the last PUBACKs, which the loop still sends
        self._client.loop_stop()

    def batches(self) -> Iterator[Batch]:
        idle_since = time.monotonic()
        while not self._stop.is_set():
            msgs = []
            try:
                msgs.append(self._q.get(timeout=0.1))
                while len(msgs) < self.max_batch:
                    msgs.append(self._q.get_nowait())
            except queue.Empty:
                pass
            if not msgs:
                if self.idle_exit is not None and time.monotonic() - idle_since > self.idle_exit:
                    return
                continue
            idle_since = time.monotonic()
            yield self._parse(msgs)

    def _parse(self, msgs: list) -> Batch:
        sensors, vals, ts, offs, dead, acks = [], [], [], [], [], []
        dup = 0
        for topic, payload, mid in msgs:
            acks.append(mid)
            suffix = topic[len(self._prefix):] if self._prefix is not None else topic
            text = payload.decode("utf-8", "replace").strip()
            try:
                recs = _payload_records(text)
            except ValueError as err:
                dead.append(_dead("bad_json", text, self._count, suffix or None))
                dead[-1]["error"] = str(err)
                self._count += 1
                continue
            for rec in recs:
                off = self._count
                self._count += 1
                if not isinstance(rec, dict):
                    dead.append(_dead("bad_json", json.dumps(rec), off, suffix or None))
                    continue
                sensor = rec.get("sensor", suffix)
                v = _number(rec.get("value"))
                if not isinstance(sensor, str) or not sensor or v is None or not math.isfinite(v):
                    raw = text if len(recs) == 1 else json.dumps(rec)
                    dead.append(_invalid(rec, sensor, v, raw, off))
                    continue
                key = rec.get("seq", rec.get("timestamp"))
                if isinstance(key, (int, float)) and not isinstance(key, bool):
                    if key <= self._last_seen.get(sensor, -math.inf):
                        dup += 1
                        self._count -= 1  # a redelivery is not a new record
                        continue
                    self._last_seen[sensor] = float(key)
                sensors.append(sensor)
                vals.append(v)
                ts.append(rec.get("timestamp"))
                offs.append(off)
        pos = {"byte": 0, "row": self._count, "last_seen": dict(self._last_seen)}
        return Batch("events", sensors, np.asarray(vals, dtype=np.float64), ts,
                     np.asarray(offs, dtype=np.int64), dead, pos, len(msgs), acks, dup)
