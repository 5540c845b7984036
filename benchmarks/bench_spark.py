"""The Spark monitor (``adaptive.spark``) against the single-process monitor on the same files.

Workloads (seeded, offline; long CSV files of one reading per sensor per time step):
- ``throughput``: S=1,000 sensors x 200 steps (200k readings, 10 files, 2 files per micro-batch)
  through the Spark job on ``local[1]`` and ``local[2]``, and through ``SensorMonitor`` fed by
  ``CSVSource`` on the same files. The Spark time is split into our code (the CSV parser and the
  per-bucket monitor step, timed on the same micro-batches outside Spark) and Spark's overhead
  (the rest: scheduling, Arrow transfer, shuffle, state store, file sink).
- ``sensors``: 1k, 10k, 100k sensors, 3 micro-batches of one reading per sensor each: the state
  size per sensor (Spark's ``stateOnCurrentVersionSizeBytes``), the shuffle written per
  micro-batch (the stages' ``shuffleWriteBytes`` from Spark's REST API) and the batch time.

Run: ``.venv/bin/python benchmarks/bench_spark.py`` (writes ``benchmarks/results/spark_bench.json``
and ``.md``). ``BENCH_SPARK_QUICK=1`` shrinks every workload for a smoke run.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from adaptive import PageHinkley, SensorMonitor
from adaptive.monitor.sources.csv_source import CSVSource

RESULTS = Path(__file__).parent / "results"
QUICK = os.environ.get("BENCH_SPARK_QUICK") == "1"
S_THROUGHPUT, T_THROUGHPUT, FILES = (200, 50, 5) if QUICK else (1000, 200, 10)
SENSOR_SIZES = (1000, 5000) if QUICK else (1000, 10_000, 100_000)
DETECTOR = {"threshold": 50.0}
BUCKETS = 64


def write_files(directory: Path, n_sensors: int, n_steps: int, n_files: int, seed: int = 0):
    """Long CSV files, one reading per sensor per step; 1% of the sensors shift half-way."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    names = np.array([f"s{i:06d}" for i in range(n_sensors)])
    per = n_steps // n_files
    for f in range(n_files):
        t = np.arange(f * per, (f + 1) * per)
        v = rng.normal(size=(per, n_sensors))
        v[t >= n_steps // 2, :: 100] += 3.0
        rows = np.char.add(np.char.add(np.repeat(t, n_sensors).astype(str), ","),
                           np.char.add(np.char.add(np.tile(names, per), ","),
                                       np.char.mod("%.6f", v.ravel())))
        tmp = directory / f".p{f:03d}.tmp"
        tmp.write_text("timestamp,sensor,value\n" + "\n".join(rows.tolist()) + "\n")
        tmp.rename(directory / f"p{f:03d}.csv")
    return sorted(directory.glob("p*.csv"))


def single_process(files) -> dict:
    """SensorMonitor fed by CSVSource, file after file (the CLI's path)."""
    mon = SensorMonitor(PageHinkley(**DETECTOR))
    t0 = time.perf_counter()
    n = alerts = 0
    for path in files:
        src = CSVSource(str(path))
        for b in src.batches():
            alerts += len(mon.process(b))
            n += int(np.size(b.values))
        src.close()
    dt = time.perf_counter() - t0
    return {"seconds": dt, "readings": n, "readings_per_s": n / dt, "alerts": alerts}


def our_code_time(files, per_batch: int) -> dict:
    """The parser and the per-bucket monitor step on the job's micro-batches, outside Spark."""
    import pandas as pd

    from adaptive.spark.monitor import _BucketStep
    from adaptive.spark.readings import _parse_file

    class State:
        value = None
        exists = property(lambda self: self.value is not None)
        get = property(lambda self: self.value)

        def update(self, v):
            self.value = tuple(v)

    step = _BucketStep(PageHinkley(**DETECTOR), {}, BUCKETS, ["file", "offset"])
    states = [State() for _ in range(BUCKETS)]
    parse = detect = 0.0
    for lo in range(0, len(files), per_batch):
        t0 = time.perf_counter()
        frames = [_parse_file(str(p), p.read_bytes(), "auto") for p in files[lo:lo + per_batch]]
        pdf = pd.concat(frames, ignore_index=True)
        pdf = pdf[pdf["reason"].isna()]
        pdf = pdf.assign(_value=pdf["value"], _order=pdf["timestamp"].astype(float))
        bucket = np.array([zlib.crc32(s.encode()) % BUCKETS for s in pdf["sensor"]])
        t1 = time.perf_counter()
        for b, part in pdf.groupby(bucket):
            list(step((b,), iter([part]), states[b]))
        detect += time.perf_counter() - t1
        parse += t1 - t0
    return {"parse_s": parse, "bucket_step_s": detect}


def spark_job(spark, src: Path, work: Path, per_batch: int) -> dict:
    """The job's alert query over ``src`` (availableNow); seconds and query progress."""
    from adaptive.spark import csv_readings, monitor

    readings, _ = csv_readings(spark, str(src), max_files_per_trigger=per_batch)
    t0 = time.perf_counter()
    q = (monitor(readings, detector=PageHinkley(**DETECTOR), buckets=BUCKETS).writeStream
         .format("json").option("checkpointLocation", str(work / "ck"))
         .trigger(availableNow=True).start(str(work / "out")))
    q.awaitTermination()
    dt = time.perf_counter() - t0
    return {"seconds": dt, "progress": [json.loads(p.json) for p in q.recentProgress]}


def shuffle_bytes(spark) -> int:
    """Shuffle written by every stage so far (Spark's REST API of the running UI)."""
    sc = spark.sparkContext
    url = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/stages"
    with urllib.request.urlopen(url, timeout=30) as r:
        return sum(s.get("shuffleWriteBytes", 0) for s in json.load(r))


def _session(master: str):
    from adaptive.spark.cli import session

    spark = session(master, shuffle_partitions=2 * int(master[6:-1]),
                    conf={"spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run_throughput(tmp: Path) -> dict:
    files = write_files(tmp / "src", S_THROUGHPUT, T_THROUGHPUT, FILES)
    n = S_THROUGHPUT * T_THROUGHPUT
    out = {"readings": n, "sensors": S_THROUGHPUT, "files": FILES, "files_per_batch": 2,
           "single_process": single_process(files), "ours_outside_spark": our_code_time(files, 2)}
    for master in ("local[1]", "local[2]"):
        t0 = time.perf_counter()
        spark = _session(master)
        start = time.perf_counter() - t0
        work = tmp / master.replace("[", "").replace("]", "")
        job = spark_job(spark, tmp / "src", work, 2)
        spark.stop()
        ours = out["ours_outside_spark"]
        out[master] = {"session_start_s": start, "job_s": job["seconds"],
                       "readings_per_s": n / job["seconds"],
                       "spark_overhead_s": job["seconds"] - ours["parse_s"]
                       - ours["bucket_step_s"],
                       "batch_ms": [p["durationMs"].get("triggerExecution")
                                    for p in job["progress"]]}
    return out


def run_sensors(tmp: Path) -> list[dict]:
    rows = []
    spark = _session("local[2]")
    for n_sensors in SENSOR_SIZES:
        work = tmp / f"s{n_sensors}"
        write_files(work / "src", n_sensors, 3, 3, seed=n_sensors)
        before = shuffle_bytes(spark)
        job = spark_job(spark, work / "src", work, 1)
        shuffle = shuffle_bytes(spark) - before
        last = job["progress"][-1]["stateOperators"][0]
        state_bytes = last["customMetrics"].get("stateOnCurrentVersionSizeBytes")
        rows.append({"sensors": n_sensors, "batches": len(job["progress"]),
                     "state_rows": last["numRowsTotal"], "state_bytes": state_bytes,
                     "state_bytes_per_sensor": state_bytes / n_sensors,
                     "shuffle_bytes_per_batch": shuffle / max(len(job["progress"]), 1),
                     "shuffle_bytes_per_reading": shuffle / (3 * n_sensors),
                     "batch_ms": [p["durationMs"].get("triggerExecution")
                                  for p in job["progress"]]})
    spark.stop()
    return rows


def _markdown(res: dict) -> str:
    t = res["throughput"]
    sp = t["single_process"]
    lines = [
        f"# Spark monitor vs single-process monitor ({t['readings']:,} readings, "
        f"{t['sensors']:,} sensors, PageHinkley)", "",
        f"Machine: {res['machine']}; load average at start {res['load_at_start']}.", "",
        "| run | readings/s | vs single process | job s | Spark overhead s |",
        "|---|---:|---:|---:|---:|",
        f"| single process (CSVSource + SensorMonitor) | {sp['readings_per_s']:,.0f} | 1.00 | "
        f"{sp['seconds']:.2f} | - |"]
    for m in ("local[1]", "local[2]"):
        r = t[m]
        lines.append(f"| Spark {m} | {r['readings_per_s']:,.0f} | "
                     f"{r['readings_per_s'] / sp['readings_per_s']:.3f} | {r['job_s']:.1f} | "
                     f"{r['spark_overhead_s']:.1f} |")
    o = t["ours_outside_spark"]
    lines += ["", f"Our code on the same micro-batches outside Spark: parse {o['parse_s']:.2f} s, "
              f"bucket step (restore, kernels, alerts, state) {o['bucket_step_s']:.2f} s.", "",
              "| sensors | state bytes/sensor | shuffle bytes/batch | shuffle bytes/reading | "
              "batch ms |", "|---:|---:|---:|---:|---|"]
    for r in res["sensors"]:
        lines.append(f"| {r['sensors']:,} | {r['state_bytes_per_sensor']:.0f} | "
                     f"{r['shuffle_bytes_per_batch']:,.0f} | "
                     f"{r['shuffle_bytes_per_reading']:.1f} | {r['batch_ms']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    import pyspark

    tmp = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    try:
        res = {"machine": f"{platform.processor() or platform.machine()}, "
                          f"{os.cpu_count()} cores, Python {platform.python_version()}, "
                          f"pyspark {pyspark.__version__}",
               "load_at_start": os.getloadavg()[0], "quick": QUICK,
               "throughput": run_throughput(tmp), "sensors": run_sensors(tmp)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    name = "spark_bench_quick" if QUICK else "spark_bench"
    (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=1))
    (RESULTS / f"{name}.md").write_text(_markdown(res))
    print(_markdown(res))


if __name__ == "__main__":
    sys.exit(main())
