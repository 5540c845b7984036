"""PageHinkley, DDM, EDDM, FHDDM, HDDMA, HDDMW vs River 0.26 in the same run; CUSUM and EWMA.

Every ours/peer pair processes identical values with identical parameters; after the timed
rounds the alarms of both sides are compared and the benchmark fails if they differ (exact
parity is the premise of the speed comparison). Alarm counts, first drifts and the speed ratios
(peer time / our time per item) are written to ``benchmarks/results/adaptive_detectors.{json,md}``
and into ``extra_info``; for the fleet workloads also the detection rate, the mean delay (updates
from the change to the first alarm) on the changed streams and the false alarms per 1000
updates before/without a change.

Peers: River's own detector for the six River has. River has no CUSUM or EWMA chart; their peer
is a River-style detector (a Python object with ``update`` and a ``drift_detected`` property,
the same recurrence; its alarms are checked equal to ours), i.e. what River's per-object loop
costs for such a chart.

Workloads (seeded; float64 values, peers get the same values as Python floats). Real-valued
detectors: N(0, 1) with a mean shift of +1 every 50,000 values. Binary detectors: Bernoulli bits
whose rate alternates 0.1 / 0.3 every 50,000 values (FHDDM, which counts ones and reacts to a
drop, gets 1 - bits).

- ``adaptive/<det>-update_many``: 200,000 values; ours ``det.update_many(values)``, the peer
  ``for x in values: det.update(x); det.drift_detected``.
- ``adaptive/<det>-update-single``: 100,000 calls of ``det.update(x)`` and a read of
  ``det.drift_detected`` on both sides (the River-style loop).
- ``adaptive/<det>-fleet-1000x10000``: every tenth stream changes at step 5,000 (mean +1, or
  error rate 0.1 -> 0.5); ours one ``Fleet(det, 1000).update(values (10000, 1000))`` (10**7
  updates) on all cores ("ours") and on one thread ("ours-1-thread": their ratio is the
  two-core scaling); the peer: one detector object per stream updated step by step, timed on
  every 100th stream over all 10,000 steps (10**5 updates; all 10**7 would take minutes) --
  ``items`` says how many each side did, so the per-update throughputs compare. (Timing the
  peer on the first 100 steps of all streams instead, as before, flattered it: FHDDM's window
  is not full there and EDDM sees few errors.)

Run: ``.venv/bin/python -m pytest benchmarks/bench_detectors.py -o addopts="" -p
no:cacheprovider --benchmark-only --benchmark-json=out.json``; ratios also from
``benchmarks/summarize.py``. The machine is shared: say how loaded it was with the figures.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

import numpy as np
import pytest

from adaptive import CUSUM, DDM, EDDM, EWMA, FHDDM, HDDMA, HDDMW, Fleet, PageHinkley

river_drift = pytest.importorskip("river.drift")
river_binary = pytest.importorskip("river.drift.binary")

RESULTS = Path(__file__).parent / "results"
N_MANY, N_SINGLE = 200_000, 100_000
N_STREAMS, N_STEPS, PEER_EVERY = 1000, 10_000, 100


class _PeerChart:
    """A control chart as River would write it: a Python object per stream, River's protocol
    (``update``, a ``drift_detected`` property, reset on the update after a drift)."""

    def __init__(self):
        self._reset()

    @property
    def drift_detected(self):
        return self._drift_detected

    def update(self, x):
        if self._drift_detected:
            self._reset()
        self._drift_detected = self._step(x)


class _PeerCUSUM(_PeerChart):
    """CUSUM with known mu0 = 0 and sigma = 1 (k = 0.5, h = 5)."""

    k, h, mu0, sigma = 0.5, 5.0, 0.0, 1.0

    def _reset(self):
        self._s_pos = self._s_neg = 0.0
        self._drift_detected = False

    def _step(self, x):
        z = (x - self.mu0) / self.sigma
        self._s_pos = max(0.0, self._s_pos + z - self.k)
        self._s_neg = max(0.0, self._s_neg - z - self.k)
        return self._s_pos > self.h or self._s_neg > self.h


class _PeerEWMA(_PeerChart):
    """The EWMA chart with exact limits, known mu0 = 0 and sigma = 1 (lambda 0.2, L = 3)."""

    lambda_, L, mu0, sigma = 0.2, 3.0, 0.0, 1.0

    def _reset(self):
        self._z, self._decay = self.mu0, 1.0
        self._drift_detected = False

    def _step(self, x):
        lam = self.lambda_
        self._z = lam * x + (1.0 - lam) * self._z
        self._decay *= (1.0 - lam) * (1.0 - lam)
        width = self.sigma * math.sqrt(lam / (2.0 - lam) * (1.0 - self._decay))
        return abs(self._z - self.mu0) > self.L * width


# name -> (ours, the peer, peer name); default parameters on both sides (charts: known mu0, sigma)
PAIRS = {
    "page_hinkley": (PageHinkley, river_drift.PageHinkley, "river"),
    "ddm": (DDM, river_binary.DDM, "river"),
    "eddm": (EDDM, river_binary.EDDM, "river"),
    "fhddm": (FHDDM, river_binary.FHDDM, "river"),
    "hddm_a": (HDDMA, river_binary.HDDMA, "river"),
    "hddm_w": (HDDMW, river_binary.HDDMW, "river"),
    "cusum": (lambda: CUSUM(mu0=0.0, sigma=1.0), _PeerCUSUM, "river-style"),
    "ewma": (lambda: EWMA(mu0=0.0, sigma=1.0), _PeerEWMA, "river-style"),
}
REAL_VALUED = ("page_hinkley", "cusum", "ewma")
_quality: dict[str, dict] = {}
_times: dict[str, dict] = {}


def _values(name: str, shape, seed: int) -> np.ndarray:
    """(T,) or (T, S) float64 workload values; the change pattern runs along axis 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))
    if name in REAL_VALUED:
        return rng.normal(0.0, 1.0, shape) + 1.0 * (t // 50_000)
    rate = np.where((t // 50_000) % 2 == 0, 0.1, 0.3)
    bits = (rng.random(shape) < rate).astype(np.float64)
    return 1.0 - bits if name == "fhddm" else bits


def _loop(det, values: list) -> tuple[list[int], list[int]]:
    drift, warn = [], []
    for t, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            drift.append(t)
        elif getattr(det, "warning_detected", False):
            warn.append(t)
    return drift, warn


def _label(benchmark, workload: str, impl: str, items: int) -> None:
    """Group and impl set before the timed run (pytest-benchmark reads the group then)."""
    benchmark.group = benchmark.extra_info["workload"] = workload
    benchmark.extra_info.update({"impl": impl, "items": items})


def _record(workload: str, benchmark, impl: str, items: int, drifts: list[int], **extra):
    benchmark.extra_info.update({"n_drifts": len(drifts), **extra})
    if getattr(benchmark, "stats", None) is None:  # --benchmark-disable: nothing was timed
        return
    per_item = benchmark.stats.stats.median / items  # seconds per update
    _times.setdefault(workload, {})[impl] = per_item
    q = _quality.setdefault(workload, {})
    q[impl] = {"n_drifts": len(drifts), "first_drifts": drifts[:5],
               "updates_per_s": 1.0 / per_item, **extra}
    peers = [p for p in _times[workload] if p not in ("ours", "ours-1-thread")]
    if "ours" in _times[workload]:
        for peer in peers:
            q[f"speedup_vs_{peer}"] = _times[workload][peer] / _times[workload]["ours"]
        if "ours-1-thread" in _times[workload]:
            q["two_cores_vs_one"] = _times[workload]["ours-1-thread"] / _times[workload]["ours"]
    _write_results()


def _fmt(v, spec=".3g") -> str:
    return "" if v is None else format(v, spec)


def _write_results() -> None:
    import numba
    import river

    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "river": river.__version__,
            "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_average": os.getloadavg()}
    (RESULTS / "adaptive_detectors.json").write_text(
        json.dumps({"meta": meta, "workloads": _quality}, indent=2))
    lines = ["# Drift detectors vs River 0.26: speed ratios and alarms", "",
             f"versions and machine: {meta} (a shared machine: the load average is at the end of"
             " the run)", "",
             "| workload | ours updates/s | peer updates/s | speedup | 2 cores / 1 core | drifts "
             "(ours = peer) | detection rate | mean delay | false alarms / 1000 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for w, q in sorted(_quality.items()):
        ours = q.get("ours", {})
        peer = next((q[p] for p in ("river", "river-style") if p in q), {})
        sp = q.get("speedup_vs_river", q.get("speedup_vs_river-style"))
        lines.append(
            f"| {w} | {_fmt(ours.get('updates_per_s'))} | {_fmt(peer.get('updates_per_s'))} | "
            f"{_fmt(sp, '.1f')}{'x' if sp else ''} | {_fmt(q.get('two_cores_vs_one'), '.2f')} | "
            f"{ours.get('n_drifts', '')} | {_fmt(ours.get('detection_rate'))} | "
            f"{_fmt(ours.get('mean_delay'))} | {_fmt(ours.get('false_alarms_per_1000'))} |")
    (RESULTS / "adaptive_detectors.md").write_text("\n".join(lines) + "\n")


_ref_cache: dict[str, tuple[list[int], list[int]]] = {}


def _reference(name: str) -> tuple[list[int], list[int]]:
    """The peer's alarms on the update_many workload (computed once, reused for parity checks)."""
    if name not in _ref_cache:
        _ref_cache[name] = _loop(PAIRS[name][1](), _values(name, (N_MANY,), 0).tolist())
    return _ref_cache[name]


# -- one stream, update_many vs the peer's loop --------------------------------------------------
@pytest.mark.parametrize("name", list(PAIRS))
def test_update_many_ours(benchmark, name):
    make = PAIRS[name][0]
    values = _values(name, (N_MANY,), 0)
    make().update_many(values[:1000])  # compile outside the timing
    out = {}
    _label(benchmark, f"adaptive/{name}-update_many", "ours", N_MANY)
    benchmark.pedantic(lambda: out.update(a=make().update_many(values)), rounds=10,
                       warmup_rounds=1)
    drift, warn = _reference(name)
    assert out["a"].drift.tolist() == drift and out["a"].warning.tolist() == warn
    _record(f"adaptive/{name}-update_many", benchmark, "ours", N_MANY, drift,
            n_warnings=len(warn))


@pytest.mark.parametrize("name", list(PAIRS))
def test_update_many_peer(benchmark, name):
    peer, impl = PAIRS[name][1], PAIRS[name][2]
    values = _values(name, (N_MANY,), 0).tolist()
    out = {}
    _label(benchmark, f"adaptive/{name}-update_many", impl, N_MANY)
    benchmark.pedantic(lambda: out.update(a=_loop(peer(), values)), rounds=2, warmup_rounds=0)
    assert out["a"] == _reference(name)
    _record(f"adaptive/{name}-update_many", benchmark, impl, N_MANY, out["a"][0],
            n_warnings=len(out["a"][1]))


# -- one value per call ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("side", ["ours", "peer"])
def test_update_single(benchmark, name, side):
    make = PAIRS[name][0] if side == "ours" else PAIRS[name][1]
    impl = "ours" if side == "ours" else PAIRS[name][2]
    values = _values(name, (N_MANY,), 0)[:N_SINGLE].tolist()
    _loop(make(), values[:1000])  # compile outside the timing
    out = {}
    _label(benchmark, f"adaptive/{name}-update-single", impl, N_SINGLE)
    benchmark.pedantic(lambda: out.update(a=_loop(make(), values)), rounds=5, warmup_rounds=1)
    drift, _ = _reference(name)
    assert out["a"][0] == [t for t in drift if t < N_SINGLE]
    _record(f"adaptive/{name}-update-single", benchmark, impl, N_SINGLE, out["a"][0])


# -- fleets: 1000 streams x 10,000 steps ----------------------------------------------------------
def _fleet_values(name: str) -> np.ndarray:
    v = _values(name, (N_STEPS, N_STREAMS), 2)  # (T, S); shift at 50,000 is beyond T: add one
    if name in REAL_VALUED:
        v[N_STEPS // 2:, ::10] += 1.0
    else:  # every tenth stream: error rate 0.1 -> 0.5 at T/2 (FHDDM: rate of ones 0.9 -> 0.5)
        rng = np.random.default_rng(3)
        bits = (rng.random((N_STEPS - N_STEPS // 2, N_STREAMS // 10)) < 0.5).astype(np.float64)
        v[N_STEPS // 2:, ::10] = 1.0 - bits if name == "fhddm" else bits
    return v


_fleet_vals: dict[str, np.ndarray] = {}
_fleet_ours: dict[str, np.ndarray] = {}


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


@pytest.mark.parametrize("impl", ["ours", "ours-1-thread"])
@pytest.mark.parametrize("name", list(PAIRS))  # outermost: one input per detector, built once
def test_fleet_ours(benchmark, name, impl):
    make = PAIRS[name][0]
    values = _fv(name)
    Fleet(make(), 2).update(values[:100, :2])  # compile outside the timing
    out = {}

    def run():
        fleet = Fleet(make(), N_STREAMS)
        fleet.n_threads = 1 if impl == "ours-1-thread" else None
        out["a"] = fleet.update(values)

    workload = f"adaptive/{name}-fleet-1000x10000"
    _label(benchmark, workload, impl, values.size)
    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    drift = out["a"].drift
    _fleet_ours[name] = drift[:, ::PEER_EVERY]  # the streams the peer runs, for its parity check
    _record(workload, benchmark, impl, values.size, np.nonzero(drift)[0].tolist(),
            n_streams_with_drift=int(drift.any(axis=0).sum()), **_delays(drift))


@pytest.mark.parametrize("name", list(PAIRS))
def test_fleet_peer(benchmark, name):
    peer, impl = PAIRS[name][1], PAIRS[name][2]
    rows = np.ascontiguousarray(_fv(name)[:, ::PEER_EVERY]).tolist()  # T lists of S/100 floats
    out = {}

    def run():
        dets = [peer() for _ in range(len(rows[0]))]
        drift = np.zeros((len(rows), len(dets)), dtype=bool)
        for t, row in enumerate(rows):
            for s, (det, x) in enumerate(zip(dets, row)):
                det.update(x)
                if det.drift_detected:
                    drift[t, s] = True
        out["d"] = drift

    workload = f"adaptive/{name}-fleet-1000x10000"
    _label(benchmark, workload, impl, len(rows) * len(rows[0]))
    benchmark.pedantic(run, rounds=2, warmup_rounds=0)
    if name in _fleet_ours:  # same run: the alarms of the streams both sides ran are identical
        np.testing.assert_array_equal(out["d"], _fleet_ours[name])
    _record(workload, benchmark, impl, len(rows) * len(rows[0]),
            np.nonzero(out["d"])[0].tolist(), peer_streams=len(rows[0]),
            note=f"the peer is timed on every {PEER_EVERY}th stream over all {N_STEPS} steps")
