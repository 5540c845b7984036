"""The monitor CLI: configuration errors (exit 2, state kept), kill -9 + restart gives exactly
the alerts of an uninterrupted run (CSV file and stdin), 1M readings with 1% malformed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from adaptive.monitor.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _wide_csv(path: Path, rows: int, sensors: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    vals = rng.normal(size=(rows, sensors))  # (T, S)
    vals[rows // 2:, 1] += 2.0
    body = np.column_stack([np.arange(rows), vals])
    with open(path, "w") as f:
        f.write("timestamp," + ",".join(f"s{i}" for i in range(sensors)) + "\n")
        np.savetxt(f, body, fmt=["%d"] + ["%.4f"] * sensors, delimiter=",")


def _alerts(path: Path) -> list[dict]:
    return [json.loads(line) for line in open(path)] if path.exists() else []


def _monitor_args(tmp: Path, source: str, *extra: str, tag: str = "") -> list[str]:
    return ["monitor", "--source", source, "--detector", "PageHinkley",
            "--param", "threshold=15", "--alerts", str(tmp / f"alerts{tag}.jsonl"),
            "--state", str(tmp / f"state{tag}.json"),
            "--dead-letters", str(tmp / f"dl{tag}.jsonl"), *extra]


def test_help_documents_every_option():
    text = build_parser()._subparsers._group_actions[0].choices["monitor"].format_help()
    for opt in ("--source", "--format", "--detector", "--param", "--arl0", "--calibrate-first",
                "--alerts", "--state", "--dead-letters", "--checkpoint-every", "--sensors",
                "--shard", "--publish"):
        assert opt in text


@pytest.mark.parametrize("extra, match", [
    (["--detector", "NoSuchDetector"], "unknown; available"),
    (["--param", "bogus=1"], "must be k=v"),
    (["--param", "threshold=abc"], "must be a number"),
    (["--param", "threshold=-1"], "threshold"),
    (["--shard", "4/4"], "--shard"),
])
def test_configuration_errors_exit_2(tmp_path, capsys, extra, match):
    csv = tmp_path / "d.csv"
    _wide_csv(csv, 10, 2)
    args = _monitor_args(tmp_path, str(csv)) + extra
    assert main(args) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


@pytest.mark.parametrize("source, match", [
    ("missing.csv", "cannot read"), ("mqtt://:1883/x", "mqtt://host:port"),
    ("http://example.com/x", "only file paths"),
])
def test_bad_sources_exit_2(tmp_path, capsys, source, match):
    assert main(_monitor_args(tmp_path, str(tmp_path / source) if "://" not in source
                              else source)) == 2
    assert match in capsys.readouterr().err


def test_state_from_other_configuration_or_corrupt_is_kept(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    _wide_csv(csv, 300, 3)
    assert main(_monitor_args(tmp_path, str(csv))) == 0
    state = tmp_path / "state.json"
    saved = state.read_bytes()
    args = _monitor_args(tmp_path, str(csv))
    args[args.index("threshold=15")] = "threshold=16"
    assert main(args) == 2
    assert "configuration" in capsys.readouterr().err and state.read_bytes() == saved
    state.write_text('{"version": 1, "conf')
    assert main(_monitor_args(tmp_path, str(csv))) == 2
    assert "corrupt" in capsys.readouterr().err
    assert state.read_text() == '{"version": 1, "conf'


def _spawn(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "adaptive", *args], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, **kw)


def _checkpoint(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def test_kill_9_midway_through_csv_then_restart_is_exactly_once(tmp_path):
    csv = tmp_path / "d.csv"
    rows = 30_000
    _wide_csv(csv, rows, 20, seed=1)
    assert main(_monitor_args(tmp_path, str(csv), "--checkpoint-every", "4000", tag="ref")) == 0
    ref = _alerts(tmp_path / "alertsref.jsonl")
    assert len(ref) > 50
    args = _monitor_args(tmp_path, str(csv), "--checkpoint-every", "4000")
    proc = _spawn(args)
    alerts, state = tmp_path / "alerts.jsonl", tmp_path / "state.json"
    killed_at = None
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        st = _checkpoint(state)
        # kill once alerts were written after a checkpoint that is past the start
        if st and st["position"]["row"] > 0 and alerts.stat().st_size > st["files"]["alerts"][0]:
            proc.send_signal(signal.SIGKILL)
            killed_at = st["position"]["row"]
            break
        time.sleep(0.002)
    proc.wait()
    assert killed_at is not None and 0 < killed_at < rows, "the monitor was not killed midway"
    assert len(_alerts(alerts)) > 0
    assert main(args) == 0  # restart: truncates to the checkpoint and resumes
    assert _alerts(alerts) == ref


def test_kill_9_on_stdin_then_restart_skips_processed_rows(tmp_path):
    csv = tmp_path / "d.csv"
    _wide_csv(csv, 6000, 10, seed=2)
    lines = csv.read_bytes().splitlines(keepends=True)
    assert main(_monitor_args(tmp_path, str(csv), "--checkpoint-every", "5000", tag="ref")) == 0
    ref = _alerts(tmp_path / "alertsref.jsonl")
    args = _monitor_args(tmp_path, "-", "--checkpoint-every", "30000", "--batch-rows", "250")
    proc = _spawn(args, stdin=subprocess.PIPE)
    proc.stdin.write(b"".join(lines[:3700]))  # header + 3699 rows, then the pipe stays open
    proc.stdin.flush()
    state = tmp_path / "state.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for the checkpoint after >= 30000 readings
        st = _checkpoint(state)
        if st and st["position"]["row"] >= 3000:
            break
        time.sleep(0.01)
    time.sleep(0.3)  # rows 3000..3699 are processed, their alerts written, not checkpointed
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3000 <= st["position"]["row"] < 3699  # batches follow what the pipe delivers
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(csv, "rb") as f:  # the restart reads the whole stream again from its start
        r = subprocess.run([sys.executable, "-m", "adaptive", *args], cwd=ROOT, env=env,
                           stdin=f, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert _alerts(tmp_path / "alerts.jsonl") == ref


def test_million_readings_with_one_percent_malformed(tmp_path, capsys):
    n, rng = 1_000_000, np.random.default_rng(3)
    sensors = rng.integers(0, 500, n)
    vals = rng.normal(size=n)
    bad = rng.random(n) < 0.01
    kinds = rng.integers(0, 4, n)
    cells = np.char.mod("%.5f", vals).astype(object)
    cells[bad & (kinds == 0)] = "oops"
    cells[bad & (kinds == 1)] = "nan"
    cells[bad & (kinds == 2)] = ""
    names = np.char.add("p", sensors.astype(str)).astype(object)
    lines = np.char.add(np.char.add(np.arange(n).astype(str), ","), names.astype(str))
    lines = lines.astype(object)
    text = lines + "," + cells
    text[bad & (kinds == 3)] = np.arange(n)[bad & (kinds == 3)].astype(str).astype(object) + ",x"
    csv = tmp_path / "long.csv"
    csv.write_text("timestamp,sensor,value\n" + "\n".join(text.tolist()) + "\n")
    t0 = time.perf_counter()
    assert main(_monitor_args(tmp_path, str(csv), "--checkpoint-every", "250000")) == 0
    elapsed = time.perf_counter() - t0
    summary = json.loads(capsys.readouterr().err.split("monitor summary: ")[1])
    expect = {"non_numeric": int((bad & (kinds == 0)).sum()),
              "non_finite": int((bad & (kinds == 1)).sum()),
              "missing_value": int((bad & (kinds == 2)).sum()),
              "wrong_field_count": int((bad & (kinds == 3)).sum())}
    assert summary["dead_by_reason"] == expect
    assert summary["records"] == n and summary["readings"] == n - int(bad.sum())
    dl = (tmp_path / "dl.jsonl").read_text().splitlines()
    assert len(dl) == int(bad.sum())
    print(f"1M long-CSV readings (1% malformed) in {elapsed:.2f} s", file=sys.stderr)


def test_plot_command(tmp_path):
    csv = tmp_path / "d.csv"
    _wide_csv(csv, 2000, 4)
    assert main(_monitor_args(tmp_path, str(csv))) == 0
    out = tmp_path / "t.png"
    assert main(["plot", "--alerts", str(tmp_path / "alerts.jsonl"), "--data", str(csv),
                 "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sigterm_while_blocked_on_a_pipe_checkpoints_and_stops(tmp_path):
    import threading

    from adaptive import PageHinkley, SensorMonitor
    from adaptive.monitor.alerts import JSONLSink
    from adaptive.monitor.sources import CSVSource

    r, w = os.pipe()
    os.write(w, b"timestamp,a,b\n" + b"".join(b"%d,%d,1\n" % (t, t % 7) for t in range(100)))
    mon = SensorMonitor(PageHinkley(), alert_sinks=[JSONLSink(str(tmp_path / "a.jsonl"))],
                        state_path=str(tmp_path / "s.json"), checkpoint_every=10**9)
    def stop_when_idle():  # SIGTERM once the 100 rows are processed: the monitor is blocked
        deadline = time.monotonic() + 60
        while mon.stats["records"] < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        if mon.stats["records"] >= 100:  # never signal a process that is not in run()
            os.kill(os.getpid(), signal.SIGTERM)

    timer = threading.Thread(target=stop_when_idle)
    timer.start()
    try:
        with os.fdopen(r, "rb") as f:
            summary = mon.run(CSVSource("-", stream=f))  # blocks on the open pipe after 100 rows
    finally:
        timer.join()
        os.close(w)
        mon.close()
    assert summary["records"] == 100
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["position"]["row"] == 100 and state["stats"]["readings"] == 200
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler was restored
