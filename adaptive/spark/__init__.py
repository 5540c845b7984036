"""The sensor monitor on Apache Spark Structured Streaming (the optional extra ``.[spark]``).

``monitor(readings, detector=...)`` turns a streaming DataFrame of readings (Kafka, files, ...)
into a streaming DataFrame of alerts with the CLI's JSONL alert schema; per-sensor detector state
lives in Spark's state store. ``python -m adaptive spark`` is the ready-made job over CSV files
landing in a directory. Importing :mod:`adaptive` never imports pyspark; this package does.
"""

from __future__ import annotations

from adaptive.spark.monitor import ALERT_COLUMNS, ALERT_DDL, monitor
from adaptive.spark.readings import csv_readings, dead_letters, valid_readings
from adaptive.spark.sink import committed_files, read_records

__all__ = [
    "ALERT_COLUMNS",
    "ALERT_DDL",
    "committed_files",
    "csv_readings",
    "dead_letters",
    "monitor",
    "read_records",
    "valid_readings",
]
