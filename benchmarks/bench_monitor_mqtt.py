"""MQTT ingestion of the sensor monitor at the broker's pace (issue 15 item 2).

Publishers run in other processes: one ``mosquitto_pub -l`` per topic (Debian's
mosquitto-clients, ``bash scripts/install_mosquitto_clients.sh``), all started together, QoS 1.
Two consumers take the same load, each on its own run:

- the broker's ceiling: ``mosquitto_sub -q 1 -C N`` to /dev/null (C, libmosquitto);
- ours: a child process running ``SensorMonitor.run`` on an ``MQTTSource`` with a state file,
  a JSON Lines alert sink and checkpoints every 100,000 readings, as the command line does.

Each consumer's session is created (persistent, subscribed, QoS 1) before the publishers start,
so nothing is lost to a late SUBACK, and our child reports ready once connected; the rate is N
readings over the time from the publishers' start to the consumer's last reading.

Workloads (seeded):
- ``monitor-mqtt-single``: one reading per message, one topic per sensor, a bare number
  payload (the common plant-floor layout): 50 sensors x 2,000 steps = 100,000 messages.
- ``monitor-mqtt-json50``: JSON arrays of 50 readings ``{"sensor", "timestamp", "seq",
  "value"}``, 4 publishers of 50 sensors each (a sensor's ``seq`` must grow: one publisher per
  sensor), 1,000 steps: 4,000 messages = 200,000 readings.
Results: ``benchmarks/results/monitor_mqtt_*.json`` (rates, their ratio, the targets).
Run: ``.venv/bin/python -m pytest benchmarks/bench_monitor_mqtt.py -o addopts="" -s``
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
N_SENSORS = 50
TARGETS = {"single": 30_000.0, "json50": 200_000.0}  # readings/s (issue 15)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def broker():
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(exe, os.X_OK) or not shutil.which("mosquitto_pub"):
        pytest.skip("needs mosquitto and mosquitto-clients (scripts/install_mosquitto*.sh)")
    pytest.importorskip("paho.mqtt.client")
    d = Path(tempfile.mkdtemp())
    port = _free_port()
    (d / "m.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                              "persistence false\nmax_inflight_messages 0\n"
                              "max_queued_messages 0\n")
    proc = subprocess.Popen([exe, "-c", str(d / "m.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield "127.0.0.1", port, d
    proc.terminate()
    proc.wait(5)


def _plan(kind: str, prefix: str) -> tuple[dict[str, list[str]], int]:
    """topic -> payload lines, and the number of readings."""
    rng = np.random.default_rng(1)
    if kind == "single":
        v = rng.normal(size=(2000, N_SENSORS))  # (T, S)
        return {f"{prefix}/s{s}": [f"{x:.5f}" for x in v[:, s]] for s in range(N_SENSORS)}, \
            v.size
    v = rng.normal(size=(1000, 4 * N_SENSORS))  # (T, 4S): each publisher its own 50 sensors
    lines: dict[str, list[str]] = {f"{prefix}/batch{k}": [] for k in range(4)}
    for k in range(4):
        for t in range(v.shape[0]):
            recs = [{"sensor": f"s{s}", "timestamp": t, "seq": t, "value": round(float(v[t, s]), 5)}
                    for s in range(k * N_SENSORS, (k + 1) * N_SENSORS)]
            lines[f"{prefix}/batch{k}"].append(json.dumps(recs))
    return lines, v.size


def _session(host: str, port: int, client_id: str, topic: str) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.adaptive._monitor_cli import mqtt_session

    mqtt_session(host, port, client_id, topic)


def _publish(host: str, port: int, plan: dict[str, list[str]], d: Path) -> list:
    """Start one ``mosquitto_pub -l`` per topic (QoS 1); returns the processes."""
    procs = []
    for k, (topic, lines) in enumerate(plan.items()):
        f = d / f"pub{k}.txt"
        f.write_text("\n".join(lines) + "\n")
        procs.append(subprocess.Popen(
            ["mosquitto_pub", "-h", host, "-p", str(port), "-q", "1", "-t", topic, "-l"],
            stdin=open(f, "rb"), stdout=subprocess.DEVNULL))
    return procs


def _ceiling(host, port, d, kind, tag) -> dict:
    plan, n = _plan(kind, f"ceil-{tag}")
    n_msgs = sum(len(v) for v in plan.values())
    cid = f"ceil-{tag}"
    _session(host, port, cid, f"ceil-{tag}/#")
    sub = subprocess.Popen(["mosquitto_sub", "-h", host, "-p", str(port), "-q", "1", "-c",
                            "-i", cid, "-t", f"ceil-{tag}/#", "-C", str(n_msgs)],
                           stdout=subprocess.DEVNULL)
    time.sleep(0.5)  # connected
    t0 = time.time()
    pubs = _publish(host, port, plan, d)
    sub.wait(600)
    t1 = time.time()
    for p in pubs:
        p.wait(60)
    return {"readings": n, "messages": n_msgs, "seconds": t1 - t0,
            "readings_per_s": n / (t1 - t0), "messages_per_s": n_msgs / (t1 - t0)}


def _ours(host, port, d, kind, tag) -> dict:
    plan, n = _plan(kind, f"ours-{tag}")
    cid = f"ours-{tag}"
    _session(host, port, cid, f"ours-{tag}/#")
    child = subprocess.Popen(
        [sys.executable, __file__, "consume", f"mqtt://{host}:{port}/ours-{tag}/#", cid,
         str(n), str(d / f"ours-{tag}")], cwd=ROOT, stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout.readline().strip() == b"ready"
    t0 = time.time()
    pubs = _publish(host, port, plan, d)
    out, _ = child.communicate(timeout=600)
    for p in pubs:
        p.wait(60)
    res = json.loads(out)
    assert res["readings"] == n, res
    sec = res["last"] - t0
    return {"readings": n, "seconds": sec, "readings_per_s": n / sec,
            "cpu_s": res["cpu_s"]}


def consume(url: str, client_id: str, n: int, workdir: str) -> None:
    """The child: the monitor on an MQTT source until n readings are processed."""
    from adaptive import PageHinkley, SensorMonitor
    from adaptive.monitor.alerts import JSONLSink
    from adaptive.monitor.sources import MQTTSource

    os.makedirs(workdir, exist_ok=True)
    # the detector's compiled kernels loaded before "ready" (the source loads its own)
    SensorMonitor(PageHinkley(threshold=200.0)).update_many(["w"] * 40, np.zeros(40))
    src = MQTTSource(url, client_id=client_id, idle_exit=30.0)
    mon = SensorMonitor(PageHinkley(threshold=200.0),
                        alert_sinks=[JSONLSink(os.path.join(workdir, "alerts.jsonl"))],
                        state_path=os.path.join(workdir, "state.json"),
                        checkpoint_every=10_000)
    times = {}

    class Until:  # stop once n readings went through the monitor
        def __getattr__(self, name):
            return getattr(src, name)

        def batches(self):
            for b in src.batches():
                times.setdefault("first", time.time())
                yield b
                if mon.stats["readings"] >= n:
                    times["last"] = time.time()
                    return

    print("ready", flush=True)
    c0 = time.process_time()
    summary = mon.run(Until(), handle_signals=False)
    cpu = time.process_time() - c0
    src.close()
    mon.close()
    print(json.dumps({"readings": summary["readings"], "cpu_s": cpu,
                      "duplicates": summary["duplicates"], **times}), flush=True)


ROUNDS = int(os.environ.get("MQTT_BENCH_ROUNDS", "3"))


@pytest.mark.parametrize("kind", ["single", "json50"])
def test_mqtt_ingestion_vs_broker_ceiling(benchmark, broker, kind):
    """ROUNDS alternating runs of the broker's ceiling and ours; medians reported."""
    host, port, d = broker
    runs: dict = {"ceiling": [], "ours": []}

    def run():
        for r in range(ROUNDS):
            runs["ceiling"].append(_ceiling(host, port, d, kind, f"{kind}-{r}-c"))
            runs["ours"].append(_ours(host, port, d, kind, f"{kind}-{r}-o"))
        return runs

    benchmark.pedantic(run, rounds=1, warmup_rounds=0)
    med = {k: float(np.median([x["readings_per_s"] for x in v])) for k, v in runs.items()}
    cpu_us = float(np.median([x["cpu_s"] / x["readings"] * 1e6 for x in runs["ours"]]))
    ours, ceil = med["ours"], med["ceiling"]
    target = min(TARGETS[kind], 0.5 * ceil) if kind == "single" else TARGETS[kind]
    workload = f"monitor-mqtt-{kind}"
    benchmark.group = benchmark.extra_info["workload"] = workload
    benchmark.extra_info.update(
        impl="ours", items=runs["ours"][0]["readings"], rounds=ROUNDS, runs=runs,
        ours_readings_per_s=ours, ceiling_readings_per_s=ceil, ratio_to_ceiling=ours / ceil,
        ours_cpu_us_per_reading=cpu_us, target_readings_per_s=target, met=ours >= target,
        load_average=os.getloadavg())
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / f"monitor_mqtt_{kind}.json", "w") as f:
        json.dump(dict(benchmark.extra_info), f, indent=1)
    print(f"\n{workload}: ours {ours:,.0f} readings/s ({cpu_us:.1f} us CPU per reading), "
          f"broker ceiling (mosquitto_sub) {ceil:,.0f}/s, ratio {ours / ceil:.2f}, target "
          f"{target:,.0f} (medians of {ROUNDS})", file=sys.stderr)


if __name__ == "__main__" and sys.argv[1:2] == ["consume"]:
    consume(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
