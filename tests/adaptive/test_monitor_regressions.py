"""Regression tests of the monitor defects of issue 11 (items 1-5, 7, 8 monitor side, 12),
through the command line ``python -m adaptive monitor`` (in this process, or as a child process
where two processes or a kill are the point). Each failed before its fix."""

from __future__ import annotations

import base64
import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.adaptive._monitor_cli import (
    assert_one_line_error,
    child_env,
    cli,
    jsonl,
    monitor_args,
    spawn,
    summary_of,
    wide_csv,
)

# -- item 1: a restart before the first periodic checkpoint must not read the header as data --

def test_header_only_csv_twice_reads_no_header_as_data(tmp_path):
    csv = tmp_path / "h.csv"
    csv.write_text("timestamp,a,b\n")
    for _ in range(2):
        res = cli(*monitor_args(tmp_path, str(csv)))
        assert res.code == 0, res.err
        assert summary_of(res.err)["records"] == 0
    assert jsonl(tmp_path / "dl.jsonl") == []


def test_rows_appended_after_a_header_only_run_start_at_offset_0(tmp_path):
    csv = tmp_path / "h.csv"
    csv.write_text("timestamp,a,b\n")
    assert cli(*monitor_args(tmp_path, str(csv))).code == 0
    with open(csv, "a") as f:
        f.write("".join(f"{t},{t % 5},{t % 3}\n" for t in range(50)))
    res = cli(*monitor_args(tmp_path, str(csv)))
    assert res.code == 0, res.err
    s = summary_of(res.err)
    assert (s["records"], s["readings"], s["dead_letters"]) == (50, 100, 0)


# -- item 2: one writer per state and per output file --

def _holder(tmp_path: Path, *extra: str) -> subprocess.Popen:
    """A monitor on an open pipe (so it keeps running) that has written its first state."""
    proc = spawn(monitor_args(tmp_path, "-", *extra), stdin=subprocess.PIPE)
    proc.stdin.write(b"timestamp,a\n0,1\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 120
    while not (tmp_path / "state.json").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the first monitor never wrote its state"
        time.sleep(0.05)
    return proc


def test_second_monitor_on_the_same_state_is_refused_naming_the_holder(tmp_path):
    holder = _holder(tmp_path)
    try:
        csv = wide_csv(tmp_path / "d.csv", 50, 1)
        alerts_before = (tmp_path / "alerts.jsonl").read_bytes()
        res = cli(*monitor_args(tmp_path, str(csv)))  # same --state, --alerts, --dead-letters
        assert_one_line_error(res, str(holder.pid))
        # another state, but the same alert file: refused too
        args = monitor_args(tmp_path, str(csv))
        args[args.index("--state") + 1] = str(tmp_path / "other.json")
        args[args.index("--dead-letters") + 1] = str(tmp_path / "other-dl.jsonl")
        assert_one_line_error(cli(*args), "alerts.jsonl")
        assert (tmp_path / "alerts.jsonl").read_bytes() == alerts_before
    finally:
        holder.stdin.close()
        assert holder.wait(120) == 0, holder.stderr.read().decode()
    assert cli(*monitor_args(tmp_path, str(csv))).code == 2  # still bound to the stdin source
    assert cli(*monitor_args(tmp_path, "-"), stdin=b"timestamp,a\n0,1\n1,2\n").code == 0


def test_lock_is_released_by_a_killed_holder(tmp_path):
    holder = _holder(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    res = cli(*monitor_args(tmp_path, "-"), stdin=b"timestamp,a\n0,1\n1,2\n")
    assert res.code == 0, res.err


# -- item 3: the state is bound to its source --

def test_state_of_another_csv_is_refused_and_kept(tmp_path):
    a = wide_csv(tmp_path / "a.csv", 300, 3, seed=1)
    assert cli(*monitor_args(tmp_path, str(a))).code == 0
    state = tmp_path / "state.json"
    saved = state.read_bytes()
    for rows in (100, 300, 600):  # shorter, same size, longer: same header, other content
        b = wide_csv(tmp_path / f"b{rows}.csv", rows, 3, seed=2)
        res = cli(*monitor_args(tmp_path, str(b)))
        assert_one_line_error(res, "source")
        assert state.read_bytes() == saved
    long = tmp_path / "long.csv"
    long.write_text("timestamp,sensor,value\n0,a,1\n")
    assert_one_line_error(cli(*monitor_args(tmp_path, str(long))), "source")
    assert_one_line_error(cli(*monitor_args(tmp_path, "-"), stdin=a.read_bytes()), "source")
    # an explicit reset starts over on the new source
    res = cli(*monitor_args(tmp_path, str(tmp_path / "b600.csv"), "--reset-state"))
    assert res.code == 0, res.err
    assert summary_of(res.err)["records"] == 600


def test_growing_csv_resumes_where_it_stopped(tmp_path):
    a = wide_csv(tmp_path / "a.csv", 400, 3, seed=1)
    lines = a.read_text().splitlines(keepends=True)
    grow = tmp_path / "grow.csv"
    grow.write_text("".join(lines[:201]))
    assert cli(*monitor_args(tmp_path, str(grow), tag="g")).code == 0
    with open(grow, "a") as f:
        f.write("".join(lines[201:]))
    res = cli(*monitor_args(tmp_path, str(grow), tag="g"))
    assert res.code == 0, res.err
    assert summary_of(res.err)["records"] == 400
    assert cli(*monitor_args(tmp_path, str(a), tag="ref")).code == 0
    assert (tmp_path / "alertsg.jsonl").read_bytes() == (tmp_path / "alertsref.jsonl").read_bytes()


def test_csv_rewritten_under_the_same_name_is_refused(tmp_path):
    a = wide_csv(tmp_path / "a.csv", 300, 3, seed=1)
    assert cli(*monitor_args(tmp_path, str(a))).code == 0
    wide_csv(a, 300, 3, seed=9)  # same path and size, other bytes
    assert_one_line_error(cli(*monitor_args(tmp_path, str(a))), "source")


# -- item 4: duplicate sensor columns --

@pytest.mark.parametrize("header", ["timestamp,a,a", "timestamp,a,b,a", "timestamp,a, a",
                                    "timestamp,a,"])
def test_duplicate_or_empty_sensor_columns_are_refused(tmp_path, header):
    csv = tmp_path / "d.csv"
    n = header.count(",")
    csv.write_text(header + "\n" + "0" + ",1" * n + "\n")
    assert_one_line_error(cli(*monitor_args(tmp_path, str(csv))), "column")
    assert not (tmp_path / "state.json").exists()


# -- item 5: configuration and I/O errors are one line and exit 2 --

def test_state_in_a_missing_folder(tmp_path):
    csv = wide_csv(tmp_path / "d.csv", 20, 2)
    args = monitor_args(tmp_path, str(csv))
    args[args.index("--state") + 1] = str(tmp_path / "nope" / "state.json")
    assert_one_line_error(cli(*args), "state")


@pytest.mark.parametrize("option", ["--alerts", "--dead-letters"])
def test_output_on_a_full_device(tmp_path, option):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    csv = wide_csv(tmp_path / "d.csv", 2000, 4)
    bad = wide_csv(tmp_path / "bad.csv", 5, 2)
    bad.write_text("timestamp,a,b\n0,x,1\n")  # one dead letter
    args = monitor_args(tmp_path, str(csv if option == "--alerts" else bad))
    args[args.index(option) + 1] = "/dev/full"
    assert_one_line_error(cli(*args), "/dev/full")


def test_state_path_is_a_directory(tmp_path):
    csv = wide_csv(tmp_path / "d.csv", 20, 2)
    args = monitor_args(tmp_path, str(csv))
    (tmp_path / "sdir").mkdir()
    args[args.index("--state") + 1] = str(tmp_path / "sdir")
    assert_one_line_error(cli(*args), "state")


def test_source_is_a_directory(tmp_path):
    assert_one_line_error(cli(*monitor_args(tmp_path, str(tmp_path))), "source")


def _b64_array(d: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["b64"]), dtype=np.dtype(d["dtype"])).reshape(
        d["shape"]).copy()


def _set_b64(d: dict, arr: np.ndarray) -> None:
    d["b64"] = base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")


def _nan_state(s: dict) -> None:
    arr = _b64_array(s["fleet"]["state"])
    arr[:] = np.nan
    _set_b64(s["fleet"]["state"], arr)


def _inf_params(s: dict) -> None:
    arr = _b64_array(s["fleet"]["stream_params"])
    arr[:] = np.inf
    _set_b64(s["fleet"]["stream_params"], arr)


CORRUPTIONS = {
    "calib is a list": lambda s: s.__setitem__("calib", []),
    "byte is text": lambda s: s["position"].__setitem__("byte", "abc"),
    "negative byte": lambda s: s["position"].__setitem__("byte", -5),
    "negative row": lambda s: s["position"].__setitem__("row", -5),
    "byte beyond the file": lambda s: s["position"].__setitem__("byte", 10**9),
    "more names than streams": lambda s: s.__setitem__("names", s["names"] + ["zz"]),
    "repeated names": lambda s: s.__setitem__("names", [s["names"][0]] * len(s["names"])),
    "stream index out of range": lambda s: s.__setitem__("stream_of", [0, 7, 1]),
    "counts of another length": lambda s: s.__setitem__("counts", [1]),
    "negative counts": lambda s: s.__setitem__("counts", [-1] * len(s["counts"])),
    "NaN detector state": _nan_state,
    "infinite parameters": _inf_params,
    "stats is a list": lambda s: s.__setitem__("stats", []),
    "negative alert length": lambda s: s["files"].__setitem__("alerts", [-3]),
    "alert length as text": lambda s: s["files"].__setitem__("alerts", ["x"]),
    "dead letters by reason is a list": lambda s: s.__setitem__("dead_by_reason", [1]),
    "fleet missing": lambda s: s.pop("fleet"),
    "top level is a list": None,
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_inconsistent_state_is_refused_and_kept(tmp_path, case):
    csv = wide_csv(tmp_path / "d.csv", 200, 3)
    assert cli(*monitor_args(tmp_path, str(csv), "--checkpoint-every", "300")).code == 0
    state = tmp_path / "state.json"
    saved = json.loads(state.read_text())
    assert len(saved["names"]) == 3 and saved["stream_of"] == [0, 1, 2]
    edit = CORRUPTIONS[case]
    if edit is None:
        saved = [saved]
    else:
        edit(saved)
    text = json.dumps(saved)
    state.write_text(text)
    assert_one_line_error(cli(*monitor_args(tmp_path, str(csv))), "state")
    assert state.read_text() == text


def test_state_file_that_is_not_utf8_json(tmp_path):
    csv = wide_csv(tmp_path / "d.csv", 20, 2)
    (tmp_path / "state.json").write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(cli(*monitor_args(tmp_path, str(csv))), "state")


# -- item 7: stale temp files of the monitor's state --

def test_temp_file_of_a_kill_inside_a_checkpoint_write_is_removed_on_restart(tmp_path):
    csv = wide_csv(tmp_path / "d.csv", 3000, 10, seed=4)
    args = monitor_args(tmp_path, str(csv), "--checkpoint-every", "5000")
    # the test hook: SIGKILL at the first pass through "checkpoint.partial" (half the state
    # bytes written to the temp file); see test_monitor_chaos.py
    proc = spawn(args, env=child_env(ADAPTIVE_FAULT_KILL="checkpoint.partial:2"))
    proc.wait(180)
    assert proc.returncode == -signal.SIGKILL, "the fault hook did not kill the monitor"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")], \
        "a kill inside a checkpoint write should leave its temp file"
    other = tmp_path / ".another-state.json.x1y2.tmp"  # not ours: another state's temp file
    other.write_bytes(b"x")
    res = cli(*args)
    assert res.code == 0, res.err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == [other.name]
    assert cli(*monitor_args(tmp_path, str(csv), tag="ref")).code == 0
    assert (tmp_path / "alerts.jsonl").read_bytes() == (tmp_path / "alertsref.jsonl").read_bytes()


# -- item 8 (monitor side): readings beyond the detector's max_abs_input are dead letters --

@pytest.mark.parametrize("detector", ["ADWIN", "EWMA", "PageHinkley", "CUSUM"])
def test_huge_readings_are_overflow_dead_letters(tmp_path, detector):
    import adaptive

    limit = getattr(adaptive, detector)().max_abs_input
    assert math.isfinite(limit) and limit > 0
    rng = np.random.default_rng(0)
    rows = [f"{t},{x:.4f},{y:.4f}" for t, (x, y) in enumerate(rng.normal(size=(400, 2)))]
    rows[100] = f"100,{limit * 4:.17g},0.5"
    rows[101] = f"101,-1e308,{limit * 0.5:.17g}"
    csv = tmp_path / "d.csv"
    csv.write_text("timestamp,a,b\n" + "\n".join(rows) + "\n")
    res = cli(*monitor_args(tmp_path, str(csv), detector=detector, params=()))
    assert res.code == 0, res.err
    dead = jsonl(tmp_path / "dl.jsonl")
    assert [(d["reason"], d["offset"], d["sensor"]) for d in dead] == [
        ("overflow", 100, "a"), ("overflow", 101, "a")]
    assert summary_of(res.err)["readings"] == 800 - 2


# -- item 12: --param types from the constructor's signature, --arl0 inf refused --

@pytest.mark.parametrize("detector, param, key, value", [
    ("CUSUM", "sigma=1", "sigma", 1.0),
    ("CUSUM", "mu0=0.5", "mu0", 0.5),
    ("EWMA", "warning_L=2.5", "warning_L", 2.5),
    ("KSWIN", "seed=3", "seed", 3),
    ("DDM", "max_concept_size=8000", "max_concept_size", 8000),
    ("FHDDM", "short_window_size=20", "short_window_size", 20),
    ("CUSUM", "sigma=none", "sigma", None),
])
def test_params_whose_default_is_none_can_be_set(tmp_path, detector, param, key, value):
    csv = tmp_path / "d.csv"
    csv.write_text("timestamp,a\n" + "".join(f"{t},{t % 2}\n" for t in range(60)))
    res = cli(*monitor_args(tmp_path, str(csv), detector=detector, params=(param,)))
    assert res.code == 0, res.err
    got = json.loads((tmp_path / "state.json").read_text())["config"]["params"][key]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("param, needle", [
    ("sigma=abc", "sigma"), ("seed=1.5", "seed"), ("max_concept_size=x", "max_concept_size"),
])
def test_params_of_the_wrong_type_name_the_parameter(tmp_path, param, needle):
    det = {"sigma": "CUSUM", "seed": "KSWIN", "max_concept_size": "DDM"}[needle]
    csv = wide_csv(tmp_path / "d.csv", 20, 1)
    res = cli(*monitor_args(tmp_path, str(csv), detector=det, params=(param,)))
    assert_one_line_error(res, needle)


@pytest.mark.parametrize("arl0", ["inf", "nan", "-inf", "1"])
def test_arl0_must_be_finite_and_above_one(tmp_path, arl0):
    csv = wide_csv(tmp_path / "d.csv", 20, 1)
    res = cli(*monitor_args(tmp_path, str(csv), "--calibrate-first", "50", f"--arl0={arl0}"))
    assert_one_line_error(res, "arl0")


# -- the state checks refuse nothing a detector writes itself --

def _detector_configs():
    from adaptive.drift import DETECTORS

    for name, cls in sorted(DETECTORS.items()):
        for params in list(cls._unit_test_params())[:1] or [{}]:
            yield pytest.param(cls, params, id=name)


@pytest.mark.parametrize("cls, params", list(_detector_configs()))
def test_every_detector_state_passes_the_checks_and_resumes_exactly(cls, params):
    """A checkpoint at any point (warm-up, after alarms, mid-window) of every registered
    detector loads back (no legitimate "not yet" slot is refused) and continues exactly."""
    from adaptive import SensorMonitor

    rng = np.random.default_rng(3)
    n = 600
    if cls._binary:
        # the rate of ones rises in two sensors and falls in two (FHDDM watches a fall)
        first = np.array([0.1, 0.1, 0.6, 0.6])
        rate = np.where(np.arange(n)[:, None] < n // 2, first, 0.7 - first)  # (n, 4)
        x = (rng.random((n, 4)) < rate) * 1.0
    else:
        x = rng.normal(size=(n, 4)) + np.where(np.arange(n)[:, None] < n // 2, 0.0, 3.0)
    names = ["a", "b", "c", "d"]
    ref = SensorMonitor(cls(**params))
    want = ref.update_wide(names, x, list(range(n)), np.arange(n))
    assert want, cls.__name__  # the comparison below is about alerts: there must be some
    for cut in (5, 40, n // 2 + 7, n - 3):
        mon = SensorMonitor(cls(**params))
        got = mon.update_wide(names, x[:cut], list(range(cut)), np.arange(cut))
        back = SensorMonitor(cls(**params))
        back.load_state_dict(json.loads(json.dumps(mon.state_dict())))
        got += back.update_wide(names, x[cut:], list(range(cut, n)), np.arange(cut, n))
        assert got == want, (cls.__name__, cut)
