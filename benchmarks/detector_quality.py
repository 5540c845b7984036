"""Detection quality of the drift detectors, at River's defaults and calibrated to ARL0 = 10,000.

Not a pytest benchmark (quality figures, not timings). Every detector of :mod:`adaptive` runs
twice on each workload: with River's default parameters, and with its threshold parameter
calibrated by :func:`adaptive.calibrate` to an in-control average run length of
``TARGET_ARL0`` on the workload's null model. Scores come from :func:`adaptive.evaluate_alarms`
(pooled over replicates with :func:`adaptive.pool_reports`), next to the trivial baseline that
fires every ``max_delay + 1`` samples.

Workloads (one flat block of settings below):

- ``gauss_abrupt``: ``REPS`` streams of 10,000 N(mu, 1) values, mu 0 -> 1 at a change drawn
  uniformly in [3000, 7000) per stream (so that no detector, nor the periodic baseline, gains
  from a change at a round position); numeric detectors; null N(0, 1).
- ``gauss_gradual``: the same, the change a 1000-sample linear ramp starting in [3000, 6000).
- ``bern_abrupt``: ``REPS`` 0/1 error streams of 10,000, rate 0.1 -> 0.3 at a change drawn in
  [3000, 7000); all detectors; null Bernoulli(0.1). One change per stream keeps the in-control
  segment at the calibration null (after a change the rate is a new in-control level, at which
  the calibrated ARL0 does not hold).
- ``sea_nb``: River's synthetic ``ConceptDriftStream`` (SEA variant 0 -> 3, 10% label noise,
  drift centred at a position p drawn in [4000, 6000) with width 100, scored as the gradual
  change (p - 50, p + 49)); the 0/1 prequential errors of River's ``GaussianNB``; all
  detectors; null: bootstrap from the pre-change errors (samples 1000-4899) of an independent
  run.
- ``river_real``: River's bundled change-point series (``river.drift.datasets``; no download):
  AirlinePassengers, Apple (Close), Bitcoin, Occupancy (V1), RunLog (Pace), UKCoalEmploy.
  BrentSpotPrice is left out: its annotations (indices up to 483) do not index the bundled
  8195-day series. A change is an annotation cluster (points within 5 samples) marked by at
  least half of the annotators, placed at its earliest point. Each series is standardised with
  the mean and standard deviation of its first 10% (at least 20 values); max_delay is 5% of
  its length (at least 5); numeric detectors calibrated on N(0, 1).

Usage: ``nice python benchmarks/detector_quality.py [--quick]`` writes
``benchmarks/results/detector_quality.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import platform
import sys
import time
from typing import Any

import numpy as np

import adaptive
from adaptive import (
    ADWIN,
    CUSUM,
    DDM,
    EDDM,
    EWMA,
    FHDDM,
    HDDM_A,
    HDDM_W,
    KSWIN,
    PageHinkley,
    calibrate,
    estimate_arl0,
    evaluate_alarms,
    pool_reports,
)
from adaptive.calibration.null_models import bernoulli_shift, gaussian_shift

# --- settings ----------------------------------------------------------------------------------
TARGET_ARL0 = 10_000
CAL_STREAMS, CAL_STEPS = 40, 10 * TARGET_ARL0  # ~400 alarms per candidate at the target: 5% s.e.
SLOW_CAL_STREAMS, SLOW_CAL_STEPS = 8, 5 * TARGET_ARL0  # KSWIN (~5 us per update): ~16% s.e.
DEFAULT_ARL_STREAMS, DEFAULT_ARL_STEPS = 20, 50_000  # ARL0 of the default parameters
SEED = 0
REPS = 20  # replicates (streams, one change each) of the synthetic Gaussian / Bernoulli streams
N_SYN, CHANGE_RANGE = 10_000, (3000, 7000)  # change position drawn uniformly per stream
GAUSS_MEANS = [0.0, 1.0]  # a shift of one standard deviation
RAMP = 1000  # samples of a gradual change
BERN_RATES = [0.1, 0.3]
SYN_MAX_DELAY = 1000
SEA_REPS, SEA_N, SEA_POS, SEA_WIDTH, SEA_NOISE = 6, 10_000, (4000, 6000), 100, 0.1
SEA_MAX_DELAY = 1000
REAL_MIN_REF, REAL_MERGE = 20, 5

NUMERIC = [PageHinkley, CUSUM, EWMA, ADWIN, lambda: KSWIN(seed=42)]
BINARY = [DDM, EDDM, FHDDM, HDDM_A, HDDM_W]
SLOW = {"KSWIN"}


def _name(make) -> str:
    return type(make()).__name__


def _finite(v: Any) -> Any:
    """JSON-safe: inf/nan as strings."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


# --- workloads: lists of (values (T,), changes, n_samples) plus max_delay and the null ----------
def _change_points(gradual: bool) -> list[list]:
    rng = np.random.default_rng(SEED + 12345)
    hi = CHANGE_RANGE[1] - (RAMP if gradual else 0)
    starts = rng.integers(CHANGE_RANGE[0], hi, size=REPS).tolist()
    return [[(c, c + RAMP - 1)] if gradual else [c] for c in starts]


def gauss_workload(gradual: bool) -> list[tuple[np.ndarray, list]]:
    return [(gaussian_shift(N_SYN, ch, GAUSS_MEANS, seed=SEED + r), ch)
            for r, ch in enumerate(_change_points(gradual))]


def bern_workload() -> list[tuple[np.ndarray, list]]:
    return [(bernoulli_shift(N_SYN, ch, BERN_RATES, seed=SEED + 100 + r), ch)
            for r, ch in enumerate(_change_points(False))]


def sea_errors(seed: int, position: int) -> np.ndarray:
    from river import naive_bayes
    from river.datasets import synth

    stream = synth.ConceptDriftStream(
        stream=synth.SEA(variant=0, noise=SEA_NOISE, seed=seed),
        drift_stream=synth.SEA(variant=3, noise=SEA_NOISE, seed=seed + 1),
        position=position, width=SEA_WIDTH, seed=seed + 2,
    )
    model, errors = naive_bayes.GaussianNB(), []
    for x, y in stream.take(SEA_N):
        errors.append(float(model.predict_one(x) != y))  # test, then train
        model.learn_one(x, y)
    return np.asarray(errors)


def sea_workload() -> tuple[list[tuple[np.ndarray, list]], np.ndarray]:
    positions = np.random.default_rng(SEED + 777).integers(*SEA_POS, size=SEA_REPS).tolist()
    runs = [(sea_errors(1000 + 10 * r, p), [(p - SEA_WIDTH // 2, p + SEA_WIDTH // 2 - 1)])
            for r, p in enumerate(positions)]
    ref_pos = (SEA_POS[0] + SEA_POS[1]) // 2
    reference = sea_errors(99_000, ref_pos)[1000:ref_pos - SEA_WIDTH]  # pre-change, other seed
    return runs, reference


def real_workload() -> list[dict[str, Any]]:
    from river.drift import datasets

    columns = {"Apple": "Close", "Occupancy": "V1", "RunLog": "Pace"}
    out = []
    for name in ("AirlinePassengers", "Apple", "Bitcoin", "Occupancy", "RunLog", "UKCoalEmploy"):
        ds = getattr(datasets, name)()
        ys = [y[columns[name]] if isinstance(y, dict) else y for _, y in ds]
        x = np.asarray(ys, dtype=np.float64)
        n_ref = max(REAL_MIN_REF, x.size // 10)
        ref = x[:n_ref]
        z = (x - ref.mean()) / ref.std(ddof=1)
        points = sorted((p, a) for a, ps in ds.annotations.items() for p in ps if p < x.size)
        clusters: list[list[tuple[int, str]]] = []
        for p, a in points:
            if clusters and p - clusters[-1][0][0] <= REAL_MERGE:
                clusters[-1].append((p, a))
            else:
                clusters.append([(p, a)])
        need = len(ds.annotations) / 2
        changes = [c[0][0] for c in clusters if len({a for _, a in c}) >= need]
        out.append({"name": name, "values": z, "changes": changes,
                    "max_delay": max(5, round(0.05 * x.size))})
    return out


# --- calibration -------------------------------------------------------------------------------
def calibrated(make, null: dict[str, Any], cache: dict, log: list) -> Any:
    """The detector calibrated to TARGET_ARL0 on ``null`` (memoised), and its record."""
    name = _name(make)
    key = (name, null["name"])
    if key in cache:
        return cache[key]
    det = make()
    streams, steps = (SLOW_CAL_STREAMS, SLOW_CAL_STEPS) if name in SLOW else (CAL_STREAMS,
                                                                              CAL_STEPS)
    kw = {k: v for k, v in null.items() if k != "name"}
    t0 = time.perf_counter()
    res = calibrate(det, target_arl0=TARGET_ARL0, n_streams=streams, max_steps=steps,
                    seed=SEED, **kw)
    t_cal = time.perf_counter() - t0
    d_streams = DEFAULT_ARL_STREAMS if name not in SLOW else DEFAULT_ARL_STREAMS // 2
    default = estimate_arl0(det, n_streams=d_streams, max_steps=DEFAULT_ARL_STEPS, seed=SEED + 1,
                            **kw)
    record = {
        "detector": name, "null": null["name"], "param": res.param,
        "default_value": getattr(det, res.param), "default_arl0": default.arl0,
        "default_arl0_ci": [default.ci_low, default.ci_high],
        "calibrated_value": res.value, "arl0": res.arl0, "arl0_ci": list(res.ci),
        "arl0_rel_se": res.estimate.rel_se, "on_target": res.on_target,
        "n_streams": streams, "max_steps": steps,
        "n_simulated_steps": res.n_simulated_steps, "rounds": res.rounds,
        "seconds": round(t_cal, 1),
    }
    log.append(record)
    print(f"  calibrated {name:12s} on {null['name']:10s}: {res.param}={res.value:.6g} "
          f"ARL0={res.arl0:.0f} [{res.ci[0]:.0f}, {res.ci[1]:.0f}] "
          f"(default {getattr(det, res.param)}: ARL0={default.arl0:.0f}) {t_cal:.1f}s", flush=True)
    cache[key] = (res.detector, record)
    return cache[key]


def score(make, runs, max_delay: int, null, cache, log) -> list[dict[str, Any]]:
    rows = []
    cal, record = calibrated(make, null, cache, log)
    for setting, det in (("default", make()), ("calibrated", cal)):
        reports = [evaluate_alarms(det.clone().update_many(x).drift, ch, x.size, max_delay)
                   for x, ch in runs]
        rep = pool_reports(reports)
        value = getattr(det, record["param"])
        rows.append({"detector": type(det).__name__, "setting": setting,
                     "param": f"{record['param']}={value:.4g}", "report": rep})
    return rows


def row_dict(workload: str, row: dict[str, Any]) -> dict[str, Any]:
    r = row["report"]
    keys = ("n_samples", "n_changes", "n_alarms", "tp", "fp", "fn", "precision", "recall", "f1",
            "mean_delay", "false_alarms_per_1000", "mtfa", "mtd", "mdr", "mtr")
    return {"workload": workload, "detector": row["detector"], "setting": row["setting"],
            "param": row["param"], **{k: getattr(r, k) for k in keys}}


def fmt(v: Any, digits: int = 1) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        if math.isinf(v):
            return "inf"
        return f"{v:.{digits}f}"
    return str(v)


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [
        "# Drift detector quality (defaults vs. calibrated to ARL0 = "
        f"{TARGET_ARL0:,})", "",
        f"Generated by `nice python benchmarks/detector_quality.py` on {meta['date']}; "
        f"{meta['cpu']}, Python {meta['python']}, numpy {meta['numpy']}, river {meta['river']}; "
        f"{meta['seconds']:.0f} s.", "",
        "Delay: mean samples from a change's start to its detection; FA/1k: false alarms per "
        "1000 samples; MDR: missed detection rate; MTFA: in-control samples per false alarm; "
        "MTR = MTFA / MTD * (1 - MDR). Counts pooled over replicates. The baseline fires every "
        "max_delay + 1 samples.", "",
        "## Calibration", "",
        "| detector | null | param | default | ARL0 at default | calibrated | ARL0 (95% CI) | "
        "CI has target | sim. steps | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in result["calibration"]:
        lines.append(
            f"| {c['detector']} | {c['null']} | {c['param']} | {c['default_value']:.4g} | "
            f"{fmt(c['default_arl0'], 0)} | {c['calibrated_value']:.4g} | {fmt(c['arl0'], 0)} "
            f"({fmt(c['arl0_ci'][0], 0)}-{fmt(c['arl0_ci'][1], 0)}) | "
            f"{'yes' if c['on_target'] else 'NO'} | {c['n_simulated_steps']:.2e} | "
            f"{c['seconds']} |"
        )
    for wl in result["workloads"]:
        lines += ["", f"## {wl['name']}", "", wl["description"], "",
                  "| detector | setting | param | TP | FP | FN | delay | FA/1k | MDR | MTFA "
                  "| MTR |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in wl["rows"]:
            lines.append(
                f"| {r['detector']} | {r['setting']} | {r['param']} | {r['tp']} | {r['fp']} | "
                f"{r['fn']} | {fmt(r['mean_delay'])} | {fmt(r['false_alarms_per_1000'], 2)} | "
                f"{fmt(r['mdr'], 2)} | {fmt(r['mtfa'], 0)} | {fmt(r['mtr'], 1)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    global REPS, SEA_REPS, CAL_STREAMS, SLOW_CAL_STREAMS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer replicates and streams (a smoke run)")
    ap.add_argument("--out", default="benchmarks/results/detector_quality")
    args = ap.parse_args(argv)
    if args.quick:
        REPS, SEA_REPS, CAL_STREAMS, SLOW_CAL_STREAMS = 2, 1, 8, 4
    t_start = time.perf_counter()
    cache: dict = {}
    cal_log: list = []
    gauss_null = {"name": "N(0,1)", "model": "gaussian"}
    bern_null = {"name": "Bern(0.1)", "model": "bernoulli", "model_params": {"p": BERN_RATES[0]}}
    workloads = []

    def run(name: str, description: str, makes, runs, max_delay: int, null) -> None:
        print(f"{name}", flush=True)
        rows = []
        for make in makes:
            rows += [row_dict(name, r) for r in score(make, runs, max_delay, null, cache,
                                                      cal_log)]
        base = pool_reports([evaluate_alarms([], ch, x.size, max_delay) for x, ch in runs])
        rows.append(row_dict(name, {"detector": "baseline", "setting": "trivial",
                                    "param": f"every={max_delay + 1}",
                                    "report": base.baseline}))
        workloads.append({"name": name, "description": description, "max_delay": max_delay,
                          "rows": rows})

    run("gauss_abrupt", f"{REPS} streams of {N_SYN} N(mu, 1) values, mu {GAUSS_MEANS[0]} -> "
        f"{GAUSS_MEANS[1]} at a change drawn in {CHANGE_RANGE}; max_delay {SYN_MAX_DELAY}; "
        "calibrated on N(0, 1).",
        NUMERIC, gauss_workload(False), SYN_MAX_DELAY, gauss_null)
    run("gauss_gradual", f"As gauss_abrupt, each change a {RAMP}-sample linear ramp.",
        NUMERIC, gauss_workload(True), SYN_MAX_DELAY, gauss_null)
    run("bern_abrupt", f"{REPS} 0/1 streams of {N_SYN}, rate {BERN_RATES[0]} -> "
        f"{BERN_RATES[1]} at a change drawn in {CHANGE_RANGE}; max_delay {SYN_MAX_DELAY}; "
        "calibrated on Bernoulli(0.1).",
        NUMERIC + BINARY, bern_workload(), SYN_MAX_DELAY, bern_null)
    sea_runs, sea_ref = sea_workload()
    run("sea_nb", f"River ConceptDriftStream SEA(0) -> SEA(3), noise {SEA_NOISE}, drift centred "
        f"in {SEA_POS} (width {SEA_WIDTH}) of {SEA_N}; GaussianNB prequential errors; {SEA_REPS} "
        f"seeds; max_delay {SEA_MAX_DELAY}; calibrated by bootstrap from {sea_ref.size} "
        f"pre-change errors of another seed (error rate {sea_ref.mean():.3f}).",
        NUMERIC + BINARY, sea_runs, SEA_MAX_DELAY, {"name": "SEA-ref", "reference": sea_ref})
    real = real_workload()
    print("river_real", flush=True)
    rows, per_series = [], []
    for make in NUMERIC:
        cal, record = calibrated(make, gauss_null, cache, cal_log)
        for setting, det in (("default", make()), ("calibrated", cal)):
            reps = []
            for s in real:
                rep = evaluate_alarms(det.clone().update_many(s["values"]).drift, s["changes"],
                                      s["values"].size, s["max_delay"])
                reps.append(rep)
                per_series.append({"series": s["name"], "detector": type(det).__name__,
                                   "setting": setting, **rep.as_dict()})
            pooled = pool_reports(reps)
            value = getattr(det, record["param"])
            rows.append(row_dict("river_real", {"detector": type(det).__name__,
                                                "setting": setting,
                                                "param": f"{record['param']}={value:.4g}",
                                                "report": pooled}))
    base = pool_reports([evaluate_alarms([], s["changes"], s["values"].size, s["max_delay"])
                        for s in real])
    rows.append(row_dict("river_real", {"detector": "baseline", "setting": "trivial",
                                        "param": "every=max_delay+1", "report": base.baseline}))
    desc = ("River's bundled change-point series, standardised by their first 10%: " + ", ".join(
        f"{s['name']} (n={s['values'].size}, changes {s['changes']}, max_delay {s['max_delay']})"
        for s in real) + "; numeric detectors calibrated on N(0, 1); counts pooled.")
    workloads.append({"name": "river_real", "description": desc, "max_delay": None,
                      "rows": rows, "per_series": per_series})

    import river

    result = {
        "meta": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "python": platform.python_version(), "numpy": np.__version__,
                 "river": river.__version__, "cpu": platform.processor() or platform.machine(),
                 "adaptive": getattr(adaptive, "__version__", "dev"), "argv": sys.argv[1:],
                 "target_arl0": TARGET_ARL0, "seed": SEED,
                 "seconds": time.perf_counter() - t_start},
        "calibration": cal_log,
        "workloads": workloads,
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(_finite(result), indent=1))
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
