"""KSWIN's own oracle: exact parity with River 0.26 for a given seed (CPython's sampler, KS
statistic and p-value against scipy, alarms, the live window). Round trips, bad input, memory
and the plain-Python reference are in the shared suites (test_detector_contract, test_memory,
test_reference_nojit), which take KSWIN from the registry."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adaptive.drift.kswin as kswin_module
from adaptive import KSWIN, Fleet
from adaptive.drift import mt19937
from adaptive.drift.kswin import ks_pvalue_equal, ks_statistic_count
from adaptive.drift.mt19937 import sample_uses_pool as _sample_uses_pool
from tests.adaptive._streams import KINDS as _KINDS
from tests.adaptive._streams import make_stream as _make_stream

river_drift = pytest.importorskip("river.drift")
scipy_stats = pytest.importorskip("scipy.stats")

KINDS = _KINDS[:4]  # not "scaled": KSWIN compares ranks, magnitudes do not matter


def make_stream(kind: str, seed: int, n: int) -> np.ndarray:
    return _make_stream(kind, seed, n, period=(100, 300))  # changes inside 400 values


def river_trace(params: dict, values: np.ndarray) -> list[tuple]:
    det = river_drift.KSWIN(**params)
    out = []
    for v in values:
        det.update(float(v))
        out.append((det.drift_detected, det.p_value, det.n, list(det.window)))
    return out


def ours_trace(det: KSWIN, values: np.ndarray) -> list[tuple]:
    out = []
    for v in values:
        det.update(v)
        out.append((det.drift_detected, det.p_value, det.n, list(det.window)))
    return out


sizes_st = st.sampled_from([(20, 5), (40, 10), (100, 30), (150, 70), (400, 30), (60, 4)])


@settings(max_examples=10)
@given(sizes=sizes_st, alpha=st.sampled_from([0.005, 0.05, 0.3, 1.0]),
       seed=st.integers(-(2**53) + 1, 2**53 - 1), kind=st.sampled_from(KINDS),
       stream_seed=st.integers(0, 2**32 - 1), n_init=st.sampled_from([None, 0, 7, 450]))
def test_update_matches_river_after_every_value(sizes, alpha, seed, kind, stream_seed, n_init):
    window_size, stat_size = sizes
    params = {"alpha": alpha, "window_size": window_size, "stat_size": stat_size, "seed": seed}
    if n_init is not None:
        params["window"] = make_stream("gaussian", stream_seed + 1, n_init).tolist()
    values = make_stream(kind, stream_seed, 400)
    # exact equality: alarms, p-values (bit for bit), counters and the window contents
    assert ours_trace(KSWIN(**params), values) == river_trace(params, values)


@settings(max_examples=4)
@given(kind=st.sampled_from(KINDS), stream_seed=st.integers(0, 2**32 - 1))
def test_update_many_and_fleet_match_river(kind, stream_seed):
    n_streams, n = 3, 400
    alphas, seeds = np.array([0.005, 0.05, 0.3]), np.array([1, 2**40 + 3, 77])
    values = np.stack([make_stream(kind, stream_seed + s, n) for s in range(n_streams)], axis=1)
    base = {"window_size": 60, "stat_size": 20, "seed": 0}
    fleet = Fleet(KSWIN(**base), n_streams, alpha=alphas, seed=seeds)
    masks = fleet.update(values).drift  # (T, S)
    for s in range(n_streams):
        p = {**base, "alpha": float(alphas[s]), "seed": int(seeds[s])}
        ref = river_trace(p, values[:, s])
        expected = [t for t, row in enumerate(ref) if row[0]]
        assert KSWIN(**p).update_many(values[:, s]).drift.tolist() == expected
        assert np.flatnonzero(masks[:, s]).tolist() == expected
        det = fleet.stream(s)
        assert (det.drift_detected, det.p_value, det.n, list(det.window)) == ref[-1]


def test_sampler_is_cpython_random_sample():
    # both of random.sample's methods (pool for small populations, set for large ones)
    for n, k, seed in [(70, 30, 42), (5, 5, 0), (1, 1, 3), (277, 30, 9), (278, 30, 9),
                       (970, 30, 2**33 + 5), (10**6, 100, -12345), (2**31 - 2, 7, 1)]:
        row = np.zeros(kswin_module.BUF + 1)
        mt19937.mt_seed(row, kswin_module.MT_WORDS, kswin_module.MT_INDEX, abs(seed))
        got = np.empty(k, dtype=np.int64)
        for _ in range(3):  # successive draws continue one generator
            mt19937.sample(row, kswin_module.MT_WORDS, kswin_module.MT_INDEX, n, k,
                           _sample_uses_pool(n, k), got)
        rng = random.Random(seed)
        for _ in range(3):
            expected = rng.sample(range(n), k)
        assert got.tolist() == expected, (n, k, seed)
    assert _sample_uses_pool(277, 30) and not _sample_uses_pool(278, 30)


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")
def test_pvalue_equals_scipy_exact():
    from scipy.stats._stats_py import _compute_prob_outside_square

    for n in range(1, 121):
        for h in range(0, n + 1):
            ours = ks_pvalue_equal(n, h)
            ref = 1.0 if h == 0 else _compute_prob_outside_square(n, h)
            if 0.0 <= ref <= 1.0:
                assert ours == ref, (n, h)
            else:  # SciPy falls back to its asymptotic p-value here; see the module note
                assert ours == 1.0 and h <= 4
                d = h / n
                asymp = scipy_stats.ks_2samp(np.arange(n), np.arange(n) + 0.5 * d).pvalue
                assert asymp >= 0.9999


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")
@settings(max_examples=40)
@given(n=st.integers(1, 60), seed=st.integers(0, 2**32 - 1), n_levels=st.integers(1, 8))
def test_statistic_and_pvalue_equal_ks_2samp(n, seed, n_levels):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_levels, n).astype(np.float64)  # many ties within and across samples
    b = rng.integers(0, n_levels, n) + rng.choice([0.0, 0.5, 1.0])
    h = ks_statistic_count(np.sort(a), np.sort(b))
    res = scipy_stats.ks_2samp(a, b, method="exact")
    assert h / n == res.statistic
    if res.pvalue < 0.9999:
        assert ks_pvalue_equal(n, h) == res.pvalue


def test_doc_example_matches_river():
    rng = random.Random(12345)
    stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    ours = KSWIN(alpha=0.0001, seed=42).update_many(stream).drift.tolist()
    assert ours == [1016]  # the index River's own docstring prints
    ref = river_trace({"alpha": 0.0001, "seed": 42}, np.asarray(stream, dtype=float))
    assert ours == [t for t, row in enumerate(ref) if row[0]]


def test_initial_window_and_resets():
    init = list(range(150))
    det = KSWIN(window_size=100, stat_size=30, seed=1, window=init)
    assert list(det.window) == [float(v) for v in range(50, 150)]  # the last 100
    assert det.n == 0 and det.p_value == 0.0
    fleet = Fleet(det, 2)
    np.testing.assert_array_equal(fleet.stream(1).window, det.window)
    first = det.clone().update_many(np.full(50, 1000.0)).drift[0]  # a jump: a drift ...
    det.update_many(np.full(first + 1, 1000.0))
    assert det.drift_detected and len(det.window) == 30  # ... keeps the recent part ...
    det.update(1000.0)  # ... until River's reset on the next update empties the window
    assert not det.drift_detected and list(det.window) == [1000.0] and det.n == 1
    fleet.update(np.full((40, 2), 1000.0))
    fleet.reset([0])  # a fresh stream as constructed: the initial window is back
    np.testing.assert_array_equal(fleet.stream(0).window, np.arange(50.0, 150.0))


def test_seed_none_is_random_but_valid():
    rng = np.random.default_rng(4)
    values = rng.normal(0.0, 1.0, 800) + 10.0 * ((np.arange(800) // 200) % 2)  # 10-sigma jumps
    a, b = KSWIN(), KSWIN()
    ra, rb = a.update_many(values), b.update_many(values)
    assert 0.0 <= a.p_value <= 1.0 and ra.drift.size > 0 and rb.drift.size > 0
    with pytest.raises(ValueError, match="seed"):  # per-stream seeds need an integer seed
        Fleet(KSWIN(), 2, seed=[1, 2])
