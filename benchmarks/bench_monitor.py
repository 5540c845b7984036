"""Sensor monitor benchmarks: CSV to alerts end to end (parsing and detection split), the
detection stage against River (one ``river.drift.PageHinkley`` per sensor, a Python loop), and
MQTT throughput through a local mosquitto with each stage measured on its own.

Workloads (seeded, offline; 1,000 sensors):
- ``monitor-e2e-wide-csv``: a wide CSV of 1,000 sensors x 500 rows (500k readings) -> alerts.
  ours: CSVSource (compiled scanner) + SensorMonitor; river: the same CSVSource blocks, one River
  detector per sensor updated reading by reading, alerts built the same way.
- ``monitor-detect``: the detection stage alone on the parsed (T, S) block.
- ``monitor-parse-wide-csv``: parsing alone (ours only).
- ``monitor-e2e-long-csv-PageHinkley``: a long CSV (timestamp,sensor,value) of the same size,
  1,000 sensors in random interleaving; River's side uses the same parser.
- ``monitor-mqtt-*``: readings/s through the broker (single-reading messages and JSON batches),
  with the publisher, broker + paho client loop, our parsing and detection timed separately.
Stage figures go to ``extra_info`` and ``benchmarks/results/monitor_*.json``.
Run: ``.venv/bin/python -m pytest benchmarks/bench_monitor.py -o addopts="" --benchmark-only``
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from adaptive import CUSUM, PageHinkley, SensorMonitor
from adaptive.monitor.sources import CSVSource, MQTTSource

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
    t0 = time.perf_counter()
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
    timing.update(parse_s=parse, detect_s=detect, total_s=time.perf_counter() - t0)
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
                                e2e_readings_per_s=n / timing["total_s"])
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


# -- MQTT ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def broker():
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(exe, os.X_OK):
        pytest.skip("mosquitto is not installed (bash scripts/install_mosquitto.sh)")
    pytest.importorskip("paho.mqtt.client")
    d = tempfile.mkdtemp()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = Path(d) / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_inflight_messages 0\nmax_queued_messages 0\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield "127.0.0.1", port, proc.pid
    proc.terminate()
    proc.wait(5)


def _cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) used so far by a process (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid or os.getpid()}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _messages(n_steps: int, batch: bool, topic: str):
    rng = np.random.default_rng(1)
    v = rng.normal(size=(n_steps, 50))  # (T, S): 50 sensors
    if batch:  # one JSON array per time step
        return [(f"{topic}/batch", json.dumps(
            [{"sensor": f"s{s}", "timestamp": t, "seq": t, "value": float(v[t, s])}
             for s in range(50)])) for t in range(n_steps)]
    return [(f"{topic}/s{s}", repr(float(v[t, s]))) for t in range(n_steps) for s in range(50)]


def _publish(host, port, msgs, cid):
    import paho.mqtt.client as mqtt

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
    pub.max_inflight_messages_set(100)
    pub.connect(host, port)
    pub.loop_start()
    t = time.perf_counter()
    infos = [pub.publish(tp, p, qos=1) for tp, p in msgs]
    for info in infos:
        info.wait_for_publish(120)
    dt = time.perf_counter() - t
    pub.disconnect()
    pub.loop_stop()
    return dt


def _raw_receive(host, port, topic, n_msgs, cid, ready):
    """Broker + paho client loop only: a subscriber that counts messages (QoS 1, auto-ack)."""
    import paho.mqtt.client as mqtt

    got, done = [0], threading.Event()

    def on_message(c, u, m):
        got[0] += 1
        if got[0] == n_msgs:
            done.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
    sub.on_message = on_message
    sub.on_connect = lambda c, u, f, rc, p: (c.subscribe(f"{topic}/#", qos=1), ready.set())
    sub.connect(host, port)
    sub.loop_start()
    return sub, done, got


@pytest.mark.parametrize("batch", [False, True], ids=["single", "json50"])
def test_mqtt_throughput(benchmark, broker, batch):
    host, port, broker_pid = broker
    n_steps = 300 if not batch else 2000  # 15k single messages or 2k messages of 50 readings
    stages: dict = {}
    rounds = [0]

    def run():
        rounds[0] += 1
        topic = f"bench{int(batch)}-{rounds[0]}"
        msgs = _messages(n_steps, batch, topic)
        n_read = n_steps * 50
        # 1. publisher alone (broker acks; nobody subscribed)
        stages["publish_msgs_per_s"] = len(msgs) / _publish(host, port, msgs, f"p{topic}a")
        # 2. broker + paho client loop (subscriber counting only)
        ready = threading.Event()
        sub, done, got = _raw_receive(host, port, topic, len(msgs), f"r{topic}", ready)
        ready.wait(10)
        time.sleep(0.2)
        t = time.perf_counter()
        _publish(host, port, msgs, f"p{topic}b")
        done.wait(120)
        stages["publish_and_receive_msgs_per_s"] = len(msgs) / (time.perf_counter() - t)
        sub.disconnect()
        sub.loop_stop()
        # 3. our parsing and 4. detection, on messages already in memory
        src = MQTTSource.__new__(MQTTSource)
        src._prefix, src._count, src._last_seen = f"{topic}/", 0, {}
        raw = [(tp, p.encode(), k) for k, (tp, p) in enumerate(msgs)]
        t = time.perf_counter()
        b = src._parse(raw)
        stages["parse_readings_per_s"] = n_read / (time.perf_counter() - t)
        mon = SensorMonitor(PageHinkley(threshold=200.0))
        t = time.perf_counter()
        mon.process(b)
        stages["detect_readings_per_s"] = n_read / (time.perf_counter() - t)
        # 5. end to end: MQTTSource + monitor.run while a publisher sends
        src = MQTTSource(f"mqtt://{host}:{port}/{topic}e/#", client_id=f"m{topic}",
                         idle_exit=1.0)
        mon = SensorMonitor(PageHinkley(threshold=200.0))
        emsgs = [(tp.replace(topic, topic + "e", 1), p) for tp, p in msgs]
        th = threading.Thread(target=_publish, args=(host, port, emsgs, f"p{topic}e"))
        cpu_b, cpu_us = _cpu_s(broker_pid), _cpu_s()
        t = time.perf_counter()
        th.start()
        summary = mon.run(src, handle_signals=False)
        th.join()
        src.close()
        wall = time.perf_counter() - t - 1.0  # minus the idle wait that ends the run
        stages["e2e_readings_per_s"] = summary["readings"] / wall
        # where the CPU went during the end-to-end run (2 cores): the broker process vs this
        # process (publisher + paho loops + parsing + detection, one GIL)
        stages["e2e_broker_cpu_share"] = (_cpu_s(broker_pid) - cpu_b) / wall
        stages["e2e_python_cpu_share"] = (_cpu_s() - cpu_us) / wall
        assert summary["readings"] == n_read
        return n_read

    n = benchmark.pedantic(run, rounds=1, warmup_rounds=0)
    workload = f"monitor-mqtt-{'json50' if batch else 'single'}"
    benchmark.group = benchmark.extra_info["workload"] = workload
    benchmark.extra_info.update(impl="ours", items=n, **stages)
    _save(f"mqtt_{'json50' if batch else 'single'}", dict(benchmark.extra_info))
