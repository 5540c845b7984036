"""Turn a pytest-benchmark JSON file into one summary: each workload, ours vs the peer, the ratio.

Every benchmark sets ``benchmark.group`` (the workload; a group set only after the timed call
is lost by pytest-benchmark, so ``extra_info["workload"]`` is read as well) and
``benchmark.extra_info["impl"]`` ("ours" or the peer's name), optionally
``extra_info["items"]`` (items per timed call). Within a group the speedup is our throughput /
the peer's (items per second; the peer may be timed on fewer items, as River's 1000-object
fleets are), or peer median time / our median time without item counts; > 1: we are faster.

Usage: ``python benchmarks/summarize.py RAW.json OUT_PREFIX`` writes OUT_PREFIX.md and .json.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def _speedup(ours: dict | None, theirs: dict) -> float | None:
    if ours is None:
        return None
    if ours.get("items_per_s") and theirs.get("items_per_s"):
        return ours["items_per_s"] / theirs["items_per_s"]
    return theirs["median_s"] / ours["median_s"]


def summarize(raw: dict) -> dict:
    groups: dict[str, dict[str, dict]] = defaultdict(dict)
    for bench in raw["benchmarks"]:
        info = bench.get("extra_info", {})
        impl = info.get("impl", "ours")
        stats = bench["stats"]
        entry = {
            "name": bench["name"],
            "median_s": stats["median"],
            "iqr_s": stats["iqr"],
            "rounds": stats["rounds"],
        }
        if info.get("items"):
            entry["items_per_s"] = info["items"] / stats["median"]
        entry.update({k: v for k, v in info.items() if k not in ("impl", "items", "workload")})
        groups[info.get("workload") or bench.get("group") or bench["name"]][impl] = entry
    rows = []
    for group, impls in sorted(groups.items()):
        ours = impls.get("ours")
        for peer, theirs in sorted(impls.items()):
            if peer == "ours":
                continue
            rows.append({
                "workload": group,
                "peer": peer,
                "ours_median_s": ours["median_s"] if ours else None,
                "peer_median_s": theirs["median_s"],
                "speedup": _speedup(ours, theirs),
                "ours_items_per_s": ours.get("items_per_s") if ours else None,
                "peer_items_per_s": theirs.get("items_per_s"),
            })
        if ours and len(impls) == 1:
            rows.append({
                "workload": group, "peer": None, "ours_median_s": ours["median_s"],
                "peer_median_s": None, "speedup": None,
                "ours_items_per_s": ours.get("items_per_s"), "peer_items_per_s": None,
            })
    return {"machine": raw.get("machine_info", {}), "datetime": raw.get("datetime"),
            "rows": rows, "details": groups}


def to_markdown(summary: dict) -> str:
    m = summary["machine"]
    cpu = m.get("cpu", {}).get("brand_raw", "?")
    lines = [
        f"# Benchmark summary ({summary.get('datetime')})",
        "",
        f"Machine: {m.get('node', '?')}, {cpu}, {m.get('cpu', {}).get('count', '?')} cores, "
        f"CUDA device: {m.get('cuda_device')}; python {m.get('python')}, torch {m.get('torch')}, "
        f"numpy {m.get('numpy')}, numba {m.get('numba')}, river {m.get('river')}, "
        f"torchattacks {m.get('torchattacks')}.",
        "",
        "Speedup = our items/s / the peer's items/s (same run; > 1: ours faster).",
        "",
        "| workload | peer | ours median (s) | peer median (s) | speedup | ours items/s |"
        " peer items/s |",
        "|---|---|---|---|---|---|---|",
    ]

    def fmt(v, spec):
        return "" if v is None else format(v, spec)

    for r in summary["rows"]:
        lines.append(
            f"| {r['workload']} | {r['peer'] or '-'} | {fmt(r['ours_median_s'], '.4g')} | "
            f"{fmt(r['peer_median_s'], '.4g')} | {fmt(r['speedup'], '.2f')} | "
            f"{fmt(r['ours_items_per_s'], '.4g')} | {fmt(r['peer_items_per_s'], '.4g')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit("usage: summarize.py RAW.json OUT_PREFIX")
    with open(argv[1]) as f:
        summary = summarize(json.load(f))
    with open(argv[2] + ".json", "w") as f:
        json.dump(summary, f, indent=1, default=str)
    with open(argv[2] + ".md", "w") as f:
        f.write(to_markdown(summary))
    print(to_markdown(summary))


if __name__ == "__main__":
    main(sys.argv)
