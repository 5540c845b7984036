"""The detectors of the TCPD benchmark: defaults and the declared oracle grids.

Every real-valued detector of the package is here; the binary ones (DDM, EDDM, FHDDM, HDDM_A,
HDDM_W: error-rate monitors that take 0/1 values) do not apply to these series. BOCPD,
ScaleCUSUM and MeanScaleCUSUM are scale-free by construction (their default setting already
standardises on a robust warm-up); the "scale_free" setting wraps every detector in
:class:`adaptive.ScaleFree` (for those three: a second, nearly idle standardisation).

Each entry's grid is what the "oracle" setting searches per series (TCPDBench does the same
for its methods, with grids of 4 to 500 points: BOCPD 500, binseg/PELT about 350). The grids
span several decades because the default and oracle settings see the raw values, whose units
run from 1e-2 to 1e8 across TCPD.
"""

from __future__ import annotations

import numpy as np

import adaptive.drift as a
from benchmarks.tcpd.harness import Entry, NoChange

_DECADES = [float(f"{v:.3g}") for v in np.logspace(-3, 8, 23)]  # raw-unit thresholds


def _entries() -> list[Entry]:
    out = [
        Entry("zero", NoChange),
        Entry("ADWIN", a.ADWIN, {"delta": [1e-5, 1e-4, 1e-3, 0.002, 0.01, 0.05, 0.1, 0.3, 0.6],
                                 "clock": [1, 32], "grace_period": [5, 10, 30]}),
        Entry("PageHinkley", a.PageHinkley, {"threshold": _DECADES, "min_instances": [5, 30]}),
        Entry("KSWIN", a.KSWIN, {"alpha": [1e-4, 1e-3, 5e-3, 0.02, 0.1],
                                 "window_size": [30, 60, 100], "stat_size": [10, 20]},
              {"seed": 0}),
        Entry("CUSUM", a.CUSUM, {"h": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 25.0],
                                 "k": [0.25, 0.5, 1.0], "warm_start": [5, 10, 30]}),
        Entry("EWMA", a.EWMA, {"L": [2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 7.0],
                               "lambda_": [0.05, 0.1, 0.2, 0.4], "warm_start": [5, 10, 30]}),
        Entry("BOCPD", a.BOCPD, {"lambda_": [30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0],
                                 "threshold": [1.0, 3.0, 10.0, 30.0, 100.0, 300.0],
                                 "window": [5, 10, 20, 40], "warm_start": [5, 20],
                                 "alpha0": [0.1, 1.0], "beta0": [0.3, 1.0, 3.0]}),
        Entry("ScaleCUSUM", a.ScaleCUSUM, {"h": [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0],
                                           "ratio": [1.2, 1.5, 2.0, 3.0],
                                           "warm_start": [10, 30, 50]}),
        Entry("MeanScaleCUSUM", a.MeanScaleCUSUM, {"h": [2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0],
                                                   "shift": [0.5, 1.0, 2.0], "ratio": [1.5, 2.5],
                                                   "warm_start": [10, 30, 50]}),
    ]
    for e in out:  # the KSWIN grid fixes its seed too, so every run is reproducible
        if e.defaults:
            e.grid.update({k: [v] for k, v in e.defaults.items()})
    return out


def entries(names: list[str] | None = None) -> list[Entry]:
    """The catalogue (all entries, or those named, in the catalogue's order)."""
    known = _entries()
    if names is None:
        return known
    by_name = {e.name: e for e in known}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"unknown detector(s) {missing}; known: {sorted(by_name)}")
    return [by_name[n] for n in names]


def scale_free_wrapper():
    """The package's scale-free standardisation: a detector -> :class:`adaptive.ScaleFree`."""
    return a.ScaleFree
