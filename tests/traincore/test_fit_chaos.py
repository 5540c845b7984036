"""fit under SIGKILL at random points, resumed each time, equals an uninterrupted run exactly.

The issue 11 fault-injection suite for ``fit`` (marker ``chaos``): ``CHAOS_POINTS`` kill points
(default 40, ``make chaos`` runs 300), drawn at random from a seed that is printed on failure
(``CHAOS_SEED`` replays one). ``_chaos_fit.py`` describes the kill points; in short: before the
first checkpoint, after optimizer steps, at every stage of a checkpoint write (empty, partial,
complete but not renamed, renamed), after the epoch callback, and at random instants (timed).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.traincore._compare import same

HERE = Path(__file__).parent
POINTS = int(os.environ.get("CHAOS_POINTS", "40"))
KINDS = {"start", "step", "open", "chunk", "synced", "replaced", "epoch"}

pytestmark = [pytest.mark.chaos,
              pytest.mark.skipif(not hasattr(os, "fork"), reason="the driver forks (POSIX)")]


def test_fit_after_sigkill_at_random_points_equals_an_uninterrupted_run(tmp_path):
    seed = int(os.environ.get("CHAOS_SEED", random.SystemRandom().randrange(2**32)))
    done = subprocess.run(
        [sys.executable, str(HERE / "_chaos_fit.py"), str(tmp_path), "--points", str(POINTS),
         "--seed", str(seed)],
        capture_output=True, text=True, timeout=300 + 10 * POINTS,
    )
    replay = f"CHAOS_SEED={seed} CHAOS_POINTS={POINTS} replays these draws"
    assert done.returncode == 0, f"{replay}\n{done.stderr[-4000:]}"
    summary = json.loads(done.stdout.splitlines()[-1])
    print(f"fit chaos: {summary}")  # kill points per kind, runs, seconds (pytest -s shows it)
    assert summary["points"] == POINTS, replay
    assert summary["mismatches"] == [], f"a resumed run differs from the straight one: {replay}"
    assert summary["leftovers"] == [], f"stale temp files were not removed: {replay}"
    assert summary["before_first_checkpoint"] >= min(POINTS, 2)
    assert summary["temp_file_left"] >= min(POINTS - 1, 1)  # killed inside a checkpoint write
    if POINTS >= 15:  # two fixed points, then one whole cycle of the kinds
        assert set(summary["kinds"]) == KINDS, summary["kinds"]
    # the last chaos run, read back here: the same weights, optimizer state and history
    straight, chaos = (torch.load(tmp_path / name / "result.pt", weights_only=True)
                       for name in ("straight", "chaos"))
    assert same(straight, chaos), replay
    assert len(chaos["history"]) == 6 and chaos["history"][-1]["objective_steps"] == 36
