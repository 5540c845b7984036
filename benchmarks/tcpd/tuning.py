"""Declared tuning data for the package's detector defaults (never the reported TCPD series).

Two sets, both disjoint from ``TABLE_SERIES``:

- TCPD's five quality-control series (``TUNING_SERIES``), which TCPDBench leaves out of its
  tables;
- ``synthetic_series()``: seeded piecewise-stationary streams (level shifts, spread changes,
  Gaussian, Student-t 5 and AR(1) 0.5 noise, units from 1e-3 to 1e4, 60 to 500 values, 0 to 3
  annotated changes), scored like TCPD with the true change points as the one annotator.

``python -m benchmarks.tcpd.tuning`` prints the mean F1 and cover of a BOCPD grid on both sets:
how the defaults of :class:`adaptive.drift.BOCPD` were picked.
"""

from __future__ import annotations

import numpy as np

from benchmarks.tcpd.data import TUNING_SERIES, Series, find_data, load_series
from benchmarks.tcpd.harness import Entry, evaluate, mean_scores


def synthetic_series(n: int = 40, seed: int = 123) -> list[Series]:
    """n seeded piecewise-stationary series with their true change points."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = int(rng.integers(60, 500))
        k = int(rng.integers(0, 4))
        cps = sorted(rng.choice(np.arange(15, length - 15), size=k, replace=False).tolist())
        x = np.empty(length)
        bounds = [0, *cps, length]
        level, scale = rng.normal(0, 50), abs(rng.normal(5, 3)) + 0.1
        for a, b in zip(bounds[:-1], bounds[1:]):
            if a > 0 and rng.random() < 0.7:
                level += rng.choice([-1, 1]) * rng.uniform(1, 4) * scale
            elif a > 0:
                scale *= rng.choice([1 / 3, 3])
            e = rng.standard_t(5, b - a) if i % 3 == 1 else rng.normal(size=b - a)
            if i % 3 == 2:
                for j in range(1, b - a):
                    e[j] += 0.5 * e[j - 1]
            x[a:b] = level + scale * e
        out.append(Series(f"synthetic_{i}", x * rng.choice([1e-3, 1.0, 1e4]), {"truth": cps}))
    return out


def tuning_sets() -> dict[str, list[Series]]:
    """{"quality_control": [...] (when the data folder is there), "synthetic": [...]}."""
    data = find_data()
    sets = {"synthetic": synthetic_series()}
    if data is not None:
        sets["quality_control"] = load_series(data, TUNING_SERIES)
    return sets


def grid_report(make, grid: dict[str, list]) -> list[tuple[dict, dict[str, dict]]]:
    """Mean F1/cover per tuning set for every grid point (default setting, raw values)."""
    sets = tuning_sets()
    rows = []
    for kw in Entry("candidate", make, grid=grid).grid_points():
        entry = Entry("candidate", make, defaults=kw)
        rows.append((kw, {name: mean_scores(evaluate(entry, series, "default"),
                                            [s.name for s in series])
                          for name, series in sets.items()}))
    return rows


def main() -> None:
    from adaptive.drift import BOCPD

    grid = {"lambda_": [30.0, 100.0, 300.0], "threshold": [3.0, 10.0, 30.0],
            "window": [10, 20, 40], "warm_start": [5, 10, 20]}
    for kw, res in grid_report(BOCPD, grid):
        cells = "  ".join(f"{k} F1 {v['f1']:.3f} cover {v['cover']:.3f}" for k, v in res.items())
        print(kw, cells, flush=True)


if __name__ == "__main__":
    main()
