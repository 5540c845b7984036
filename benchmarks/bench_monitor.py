"""Sensor monitor benchmarks: CSV to alerts end to end (parsing and detection split) and the
detection stage against River (one ``river.drift.PageHinkley`` per sensor, a Python loop).
MQTT ingestion, with publishers in other processes and the broker's own ceiling beside it, is
in ``bench_monitor_mqtt.py``.

Workloads (seeded, offline; 1,000 sensors):
- ``monitor-e2e-wide-csv``: a wide CSV of 1,000 sensors x 500 rows (500k readings) -> alerts.
  ours: CSVSource (compiled scanner) + SensorMonitor; river: the same CSVSource blocks, one River
  detector per sensor updated reading by reading, alerts built the same way.
- ``monitor-detect``: the detection stage alone on the parsed (T, S) block.
- ``monitor-parse-wide-csv``: parsing alone (ours only).
- ``monitor-e2e-long-csv-PageHinkley``: a long CSV (timestamp,sensor,value) of the same size,
  1,000 sensors in random interleaving; River's side uses the same parser.
Stage figures (wall and CPU seconds) go to ``extra_info`` and
``benchmarks/results/monitor_*.json``.
Run: ``.venv/bin/python -m pytest benchmarks/bench_monitor.py -o addopts="" --benchmark-only``
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from adaptive import CUSUM, PageHinkley, SensorMonitor
from adaptive.monitor.sources import CSVSource

N_SENSORS, N_ROWS = 1000, 500  # 500k readings per end-to-end call
RESULTS = Path(__file__).parent / "results"
DETECTORS = {"PageHinkley": lambda: PageHinkley(threshold=200.0), "CUSUM": lambda: CUSUM(h=12.0)}


@pytest.fixture(scope="module")
def wide_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(N_ROWS, N_SENSORS))  # (T, S) readings, unit noise
    v[N_ROWS // 2:, ::50] += 3.0  # 20 sensors shift half-way
    path = tmp_path_factory.mktemp("monitor") / "plant.csv"
    with open(path, "w") as f:
        f.write("timestamp," + ",".join(f"s{i}" for i in range(N_SENSORS)) + "\n")
        np.savetxt(f, np.column_stack([np.arange(N_ROWS), v]),
                   fmt=["%d"] + ["%.4f"] * N_SENSORS, delimiter=",")
    return str(path)


def _save(name: str, obj: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / f"monitor_{name}.json", "w") as f:
        json.dump(obj, f, indent=1)


def _ours_e2e(path: str, make, timing: dict):
    mon = SensorMonitor(make())
    t0, c0 = time.perf_counter(), time.process_time()
    src = CSVSource(path, max_rows=100 if "long" not in path else 65536)
    parse = detect = 0.0
    alerts = []
    it = src.batches()
    while True:
        t = time.perf_counter()
        b = next(it, None)
        parse += time.perf_counter() - t
        if b is None:
            break
        t = time.perf_counter()
        alerts += mon.process(b)
        detect += time.perf_counter() - t
    src.close()
    # CPU seconds of all threads (parsing and detection run on every core for big blocks)
    timing.update(parse_s=parse, detect_s=detect, total_s=time.perf_counter() - t0,
                  cpu_s=time.process_time() - c0)
    return alerts


def _river_detect(cols, block, dets, offsets):
    alerts = []
    for t in range(block.shape[0]):
        row = block[t].tolist()
        for c, x in enumerate(row):
            d = dets[c]
            d.update(x)
            if d.drift_detected:
                alerts.append({"sensor": cols[c], "offset": int(offsets[t]), "kind": "drift"})
    return alerts


@pytest.mark.parametrize("det", sorted(DETECTORS))
def test_e2e_wide_csv_ours(benchmark, wide_csv, det):
    timing: dict = {}
    alerts = benchmark.pedantic(_ours_e2e, args=(wide_csv, DETECTORS[det], timing), rounds=3,
                                warmup_rounds=1)
    n = N_ROWS * N_SENSORS
    benchmark.group = benchmark.extra_info["workload"] = f"monitor-e2e-wide-csv-{det}"
    benchmark.extra_info.update(impl="ours", items=n, alerts=len(alerts), **timing,
                                parse_readings_per_s=n / timing["parse_s"],
                                detect_readings_per_s=n / timing["detect_s"],
                                e2e_readings_per_s=n / timing["total_s"],
                                e2e_readings_per_cpu_s=n / timing["cpu_s"],
                                load_average=os.getloadavg())
    _save(f"e2e_{det}", dict(benchmark.extra_info))


def test_e2e_wide_csv_river(benchmark, wide_csv):
    drift = pytest.importorskip("river.drift")

    def run():
        src = CSVSource(wide_csv, max_rows=100)
        dets = [drift.PageHinkley(threshold=200.0) for _ in range(N_SENSORS)]
        alerts = []
        for b in src.batches():
            alerts += _river_detect(b.sensors, b.values, dets, b.offsets)
        src.close()
        return alerts

    alerts = benchmark.pedantic(run, rounds=1, warmup_rounds=1)
    benchmark.group = benchmark.extra_info["workload"] = "monitor-e2e-wide-csv-PageHinkley"
    benchmark.extra_info.update(impl="river", items=N_ROWS * N_SENSORS, alerts=len(alerts))


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    rng = np.random.default_rng(2)
    n = N_ROWS * N_SENSORS
    sensor = rng.integers(0, N_SENSORS, n)  # (K,) random interleaving of 1000 sensors
    v = rng.normal(size=n)
    path = tmp_path_factory.mktemp("monitor") / "long.csv"
    with open(path, "w") as f:
        f.write("timestamp,sensor,value\n")
        f.write("\n".join(f"{k},s{a},{x:.4f}" for k, (a, x) in
                          enumerate(zip(sensor.tolist(), v.tolist()))) + "\n")
    return str(path)


def test_e2e_long_csv_ours(benchmark, long_csv):
    timing: dict = {}
    alerts = benchmark.pedantic(_ours_e2e, args=(long_csv, DETECTORS["PageHinkley"], timing),
                                rounds=3, warmup_rounds=1)
    n = N_ROWS * N_SENSORS
    benchmark.group = benchmark.extra_info["workload"] = "monitor-e2e-long-csv-PageHinkley"
    benchmark.extra_info.update(impl="ours", items=n, alerts=len(alerts), **timing,
                                parse_readings_per_s=n / timing["parse_s"],
                                detect_readings_per_s=n / timing["detect_s"],
                                e2e_readings_per_s=n / timing["total_s"])
    _save("e2e_long_PageHinkley", dict(benchmark.extra_info))


def test_e2e_long_csv_river(benchmark, long_csv):
    drift = pytest.importorskip("river.drift")

    def run():
        src = CSVSource(long_csv, max_rows=65536)
        dets: dict = {}
        alerts = []
        for b in src.batches():  # the same parser; River's detectors, one per sensor
            for c, x, off in zip(b.codes.tolist(), b.values.tolist(), b.offsets.tolist()):
                name = b.sensors[c]
                d = dets.get(name)
                if d is None:
                    d = dets[name] = drift.PageHinkley(threshold=200.0)
                d.update(x)
                if d.drift_detected:
                    alerts.append({"sensor": name, "offset": off, "kind": "drift"})
        src.close()
        return alerts

    alerts = benchmark.pedantic(run, rounds=1, warmup_rounds=1)
    benchmark.group = benchmark.extra_info["workload"] = "monitor-e2e-long-csv-PageHinkley"
    benchmark.extra_info.update(impl="river", items=N_ROWS * N_SENSORS, alerts=len(alerts))


@pytest.fixture(scope="module")
def parsed(wide_csv):
    src = CSVSource(wide_csv, max_rows=N_ROWS)
    b = next(src.batches())
    src.close()
    return b


def test_detect_ours(benchmark, parsed):
    def setup():  # the sensors' streams exist before the timed call, as River's objects do
        return (SensorMonitor(PageHinkley(threshold=200.0), sensors=list(parsed.sensors)),), {}

    alerts = benchmark.pedantic(
        lambda mon: mon.update_wide(parsed.sensors, parsed.values, parsed.timestamps,
                                    parsed.offsets), setup=setup, rounds=5, warmup_rounds=1)
    benchmark.group = benchmark.extra_info["workload"] = "monitor-detect"
    benchmark.extra_info.update(impl="ours", items=parsed.values.size, alerts=len(alerts))


def test_detect_river(benchmark, parsed):
    drift = pytest.importorskip("river.drift")

    def setup():
        return ([drift.PageHinkley(threshold=200.0) for _ in range(N_SENSORS)],), {}

    alerts = benchmark.pedantic(
        lambda dets: _river_detect(parsed.sensors, parsed.values, dets, parsed.offsets),
        setup=setup, rounds=1, warmup_rounds=1)
    benchmark.group = benchmark.extra_info["workload"] = "monitor-detect"
    benchmark.extra_info.update(impl="river", items=parsed.values.size, alerts=len(alerts))


def test_parse_ours(benchmark, wide_csv):
    def run():
        src = CSVSource(wide_csv, max_rows=100)
        n = sum(b.values.size for b in src.batches())
        src.close()
        return n

    n = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    benchmark.group = benchmark.extra_info["workload"] = "monitor-parse-wide-csv"
    benchmark.extra_info.update(impl="ours", items=n)
