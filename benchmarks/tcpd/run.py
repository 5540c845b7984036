"""TCPD benchmark: every detector in the default, scale-free and oracle settings, next to the
rows TCPDBench published, written to ``benchmarks/results/tcpd.{md,json}``.

Usage::

    python -m benchmarks.tcpd.run [--data DIR] [--out benchmarks/results/tcpd] [--detectors ...]

Reported figures are means over ``TABLE_SERIES`` present in the data folder (the published
table's series; 25 of its 32 are in TCPD's public repository); the published rows are given
both as published (32 series) and re-averaged over the same 25. The quality-control series
(``TUNING_SERIES``) are reported apart: the package's defaults were chosen on them and on
synthetic streams, never on the table's series.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.tcpd.data import (
    TABLE_SERIES,
    TUNING_SERIES,
    find_data,
    load_series,
    published_scores,
)
from benchmarks.tcpd.detectors import entries, scale_free_wrapper
from benchmarks.tcpd.harness import evaluate, mean_scores

_PUBLISHED = ("binseg", "bocpd", "pelt", "segneigh", "amoc", "zero")
_SETTINGS = ("default", "scale_free", "oracle")


def published_rows(data: Path, present: list[str]) -> dict[str, dict[str, float]]:
    """method -> {"<exp>_<metric>" (32 series), "<exp>_<metric>_here" (present series)}."""
    pub = published_scores(data)
    rows = {}
    for method in _PUBLISHED:
        row = {}
        for (exp, metric), table in pub.items():
            row[f"{exp}_{metric}"] = float(np.mean([table[s][method] for s in TABLE_SERIES]))
            row[f"{exp}_{metric}_here"] = float(np.mean([table[s][method] for s in present]))
        rows[method] = row
    return rows


def run(data: Path, names: list[str] | None) -> dict:
    series = load_series(data, TABLE_SERIES + TUNING_SERIES)
    present = [s.name for s in series if s.name in TABLE_SERIES]
    wrap = scale_free_wrapper()
    out = {"published": published_rows(data, present), "ours": {}, "per_series": {},
           "table_series": present, "tuning_series": list(TUNING_SERIES),
           "machine": {"python": platform.python_version(), "platform": platform.platform()}}
    for entry in entries(names):
        row, per = {"grid_points": len(entry.grid_points())}, {}
        for setting in _SETTINGS:
            t0 = time.process_time()
            got = evaluate(entry, series, setting, wrap=wrap)
            row[f"{setting}_cpu_s"] = round(time.process_time() - t0, 2)
            for label, group in (("", TABLE_SERIES), ("_tuning", TUNING_SERIES)):
                m = mean_scores(got, group)
                row[f"{setting}_f1{label}"], row[f"{setting}_cover{label}"] = m["f1"], m["cover"]
            per[setting] = got
        out["ours"][entry.name], out["per_series"][entry.name] = row, per
        print(f"{entry.name}: {row}", file=sys.stderr)
    return out


def _fmt(v: float | None) -> str:
    return "" if v is None or v != v else f"{v:.3f}"


def markdown(res: dict) -> str:
    n = len(res["table_series"])
    lines = [
        "# TCPD: online drift detectors next to TCPDBench's published table",
        "",
        f"Univariate series of the published table present in TCPD's public repository: {n} "
        "of 32. Ours: every detector run online, value by value; F1 (margin 5) and covering as "
        "TCPDBench defines them (`benchmarks/tcpd/metrics.py`, checked against every published "
        "default run in `tests/test_tcpd_metrics.py`). Oracle = best grid point per series, "
        "for each metric separately. Published rows: TCPDBench's values averaged over the "
        f"same {n} series, and (in brackets) as published over all 32.",
        "",
        "| method | default cover | default F1 | scale-free cover | scale-free F1 "
        "| oracle cover | oracle F1 | grid |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in res["ours"].items():
        lines.append(
            f"| {name} | {_fmt(r.get('default_cover'))} | {_fmt(r.get('default_f1'))} "
            f"| {_fmt(r.get('scale_free_cover'))} | {_fmt(r.get('scale_free_f1'))} "
            f"| {_fmt(r.get('oracle_cover'))} | {_fmt(r.get('oracle_f1'))} "
            f"| {r['grid_points']} |")
    for m, r in res["published"].items():
        lines.append(
            f"| TCPDBench {m} (published) | {_fmt(r['default_cover_here'])} "
            f"({_fmt(r['default_cover'])}) | {_fmt(r['default_f1_here'])} "
            f"({_fmt(r['default_f1'])}) | | | {_fmt(r['oracle_cover_here'])} "
            f"({_fmt(r['oracle_cover'])}) | {_fmt(r['oracle_f1_here'])} "
            f"({_fmt(r['oracle_f1'])}) | |")
    lines += ["", f"Tuning series ({', '.join(res['tuning_series'])}; never in the rows above):",
              "", "| method | default cover | default F1 | scale-free cover | scale-free F1 |",
              "|---|---|---|---|---|"]
    for name, r in res["ours"].items():
        lines.append(
            f"| {name} | {_fmt(r.get('default_cover_tuning'))} "
            f"| {_fmt(r.get('default_f1_tuning'))} | {_fmt(r.get('scale_free_cover_tuning'))} "
            f"| {_fmt(r.get('scale_free_f1_tuning'))} |")
    lines += ["", f"Machine: {res['machine']['platform']}, Python {res['machine']['python']}; "
              "CPU seconds per setting in the JSON.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="data folder (see benchmarks/data/README.md)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parents[1] / "results" / "tcpd")
    ap.add_argument("--detectors", nargs="*", default=None)
    args = ap.parse_args(argv)
    data = find_data(args.data)
    if data is None:
        print("no TCPD data folder: see benchmarks/data/README.md (prepare_data, --data, "
              "$TCPD_DATA)", file=sys.stderr)
        return 2
    res = run(data, args.detectors)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    args.out.with_suffix(".md").write_text(markdown(res))
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
