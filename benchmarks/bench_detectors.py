"""PageHinkley, DDM, EDDM, FHDDM, HDDMA, HDDMW vs River 0.26 in the same run; CUSUM and EWMA.

Every ours/River pair processes identical values with identical parameters; after the timed
rounds the alarms of both sides are compared and the benchmark fails if they differ (exact
parity is the premise of the speed comparison). Alarm counts, first drifts and the speed ratios
(River time / our time per item) are written to ``benchmarks/results/adaptive_detectors.{json,md}``
and into ``extra_info``; for the fleet workloads also the detection rate, the mean delay (updates
from the change to the first alarm) on the changed streams and the false alarms per 1000
updates before/without a change.

Workloads (seeded; float64 values, River gets the same values as Python floats). Real-valued
detector (PageHinkley): N(0, 1) with a mean shift of +1 every 50,000 values. Binary detectors:
Bernoulli bits whose rate alternates 0.1 / 0.3 every 50,000 values (FHDDM, which counts ones
and reacts to a drop, gets 1 - bits).

- ``adaptive/<det>-update_many``: 200,000 values; ours ``det.update_many(values)``, River
  ``for x in values: det.update(x); det.drift_detected``.
- ``adaptive/<det>-update-single``: 100,000 calls of ``det.update(x)`` and a read of
  ``det.drift_detected`` on both sides (the River-style loop).
- ``adaptive/<det>-fleet-1000x10000``: every tenth stream changes at step 5,000 (mean +1, or
  error rate 0.1 -> 0.5); ours one ``Fleet(det, 1000).update(values (10000, 1000))``
  (10**7 updates); River 1000 detector objects updated step by step on the first 100 steps
  (10**5 updates; all 10**7 would take minutes) -- ``items`` says how many each side did, so
  the per-update throughputs compare (``extra_info["river_steps"]``).
- ``adaptive/cusum-*``, ``adaptive/ewma-*``: no River peer; our throughput only.

Run: ``.venv/bin/python -m pytest benchmarks/bench_detectors.py -o addopts="" -p
no:cacheprovider --benchmark-only --benchmark-json=out.json``; ratios also from
``benchmarks/summarize.py``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pytest

from adaptive import CUSUM, DDM, EDDM, EWMA, FHDDM, HDDMA, HDDMW, Fleet, PageHinkley

river_drift = pytest.importorskip("river.drift")
river_binary = pytest.importorskip("river.drift.binary")

RESULTS = Path(__file__).parent / "results"
N_MANY, N_SINGLE = 200_000, 100_000
N_STREAMS, N_STEPS, RIVER_STEPS = 1000, 10_000, 100

# name -> (ours, River's class); default parameters on both sides
PAIRS = {
    "page_hinkley": (PageHinkley, river_drift.PageHinkley),
    "ddm": (DDM, river_binary.DDM),
    "eddm": (EDDM, river_binary.EDDM),
    "fhddm": (FHDDM, river_binary.FHDDM),
    "hddm_a": (HDDMA, river_binary.HDDMA),
    "hddm_w": (HDDMW, river_binary.HDDMW),
}
_quality: dict[str, dict] = {}
_times: dict[str, dict] = {}


def _values(name: str, shape, seed: int) -> np.ndarray:
    """(T,) or (T, S) float64 workload values; the change pattern runs along axis 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))
    if name == "page_hinkley" or name in ("cusum", "ewma"):
        return rng.normal(0.0, 1.0, shape) + 1.0 * (t // 50_000)
    rate = np.where((t // 50_000) % 2 == 0, 0.1, 0.3)
    bits = (rng.random(shape) < rate).astype(np.float64)
    return 1.0 - bits if name == "fhddm" else bits


def _river_loop(det, values: list) -> tuple[list[int], list[int]]:
    drift, warn = [], []
    for t, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            drift.append(t)
        elif getattr(det, "warning_detected", False):
            warn.append(t)
    return drift, warn


def _record(workload: str, benchmark, impl: str, items: int, drifts: list[int], **extra):
    benchmark.group = benchmark.extra_info["workload"] = workload
    benchmark.extra_info.update({"impl": impl, "items": items, "n_drifts": len(drifts), **extra})
    if getattr(benchmark, "stats", None) is None:  # --benchmark-disable: nothing was timed
        return
    per_item = benchmark.stats.stats.median / items  # seconds per update
    _times.setdefault(workload, {})[impl] = per_item
    q = _quality.setdefault(workload, {})
    q[impl] = {"n_drifts": len(drifts), "first_drifts": drifts[:5],
               "updates_per_s": 1.0 / per_item, **extra}
    if {"ours", "river"} <= set(_times[workload]):
        ratio = _times[workload]["river"] / _times[workload]["ours"]
        q["speedup_vs_river"] = ratio
        benchmark.extra_info["speedup_vs_river"] = ratio
    _write_results()


def _fmt(v) -> str:
    return "" if v is None else f"{v:.3g}"


def _write_results() -> None:
    import numba
    import river

    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "river": river.__version__,
            "machine": platform.processor() or platform.machine()}
    (RESULTS / "adaptive_detectors.json").write_text(
        json.dumps({"meta": meta, "workloads": _quality}, indent=2))
    lines = ["# Drift detectors vs River 0.26: speed ratios and alarms", "",
             f"versions: {meta}", "",
             "| workload | ours updates/s | River updates/s | speedup | drifts (ours = River) "
             "| detection rate | mean delay | false alarms / 1000 |",
             "|---|---|---|---|---|---|---|---|"]
    for w, q in sorted(_quality.items()):
        ours, riv = q.get("ours", {}), q.get("river", {})
        sp = q.get("speedup_vs_river")
        lines.append(
            f"| {w} | {ours.get('updates_per_s', float('nan')):.3g} | "
            f"{riv.get('updates_per_s', float('nan')):.3g} | "
            f"{'' if sp is None else f'{sp:.1f}x'} | {ours.get('n_drifts', '')} | "
            f"{_fmt(ours.get('detection_rate'))} | {_fmt(ours.get('mean_delay'))} | "
            f"{_fmt(ours.get('false_alarms_per_1000'))} |")
    (RESULTS / "adaptive_detectors.md").write_text("\n".join(lines) + "\n")


_ref_cache: dict[str, tuple[list[int], list[int]]] = {}


def _reference(name: str) -> tuple[list[int], list[int]]:
    """River's alarms on the update_many workload (computed once, reused for parity checks)."""
    if name not in _ref_cache:
        _ref_cache[name] = _river_loop(PAIRS[name][1](), _values(name, (N_MANY,), 0).tolist())
    return _ref_cache[name]


# -- one stream, update_many vs River's loop ----------------------------------------------------
@pytest.mark.parametrize("name", list(PAIRS))
def test_update_many_ours(benchmark, name):
    cls = PAIRS[name][0]
    values = _values(name, (N_MANY,), 0)
    cls().update_many(values[:1000])  # compile outside the timing
    out = {}
    benchmark.pedantic(lambda: out.update(a=cls().update_many(values)), rounds=10,
                       warmup_rounds=1)
    drift, warn = _reference(name)
    assert out["a"].drift.tolist() == drift and out["a"].warning.tolist() == warn
    _record(f"adaptive/{name}-update_many", benchmark, "ours", N_MANY, drift,
            n_warnings=len(warn))


@pytest.mark.parametrize("name", list(PAIRS))
def test_update_many_river(benchmark, name):
    rcls = PAIRS[name][1]
    values = _values(name, (N_MANY,), 0).tolist()
    out = {}
    benchmark.pedantic(lambda: out.update(a=_river_loop(rcls(), values)), rounds=2,
                       warmup_rounds=0)
    assert out["a"] == _reference(name)
    _record(f"adaptive/{name}-update_many", benchmark, "river", N_MANY, out["a"][0],
            n_warnings=len(out["a"][1]))


# -- one value per call ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("impl", ["ours", "river"])
def test_update_single(benchmark, name, impl):
    cls = PAIRS[name][0] if impl == "ours" else PAIRS[name][1]
    values = _values(name, (N_MANY,), 0)[:N_SINGLE].tolist()
    _river_loop(cls(), values[:1000])  # compile outside the timing
    out = {}
    benchmark.pedantic(lambda: out.update(a=_river_loop(cls(), values)), rounds=3,
                       warmup_rounds=1)
    drift, warn = _reference(name)
    assert out["a"][0] == [t for t in drift if t < N_SINGLE]
    _record(f"adaptive/{name}-update-single", benchmark, impl, N_SINGLE, out["a"][0])


# -- fleets: 1000 streams x 10,000 steps ----------------------------------------------------------
def _fleet_values(name: str) -> np.ndarray:
    v = _values(name, (N_STEPS, N_STREAMS), 2)  # (T, S); shift at 50,000 is beyond T: add one
    if name in ("page_hinkley", "cusum", "ewma"):
        v[N_STEPS // 2:, ::10] += 1.0
    else:  # every tenth stream: error rate 0.1 -> 0.5 at T/2 (FHDDM: rate of ones 0.9 -> 0.5)
        rng = np.random.default_rng(3)
        bits = (rng.random((N_STEPS - N_STEPS // 2, N_STREAMS // 10)) < 0.5).astype(np.float64)
        v[N_STEPS // 2:, ::10] = 1.0 - bits if name == "fhddm" else bits
    return v


_fleet_vals: dict[str, np.ndarray] = {}


def _delays(drift: np.ndarray) -> dict:
    """Quality on the fleet workload, drift mask (T, S): streams s % 10 == 0 change at T/2."""
    t0 = N_STEPS // 2
    changed = np.zeros(N_STREAMS, dtype=bool)
    changed[::10] = True
    after = drift[t0:, changed]  # (T - t0, S/10)
    hit = after.any(axis=0)
    delays = np.argmax(after, axis=0)[hit]  # updates from the change to the first alarm
    null_alarms = int(drift[:, ~changed].sum()) + int(drift[:t0, changed].sum())
    null_updates = int((~changed).sum()) * N_STEPS + int(changed.sum()) * t0
    return {"detection_rate": float(hit.mean()),
            "mean_delay": float(delays.mean()) if delays.size else None,
            "median_delay": float(np.median(delays)) if delays.size else None,
            "false_alarms_per_1000": 1000.0 * null_alarms / null_updates}


def _fv(name: str) -> np.ndarray:
    if name not in _fleet_vals:
        _fleet_vals.clear()  # one 80 MB block at a time
        _fleet_vals[name] = _fleet_values(name)
    return _fleet_vals[name]


@pytest.mark.parametrize("name", list(PAIRS))
def test_fleet_ours(benchmark, name):
    cls = PAIRS[name][0]
    values = _fv(name)
    Fleet(cls(), 2).update(values[:100, :2])  # compile outside the timing
    out = {}
    benchmark.pedantic(lambda: out.update(a=Fleet(cls(), N_STREAMS).update(values)),
                       rounds=3, warmup_rounds=0)
    # parity on the steps River also runs: the first RIVER_STEPS of every 100th stream
    for s in range(0, N_STREAMS, 100):
        ref, _ = _river_loop(PAIRS[name][1](), values[:RIVER_STEPS, s].tolist())
        assert np.flatnonzero(out["a"].drift[:RIVER_STEPS, s]).tolist() == ref
    drift_t = np.nonzero(out["a"].drift)[0].tolist()
    _record(f"adaptive/{name}-fleet-1000x10000", benchmark, "ours", values.size, drift_t,
            n_streams_with_drift=int(out["a"].drift.any(axis=0).sum()),
            **_delays(out["a"].drift))


@pytest.mark.parametrize("name", list(PAIRS))
def test_fleet_river(benchmark, name):
    rcls = PAIRS[name][1]
    rows = _fv(name)[:RIVER_STEPS].tolist()  # RIVER_STEPS lists of S floats
    out = {}

    def run():
        dets = [rcls() for _ in range(N_STREAMS)]
        drift_t = []
        for t, row in enumerate(rows):
            for det, x in zip(dets, row):
                det.update(x)
                if det.drift_detected:
                    drift_t.append(t)
        out["d"] = drift_t

    benchmark.pedantic(run, rounds=2, warmup_rounds=0)
    _record(f"adaptive/{name}-fleet-1000x10000", benchmark, "river", RIVER_STEPS * N_STREAMS,
            out["d"], river_steps=RIVER_STEPS,
            note=f"River timed on the first {RIVER_STEPS} of {N_STEPS} steps; per-update rate")


# -- CUSUM and EWMA charts: throughput only (no River peer) ---------------------------------------
CHARTS = {"cusum": lambda: CUSUM(mu0=0.0, sigma=1.0), "ewma": lambda: EWMA(mu0=0.0, sigma=1.0)}


@pytest.mark.parametrize("name", list(CHARTS))
def test_chart_update_many(benchmark, name):
    make = CHARTS[name]
    values = _values(name, (1_000_000,), 0)
    make().update_many(values[:1000])
    out = {}
    benchmark.pedantic(lambda: out.update(a=make().update_many(values)), rounds=5,
                       warmup_rounds=1)
    _record(f"adaptive/{name}-update_many", benchmark, "ours", values.size,
            out["a"].drift.tolist())


@pytest.mark.parametrize("name", list(CHARTS))
def test_chart_update_single(benchmark, name):
    make = CHARTS[name]
    values = _values(name, (N_SINGLE,), 0).tolist()
    _river_loop(make(), values[:1000])
    out = {}
    benchmark.pedantic(lambda: out.update(a=_river_loop(make(), values)), rounds=3,
                       warmup_rounds=1)
    _record(f"adaptive/{name}-update-single", benchmark, "ours", N_SINGLE, out["a"][0])


@pytest.mark.parametrize("name", list(CHARTS))
def test_chart_fleet(benchmark, name):
    make = CHARTS[name]
    values = _fv(name)
    Fleet(make(), 2).update(values[:100, :2])
    out = {}
    benchmark.pedantic(lambda: out.update(a=Fleet(make(), N_STREAMS).update(values)),
                       rounds=3, warmup_rounds=0)
    _record(f"adaptive/{name}-fleet-1000x10000", benchmark, "ours", values.size,
            np.nonzero(out["a"].drift)[0].tolist(),
            n_streams_with_drift=int(out["a"].drift.any(axis=0).sum()),
            **_delays(out["a"].drift))
