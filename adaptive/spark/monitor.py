"""``adaptive.spark.monitor``: the sensor monitor as a Spark Structured Streaming operator.

Readings are keyed by a stable bucket of sensors, ``crc32(sensor) % buckets`` (the hash of the
monitor's ``--shard``: bucket b holds the sensors of ``--shard b/buckets``), and one
``applyInPandasWithState`` call per bucket and micro-batch gets all its readings as arrays: a
:class:`adaptive.SensorMonitor` restored from the bucket's state runs them through one fleet
kernel call and builds the alerts, and its state goes back to Spark's state store. Detection,
per-sensor reading indices, statistics, alert ids and per-sensor calibration are therefore the
monitor's own code, not a copy.

Ordering: within a micro-batch each sensor's readings are fed in (timestamp, arrival) order,
arrival being (file or Kafka partition, offset). A reading older than readings its sensor
already processed in an earlier micro-batch is processed when it arrives (as the single-process
monitor processes everything in arrival order): it is never dropped. No watermark is set on the
stateful operator on purpose: Spark drops rows behind a watermark silently (they only show in
``numRowsDroppedByWatermark``), which would lose readings.

Why ``applyInPandasWithState`` and not Spark 4's ``transformWithStateInPandas``: the state is
one value per bucket (the monitor's state), replaced whole each micro-batch, which is what the
older API does without more machinery; it runs on the default state store (the newer operator
requires the RocksDB provider), on Spark 3.4 as well as 4.x; and the newer API's extra
features (several state variables, timers, TTL) have no use here: a sensor's state never
expires, since a silent sensor must not lose its calibration.

Exactly-once: the operator is deterministic given its state and input, so Spark's replay of an
interrupted micro-batch (same offsets from its log, same state version) reproduces the same
alerts, and the file sink commits each batch once.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive.drift.base import Detector
from adaptive.monitor import SensorMonitor
from adaptive.spark.readings import arrival_columns, valid_readings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ALERT_COLUMNS = ["id", "sensor", "timestamp", "offset", "index", "value", "kind", "detector",
                 "statistic"]
ALERT_DDL = ("id string, sensor string, timestamp string, offset long, index long, "
             "value double, kind string, detector string, statistic double")
# one row per bucket: the format version, the bucket count and the monitor's configuration
# (checked on every restore), and the SensorMonitor.state_dict() as JSON
STATE_DDL = "version int, buckets int, config string, monitor binary"
_STATE_VERSION = 1


class _BucketStep:
    """The function ``applyInPandasWithState`` calls per bucket (pickled to the workers)."""

    def __init__(self, detector: Detector, monitor_options: dict[str, Any], buckets: int,
                 arrival: list[str]):
        self.detector = detector
        self.options = monitor_options
        self.buckets = buckets
        self.arrival = arrival
        self.config = json.dumps({**_monitor(detector, monitor_options).config(),
                                  "buckets": buckets}, sort_keys=True)

    def restore(self, key: Any, state: Any) -> SensorMonitor:
        mon = _monitor(self.detector, self.options)
        if not state.exists:
            return mon
        version, buckets, config, blob = state.get
        if version != _STATE_VERSION or config != self.config:
            raise ValueError(
                f"adaptive.spark: the checkpoint's state of bucket {key[0]} was written by "
                f"another monitor configuration (state version {version}, {config}); this "
                f"query has {self.config}. Use a new checkpoint directory for a new "
                "configuration.")
        mon.load_state_dict(json.loads(bytes(blob)))
        return mon

    def __call__(self, key: tuple, frames: Iterator[Any], state: Any) -> Iterator[Any]:
        import pandas as pd

        mon = self.restore(key, state)
        pdf = pd.concat(list(frames), ignore_index=True)
        pdf = pdf.sort_values(["_order", *self.arrival], kind="stable")
        alerts = mon.update_many(pdf["sensor"].tolist(), pdf["_value"].to_numpy(np.float64),
                                 timestamps=pdf["timestamp"].tolist(),
                                 offsets=pdf["offset"].to_numpy(np.int64))
        blob = json.dumps(mon.state_dict()).encode("utf-8")
        state.update((_STATE_VERSION, self.buckets, self.config, blob))
        if alerts:
            yield pd.DataFrame(alerts, columns=ALERT_COLUMNS)


def _monitor(detector: Detector, options: dict[str, Any]) -> SensorMonitor:
    return SensorMonitor(detector, **options)


def driver_python(spark: Any) -> None:
    """Local masters run their Python workers with this interpreter (the one that has
    robust-adaptive installed), unless ``PYSPARK_PYTHON`` names another; on a cluster the
    workers' interpreter is the cluster's setting."""
    sc = spark.sparkContext
    if sc.master.startswith("local") and "PYSPARK_PYTHON" not in os.environ:
        sc.pythonExec = sys.executable


def monitor(readings: DataFrame, *, detector: Detector, calibrate_first: int | None = None,
            arl0: float | None = None, calibrate_options: dict[str, Any] | None = None,
            buckets: int = 64) -> DataFrame:
    """A streaming DataFrame of alerts (the CLI's JSONL alert schema) from ``readings``.

    Parameters
    ----------
    readings
        A (streaming) DataFrame with ``timestamp``, ``sensor``, ``value``, ``offset`` and
        optionally ``file`` or ``partition`` (see :mod:`adaptive.spark.readings`); malformed
        rows are left out here and returned by :func:`adaptive.spark.dead_letters`.
    detector
        A configured detector; each sensor gets its own stream, as in
        :class:`adaptive.SensorMonitor`.
    calibrate_first, arl0, calibrate_options
        Per-sensor calibration, with :class:`adaptive.SensorMonitor`'s semantics.
    buckets
        Sensors are keyed by ``crc32(sensor) % buckets``; fixed for the life of a checkpoint
        (a restart with another count is refused).

    Examples
    --------
    >>> from adaptive import PageHinkley
    >>> alerts = monitor(readings, detector=PageHinkley(threshold=50.0))  # doctest: +SKIP
    >>> alerts.writeStream.format("json").option("checkpointLocation", "ckpt").start("alerts")
    ... # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    if isinstance(buckets, bool) or not isinstance(buckets, (int, np.integer)) or buckets < 1:
        raise ValueError(f"buckets={buckets!r} must be an integer >= 1")
    options = {"calibrate_first": calibrate_first, "arl0": arl0,
               "calibrate_options": calibrate_options}
    _monitor(detector, options)  # the monitor's own argument checks, here on the driver
    driver_python(readings.sparkSession)
    arrival = arrival_columns(readings)
    keyed = valid_readings(readings).select(
        F.col("timestamp").cast("string").alias("timestamp"), "sensor", "_value", "_order",
        *arrival, (F.crc32(F.col("sensor").cast("binary")) % int(buckets)).alias("_bucket"))
    step = _BucketStep(detector, options, int(buckets), arrival)

    def bucket_step(key, frames, state):  # pandas_udf wants a plain function
        return step(key, frames, state)

    return keyed.groupBy("_bucket").applyInPandasWithState(
        bucket_step, ALERT_DDL, STATE_DDL, "append", "NoTimeout")
