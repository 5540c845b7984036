"""ADWIN and KSWIN vs River 0.26 in the same run: one stream, one value at a time, and fleets.

Every pair processes identical values with identical parameters, and the alarms of both sides
are compared after the timed rounds: the benchmark fails if they differ (exact parity is the
premise of the speed comparison). Alarm counts and the first detection delays are written to
``benchmarks/results/adaptive_adwin_kswin.{json,md}`` and into ``extra_info``.

Workloads (seeded; values are float64, River gets the same values as Python floats):

- ``adaptive/adwin-update_many``: 10**6 values, N(0, 1) with a mean shift of +1 every 250,000;
  ours ``ADWIN().update_many(values)``, River ``for x in values: det.update(x);
  det.drift_detected``.
- ``adaptive/kswin-update_many``: 3,000 values, N(0, 1) with a shift of +1.5 at 1,500,
  ``KSWIN(alpha=0.005, seed=42)`` (window 100, stat 30: a KS test on every update after 100);
  same loop for River.
- ``adaptive/adwin-update-single``: 100,000 calls of ``det.update(x)`` followed by a read of
  ``det.drift_detected`` on both sides (the River-style loop).
- ``adaptive/adwin-fleet-1000x10000``: 1000 streams x 10,000 steps (10**7 updates), each stream
  N(0, 1) with a shift of +1 at step 5,000 in every tenth stream; ours one
  ``Fleet(ADWIN(), 1000).update(values (10000, 1000))`` on all cores ("ours") and on one thread
  ("ours-1-thread": their ratio is the two-core scaling), River 1000 ``ADWIN`` objects updated
  step by step. Both process all 10**7 updates (River once: ~5-10 s), so the medians compare.

Run: ``.venv/bin/python -m pytest benchmarks/bench_adwin_kswin.py -o addopts="" -p
no:cacheprovider --benchmark-only --benchmark-json=out.json``; ratios from
``benchmarks/summarize.py``. The machine is shared: say how loaded it was with the figures.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np
import pytest

from adaptive import ADWIN, KSWIN, Fleet

river_drift = pytest.importorskip("river.drift")

RESULTS = Path(__file__).parent / "results"
_quality: dict[str, dict] = {}


def _shifted(n: int, every: int, shift: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, n) + shift * (np.arange(n) // every)  # (n,)


def _river_loop(det, values: list[float]) -> list[int]:
    drifts = []
    for t, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            drifts.append(t)
    return drifts


def _label(benchmark, workload: str, impl: str, items: int) -> None:
    """Group and impl must be set before the timed run (pytest-benchmark reads them then)."""
    benchmark.group = workload
    benchmark.extra_info.update({"impl": impl, "items": items})


def _record(workload: str, benchmark, impl: str, items: int, drifts: list[int], **extra) -> None:
    benchmark.extra_info.update({"n_drifts": len(drifts), **extra})
    entry = _quality.setdefault(workload, {})
    entry[impl] = {"n_drifts": len(drifts), "first_drifts": drifts[:5], **extra}
    _write_quality()


def _write_quality() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    import numba
    import river

    meta = {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "river": river.__version__,
            "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_average": os.getloadavg()}
    (RESULTS / "adaptive_adwin_kswin.json").write_text(
        json.dumps({"meta": meta, "workloads": _quality}, indent=2))
    lines = ["# ADWIN / KSWIN vs River: alarms in the benchmark workloads", "",
             f"versions: {meta}", "", "| workload | impl | drifts | first drift indices |",
             "|---|---|---|---|"]
    for w, impls in sorted(_quality.items()):
        for impl, q in sorted(impls.items()):
            lines.append(f"| {w} | {impl} | {q['n_drifts']} | {q['first_drifts']} |")
    (RESULTS / "adaptive_adwin_kswin.md").write_text("\n".join(lines) + "\n")


# -- ADWIN, one stream ----------------------------------------------------------------------
ADWIN_VALUES = _shifted(1_000_000, 250_000, 1.0, seed=0)
_adwin_ref = _river_loop(river_drift.ADWIN(), ADWIN_VALUES.tolist())  # computed once


def test_adwin_update_many_ours(benchmark):
    out = {}

    def run():
        out["drift"] = ADWIN().update_many(ADWIN_VALUES).drift

    ADWIN().update_many(ADWIN_VALUES[:1000])  # compile outside the timing
    _label(benchmark, "adaptive/adwin-update_many", "ours", ADWIN_VALUES.size)
    benchmark.pedantic(run, rounds=10, warmup_rounds=1)
    drifts = out["drift"].tolist()
    assert drifts == _adwin_ref
    _record("adaptive/adwin-update_many", benchmark, "ours", ADWIN_VALUES.size, drifts)


def test_adwin_update_many_river(benchmark):
    values = ADWIN_VALUES.tolist()
    out = {}

    def run():
        out["drift"] = _river_loop(river_drift.ADWIN(), values)

    _label(benchmark, "adaptive/adwin-update_many", "river", ADWIN_VALUES.size)
    benchmark.pedantic(run, rounds=5, warmup_rounds=0)
    assert out["drift"] == _adwin_ref
    _record("adaptive/adwin-update_many", benchmark, "river", len(values), out["drift"])


# -- ADWIN, one value per call ----------------------------------------------------------------
SINGLE_VALUES = ADWIN_VALUES[:100_000].tolist()


def _single(det) -> list[int]:
    return _river_loop(det, SINGLE_VALUES)


def test_adwin_update_single_ours(benchmark):
    out = {}
    _single(ADWIN())  # compile and bind the fast path outside the timing
    _label(benchmark, "adaptive/adwin-update-single", "ours", len(SINGLE_VALUES))
    benchmark.pedantic(lambda: out.update(d=_single(ADWIN())), rounds=11, warmup_rounds=1)
    assert out["d"] == [t for t in _adwin_ref if t < len(SINGLE_VALUES)]
    _record("adaptive/adwin-update-single", benchmark, "ours", len(SINGLE_VALUES), out["d"])


def test_adwin_update_single_river(benchmark):
    out = {}
    _label(benchmark, "adaptive/adwin-update-single", "river", len(SINGLE_VALUES))
    benchmark.pedantic(lambda: out.update(d=_single(river_drift.ADWIN())), rounds=11,
                       warmup_rounds=1)
    assert out["d"] == [t for t in _adwin_ref if t < len(SINGLE_VALUES)]
    _record("adaptive/adwin-update-single", benchmark, "river", len(SINGLE_VALUES), out["d"])


# -- KSWIN, one stream ------------------------------------------------------------------------
KSWIN_VALUES = _shifted(3_000, 1_500, 1.5, seed=1)
KSWIN_PARAMS = {"alpha": 0.005, "seed": 42}


def test_kswin_update_many_ours(benchmark):
    out = {}
    KSWIN(**KSWIN_PARAMS).update_many(KSWIN_VALUES[:200])  # compile outside the timing
    _label(benchmark, "adaptive/kswin-update_many", "ours", KSWIN_VALUES.size)
    benchmark.pedantic(
        lambda: out.update(d=KSWIN(**KSWIN_PARAMS).update_many(KSWIN_VALUES).drift.tolist()),
        rounds=20, warmup_rounds=1,
    )
    ref = _river_loop(river_drift.KSWIN(**KSWIN_PARAMS), KSWIN_VALUES.tolist())
    assert out["d"] == ref
    _record("adaptive/kswin-update_many", benchmark, "ours", KSWIN_VALUES.size, out["d"])


def test_kswin_update_many_river(benchmark):
    values = KSWIN_VALUES.tolist()
    out = {}
    _label(benchmark, "adaptive/kswin-update_many", "river", KSWIN_VALUES.size)
    benchmark.pedantic(
        lambda: out.update(d=_river_loop(river_drift.KSWIN(**KSWIN_PARAMS), values)),
        rounds=2, warmup_rounds=0,
    )
    _record("adaptive/kswin-update_many", benchmark, "river", len(values), out["d"])


# -- ADWIN fleet: 1000 streams x 10,000 steps --------------------------------------------------
N_STREAMS, N_STEPS = 1000, 10_000


def _fleet_values() -> np.ndarray:
    rng = np.random.default_rng(2)
    values = rng.normal(0.0, 1.0, (N_STEPS, N_STREAMS))  # (T, S)
    values[N_STEPS // 2:, ::10] += 1.0
    return values


FLEET_VALUES = _fleet_values()
_fleet_ours: dict[str, np.ndarray] = {}


@pytest.mark.parametrize("impl", ["ours", "ours-1-thread"])
def test_adwin_fleet_ours(benchmark, impl):
    Fleet(ADWIN(), 2).update(FLEET_VALUES[:100, :2])  # compile outside the timing

    def run():
        fleet = Fleet(ADWIN(), N_STREAMS)
        fleet.n_threads = 1 if impl == "ours-1-thread" else None  # all cores by default
        _fleet_ours["pairs"] = fleet.update(FLEET_VALUES, output="pairs").drift

    _label(benchmark, "adaptive/adwin-fleet-1000x10000", impl, FLEET_VALUES.size)
    benchmark.pedantic(run, rounds=3, warmup_rounds=0)
    pairs = _fleet_ours["pairs"]
    _record("adaptive/adwin-fleet-1000x10000", benchmark, impl, FLEET_VALUES.size,
            pairs[:, 0].tolist(), n_streams_with_drift=int(np.unique(pairs[:, 1]).size))


def test_adwin_fleet_river(benchmark):
    rows = FLEET_VALUES.tolist()  # (T,) lists of S floats
    out = {}

    def run():
        dets = [river_drift.ADWIN() for _ in range(N_STREAMS)]
        pairs = []
        for t, row in enumerate(rows):
            for s, (det, x) in enumerate(zip(dets, row)):
                det.update(x)
                if det.drift_detected:
                    pairs.append((t, s))
        out["pairs"] = pairs

    _label(benchmark, "adaptive/adwin-fleet-1000x10000", "river", FLEET_VALUES.size)
    benchmark.pedantic(run, rounds=1, warmup_rounds=0)
    pairs = np.array(out["pairs"], dtype=np.int64).reshape(-1, 2)
    if "pairs" in _fleet_ours:  # same run: the alarms must be identical
        np.testing.assert_array_equal(pairs, _fleet_ours["pairs"])
    _record("adaptive/adwin-fleet-1000x10000", benchmark, "river", FLEET_VALUES.size,
            pairs[:, 0].tolist(), n_streams_with_drift=int(np.unique(pairs[:, 1]).size))
