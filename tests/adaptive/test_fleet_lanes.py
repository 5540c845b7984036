"""The vectorised fleet kernels (lane kernels, adaptive.drift._soa) against the row kernels.

Every registered detector configuration that has a lane kernel is run through both paths of
``Fleet.update`` on the same blocks: more streams than one block of lanes, non-finite and
oversized values (skipped and counted), per-stream parameters, 1 to 3 threads. States (every
slot, stale ring slots included), alarm masks and skip counts must be identical, bit for bit.
A bad value under ``nan_policy="raise"`` leaves the fleet untouched on both paths.
"""

from __future__ import annotations

import platform
import re

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive.drift import DETECTORS, FHDDM, Fleet, PageHinkley, _soa
from adaptive.drift.fhddm import BUF, _load, _store

CONFIGS = [(cls, params) for cls in DETECTORS.values()
           for params in [{}, *cls._unit_test_params()]
           if cls(**params)._lane_spec() is not None]
IDS = [f"{c.__name__}-{i}" for i, (c, _) in enumerate(CONFIGS)]


def test_the_six_detectors_of_issue_15_have_lanes():
    names = {c.__name__ for c, _ in CONFIGS}
    assert {"PageHinkley", "CUSUM", "EWMA", "DDM", "EDDM", "FHDDM"} <= names


def _block(cls, rng, n_steps: int, n_streams: int, dirt: float) -> np.ndarray:
    """(T, S) values with changes in some streams, and a fraction ``dirt`` of bad values."""
    t = np.arange(n_steps)[:, None]
    shift = (t >= n_steps // 2) & (rng.random(n_streams) < 0.3)[None, :]
    if cls._binary:
        values = (rng.random((n_steps, n_streams)) < np.where(shift, 0.6, 0.15)).astype(float)
    else:
        values = rng.normal(0.0, 1.0, (n_steps, n_streams)) + 2.0 * shift
    bad = rng.random(values.shape) < dirt
    skipped = [np.nan, np.inf, -np.inf] + ([] if cls._binary else [1e150, -1e200])  # not bits
    values[bad] = rng.choice(skipped, size=int(bad.sum()))
    return values


def _per_stream(cls, params, n, rng) -> dict:
    """A per-stream value of the calibrated threshold, when it may vary per stream."""
    th = cls._threshold
    if th is None or th.param not in cls._fleet_params:
        return {}
    base = cls(**params)._get_params()[th.param]
    return {th.param: base * th.grid_factor ** rng.integers(-1, 2, n)}


@pytest.mark.parametrize("cls,params", CONFIGS, ids=IDS)
@given(seed=st.integers(0, 2**32 - 1), n_steps=st.integers(1, 160),
       n_streams=st.sampled_from([1, 7, 256, 300, 600]), dirt=st.sampled_from([0.0, 0.01]),
       n_threads=st.sampled_from([1, 2, 3]))
@settings(max_examples=12, deadline=None)
def test_lanes_equal_rows(cls, params, seed, n_steps, n_streams, dirt, n_threads):
    rng = np.random.default_rng(seed)
    per_stream = _per_stream(cls, params, n_streams, rng)
    det = cls(**params, nan_policy="skip")
    lanes, rows = Fleet(det, n_streams, **per_stream), Fleet(det, n_streams, **per_stream)
    lanes.n_threads = n_threads
    for _ in range(2):  # twice: the second call starts from mid-stream states
        values = _block(cls, rng, n_steps, n_streams, dirt)
        got = lanes.update(values)
        want_drift, want_warning = rows._update_rows(values)
        np.testing.assert_array_equal(lanes.rows(), rows.rows())  # nan == nan here
        np.testing.assert_array_equal(got.drift, want_drift)
        np.testing.assert_array_equal(got.warning, want_warning)
        np.testing.assert_array_equal(lanes.n_skipped, rows.n_skipped)


@pytest.mark.parametrize("cls,params", CONFIGS, ids=IDS)
def test_a_refused_value_leaves_the_fleet_untouched(cls, params):
    rng = np.random.default_rng(0)
    fleet = Fleet(cls(**params), 300)
    fleet.update(_block(cls, rng, 50, 300, 0.0))
    before, skipped = fleet.rows(), fleet.n_skipped.copy()
    for bad in (np.nan, 1e200 if not cls._binary else 0.5):
        values = _block(cls, rng, 40, 300, 0.0)
        values[37, 299] = bad  # late in the block, in the last stream of the last block
        with pytest.raises(ValueError, match="index \\(37, 299\\)"):
            fleet.update(values)
        np.testing.assert_array_equal(fleet.rows(), before)
        np.testing.assert_array_equal(fleet.n_skipped, skipped)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or numba.config.DISABLE_JIT,
                    reason="checks x86-64 machine code")
@pytest.mark.parametrize("det", list({c(**p)._lane_spec(): c(**p) for c, p in CONFIGS}.values()),
                         ids=lambda d: f"{type(d).__name__}-{d._lane_spec()[0].__name__}")
def test_the_loop_over_lanes_is_vectorised(det):
    # the point of the lane kernels: one control-flow slip (a short-circuit `and`, max(),
    # copysign next to a select, a conditional store) silently makes the loop scalar again
    cls = type(det)
    run = _soa._compile(type(det)._step, *det._lane_spec(), cache=False)
    n = 8
    state = Fleet(det, n)
    out = np.empty_like(state._state)
    flags = np.empty((2, n), np.uint8)
    run(state._state, state._params, np.zeros((2, n)), 0, n, 1.0, False, True, out, flags,
        flags.copy(), np.zeros(n, np.int64))
    asm = "\n".join(run.py_func.__globals__["_block"].inspect_asm().values())
    packed = re.findall(r"\bv(?:add|mul|sub|div)pd\s+%[yz]mm", asm)  # packed double arithmetic
    assert len(packed) >= 4, f"{cls.__name__}: the loop over lanes is not vectorised"


def test_results_do_not_depend_on_the_thread_count():
    values = np.random.default_rng(1).normal(size=(3000, 1100))  # T * S above MIN_PARALLEL
    values[1500:, ::3] += 1.0
    masks = []
    for n_threads in (1, 2, 5, None):
        fleet = Fleet(PageHinkley(threshold=20.0), 1100)
        fleet.n_threads = n_threads
        masks.append((fleet.update(values).drift, fleet.rows()))
    for drift, rows in masks[1:]:
        np.testing.assert_array_equal(drift, masks[0][0])
        np.testing.assert_array_equal(rows, masks[0][1])
    assert masks[0][0].any()


def test_split_covers_every_stream_once():
    for n_streams in (0, 1, 255, 256, 257, 1000, 5000):
        for n_parts in (1, 2, 3, 16):
            parts = _soa.split(n_streams, n_parts)
            covered = [s for a, b in parts for s in range(a, b)]
            assert covered == list(range(n_streams))
            assert all(a % _soa.LANES == 0 for a, _ in parts)


@given(seed=st.integers(0, 2**32 - 1), window=st.sampled_from([1, 2, 63, 64, 65, 100, 128]))
@settings(max_examples=40, deadline=None)
def test_fhddm_bit_register_round_trips_any_ring(seed, window):
    # any ring content (stale slots included), head and count: loading the ring into the bit
    # register and storing it back gives the same row
    rng = np.random.default_rng(seed)
    det = FHDDM(sliding_window_size=window)
    row = det._row.copy()
    row[BUF:] = rng.integers(0, 2, window)
    row[2] = rng.integers(0, window)  # count
    row[3] = rng.integers(0, window)  # head
    L = np.zeros((row.size, _soa.LANES))  # noqa: N806 - a block of lanes, as in the driver
    P = np.zeros((det._prow.size, _soa.LANES))  # noqa: N806
    L[:, 5], P[:, 5] = row, det._prow
    bits = np.zeros((2, _soa.LANES), np.uint64)
    load, store = getattr(_load, "py_func", _load), getattr(_store, "py_func", _store)
    load(L, P, bits, 5)
    L[BUF:, 5] = -1.0
    store(L, P, bits, 5)
    np.testing.assert_array_equal(L[:, 5], row)
