"""Compiled kernels against the plain-Python reference (the same source, NUMBA_DISABLE_JIT=1).

A subprocess runs every registered detector with numba's JIT disabled on fixed seeded streams,
through ``update_many``, a 2-stream ``Fleet`` fed by events and by a dense block (its lane
kernel, where it has one) and ``update`` one value at a time (the compiled builtin when jitted),
and prints alarms and final state rows as JSON; this process runs the compiled kernels on the
same streams. Both must agree exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from adaptive.drift import DETECTORS

# (class name, constructor parameters): every registered detector, with its default parameters
# (unless they draw fresh entropy: KSWIN without a seed) and its test configurations
REFERENCE_CASES = [
    (name, params) for name, cls in DETECTORS.items()
    for params in ([] if cls()._is_stochastic else [{}]) + list(cls._unit_test_params())
]

SCRIPT = r"""
import json, sys
import numpy as np
import numba
from adaptive.drift import DETECTORS, Fleet

def streams(binary):
    rng = np.random.default_rng(7)
    n = 1000  # values per segment
    if binary:
        a = np.concatenate([rng.random(n) < 0.15, rng.random(n) < 0.5, rng.random(n) < 0.1])
        return a.astype(np.float64), (rng.random(3 * n) < 0.3).astype(np.float64)
    a = np.concatenate([rng.normal(0, 1, n), rng.normal(2, 1, n), rng.normal(-1, 2, n)])
    return a, rng.normal(0, 1, 3 * n)

out = {"jit_disabled": bool(numba.config.DISABLE_JIT), "results": []}
for name, params in json.loads(sys.argv[1]):
    cls = DETECTORS[name]
    det = cls(**params)
    a, b = streams(cls._binary)
    alarms = det.update_many(a)
    fleet = Fleet(cls(**params), 2)
    ev = fleet.update_events(np.tile([0, 1], a.size), np.stack([a, b], axis=1).reshape(-1))
    dense = Fleet(cls(**params), 2)  # the lane kernel where the detector has one
    dm = dense.update(np.stack([a, b], axis=1))
    one = cls(**params)  # one value at a time (the compiled builtin when jitted)
    flags = []
    for x in a.tolist():
        one.update(x)
        flags.append(int(one.drift_detected) + 2 * int(one.warning_detected))
    out["results"].append({
        "drift": alarms.drift.tolist(), "warning": alarms.warning.tolist(),
        "row": det._row.tolist(), "fleet_drift": ev.drift.tolist(),
        "fleet_warning": ev.warning.tolist(), "fleet_rows": fleet._state.tolist(),
        "dense_drift": np.argwhere(dm.drift).tolist(),
        "dense_warning": np.argwhere(dm.warning).tolist(), "dense_rows": dense.rows().tolist(),
        "single_flags": flags, "single_row": one._row.tolist(),
    })
print(json.dumps(out))
"""

ROOT = Path(__file__).resolve().parents[2]


def _run(disable_jit: bool) -> dict:
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1" if disable_jit else "0",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(REFERENCE_CASES)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _in_process() -> dict:
    # the same script, executed here with the compiled kernels
    import contextlib
    import io

    buf = io.StringIO()
    argv = sys.argv
    try:
        sys.argv = ["-c", json.dumps(REFERENCE_CASES)]
        with contextlib.redirect_stdout(buf):
            exec(compile(SCRIPT, "<reference script>", "exec"), {"__name__": "__ref__"})
    finally:
        sys.argv = argv
    return json.loads(buf.getvalue().strip().splitlines()[-1])


def test_compiled_kernels_equal_the_python_reference():
    reference = _run(disable_jit=True)
    assert reference["jit_disabled"] is True
    compiled = _in_process()
    assert compiled["jit_disabled"] is False
    n_alarms = 0
    for (name, params), ref, got in zip(REFERENCE_CASES, reference["results"],
                                        compiled["results"]):
        where = f"{name}({params})"
        for key in ("drift", "warning", "fleet_drift", "fleet_warning", "dense_drift",
                    "dense_warning", "single_flags"):
            assert got[key] == ref[key], f"{where}: {key}"
        for key in ("row", "fleet_rows", "dense_rows", "single_row"):
            np.testing.assert_array_equal(np.array(got[key]), np.array(ref[key]),
                                          err_msg=f"{where}: {key}")
        n_alarms += len(ref["drift"])
        assert len(ref["drift"]) + len(ref["warning"]) > 0, f"{where}: no alarm to compare"
    assert n_alarms > len(REFERENCE_CASES)
