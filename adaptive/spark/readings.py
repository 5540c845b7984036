"""Readings for the Spark monitor: CSV files landing in a directory, or any streaming DataFrame.

A readings DataFrame has the columns ``timestamp`` (a timestamp, a number or a string),
``sensor`` (string), ``value`` (a number or a string) and ``offset`` (long: the record's
position in its source), plus optional arrival columns ``file`` or ``partition`` (Kafka's). Spark
keeps no order across a shuffle, so the arrival key is explicit: within a micro-batch each
sensor's readings reach its detector ordered by (timestamp, file or partition, offset).

:func:`csv_readings` reads whole CSV files (``binaryFile``) and parses each with the monitor's
own compiled parsers (:class:`CSVSource`), so a file's readings and dead letters (reasons, raw
text, row offsets) are exactly those of ``python -m adaptive monitor`` on that file.
:func:`dead_letters` and :func:`valid_readings` split any readings DataFrame by the same
per-row rule (deterministic, so two queries on one source agree): a reading without a sensor, a
value that is missing, non-numeric or non-finite, or a timestamp that is neither a number nor a
date-time is a dead letter, with ``reason``, ``raw`` (the reading as ``timestamp,sensor,value``),
``offset``, ``sensor`` and ``file`` (when known).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive.monitor.sources.csv_source import CSVSource

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# what the CSV parser yields: a reading (reason null) or a dead letter (reason set)
PARSED_DDL = ("file string, offset long, timestamp string, sensor string, value double, "
              "reason string, raw string")
PARSED_DDL_COLUMNS = [f.split()[0] for f in PARSED_DDL.split(", ")]
DEAD_COLUMNS = ["reason", "raw", "offset", "sensor", "file"]
_REQUIRED = ("timestamp", "sensor", "value", "offset")
_NUMERIC = ("double", "float", "int", "bigint", "smallint", "tinyint")


def _parse_file(path: str, data: bytes, fmt: str) -> Any:
    """One CSV file -> a pandas frame in PARSED_DDL (readings, then dead letters)."""
    import pandas as pd

    try:
        src = CSVSource(path, format=fmt, stream=io.BytesIO(data))
    except ValueError as err:  # no header, or a header that fits no format: the file is dead
        return pd.DataFrame({"file": [path], "offset": [-1], "timestamp": [None],
                             "sensor": [None], "value": [np.nan], "reason": ["bad_header"],
                             "raw": [str(err)]})
    parts = []
    for b in src.batches():
        if b.kind == "wide":
            vals = np.asarray(b.values)  # (T, C); NaN where a cell is a dead letter
            rows, cols = np.nonzero(np.isfinite(vals))  # row-major: arrival order
            sensors = np.asarray(b.sensors, dtype=object)[cols]
            ts = np.asarray(b.timestamps, dtype=object)[rows]
            offs, v = np.asarray(b.offsets)[rows], vals[rows, cols]
        else:
            codes = b.codes if b.kind == "coded" else None
            sensors = (np.asarray(b.sensors, dtype=object)[codes] if codes is not None
                       else np.asarray(b.sensors, dtype=object))
            ts = np.asarray([b.timestamps[k] for k in range(len(b.offsets))], dtype=object)
            offs, v = np.asarray(b.offsets), np.asarray(b.values)
        parts.append(pd.DataFrame({"file": path, "offset": offs.astype(np.int64),
                                   "timestamp": ts, "sensor": sensors, "value": v,
                                   "reason": None, "raw": None}))
        if b.dead:
            d = pd.DataFrame(b.dead)
            parts.append(pd.DataFrame({
                "file": path, "offset": d["offset"].astype(np.int64), "timestamp": None,
                "sensor": d["sensor"] if "sensor" in d else None, "value": np.nan,
                "reason": d["reason"], "raw": d["raw"]}))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: [] for c in PARSED_DDL_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def _parse_files(fmt: str):
    def parse(frames: Iterator[Any]) -> Iterator[Any]:
        for pdf in frames:
            for path, data in zip(pdf["path"], pdf["content"]):
                out = _parse_file(path, bytes(data), fmt)
                if len(out):
                    yield out[PARSED_DDL_COLUMNS]
    return parse


def csv_files(spark: Any, directory: str, *, format: str = "auto",
              max_files_per_trigger: int | None = None) -> Any:
    """A streaming DataFrame (PARSED_DDL) of the CSV files landing in ``directory``: each row a
    reading (``reason`` null) or a dead letter of the parser.

    Files are read whole; write each file elsewhere and rename it into the directory, so that
    Spark never sees half a file.
    """
    if format not in ("auto", "wide", "long"):
        raise ValueError(f"format={format!r} must be 'auto', 'wide' or 'long'")
    reader = (spark.readStream.format("binaryFile")
              .schema("path string, modificationTime timestamp, length long, content binary")
              .option("pathGlobFilter", "*.csv"))
    if max_files_per_trigger is not None:
        reader = reader.option("maxFilesPerTrigger", int(max_files_per_trigger))
    return reader.load(directory).mapInPandas(_parse_files(format), PARSED_DDL)


def csv_readings(
    spark: SparkSession, directory: str, **options: Any
) -> tuple[DataFrame, DataFrame]:
    """(readings, parser dead letters) of the CSV files landing in ``directory``.

    Each is a streaming DataFrame over the same files; start one query on each (they read the
    source independently and agree row by row).
    """
    from pyspark.sql import functions as F

    parsed = csv_files(spark, directory, **options)
    readings = parsed.where(F.col("reason").isNull()).select(
        "timestamp", "sensor", "value", "offset", "file")
    dead = parsed.where(F.col("reason").isNotNull()).select(*DEAD_COLUMNS)
    return readings, dead


def _check_readings(readings: Any) -> dict[str, str]:
    types = dict(readings.dtypes)
    missing = [c for c in _REQUIRED if c not in types]
    if missing:
        raise ValueError(f"readings lack the columns {missing}; need {list(_REQUIRED)} (offset: "
                         "the record's position in its source, e.g. Kafka's offset)")
    if types["sensor"] != "string":
        raise ValueError(f"readings column sensor has type {types['sensor']}; need string")
    if types["offset"] not in ("bigint", "int"):
        raise ValueError(f"readings column offset has type {types['offset']}; need long or int")
    return types


def arrival_columns(readings: Any) -> list[str]:
    """The arrival key: ``file`` or ``partition`` when present, then ``offset``."""
    cols = readings.columns
    return [c for c in ("file", "partition") if c in cols] + ["offset"]


def _normalised(readings: Any) -> Any:
    """readings + ``_order`` (timestamp as seconds, double), ``_value`` (double), ``_reason``
    (null for a usable reading)."""
    from pyspark.sql import functions as F

    types = _check_readings(readings)
    ts, val = F.col("timestamp"), F.col("value")
    tt = types["timestamp"]
    if tt.startswith("timestamp") or tt == "date":
        order = F.unix_micros(ts.cast("timestamp")) / 1e6
    elif tt in _NUMERIC or tt.startswith("decimal"):
        order = ts.cast("double")
    else:
        text = ts.cast("string")
        order = F.coalesce(text.try_cast("double"),
                           F.unix_micros(F.try_to_timestamp(text)) / 1e6)
    numeric = types["value"] in _NUMERIC or types["value"].startswith("decimal")
    value = val.cast("double") if numeric else F.trim(val.cast("string")).try_cast("double")
    empty_value = val.isNull() if numeric else (val.isNull() | (F.trim(val) == ""))
    finite = ~F.isnan(value) & (F.abs(value) != float("inf"))
    reason = (F.when(F.col("sensor").isNull() | (F.col("sensor") == ""), "missing_sensor")
              .when(empty_value, "missing_value")
              .when(value.isNull(), "non_numeric")
              .when(~finite, "non_finite")
              .when(order.isNull() | F.isnan(order), "bad_timestamp"))
    return (readings.withColumn("_order", order).withColumn("_value", value)
            .withColumn("_reason", reason))


def valid_readings(readings: DataFrame) -> DataFrame:
    """The usable readings with ``_order`` and ``_value`` added (the monitor's input)."""
    from pyspark.sql import functions as F

    return _normalised(readings).where(F.col("_reason").isNull()).drop("_reason")


def dead_letters(readings: DataFrame) -> DataFrame:
    """The readings :func:`valid_readings` leaves out, as dead letters (DEAD_COLUMNS)."""
    from pyspark.sql import functions as F

    n = _normalised(readings)
    raw = F.concat_ws(",", F.coalesce(F.col("timestamp").cast("string"), F.lit("")),
                      F.coalesce(F.col("sensor"), F.lit("")),
                      F.coalesce(F.col("value").cast("string"), F.lit("")))
    file = F.col("file") if "file" in readings.columns else F.lit(None).cast("string")
    return n.where(F.col("_reason").isNotNull()).select(
        F.col("_reason").alias("reason"), raw.alias("raw"), F.col("offset").cast("long"),
        F.when(F.col("sensor") != "", F.col("sensor")).alias("sensor"), file.alias("file"))
