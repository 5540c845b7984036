"""Tables and the issue-12 targets of ``online_vs_river.py`` (means over seeds, per stream).

Scores are "higher is better" points: accuracy x 100; for the regression stream the MAE is
turned into a relative reduction, ``100 * (ref - ours) / ref``, so that "+3 points" reads as
"3 % lower MAE" there.
"""

from __future__ import annotations

import numpy as np


def _mean(rs: list[dict], m: str, key: str) -> float:
    vals = [r["models"][m][key] for r in rs if m in r["models"]]
    return float(np.mean(vals)) if vals and None not in vals else float("nan")


def gain(rs: list[dict], a: str, b: str, key: str = "score") -> float:
    """Points by which model ``a`` beats model ``b`` (see the module docstring)."""
    va, vb = _mean(rs, a, key), _mean(rs, b, key)
    if rs[0]["task"] == "classification":
        return 100 * (va - vb)
    return 100 * (vb - va) / vb


def by_stream(runs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in runs:
        out.setdefault(r["stream"], []).append(r)
    return out


def targets(runs: list[dict], speed: dict | None, ours: str = "ours_default") -> dict:
    """Per-stream gaps and the issue's targets, each ``met`` or not (None: not measured)."""
    rows = {}
    for name, rs in by_stream(runs).items():
        models = rs[0]["models"]
        row = {"kind": rs[0]["kind"]}
        for peer in ("ours_static", "deep_river", "HAT", "ARF", "logreg"):
            if peer in models and ours in models:
                row[f"vs_{peer}"] = gain(rs, ours, peer)
        if rs[0]["changes"] and "ours_static" in models and ours in models:
            row["post_drift_vs_static"] = gain(rs, ours, "ours_static", "post_drift")
        rows[name] = row
    vals = list(rows.values())

    def share(key: str, ok) -> tuple[int, int]:
        have = [v[key] for v in vals if key in v]
        return sum(ok(x) for x in have), len(have)

    out = {"per_stream": rows}
    rules = {
        "never_below_static_by_0.5": ("vs_ours_static", lambda x: x >= -0.5, 1.0),
        "at_least_deep_river_everywhere": ("vs_deep_river", lambda x: x >= 0.0, 1.0),
        "within_2_of_ARF_on_half": ("vs_ARF", lambda x: x >= -2.0, 0.5),
        "at_least_HAT_on_three_quarters": ("vs_HAT", lambda x: x >= 0.0, 0.75),
    }
    for target, (key, ok, frac) in rules.items():
        k, n = share(key, ok)
        out[target] = {"streams_ok": k, "streams": n, "met": None if n == 0 else k >= frac * n}
    abrupt = [v.get("post_drift_vs_static") for v in vals
              if "abrupt" in v["kind"] and "post_drift_vs_static" in v]
    k = sum(g >= 3.0 for g in abrupt)
    out["post_abrupt_+3_on_half"] = {"streams_ok": k, "streams": len(abrupt),
                                      "met": None if not abrupt else k >= 0.5 * len(abrupt)}
    if speed is not None:
        rate = speed["samples_per_cpu_s"]
        pairs = (("speed_5x_deep_river (both fused Adam)", ours + "_fused", "deep_river_fused", 5),
                 ("speed_5x_deep_river (both default Adam)", ours, "deep_river", 5),
                 ("speed_10x_ARF", ours + "_fused", "ARF", 10))
        for name, a, b, need in pairs:
            if a in rate and b in rate:
                out[name] = {"ratio": rate[a] / rate[b], "met": rate[a] / rate[b] >= need}
    return out


def _cell(rs: list[dict], m: str, key: str) -> str:
    vals = [r["models"][m][key] for r in rs if m in r["models"]]
    if not vals or None in vals:
        return ""
    scale = 100 if rs[0]["task"] == "classification" else 1
    return f"{scale * np.mean(vals):.2f} ± {scale * np.std(vals):.2f}"


def markdown(doc: dict) -> str:
    runs = doc["runs"]
    models = list(runs[0]["models"]) if runs else []
    md = [f"# OnlineLearner vs deep-river and River ({doc['set']} set: n={doc['n']}, "
          f"seeds={doc['seeds']})", "",
          "Accuracy in % (friedman: MAE), mean ± sd over seeds, through River's "
          "progressive_val_score; post = the 2,000 samples after each change point.", "",
          "| stream | kind | " + " | ".join(models) + " | post " + " | post ".join(
              m for m in models if m.startswith("ours")) + " |",
          "|---|---|" + "---|" * (len(models) + sum(m.startswith("ours") for m in models))]
    for name, rs in by_stream(runs).items():
        cells = [_cell(rs, m, "score") for m in models]
        cells += [_cell(rs, m, "post_drift") for m in models if m.startswith("ours")]
        md.append(f"| {name} | {rs[0]['kind']} | " + " | ".join(cells) + " |")
    md += ["", "Samples per CPU-second inside progressive_val_score (mean over streams):", "",
           "| " + " | ".join(models) + " |", "|" + "---|" * len(models),
           "| " + " | ".join(f"{np.mean([r['models'][m]['samples_per_cpu_s'] for r in runs]):,.0f}"
                             for m in models) + " |"]
    if doc.get("speed"):
        sp = doc["speed"]
        md += ["", f"Speed: predict_one + learn_one, {sp['n']} samples of {sp['stream']}, median "
               f"of {sp['rounds']} interleaved rounds, CPU time, 1 thread (deep-river: the bare "
               "estimator, no scaler):", "",
               "| model | samples/CPU-s |", "|---|---|"]
        md += [f"| {m} | {v:,.0f} |" for m, v in sp["samples_per_cpu_s"].items()]
    md += ["", "## Targets (issue 12)", "", "| target | result | met |", "|---|---|---|"]
    for key, v in doc["targets"].items():
        if key == "per_stream":
            continue
        res = f"{v['ratio']:.1f}x" if "ratio" in v else f"{v['streams_ok']}/{v['streams']} streams"
        md.append(f"| {key} | {res} | {v['met']} |")
    per = doc["targets"]["per_stream"]
    keys = list(dict.fromkeys(k for row in per.values() for k in row if k != "kind"))
    md += ["", "Per stream, points of ours_default over each peer (MAE streams: % lower MAE):", "",
           "| stream | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, row in per.items():
        md.append(f"| {name} | " + " | ".join(
            f"{row[k]:+.2f}" if k in row else "" for k in keys) + " |")
    if doc.get("label_free"):
        keys = ("clean", "no_adaptation", "bn_refresh", "tent", "bn_refresh_recovered_fraction",
                "tent_recovered_fraction")
        md += ["", "## Label-free covariate shift (Hyperplane, per-feature gain/offset)", "",
               "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        md += ["| " + " | ".join(f"{a[k]:.3f}" for k in keys) + " |" for a in doc["label_free"]]
    md += ["", f"versions: {doc['versions']}; {doc['hardware']}; {doc['seconds']:.0f} s"]
    return "\n".join(md) + "\n"
