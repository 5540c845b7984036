"""Helpers of the monitor's fault, regression and chaos tests: ``python -m adaptive monitor``
run in this process (through ``runpy``, the same entry point as the command line) or as a child
process, and small input files. Only the public surface is used, so the tests survive a
re-layout of the package."""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import subprocess
import sys
import traceback
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ERROR_PREFIX = "python -m adaptive: error:"


class Result(NamedTuple):
    code: int
    err: str  # stderr (a traceback, if one escaped, is appended here)


def cli(*args: str, stdin: bytes | None = None) -> Result:
    """``python -m adaptive <args>`` in this process; an escaping exception reads as exit 1
    with its traceback on stderr, as the command line would show it."""
    err = io.StringIO()
    old_argv, old_stdin = sys.argv, sys.stdin
    sys.argv = ["python -m adaptive", *args]
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with contextlib.redirect_stderr(err):
            try:
                runpy.run_module("adaptive", run_name="__main__", alter_sys=False)
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
            except Exception:  # noqa: BLE001 - reported like the interpreter would
                traceback.print_exc()
                code = 1
    finally:
        sys.argv, sys.stdin = old_argv, old_stdin
    return Result(code, err.getvalue())


def assert_one_line_error(res: Result, *needles: str) -> None:
    """Exit 2 and exactly one line on stderr, the CLI's error line, holding every needle."""
    lines = res.err.strip().splitlines()
    assert res.code == 2, f"exit {res.code}, stderr:\n{res.err}"
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), res.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    for key in ("ADAPTIVE_FAULT_KILL", "ADAPTIVE_FAULT_TRACE"):
        if key not in extra:
            env.pop(key, None)
    return env


def spawn(args: list[str], *, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    """``python -m adaptive <args>`` as a child process (stderr piped)."""
    return subprocess.Popen([sys.executable, "-m", "adaptive", *args], cwd=ROOT,
                            env=env or child_env(), stderr=subprocess.PIPE, **kw)


def monitor_args(tmp: Path, source: str, *extra: str, tag: str = "",
                 detector: str = "PageHinkley", params: tuple[str, ...] = ("threshold=15",),
                 ) -> list[str]:
    """A ``monitor`` command line writing alerts{tag}.jsonl, state{tag}.json, dl{tag}.jsonl."""
    out = ["monitor", "--source", source, "--detector", detector]
    for p in params:
        out += ["--param", p]
    return out + ["--alerts", str(tmp / f"alerts{tag}.jsonl"),
                  "--state", str(tmp / f"state{tag}.json"),
                  "--dead-letters", str(tmp / f"dl{tag}.jsonl"), *extra]


def wide_csv(path: Path, rows: int, sensors: int, seed: int = 0, shift: float = 2.0) -> Path:
    """timestamp,s0..s{S-1}; sensor 1 shifts by ``shift`` half-way."""
    rng = np.random.default_rng(seed)
    vals = rng.normal(size=(rows, sensors))  # (T, S)
    if sensors > 1:
        vals[rows // 2:, 1] += shift
    with open(path, "w") as f:
        f.write("timestamp," + ",".join(f"s{i}" for i in range(sensors)) + "\n")
        np.savetxt(f, np.column_stack([np.arange(rows), vals]),
                   fmt=["%d"] + ["%.4f"] * sensors, delimiter=",")
    return path


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in open(path)] if path.exists() else []


def summary_of(err: str) -> dict:
    """The summary line the monitor prints to stderr at exit."""
    return json.loads(err.split("monitor summary: ", 1)[1].splitlines()[0])


def mqtt_session(host: str, port: int, client_id: str, topic: str) -> None:
    """Create a persistent QoS 1 session subscribed to ``topic`` (the broker then queues what
    is published until the monitor with this client id connects)."""
    import threading

    import paho.mqtt.client as mqtt

    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.on_subscribe = lambda *a: done.set()
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(topic, qos=1)
    c.connect(host, port)
    c.loop_start()
    try:
        assert done.wait(10), "no SUBACK from the broker"
    finally:
        c.disconnect()
        c.loop_stop()


def mqtt_publish(host: str, port: int, messages: list[tuple[str, str | bytes]]) -> None:
    """Publish (topic, payload) pairs with QoS 1, in order, and wait for every PUBACK."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{os.getpid()}")
    c.max_inflight_messages_set(100)
    c.connect(host, port)
    c.loop_start()
    try:
        infos = [c.publish(t, p, qos=1) for t, p in messages]
        for info in infos:
            info.wait_for_publish(60)
    finally:
        c.disconnect()
        c.loop_stop()
