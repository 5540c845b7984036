"""Readers of sensor readings for :class:`adaptive.SensorMonitor`: CSV files, stdin, MQTT.

Every source yields :class:`Batch` objects: a block of readings already parsed to float64, the
records that could not be parsed (dead letters, with the reason and the raw text) and the
position to resume from once the batch is processed. Nothing is lost: a record is either a
reading, a dead letter, or (MQTT) a counted duplicate of a reading already processed.

This module is the entry point (:func:`open_source`, :func:`shard_of`); the sources and parsers
live one per module: ``batch`` (:class:`Batch`), ``csv_scan`` (the compiled number scanner),
``csv_wide`` and ``csv_long`` (compiled block parsers and their plain references),
``csv_source`` (:class:`CSVSource`, files and stdin) and ``mqtt`` (:class:`MQTTSource`,
:func:`parse_mqtt_url`).

Formats
-------
wide CSV
    A header ``timestamp,<sensor>,<sensor>,...`` and one row per time step; an empty or
    non-numeric cell is a dead letter of that one reading.
long CSV
    A header with the three columns ``timestamp``, ``sensor`` and ``value`` (any order), one
    reading per row.
MQTT
    ``mqtt://host:port/<filter>``: with a filter ending in ``/#`` (``plant/#``) the sensor is the
    topic suffix and the payload a number; a payload starting with ``{`` is a JSON object with
    ``sensor`` (optional when the topic names it), ``value``, ``timestamp`` and an optional
    ``seq``; a payload starting with ``[`` is a JSON array of such objects (a batch).

Parsing is chunked and compiled; see :mod:`adaptive.monitor.sources.csv_scan`.

Sharding and MQTT shared subscriptions
--------------------------------------
``shard_of(sensor, n)`` (``zlib.crc32`` of the UTF-8 name, mod n) is stable across processes
and machines, unlike Python's salted ``hash``. N monitors started with ``--shard i/N`` on the
same CSV each keep their own sensors. On MQTT, a shared subscription (``$share/group/plant/#``)
makes the broker balance *messages* across the group, not sensors: the readings of one sensor
would be split between monitors and every detector would see a thinned, interleaved stream.
Do not use shared subscriptions for detection. Instead either (a) give each shard its own
topic filter (publishers write to ``plant/<shard>/<sensor>`` with shard = crc32(sensor) mod N,
monitor i subscribes to ``plant/i/#``), or (b) let every monitor subscribe to the whole filter
with ``--shard i/N``: each drops the other shards' readings (counted, not dead letters); this
costs N times the broker fan-out but needs no change on the publishers. Shared subscriptions
are fine for the *alert* consumers downstream.
"""

from __future__ import annotations

import zlib
from typing import Any

from adaptive.monitor.sources.batch import Batch
from adaptive.monitor.sources.csv_long import parse_long, parse_long_bytes
from adaptive.monitor.sources.csv_source import CSVSource
from adaptive.monitor.sources.csv_wide import parse_wide, parse_wide_bytes
from adaptive.monitor.sources.mqtt import MQTTSource
from adaptive.monitor.sources.mqtt_wire import parse_mqtt_url

__all__ = [
    "Batch",
    "CSVSource",
    "MQTTSource",
    "open_source",
    "parse_long",
    "parse_long_bytes",
    "parse_mqtt_url",
    "parse_wide",
    "parse_wide_bytes",
    "shard_of",
]


def shard_of(sensor: str, n_shards: int) -> int:
    """Stable shard of a sensor name: ``zlib.crc32(name.encode()) % n_shards``.

    Examples
    --------
    >>> shard_of("press-07", 4), shard_of("press-07", 4)
    (0, 0)
    """
    return zlib.crc32(sensor.encode("utf-8")) % n_shards


def open_source(spec: str, *, format: str = "auto", max_rows: int | None = None,
                client_id: str = "adaptive-monitor", idle_exit: float | None = None) -> Any:
    """A source from a CLI spec: a CSV path, ``-`` (stdin) or an ``mqtt://`` URL."""
    if spec.startswith("mqtt://"):
        return MQTTSource(spec, client_id=client_id, max_batch=max_rows or 65536,
                          idle_exit=idle_exit)
    if "://" in spec:
        raise ValueError(f"--source {spec!r}: only file paths, '-' and mqtt:// URLs are supported")
    return CSVSource(spec, format=format, max_rows=max_rows)
