"""Fault injection for the monitor (issue 11): SIGKILL at random points, restart, and the alerts
and dead letters must equal an uninterrupted run's byte for byte; no temp file of ours is left.

Sources: a wide CSV file, a long CSV file (with per-sensor calibration), a wide CSV on stdin
(a pipe, replayed from its start on restart) and MQTT (QoS 1, persistent session, redelivery).

Kill points are drawn at random (seed ``CHAOS_SEED``, printed; fresh per run otherwise):
- a timer: SIGKILL after a random delay from the start, often during start-up or before the
  first checkpoint;
- the monitor's fault hook: ``ADAPTIVE_FAULT_KILL=<i>`` makes the monitor SIGKILL itself at its
  i-th pass through a fault site, and ``ADAPTIVE_FAULT_TRACE=<file>`` logs each pass (site
  name, one line). Sites: ``checkpoint.open`` / ``.partial`` (half the bytes in the temp file) /
  ``.written`` (fsynced, not renamed) / ``.renamed`` (directory not fsynced), ``alerts.partial``
  / ``alerts.written`` and ``dead_letters.partial`` / ``.written`` (half of / all of a write in
  the OS, not fsynced), ``batch.done``, ``acks.before`` (MQTT: checkpointed, not acknowledged).
  An uninterrupted run with the trace on gives the number of passes to draw from; a quarter
  of the draws fall in the first checkpoint window (start-up to the first periodic
  checkpoint).
A chain of 1-4 killed processes on the same state ends with a run to completion, then the
comparison. ``CHAOS_POINTS`` (default 30) is the number of kill points that must land, spread
over the four sources; ``make chaos`` runs 300.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.adaptive._monitor_cli import (
    child_env,
    monitor_args,
    mqtt_publish,
    mqtt_session,
    spawn,
)

pytestmark = pytest.mark.chaos
POINTS = int(os.environ.get("CHAOS_POINTS", "30"))
SEED = int(os.environ.get("CHAOS_SEED", str(random.SystemRandom().randrange(2**32))))
WEIGHTS = {"csv-wide": 0.35, "csv-long": 0.2, "stdin": 0.25, "mqtt": 0.2}
REPORT: Counter = Counter()  # kind of kill point -> count, over the session


def _share(name: str) -> int:
    """This source's share of POINTS (largest remainder, so the shares sum to POINTS)."""
    raw = {k: POINTS * w for k, w in WEIGHTS.items()}
    base = {k: int(v) for k, v in raw.items()}
    rest = sorted(raw, key=lambda k: raw[k] - base[k], reverse=True)
    for k in rest[: POINTS - sum(base.values())]:
        base[k] += 1
    return base[name]


# -- inputs -----------------------------------------------------------------------------------

def _values(rows: int, sensors: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(rows, sensors))  # (T, S)
    v[rows // 3:, 1::4] += 2.5  # a quarter of the sensors shift, at a third of the run
    return v


def _wide_text(rows: int, sensors: int, seed: int) -> bytes:
    v = _values(rows, sensors, seed)
    lines = ["timestamp," + ",".join(f"s{s}" for s in range(sensors))]
    rng = np.random.default_rng(seed + 1)
    for t in range(rows):
        cells = [f"{x:.4f}" for x in v[t]]
        if rng.random() < 0.02:  # a malformed cell now and then: dead letters
            cells[int(rng.integers(sensors))] = rng.choice(["x", "", "nan", "1_0"])
        lines.append(f"{t}," + ",".join(cells))
        if rng.random() < 0.003:
            lines.append(f"{t},only-two")  # a row with the wrong number of fields
    return ("\n".join(lines) + "\n").encode()


def _long_text(rows: int, sensors: int, seed: int) -> bytes:
    v = _values(rows, sensors, seed)
    rng = np.random.default_rng(seed + 2)
    lines = ["timestamp,sensor,value"]
    for t in range(rows):
        for s in rng.permutation(sensors).tolist():
            val = f"{v[t, s]:.4f}" if rng.random() > 0.01 else "oops"
            lines.append(f'{t},"p{s}",{val}' if s % 3 == 0 else f"{t},p{s},{val}")
    return ("\n".join(lines) + "\n").encode()


def _mqtt_messages(topic: str, rows: int, sensors: int, seed: int) -> list[tuple[str, str]]:
    """Bare numbers on per-sensor topics for most steps (no seq: only the broker's redelivery
    protocol keeps them exactly-once), a JSON array with seq every 5th step, a bad payload
    now and then."""
    v = _values(rows, sensors, seed)
    msgs = []
    for t in range(rows):
        if t % 5 == 0:
            recs = [{"sensor": f"s{s}", "timestamp": t, "seq": t, "value": float(v[t, s])}
                    for s in range(sensors)]
            msgs.append((f"{topic}/batch", json.dumps(recs)))
        else:
            msgs += [(f"{topic}/s{s}", f"{v[t, s]:.4f}") for s in range(sensors)]
        if t % 97 == 13:
            msgs.append((f"{topic}/s0", "not-a-number"))
    return msgs


# -- one process ------------------------------------------------------------------------------

class _Run:
    """One monitor process: started, maybe killed, its fate recorded."""

    def __init__(self, args: list[str], *, kill_at: int | None, trace: Path | None,
                 stdin_data: bytes | None):
        env = {}
        if kill_at is not None:
            env["ADAPTIVE_FAULT_KILL"] = str(kill_at)
        if trace is not None:
            env["ADAPTIVE_FAULT_TRACE"] = str(trace)
        self.trace = trace
        self.proc = spawn(args, env=child_env(**env),
                          stdin=subprocess.PIPE if stdin_data is not None else None)
        self._feeder = None
        if stdin_data is not None:
            self._feeder = threading.Thread(target=self._feed, args=(stdin_data,), daemon=True)
            self._feeder.start()

    def _feed(self, data: bytes) -> None:
        try:  # in pieces, so that batches follow what the pipe delivers
            for i in range(0, len(data), 1 << 15):
                self.proc.stdin.write(data[i:i + (1 << 15)])
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the monitor was killed

    def finish(self, kill_after: float | None = None) -> int:
        try:
            self.proc.wait(timeout=kill_after if kill_after is not None else 300)
        except subprocess.TimeoutExpired:
            if kill_after is None:
                raise
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(60)
        if self._feeder is not None:
            self._feeder.join(10)
        self.err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stderr.close()
        return self.proc.returncode

    def sites(self) -> list[str]:
        if self.trace is None or not self.trace.exists():
            return []
        return self.trace.read_text().split()


# -- a scenario -------------------------------------------------------------------------------

class _Scenario:
    def __init__(self, name: str, tmp: Path, rng: random.Random, mosquitto=None):
        self.name, self.tmp, self.rng = name, tmp, rng
        self.stdin_data = None
        self.extra = ["--checkpoint-every", "3000", "--batch-rows", "40"]
        self.detector, self.params = "PageHinkley", ("threshold=15",)
        if name == "csv-wide":
            (tmp / "in.csv").write_bytes(_wide_text(1500, 16, seed=rng.randrange(1000)))
            self.source = str(tmp / "in.csv")
        elif name == "csv-long":
            (tmp / "in.csv").write_bytes(_long_text(1200, 6, seed=rng.randrange(1000)))
            self.source = str(tmp / "in.csv")
            self.detector, self.params = "CUSUM", ()
            self.extra = ["--checkpoint-every", "700", "--batch-rows", "150",
                          "--calibrate-first", "100", "--arl0", "400",
                          "--calibrate-streams", "40", "--calibrate-steps", "2000"]
        elif name == "stdin":
            self.stdin_data = _wide_text(1500, 12, seed=rng.randrange(1000))
            self.source = "-"
            self.extra = ["--checkpoint-every", "2500"]  # batches follow the pipe's pieces
        else:
            self.host, self.port = mosquitto
            self.topic = f"chaos-{os.getpid()}-{rng.randrange(10**9)}"
            self.messages = _mqtt_messages(self.topic, 400, 10, seed=rng.randrange(1000))
            self.extra = ["--checkpoint-every", "600", "--batch-rows", "50",
                          "--idle-exit", "1.5"]
        self.chains = 0

    def args(self, tag: str) -> list[str]:
        source = self.source if self.name != "mqtt" else \
            f"mqtt://{self.host}:{self.port}/{self.topic}-{tag}/#"
        extra = list(self.extra)
        if self.name == "mqtt":
            extra += ["--client-id", f"{self.topic}-{tag}"]
        return monitor_args(self.tmp, source, *extra, tag=tag, detector=self.detector,
                            params=self.params)

    def prepare(self, tag: str) -> None:
        """MQTT: a persistent session for this tag, and the messages queued in it."""
        if self.name == "mqtt":
            topic = f"{self.topic}-{tag}"
            mqtt_session(self.host, self.port, f"{self.topic}-{tag}", f"{topic}/#")
            mqtt_publish(self.host, self.port,
                         [(t.replace(self.topic, topic, 1), p) for t, p in self.messages])

    def outputs(self, tag: str) -> tuple[bytes, bytes]:
        return ((self.tmp / f"alerts{tag}.jsonl").read_bytes(),
                (self.tmp / f"dl{tag}.jsonl").read_bytes())

    def reference(self) -> list[str]:
        """An uninterrupted run with the fault trace on: its outputs and its fault sites."""
        self.prepare("ref")
        run = _Run(self.args("ref"), kill_at=None, trace=self.tmp / "ref.trace",
                   stdin_data=self.stdin_data)
        assert run.finish() == 0, run.err
        sites = run.sites()
        assert sites, "the monitor wrote no fault trace: the ADAPTIVE_FAULT_* hook is missing"
        alerts, dead = self.outputs("ref")
        assert alerts.count(b"\n") > 5 and dead.count(b"\n") > 3, "a weak reference run"
        self.ref = (alerts, dead)
        self.sites = sites
        periodic = [i for i, s in enumerate(sites) if s == "checkpoint.renamed"]
        self.first_window = periodic[1] + 1 if len(periodic) > 1 else len(sites)
        return sites

    def chain(self, budget: int) -> list[str]:
        """1-4 killed processes on one state, then a run to completion; returns the kinds of
        the kill points that landed."""
        self.chains += 1
        tag = f"c{self.chains}"
        self.prepare(tag)
        kinds: list[str] = []
        n_kills = self.rng.randint(1, min(4, budget))
        done_fraction = 0.0
        for j in range(n_kills + 1):
            last = j == n_kills
            timer = not last and self.rng.random() < 0.15
            kill_at = None
            if not last and not timer:
                n = max(1, int(len(self.sites) * (1.0 - done_fraction)))
                early = j == 0 and self.rng.random() < 0.25
                kill_at = self.rng.randint(1, min(n, self.first_window) if early else n)
            trace = self.tmp / f"{tag}-{j}.trace"
            had_state = (self.tmp / f"state{tag}.json").exists()
            run = _Run(self.args(tag), kill_at=kill_at, trace=trace,
                       stdin_data=self.stdin_data)
            code = run.finish(kill_after=self.rng.uniform(0.05, 3.0) if timer else None)
            what = f"{self.name} seed={SEED} chain={tag} process={j} kill_at={kill_at}"
            if code == -signal.SIGKILL:
                sites = run.sites()
                if timer:
                    kind = "timer" if had_state or (self.tmp / f"state{tag}.json").exists() \
                        else "timer before the first checkpoint"
                elif not had_state and len(sites) <= self.first_window:
                    kind = "first checkpoint window: " + sites[-1]
                else:
                    kind = sites[-1]
                kinds.append(kind)
                done_fraction = min(0.9, done_fraction + len(sites) / len(self.sites))
                continue
            assert code == 0, f"{what}: exit {code}\n{run.err}"
            if not last and not timer:
                assert run.sites(), f"{what}: the fault hook is missing"
            break  # ran to completion before the kill point
        assert self.outputs(tag) == self.ref, f"{what}: outputs differ from the reference"
        stale = [p.name for p in self.tmp.iterdir() if p.name.endswith(".tmp")]
        assert not stale, f"{what}: temp files left behind: {stale}"
        return kinds


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_sigkill_at_random_points_then_restart_is_exactly_once(name, tmp_path, request):
    want = _share(name)
    if want == 0:
        pytest.skip(f"CHAOS_POINTS={POINTS} leaves no kill point for {name}")
    mosquitto = request.getfixturevalue("mosquitto") if name == "mqtt" else None
    rng = random.Random(f"{SEED}-{name}")
    sc = _Scenario(name, tmp_path, rng, mosquitto)
    sc.reference()
    kinds: list[str] = []
    t0 = time.monotonic()
    while len(kinds) < want:
        kinds += sc.chain(want - len(kinds))
        assert sc.chains < 4 * want + 10, f"seed={SEED}: too few kill points landed: {kinds}"
    REPORT.update(kinds)
    print(f"\nchaos {name}: {len(kinds)} kill points in {sc.chains} chains, "
          f"{time.monotonic() - t0:.1f} s, seed {SEED}: {dict(Counter(kinds))}",
          file=sys.stderr)
