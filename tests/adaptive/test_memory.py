"""Memory stays bounded: the state row is the whole state, whatever the stream length.

10 million updates through one detector (``update_many`` in chunks) and through a Fleet of 1000
streams x 10,000 steps (a tenth of that for the detectors that cost O(window) per value): the
state arrays keep their documented size (nbytes unchanged) and the traced peak of new
allocations stays at the size of one chunk's temporaries, not the stream's.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from adaptive.drift import DETECTORS, Fleet

# every registered detector in its test configurations: (detector, state size in floats, from
# the detector's named slots; the row must keep this size whatever the stream length)
CASES = [(cls(**params), cls(**params)._state_size())
         for cls in DETECTORS.values() for params in cls._unit_test_params()]
CHUNK = 1_000_000  # values per update_many call
N_TOTAL = 10_000_000
# detectors whose update costs ~50x the others' (O(window) or O(max_run) work per value) run a
# tenth of the updates: a 1M-value stream still turns their windows over thousands of times,
# and the bound does not depend on the length
SHORTER = {"KSWIN": 10, "BOCPD": 10}
MIB = 1 << 20


def _values(det, shape, seed=0):
    rng = np.random.default_rng(seed)
    if det._binary:
        return (rng.random(shape) < 0.3).astype(np.float64)
    return rng.normal(0.0, 1.0, shape)


@pytest.mark.parametrize("det,size", CASES, ids=lambda c: type(c).__name__ if not
                         isinstance(c, int) else str(c))
def test_ten_million_updates_one_detector(det, size):
    det = det.clone(include_attributes=False)
    chunk = _values(det, CHUNK)
    det.update_many(chunk[:1000])  # compile outside the traced region
    row_id = id(det._row)
    assert det._row.nbytes == 8 * size
    tracemalloc.start()
    try:
        n_alarms = 0
        for _ in range(N_TOTAL // CHUNK // SHORTER.get(type(det).__name__, 1)):
            alarms = det.update_many(chunk)
            n_alarms = max(n_alarms, alarms.drift.size + alarms.warning.size)
            assert det._row.nbytes == 8 * size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert id(det._row) == row_id  # updated in place, never reallocated
    # temporaries of one chunk: codes (T, 1) int8, masks, its alarm indices (and those of the
    # chunk before, alive until replaced); not O(N_TOTAL)
    assert peak < 4 * CHUNK + 16 * n_alarms + 2 * MIB, peak


@pytest.mark.parametrize("det,size", CASES, ids=lambda c: type(c).__name__ if not
                         isinstance(c, int) else str(c))
def test_fleet_1000_streams_10000_steps(det, size):
    fleet = Fleet(det.clone(), 1000)
    block = _values(det, (1000, 1000), seed=1)  # (T, S) one block of 1000 steps
    fleet.update(block)  # compile every path a full block takes outside the traced region
    nbytes = fleet._state.nbytes
    assert nbytes == 1000 * size * 8
    tracemalloc.start()
    try:
        for _ in range(10 // SHORTER.get(type(det).__name__, 1)):
            fleet.update(block)
            assert fleet._state.nbytes == nbytes
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # per call: codes (T, S) int8, the finite mask, two bool masks (1 MB each); not the history
    assert peak < 8 * MIB, peak
    assert len(fleet.state_dict()["state"]) == 1000
