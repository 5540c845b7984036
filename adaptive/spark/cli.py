"""``python -m adaptive spark ...``: the sensor monitor as a Spark Structured Streaming job.

Two queries over the CSV files landing in ``--source``: the monitor's alerts (JSON, Spark's
exactly-once file sink, ``--alerts``) and, with ``--dead-letters``, the malformed records
(same sink). Each has its checkpoint under ``--checkpoint``; a restart with the same checkpoint
continues exactly where the last committed micro-batch ended, even after ``kill -9``.

Exit codes: 0 when the queries ended (``--once``: every file present at start is processed) or
SIGTERM/SIGINT stopped them; 2 for a configuration error (bad detector or parameter, a
checkpoint written under another configuration), with one message on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

_EPILOG = """\
Readings: CSV files, wide (timestamp column + one column per sensor) or long
(timestamp,sensor,value); write each file elsewhere and rename it into --source. Alerts and dead
letters are directories of JSON part files; read them through the sink's log
(spark.read.json(DIR), or adaptive.spark.read_records(DIR)): a crash may leave uncommitted part
files that the log does not list.
"""
CONFIG_FILE = "adaptive-spark.json"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m adaptive spark", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Drift monitoring of many sensors on Spark Structured Streaming: state in "
                    "Spark's state store, alerts through the exactly-once file sink.")
    p.add_argument("--source", required=True, help="directory where CSV files land")
    p.add_argument("--checkpoint", required=True, help="checkpoint directory (resumed)")
    p.add_argument("--alerts", required=True, help="alerts output directory (JSON part files)")
    p.add_argument("--dead-letters", default=None, help="dead-letter output directory")
    p.add_argument("--format", choices=("auto", "wide", "long"), default="auto",
                   help="CSV layout (default: auto-detected from each file's header)")
    p.add_argument("--detector", required=True, help="detector class, e.g. PageHinkley")
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="detector parameter (repeatable), e.g. --param threshold=80")
    p.add_argument("--calibrate-first", type=int, default=None, metavar="N",
                   help="calibrate each sensor on its first N readings to --arl0")
    p.add_argument("--arl0", type=float, default=None,
                   help="target mean run length to a false alarm, in readings")
    p.add_argument("--calibrate-streams", type=int, default=None, metavar="N",
                   help="calibration budget: simulated streams per candidate threshold")
    p.add_argument("--calibrate-steps", type=int, default=None, metavar="N",
                   help="calibration budget: steps per simulated stream")
    p.add_argument("--buckets", type=int, default=64,
                   help="sensors are keyed by crc32(name) %% BUCKETS (default 64; fixed for "
                        "the life of a checkpoint)")
    p.add_argument("--master", default=None,
                   help="Spark master (default: local[2], or what spark-submit set)")
    p.add_argument("--shuffle-partitions", type=int, default=None, metavar="N",
                   help="spark.sql.shuffle.partitions of a new checkpoint (default: 2 per core "
                        "of a local master)")
    p.add_argument("--max-files-per-trigger", type=int, default=None, metavar="N",
                   help="at most N new files per micro-batch")
    p.add_argument("--trigger-seconds", type=float, default=0.0,
                   help="micro-batch interval (default 0: as soon as the last one ended)")
    p.add_argument("--once", action="store_true",
                   help="process the files present at start, then exit (trigger availableNow)")
    return p


def _config(args: argparse.Namespace, detector: Any) -> dict[str, Any]:
    return {"detector": type(detector).__name__, "params": detector._get_params(),
            "calibrate_first": args.calibrate_first, "arl0": args.arl0,
            "calibrate_streams": args.calibrate_streams,
            "calibrate_steps": args.calibrate_steps, "buckets": args.buckets,
            "format": args.format, "dead_letters": args.dead_letters is not None}


def check_checkpoint(path: str, config: dict[str, Any]) -> None:
    """Record ``config`` in a new checkpoint; ValueError if an existing one has another."""
    os.makedirs(path, exist_ok=True)
    file = os.path.join(path, CONFIG_FILE)
    config = json.loads(json.dumps(config))
    if os.path.exists(file):
        with open(file, encoding="utf-8") as f:
            saved = json.load(f)
        if saved != config:
            raise ValueError(f"checkpoint {path!r} was written with configuration {saved}, not "
                             f"{config}; use a new checkpoint directory")
        return
    tmp = file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(config, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, file)


def session(master: str | None = None, shuffle_partitions: int | None = None,
            conf: dict[str, str] | None = None) -> Any:
    """A SparkSession whose local Python workers run this interpreter (``conf``: more Spark
    settings)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("adaptive-spark")
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        master = "local[2]"  # not under spark-submit, which sets the master itself
    if master is not None:
        builder = builder.master(master)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    if shuffle_partitions is None and sc.master.startswith("local"):  # type: ignore[union-attr]
        shuffle_partitions = 2 * sc.defaultParallelism
    if shuffle_partitions is not None:
        spark.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    return spark


def start(spark: Any, args: argparse.Namespace, detector: Any) -> list[Any]:
    """Start the alert query (and the dead-letter query); returns the running queries."""
    from adaptive.spark.monitor import monitor
    from adaptive.spark.readings import csv_readings, dead_letters

    readings, parse_dead = csv_readings(spark, args.source, format=args.format,
                                        max_files_per_trigger=args.max_files_per_trigger)
    options = {k: v for k, v in (("n_streams", args.calibrate_streams),
                                 ("max_steps", args.calibrate_steps)) if v is not None}
    alerts = monitor(readings, detector=detector, calibrate_first=args.calibrate_first,
                     arl0=args.arl0, calibrate_options=options or None, buckets=args.buckets)
    outputs = [("alerts", alerts, args.alerts)]
    if args.dead_letters is not None:
        outputs.append(("dead_letters", parse_dead.unionByName(dead_letters(readings)),
                        args.dead_letters))
    queries = []
    for name, df, path in outputs:
        w = (df.writeStream.format("json").outputMode("append").queryName(f"adaptive-{name}")
             .option("checkpointLocation", os.path.join(args.checkpoint, name)))
        if name == "alerts":
            w = w.option("ignoreNullFields", False)  # "statistic": null, as the CLI writes
        w = (w.trigger(availableNow=True) if args.once
             else w.trigger(processingTime=f"{args.trigger_seconds} seconds"))
        queries.append(w.start(path))
    return queries


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m adaptive spark``; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["spark"]:
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    from adaptive.monitor.cli import make_detector

    try:
        detector = make_detector(args.detector, args.param)
        if args.buckets < 1:
            raise ValueError(f"--buckets {args.buckets} must be >= 1")
        check_checkpoint(args.checkpoint, _config(args, detector))
        spark = session(args.master, args.shuffle_partitions)
        queries = start(spark, args, detector)
    except (ValueError, TypeError) as err:
        print(f"python -m adaptive spark: error: {err}", file=sys.stderr)
        return 2

    def stop(signum, frame):
        for q in queries:
            q.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    for q in queries:
        q.awaitTermination()
    spark.stop()
    return 0
