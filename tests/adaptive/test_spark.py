"""adaptive.spark against the real engine (pyspark, local[2]): parity with the single-process
monitor, calibration, new sensors, ordering, a refused configuration, and kill -9 of the driver.

One SparkSession serves the module (the kill -9 test runs the job in its own process). These
tests run in ``make test`` and CI and never skip: pyspark is in the ``test`` extra and Java 17
is on the machines.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.errors import StreamingQueryException

from adaptive import PageHinkley, SensorMonitor
from adaptive.spark import csv_readings, dead_letters, monitor, read_records
from adaptive.spark.cli import check_checkpoint, session
from adaptive.spark.monitor import _BucketStep
from adaptive.spark.sink import committed_files

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]
PH = {"threshold": 40.0}
KEY = ("sensor", "index", "kind", "timestamp", "offset", "value", "statistic")


@pytest.fixture(scope="module")
def spark():
    s = session("local[2]", shuffle_partitions=2,
                conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"})
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def _write(directory, name: str, header: str, rows: list[str]) -> None:
    """A CSV file landing atomically (written aside, renamed in)."""
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{name}.tmp")
    with open(tmp, "w") as f:
        f.write(header + "\n" + "".join(r + "\n" for r in rows))
    os.replace(tmp, os.path.join(directory, name))


def _long_rows(ts, sensors, values) -> list[str]:
    return [f"{t},{s},{float(v)!r}" for t, s, v in zip(ts, sensors, values)]


def _keys(alerts) -> list[tuple]:
    return sorted(tuple(a[k] for k in KEY) for a in alerts)


def _run(spark, src, ckpt, out, detector, *, files_per_trigger=1, **options):
    """Process the files present in ``src`` (trigger availableNow); return committed alerts."""
    readings, _ = csv_readings(spark, str(src), max_files_per_trigger=files_per_trigger)
    q = (monitor(readings, detector=detector, buckets=4, **options).writeStream
         .format("json").option("checkpointLocation", str(ckpt))
         .trigger(availableNow=True).start(str(out)))
    q.awaitTermination()
    return read_records(str(out))


def _reference(batches, detector, **options):
    """The single-process monitor over (sensors, values, timestamps, offsets) batches."""
    mon = SensorMonitor(detector, **options)
    out = []
    for sensors, values, ts, offs in batches:
        out += mon.update_many(sensors, np.asarray(values, float), timestamps=ts, offsets=offs)
    return out


def _plant(rng, names, n, shift_at=None, shifted=()):
    """(n, S) readings, unit noise; the ``shifted`` sensors gain +3 from ``shift_at`` on."""
    v = rng.normal(0.0, 1.0, (n, len(names)))
    for s in shifted:
        v[shift_at:, names.index(s)] += 3.0
    return v


def test_parity_with_single_process_monitor_and_new_sensors(spark, tmp_path):
    rng = np.random.default_rng(1)
    names = [f"m{i:02d}" for i in range(30)]
    v = _plant(rng, names, 400, 300, ["m03", "m17", "m29"])
    src, batches = tmp_path / "src", []
    for f, (lo, hi, cols) in enumerate([(0, 100, 20), (100, 200, 20), (200, 400, 30)]):
        # sensors m20..m29 appear in the third file only; a wide file for the second
        sens = names[:cols]
        if f == 1:
            _write(src, f"p{f}.csv", "timestamp," + ",".join(sens),
                   [f"{t}," + ",".join(repr(float(x)) for x in v[t, :cols])
                    for t in range(lo, hi)])
            ts = np.repeat(np.arange(lo, hi), cols)
            ss = sens * (hi - lo)
            offs = np.repeat(np.arange(hi - lo), cols)
        else:
            ts = np.repeat(np.arange(lo, hi), cols)
            ss = sens * (hi - lo)
            _write(src, f"p{f}.csv", "timestamp,sensor,value",
                   _long_rows(ts, ss, v[lo:hi, :cols].ravel()))
            offs = np.arange(len(ss))
        batches.append((ss, v[lo:hi, :cols].ravel(), [str(t) for t in ts], offs))
    got = _run(spark, src, tmp_path / "ck", tmp_path / "out", PageHinkley(**PH),
               files_per_trigger=2)
    want = _reference(batches, PageHinkley(**PH))
    assert {a["sensor"] for a in want} >= {"m03", "m17", "m29"}
    assert _keys(got) == _keys(want)
    assert sorted(a["id"] for a in got) == sorted(a["id"] for a in want)


def test_calibration_per_sensor_as_the_monitor(spark, tmp_path):
    rng = np.random.default_rng(2)
    names = ["c0", "c1", "c2", "c3"]
    v = _plant(rng, names, 600, 400, ["c1"]) * np.array([1.0, 0.5, 2.0, 4.0])
    ts = np.repeat(np.arange(600), 4)
    _write(tmp_path / "src", "a.csv", "timestamp,sensor,value",
           _long_rows(ts, names * 600, v.ravel()))
    opts = {"calibrate_first": 200, "arl0": 500.0,
            "calibrate_options": {"n_streams": 20, "max_steps": 2000}}
    got = _run(spark, tmp_path / "src", tmp_path / "ck", tmp_path / "out", PageHinkley(), **opts)
    want = _reference([(names * 600, v.ravel(), [str(t) for t in ts], np.arange(2400))],
                      PageHinkley(), **opts)
    assert want and _keys(got) == _keys(want)


def test_other_configuration_refused(spark, tmp_path):
    rng = np.random.default_rng(3)
    _write(tmp_path / "src", "a.csv", "timestamp,sensor,value",
           _long_rows(range(50), ["a"] * 50, rng.normal(size=50)))
    _run(spark, tmp_path / "src", tmp_path / "ck", tmp_path / "out", PageHinkley(**PH))
    _write(tmp_path / "src", "b.csv", "timestamp,sensor,value",
           _long_rows(range(50, 60), ["a"] * 10, rng.normal(size=10)))
    with pytest.raises(StreamingQueryException, match="another monitor configuration"):
        _run(spark, tmp_path / "src", tmp_path / "ck", tmp_path / "out",
             PageHinkley(threshold=80.0))
    # the job checks its own configuration file before Spark starts
    check_checkpoint(str(tmp_path / "job"), {"detector": "PageHinkley", "buckets": 64})
    with pytest.raises(ValueError, match="was written with configuration"):
        check_checkpoint(str(tmp_path / "job"), {"detector": "PageHinkley", "buckets": 32})


def test_out_of_order_within_a_batch_and_late_readings(spark, tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=600)
    x[150:300] += 3.0
    x[450:] -= 3.0
    perm = rng.permutation(300)  # the first file arrives shuffled
    _write(tmp_path / "src", "a.csv", "timestamp,sensor,value",
           _long_rows(perm, ["x"] * 300, x[perm]))
    got1 = _run(spark, tmp_path / "src", tmp_path / "ck", tmp_path / "out", PageHinkley(**PH))
    # the second file: a late reading (timestamp 10, already passed), a bad timestamp, and more
    rows = ["10,x,0.0", "zz,x,1.0"] + _long_rows(range(300, 600), ["x"] * 300, x[300:])
    _write(tmp_path / "src", "b.csv", "timestamp,sensor,value", rows)
    got = _run(spark, tmp_path / "src", tmp_path / "ck", tmp_path / "out", PageHinkley(**PH))
    order = np.argsort(perm)
    want = _reference([(["x"] * 300, x[perm][order], [str(t) for t in perm[order]], order),
                       (["x"] * 301, np.r_[0.0, x[300:]],
                        ["10"] + [str(t) for t in range(300, 600)],
                        np.r_[0, np.arange(2, 302)])],
                      PageHinkley(**PH))
    assert len(got1) >= 1 and len(want) >= 2
    assert _keys(got) == _keys(want)  # sorted within the batch; the late one counted, not lost


def test_dead_letters_reasons(spark):
    rows = [("1", "a", "1.5", 0), ("2", "", "1.0", 1), ("3", "a", "", 2), ("4", "a", "x", 3),
            ("5", "a", "inf", 4), ("zz", "a", "1.0", 5), (None, "a", "2.0", 6)]
    df = spark.createDataFrame(rows, "timestamp string, sensor string, value string, offset long")
    got = {r["offset"]: r["reason"] for r in dead_letters(df).collect()}
    assert got == {1: "missing_sensor", 2: "missing_value", 3: "non_numeric", 4: "non_finite",
                   5: "bad_timestamp", 6: "bad_timestamp"}


class _State:
    """What applyInPandasWithState hands the function: exists, get, update."""

    def __init__(self):
        self.value = None

    @property
    def exists(self):
        return self.value is not None

    @property
    def get(self):
        return self.value

    def update(self, value):
        self.value = tuple(value)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n_batches=st.integers(1, 6))
def test_bucket_step_equals_monitor_for_any_batching_and_shuffle(seed, n_batches):
    """Without Spark: any cut into micro-batches, any arrival order inside each, the same alerts
    as the single-process monitor on the time-ordered stream (state round trip included)."""
    rng = np.random.default_rng(seed)
    n, names = 400, ["a", "b", "c"]
    v = _plant(rng, names, n, 200, ["b"]).ravel()
    ts = np.repeat(np.arange(n), 3).astype(float)
    sens = np.array(names * n, dtype=object)
    cuts = np.sort(rng.choice(np.arange(1, n), n_batches - 1, replace=False)) * 3
    step, state, got = _BucketStep(PageHinkley(**PH), {}, 4, ["offset"]), _State(), []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, 3 * n]):
        p = lo + rng.permutation(hi - lo)
        frame = pd.DataFrame({"timestamp": [str(int(t)) for t in ts[p]], "sensor": sens[p],
                              "_value": v[p], "_order": ts[p], "offset": p})
        for out in step((0,), iter([frame]), state):
            got += out.to_dict("records")
    want = _reference([(list(sens), v, [str(int(t)) for t in ts], np.arange(3 * n))],
                      PageHinkley(**PH))
    assert _keys(got) == _keys(want)


def test_committed_files_reads_compacted_logs(tmp_path):
    log = tmp_path / "_spark_metadata"
    log.mkdir()
    entry = '{{"path":"file://{}/p{}.json","action":"add"}}'
    (log / "9.compact").write_text("v1\n" + "\n".join(entry.format(tmp_path, i)
                                                      for i in range(10)))
    (log / "10").write_text("v1\n" + entry.format(tmp_path, 10))
    (log / "3").write_text("v1\n" + entry.format(tmp_path, 3))  # compacted: not read again
    files = committed_files(str(tmp_path))
    assert files == [f"{tmp_path}/p{i}.json" for i in range(11)]


def test_kill9_driver_midway_then_restart_100k_readings(tmp_path):
    """100,000 readings over 500 sensors, drifts injected in 12 known sensors. The job is
    SIGKILLed (driver and JVM) after a random number of further committed micro-batches (0
    included), ``SPARK_KILL_POINTS`` times (default 1: each costs a JVM start), then run to the
    end on the same checkpoint: the committed alerts are exactly the uninterrupted run's (the
    single-process monitor's, which the parity test ties to Spark's), no duplicate, and exactly
    the 12 drifted sensors alert."""
    rng = np.random.default_rng(5)
    names = [f"s{i:03d}" for i in range(500)]
    drifted = sorted(rng.choice(names, 12, replace=False).tolist())
    v = _plant(rng, names, 200, 100, drifted)  # (200, 500)
    src, batches = tmp_path / "src", []
    for f in range(10):
        lo, hi = 20 * f, 20 * (f + 1)
        ts = np.repeat(np.arange(lo, hi), 500)
        _write(src, f"p{f:02d}.csv", "timestamp,sensor,value",
               _long_rows(ts, names * 20, v[lo:hi].ravel()))
        batches.append((names * 20, v[lo:hi].ravel(), [str(t) for t in ts], np.arange(10_000)))
    want = _reference(batches, PageHinkley(threshold=100.0))  # no false alarm on this data
    ckpt = str(tmp_path / "ck")
    args = [sys.executable, "-m", "adaptive", "spark", "--source", str(src), "--checkpoint",
            ckpt, "--alerts", str(tmp_path / "out"), "--detector", "PageHinkley", "--param",
            "threshold=100", "--buckets", "8", "--max-files-per-trigger", "2",
            "--shuffle-partitions", "2"]
    rand = random.Random(os.environ.get("SPARK_KILL_SEED"))
    kills = []
    for _ in range(int(os.environ.get("SPARK_KILL_POINTS", "1"))):
        target = min(_commits(ckpt) + rand.randint(0, 2), 4)  # 5 micro-batches in all
        proc = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            t0 = time.monotonic()
            while _commits(ckpt) < target and proc.poll() is None:
                assert time.monotonic() - t0 < 400, "the job made no progress"
                time.sleep(0.1)
            time.sleep(rand.uniform(0.0, 1.0))  # anywhere inside the next micro-batch
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        kills.append(_commits(ckpt))
    done = subprocess.run(args + ["--once"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got = read_records(str(tmp_path / "out"))
    assert {a["sensor"] for a in want} == set(drifted)
    assert len({a["id"] for a in got}) == len(got)  # no duplicates
    assert _keys(got) == _keys(want)  # no loss
    print(json.dumps({"killed_at_commits": kills, "alerts": len(got)}))


def _commits(ckpt: str) -> int:
    d = os.path.join(ckpt, "alerts", "commits")
    return len([f for f in os.listdir(d) if f.isdigit()]) if os.path.isdir(d) else 0
