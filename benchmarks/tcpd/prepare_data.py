"""Export the TCPD series and TCPDBench's published results into one local data folder.

The benchmark reads a folder with this layout (the two upstream layouts, kept as they are)::

    <data>/TCPD/annotations.json, LICENSE, README.md
    <data>/TCPD/datasets/<name>/<name>.json (+ README.md and LICENSE when the series has one)
    <data>/TCPDBench/LICENSE
    <data>/TCPDBench/analysis/output/scores/{default,oracle}_{f1,cover}_scores.json
    <data>/TCPDBench/abed_results/<name>/default_<method>/<hash>.json

Usage (each source is a git directory or a checkout; nothing is downloaded)::

    python -m benchmarks.tcpd.prepare_data --tcpd PATH [--tcpd-rev REV] \
        --tcpdbench PATH [--tcpdbench-rev REV] [--out benchmarks/data/tcpd]

The series that TCPD's licences do not let its repository redistribute (bitcoin, measles, ...)
are absent from that repository and so from the export: the benchmark reports on the rest.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

_SCORES = [f"analysis/output/scores/{e}_{m}_scores.json" for e in ("default", "oracle")
           for m in ("f1", "cover")]


def _files(repo: Path, rev: str | None) -> tuple[list[str], bool]:
    """Paths at rev (git) or in the checkout; True when read through git."""
    if rev is not None or (repo / "HEAD").exists() and not (repo / ".git").exists():
        out = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "-r", "--name-only",
                              rev or "HEAD"], check=True, capture_output=True, text=True)
        return out.stdout.split(), True
    return [str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file()], False


def _read(repo: Path, rev: str | None, path: str, via_git: bool) -> bytes | None:
    if not via_git:
        return (repo / path).read_bytes()
    got = subprocess.run(["git", "--git-dir", str(repo), "show", f"{rev or 'HEAD'}:{path}"],
                         capture_output=True)
    return got.stdout if got.returncode == 0 else None  # files over the mirror's size limit


def _wanted_tcpd(path: str) -> bool:
    parts = path.split("/")
    if len(parts) == 1:
        return path in ("annotations.json", "LICENSE", "README.md")
    return (len(parts) == 3 and parts[0] == "datasets"
            and (parts[2] in ("README.md", "LICENSE") or parts[2] == f"{parts[1]}.json"))


def _wanted_bench(path: str) -> bool:
    parts = path.split("/")
    return (path in ("LICENSE", "README.md") or path in _SCORES
            or (len(parts) == 4 and parts[0] == "abed_results" and parts[2].startswith("default_")))


def export(repo: Path, rev: str | None, out: Path, wanted) -> int:
    paths, via_git = _files(repo, rev)
    n = 0
    for path in paths:
        if not wanted(path):
            continue
        data = _read(repo, rev, path, via_git)
        if data is None:
            continue
        dest = out / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        n += 1
    return n


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tcpd", type=Path, required=True, help="TCPD git directory or checkout")
    ap.add_argument("--tcpd-rev", default=None)
    ap.add_argument("--tcpdbench", type=Path, required=True,
                    help="TCPDBench git directory or checkout")
    ap.add_argument("--tcpdbench-rev", default=None,
                    help="revision with the published results (a fork's history works)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "data" / "tcpd")
    args = ap.parse_args(argv)
    n1 = export(args.tcpd, args.tcpd_rev, args.out / "TCPD", _wanted_tcpd)
    n2 = export(args.tcpdbench, args.tcpdbench_rev, args.out / "TCPDBench", _wanted_bench)
    print(f"{n1} TCPD files and {n2} TCPDBench files written under {args.out}")


if __name__ == "__main__":
    main()
