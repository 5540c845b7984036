"""The TCPD series, their annotations and TCPDBench's published scores, read from a local folder.

The folder has the layout written by :mod:`benchmarks.tcpd.prepare_data` (``TCPD/`` and
``TCPDBench/`` as in the two upstream repositories). It is found, in this order, at the path
given (``--data``), at ``$TCPD_DATA``, at ``benchmarks/data/tcpd`` and at ``shared/tcpd`` in or
beside the repository. Nothing is downloaded.

Series sets (names as in TCPD):

- ``TABLE_SERIES``: the univariate series of TCPDBench's published table (the paper's table 3:
  the quality-control series and ``uk_coal_employ`` are left out, the latter for its missing
  values). The published means are over these 32; the public repository has 25 of them.
- ``TUNING_SERIES``: the five quality-control series, which TCPDBench built to check its
  annotators and leaves out of every table. Defaults here are tuned on them (and on synthetic
  streams), never on ``TABLE_SERIES``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MULTIVARIATE = ("apple", "bee_waggle_6", "occupancy", "run_log")
TUNING_SERIES = tuple(f"quality_control_{i}" for i in range(1, 6))
TABLE_SERIES = (
    "bank", "bitcoin", "brent_spot", "businv", "centralia", "children_per_woman", "co2_canada",
    "construction", "debt_ireland", "gdp_argentina", "gdp_croatia", "gdp_iran", "gdp_japan",
    "global_co2", "homeruns", "iceland_tourism", "jfk_passengers", "lga_passengers", "measles",
    "nile", "ozone", "rail_lines", "ratner_stock", "robocalls", "scanline_126007",
    "scanline_42049", "seatbelts", "shanghai_license", "unemployment_nl", "us_population",
    "usd_isk", "well_log",
)
_REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Series:
    """One univariate TCPD series: values (T,) float64 (nan where TCPD has no value)."""

    name: str
    values: np.ndarray
    annotations: dict[str, list[int]]

    @property
    def n_obs(self) -> int:
        return int(self.values.shape[0])


def find_data(path: str | os.PathLike | None = None) -> Path | None:
    """The data folder (see the module docstring), or None when there is none."""
    candidates = [Path(path)] if path is not None else []
    if os.environ.get("TCPD_DATA"):
        candidates.append(Path(os.environ["TCPD_DATA"]))
    candidates += [_REPO / "benchmarks" / "data" / "tcpd", _REPO / "shared" / "tcpd",
                   _REPO.parent / "shared" / "tcpd"]
    for c in candidates:
        if (c / "TCPD" / "annotations.json").is_file():
            return c
    if path is not None:
        raise FileNotFoundError(f"no TCPD/annotations.json under data={str(path)!r}")
    return None


def load_series(data: Path, names: tuple[str, ...] | None = None) -> list[Series]:
    """The univariate series present under data (all of them, or those named, in order)."""
    annotations = json.loads((data / "TCPD" / "annotations.json").read_text())
    out = []
    for name in names if names is not None else sorted(annotations):
        f = data / "TCPD" / "datasets" / name / f"{name}.json"
        if name in MULTIVARIATE or not f.is_file():
            continue
        doc = json.loads(f.read_text())
        if doc["n_dim"] != 1:
            continue
        raw = doc["series"][0]["raw"]
        values = np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
        if values.shape[0] != doc["n_obs"]:
            raise ValueError(f"{name}: {values.shape[0]} values, n_obs says {doc['n_obs']}")
        out.append(Series(name, values, {k: list(v) for k, v in annotations[name].items()}))
    return out


def published_scores(data: Path) -> dict[tuple[str, str], dict[str, dict[str, float | None]]]:
    """(experiment, metric) -> series -> method -> TCPDBench's published score (None: failed)."""
    base = data / "TCPDBench" / "analysis" / "output" / "scores"
    return {(e, m): json.loads((base / f"{e}_{m}_scores.json").read_text())
            for e in ("default", "oracle") for m in ("f1", "cover")}


def published_locations(data: Path, name: str, method: str) -> list[int] | None:
    """Change points of TCPDBench's default run of method on a series (None: run failed)."""
    folder = data / "TCPDBench" / "abed_results" / name / f"default_{method}"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return None
    doc = json.loads(files[0].read_text())
    if doc.get("status") != "SUCCESS" or not doc.get("result"):
        return None
    return [int(x) for x in doc["result"]["cplocations"]]
