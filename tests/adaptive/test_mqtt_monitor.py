"""The monitor against a real mosquitto broker (fixture in conftest.py): 100,000 readings over
50 sensors with shifts in known sensors and malformed messages; kill -9 and restart of the CLI
on an MQTT stream gives exactly the alerts of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from adaptive import PageHinkley, SensorMonitor
from adaptive.monitor.alerts import DeadLetters
from adaptive.monitor.sources import MQTTSource

pytestmark = pytest.mark.mqtt
ROOT = Path(__file__).resolve().parents[2]
N_SENSORS, N_STEPS, SHIFTED, SHIFT_AT = 50, 2000, (3, 17, 42), 1000


class _ListSink:
    def __init__(self):
        self.items: list[dict] = []

    def write(self, records):
        self.items += records

    def commit(self):
        return len(self.items)

    def truncate(self, n):
        del self.items[n:]

    def close(self):
        pass


def _readings(seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(N_STEPS, N_SENSORS))  # (T, S)
    v[SHIFT_AT:, list(SHIFTED)] += 3.0
    return v


def _publisher(host: str, port: int):
    import paho.mqtt.client as mqtt

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{os.getpid()}")
    pub.max_inflight_messages_set(100)  # paho's QoS 1 bookkeeping slows down above ~100
    pub.connect(host, port)
    pub.loop_start()
    return pub


def _publish_plant(pub, topic: str, v: np.ndarray, *, singles_every: int = 0,
                   t0: int = 0) -> list:
    """One JSON array of S readings per time step; every `singles_every`-th step as S messages
    on per-sensor topics with a bare number (the other payload format)."""
    infos = []
    for t in range(t0, t0 + v.shape[0]):
        if singles_every and t % singles_every == 0:
            infos += [pub.publish(f"{topic}/s{s}", repr(float(v[t - t0, s])), qos=1)
                      for s in range(v.shape[1])]
        else:
            recs = [{"sensor": f"s{s}", "timestamp": t, "seq": t, "value": float(v[t - t0, s])}
                    for s in range(v.shape[1])]
            infos.append(pub.publish(f"{topic}/batch", json.dumps(recs), qos=1))
    return infos


def test_100k_readings_over_50_sensors(mosquitto, tmp_path):
    host, port = mosquitto
    v = _readings()
    src = MQTTSource(f"mqtt://{host}:{port}/plant/#", client_id=f"mon-{os.getpid()}",
                     idle_exit=2.0)
    dl = DeadLetters(str(tmp_path / "dl.jsonl"))
    sink = _ListSink()
    mon = SensorMonitor(PageHinkley(threshold=150.0), dead_letters=dl, alert_sinks=[sink])
    pub = _publisher(host, port)
    malformed = [("plant/s1", "abc"), ("plant/batch", "{not json"), ("plant/s2", "nan"),
                 ("plant/batch", '{"sensor": "s5", "timestamp": 1}')]

    def publish():
        half = v.shape[0] // 2
        infos = _publish_plant(pub, "plant", v[:half], singles_every=100)
        infos += [pub.publish(t, p, qos=1) for t, p in malformed]
        infos += _publish_plant(pub, "plant", v[half:], singles_every=100, t0=half)
        for info in infos:
            info.wait_for_publish(60)

    t0 = time.perf_counter()
    th = threading.Thread(target=publish)
    th.start()
    try:
        summary = mon.run(src, handle_signals=False)
    finally:
        th.join()
        src.close()
        pub.disconnect()
        pub.loop_stop()
        mon.close()
    elapsed = time.perf_counter() - t0 - 2.0  # minus the idle wait at the end
    assert summary["readings"] == v.size
    alerts = [json.loads(line) for line in open(tmp_path / "dl.jsonl")]
    assert sorted(a["reason"] for a in alerts) == [
        "bad_json", "missing_value", "non_finite", "non_numeric"]
    # exactly the shifted sensors alert, within 100 readings of the shift
    got = {}
    for a in sink.items:
        got.setdefault(a["sensor"], a["index"])
    assert sorted(got) == sorted(f"s{s}" for s in SHIFTED)
    assert all(SHIFT_AT <= i < SHIFT_AT + 100 for i in got.values()), got
    print(f"MQTT: {v.size / elapsed:.0f} readings/s end to end", file=sys.stderr)


def _spawn(args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "adaptive", *args], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE)


def test_kill_9_on_mqtt_stream_then_restart_is_exactly_once(mosquitto, tmp_path):
    host, port = mosquitto
    v = _readings(seed=5)[:400, :20]  # (T, S): 8000 readings
    topic = f"k9-{os.getpid()}"
    args = ["monitor", "--source", f"mqtt://{host}:{port}/{topic}/#", "--detector",
            "PageHinkley", "--param", "threshold=15", "--alerts", str(tmp_path / "a.jsonl"),
            "--state", str(tmp_path / "s.json"), "--checkpoint-every", "1000",
            "--batch-rows", "5", "--client-id", f"k9-{os.getpid()}", "--idle-exit", "3"]
    # reference: the same readings, uninterrupted, in the library
    ref = SensorMonitor(PageHinkley(threshold=15.0)).update_wide(
        [f"s{s}" for s in range(20)], v, list(range(400)), np.arange(400))
    assert len(ref) > 20
    proc = _spawn(args)
    state = tmp_path / "s.json"
    deadline = time.monotonic() + 60
    while not state.exists() and time.monotonic() < deadline:  # connected, session created
        time.sleep(0.05)
    # the first half is published while the monitor runs, the second only after the kill
    # (QoS 1 on a persistent session: the broker queues it): so the kill is always midway
    half = v.shape[0] // 2
    pub = _publisher(host, port)
    for info in _publish_plant(pub, topic, v[:half]):
        info.wait_for_publish(60)
    killed = False
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            st = json.loads(state.read_text())
        except ValueError:
            continue
        if st["position"]["row"] > 0:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    proc.wait()
    assert killed, f"the monitor ended before it was killed: {proc.stderr.read().decode()}"
    for info in _publish_plant(pub, topic, v[half:], t0=half):
        info.wait_for_publish(60)
    pub.disconnect()
    pub.loop_stop()
    proc = _spawn(args)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err.decode()
    got = [json.loads(line) for line in open(tmp_path / "a.jsonl")]
    key = ("sensor", "kind", "index", "timestamp", "statistic")
    assert [tuple(a[k] for k in key) for a in got] == [tuple(a[k] for k in key) for a in ref]


def test_alerts_published_to_mqtt(mosquitto):
    import paho.mqtt.client as mqtt

    from adaptive.monitor.alerts import MQTTAlertSink

    host, port = mosquitto
    topic = f"alerts-{os.getpid()}"
    got, ready = [], threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{topic}")
    sub.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    sub.on_connect = lambda c, u, f, rc, p: (c.subscribe(topic, qos=1), ready.set())
    sub.connect(host, port)
    sub.loop_start()
    assert ready.wait(10)
    time.sleep(0.2)
    sink = MQTTAlertSink(f"mqtt://{host}:{port}/{topic}")
    mon = SensorMonitor(PageHinkley(threshold=15.0), alert_sinks=[sink])
    v = _readings(seed=2)[:300, :5]
    alerts = mon.update_wide([f"s{s}" for s in range(5)], v, list(range(300)), np.arange(300))
    for sink_ in mon.alert_sinks:
        sink_.write(alerts)
    mon.close()  # waits for the broker's PUBACKs
    deadline = time.monotonic() + 10
    while len(got) < len(alerts) and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.disconnect()
    sub.loop_stop()
    assert len(alerts) > 0 and got == alerts
    with pytest.raises(ValueError, match="wildcards"):
        MQTTAlertSink(f"mqtt://{host}:{port}/a/#")
