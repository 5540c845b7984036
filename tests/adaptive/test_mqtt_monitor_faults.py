"""MQTT input of the monitor against a real broker (issue 11 items 6 and 8, and the window
between a checkpoint and its acknowledgements): Python-only number syntax and readings beyond
the detector's ``max_abs_input`` are dead letters; a monitor killed after a checkpoint but
before it acknowledged the messages that checkpoint covers does not count them twice when the
broker redelivers them, even for bare numeric payloads that carry no ``seq``."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from tests.adaptive._monitor_cli import (
    child_env,
    cli,
    jsonl,
    monitor_args,
    mqtt_publish,
    mqtt_session,
    spawn,
    summary_of,
)

pytestmark = pytest.mark.mqtt


def _mqtt_args(tmp, host, port, topic, client_id, *extra, tag="", **kw):
    return monitor_args(tmp, f"mqtt://{host}:{port}/{topic}/#", "--client-id", client_id,
                        "--idle-exit", "1.5", *extra, tag=tag, **kw)


def _run_messages(tmp_path, host, port, name, msgs):
    topic, cid = f"{name}-{os.getpid()}", f"{name}-mon-{os.getpid()}"
    mqtt_session(host, port, cid, f"{topic}/#")
    mqtt_publish(host, port, [(f"{topic}/{t}", p) for t, p in msgs])
    res = cli(*_mqtt_args(tmp_path, host, port, topic, cid))
    assert res.code == 0, res.err
    return [(d["reason"], d["offset"]) for d in jsonl(tmp_path / "dl.jsonl")], \
        summary_of(res.err)["readings"]


def test_python_only_number_syntax_is_a_dead_letter(mosquitto, tmp_path):
    host, port = mosquitto
    msgs = [("a", "1.5"), ("a", "1_000"), ("a", "\u0661"), ("b", json.dumps({"value": "2_5"})),
            ("b", json.dumps({"value": "0x10"})), ("b", json.dumps({"value": "2.5"})),
            ("a", " 7 ")]
    dead, readings = _run_messages(tmp_path, host, port, "odd", msgs)
    assert dead == [("non_numeric", k) for k in (1, 2, 3, 4)]
    assert readings == 3


def test_readings_beyond_max_abs_input_are_overflow_dead_letters(mosquitto, tmp_path):
    import adaptive

    host, port = mosquitto
    limit = adaptive.PageHinkley().max_abs_input
    msgs = [("a", "1.5"), ("b", json.dumps({"value": limit * 2, "seq": 1})),
            ("a", repr(-limit * 3)), ("b", json.dumps({"value": limit / 2, "seq": 2})),
            ("b", json.dumps([{"value": 1.0, "seq": 3}, {"value": -1e308, "seq": 4}]))]
    dead, readings = _run_messages(tmp_path, host, port, "big", msgs)
    assert dead == [("overflow", 1), ("overflow", 2), ("overflow", 5)]
    assert readings == 3


def _plant(topic: str, n_steps: int = 150, n_sensors: int = 20) -> list[tuple[str, str]]:
    """Bare numeric payloads, one topic per sensor (no seq, no timestamp); sensor 3 shifts."""
    rng = np.random.default_rng(8)
    v = rng.normal(size=(n_steps, n_sensors))  # (T, S)
    v[n_steps // 2:, 3] += 3.0
    msgs = [(f"{topic}/s{s}", f"{v[t, s]:.5f}") for t in range(n_steps) for s in range(n_sensors)]
    msgs[777] = (f"{topic}/s17", "oops")
    return msgs


def test_kill_between_checkpoint_and_acks_counts_nothing_twice(mosquitto, tmp_path):
    host, port = mosquitto
    topic = f"ackwin-{os.getpid()}"
    cid, ref_cid = f"{topic}-mon", f"{topic}-ref"
    for c in (cid, ref_cid):
        mqtt_session(host, port, c, f"{topic}/#")
    msgs = _plant(topic)
    mqtt_publish(host, port, msgs)
    extra = ("--checkpoint-every", "400", "--batch-rows", "40")
    ref = cli(*_mqtt_args(tmp_path, host, port, topic, ref_cid, *extra, tag="ref"))
    assert ref.code == 0, ref.err
    assert summary_of(ref.err)["readings"] == len(msgs) - 1
    assert len(jsonl(tmp_path / "alertsref.jsonl")) > 0
    args = _mqtt_args(tmp_path, host, port, topic, cid, *extra)
    # the test hook: SIGKILL just before the acknowledgements of the second checkpoint
    proc = spawn(args, env=child_env(ADAPTIVE_FAULT_KILL="acks.before:2"))
    proc.wait(180)
    assert proc.returncode == -signal.SIGKILL, "the fault hook did not kill the monitor"
    res = cli(*args)
    assert res.code == 0, res.err
    assert summary_of(res.err)["readings"] == len(msgs) - 1
    for name in ("alerts", "dl"):
        assert (tmp_path / f"{name}.jsonl").read_bytes() == \
            (tmp_path / f"{name}ref.jsonl").read_bytes(), name


def test_lost_connection_reconnects_and_drops_the_redeliveries(mosquitto):
    """The connection dies after some batches were processed (not acknowledged): the client
    reconnects, the broker resends those messages flagged DUP, and they are dropped, not read
    twice (bare numbers carry nothing else to recognise them by)."""
    import socket

    from adaptive import PageHinkley, SensorMonitor
    from adaptive.monitor.sources import MQTTSource

    host, port = mosquitto
    topic, cid = f"drop-{os.getpid()}", f"drop-mon-{os.getpid()}"
    mqtt_session(host, port, cid, f"{topic}/#")
    msgs = _plant(topic, n_steps=100, n_sensors=10)
    msgs[777 % len(msgs)] = (f"{topic}/s1", "0.5")
    mqtt_publish(host, port, msgs)
    src = MQTTSource(f"mqtt://{host}:{port}/{topic}/#", client_id=cid, max_batch=150,
                     idle_exit=1.5)
    mon = SensorMonitor(PageHinkley(threshold=15.0))
    try:
        it = src.batches()
        for _ in range(3):
            mon.process(next(it))
        before = mon.summary()["readings"]  # up to 3 x 150: batches close early under load
        src._conn._sock.shutdown(socket.SHUT_RDWR)  # the network goes away
        for batch in it:
            mon.process(batch)
    finally:
        src.close()
    assert src._conn.reconnects == 1
    assert before > 0
    assert mon.summary()["duplicates"] >= before  # the three batches came back once
    assert mon.summary()["readings"] == len(msgs)
