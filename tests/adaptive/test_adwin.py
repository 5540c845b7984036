"""ADWIN's own oracle and invariants: exact parity with River 0.26 (update, update_many, every
stream of a fleet with per-stream parameters, the ``pairs`` output, extreme magnitudes), the
event interface, the bucket window's invariants, the division-free no-cut certificate, and the
single-value fast path on replaced rows. Round trips, bad input, memory and the plain-Python
reference are in the shared suites (test_detector_contract, test_memory, test_reference_nojit),
which take ADWIN from the registry."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive import ADWIN, Fleet
from adaptive.drift.adwin import COUNTS as _H
from adaptive.drift.adwin import MAX_LEVELS
from tests.adaptive._streams import KINDS, make_stream

river_drift = pytest.importorskip("river.drift")

params_st = st.fixed_dictionaries({
    "delta": st.sampled_from([0.002, 0.01, 0.2, 0.9]),
    "clock": st.sampled_from([1, 3, 32]),
    "max_buckets": st.integers(2, 6),  # River's core panics on some streams with 1 (see below)
    "min_window_length": st.sampled_from([1, 5, 12]),
    "grace_period": st.sampled_from([0, 10, 100]),
})


def river_trace(params: dict, values: np.ndarray) -> list[tuple]:
    det = river_drift.ADWIN(**params)
    out = []
    for v in values:
        det.update(float(v))
        out.append((det.drift_detected, float(det.width), det.total, det.variance, det.estimation,
                    det.n_detections))
    return out


@settings(max_examples=25)
@given(params=params_st, kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32 - 1),
       n=st.integers(1, 2500))
def test_update_matches_river_after_every_value(params, kind, seed, n):
    values = make_stream(kind, seed, n)
    ours = ADWIN(**params)
    trace = []
    for v in values.tolist():  # Python floats: the single-value fast path
        ours.update(v)
        trace.append((ours.drift_detected, float(ours.width), ours.total, ours.variance,
                      ours.estimation, ours.n_detections))
    # exact equality, floats included (repr: a nan from an overflowed sum equals River's nan)
    assert repr(trace) == repr(river_trace(params, values))


@settings(max_examples=15)
@given(params=params_st, kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32 - 1))
def test_update_many_and_fleet_match_river(params, kind, seed):
    n_streams, n = 4, 1500
    deltas = np.array([params["delta"], 0.002, 0.05, 0.5])
    values = np.stack([make_stream(kind, seed + s, n) for s in range(n_streams)], axis=1)  # (T,S)
    fleet = Fleet(ADWIN(**params), n_streams, delta=deltas)
    masks = fleet.update(values[:700]).drift
    pairs = fleet.update(values[700:], output="pairs").drift
    for s in range(n_streams):
        p = {**params, "delta": float(deltas[s])}
        ref = river_trace(p, values[:, s])
        expected = [t for t, row in enumerate(ref) if row[0]]
        single = ADWIN(**p)
        assert single.update_many(values[:, s]).drift.tolist() == expected
        got = np.flatnonzero(masks[:, s]).tolist() + (pairs[pairs[:, 1] == s, 0] + 700).tolist()
        assert got == expected
        last = ref[-1]
        for det in (single, fleet.stream(s)):
            assert repr((det.drift_detected, float(det.width), det.total, det.variance,
                         det.estimation, det.n_detections)) == repr(last)


def test_update_events_equal_dense_fleet():
    rng = np.random.default_rng(3)
    values = make_stream("change_points", 3, 3000).reshape(1000, 3)  # (T, S)
    dense = Fleet(ADWIN(clock=4), 3)
    expected = dense.update(values, output="pairs").drift
    events = Fleet(ADWIN(clock=4), 3)
    order = np.argsort(rng.random(values.shape), axis=1)  # shuffle streams within each step
    streams = order.reshape(-1)
    flat = np.take_along_axis(values, order, axis=1).reshape(-1)
    got = events.update_events(streams, flat).drift
    assert sorted(zip((got // 3).tolist(), streams[got].tolist())) == [tuple(r) for r in expected]
    np.testing.assert_array_equal(events._state, dense._state)


def test_doc_example_matches_river():
    import random

    rng = random.Random(12345)
    stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    ours = ADWIN().update_many(stream).drift.tolist()
    assert ours == [1023]  # the index River's own docstring prints
    assert ours == [t for t, row in enumerate(river_trace({}, np.asarray(stream))) if row[0]]


def test_max_buckets_one_runs_and_keeps_invariants():
    # River's core panics ("slice index starts at 1 but ends at 0") when it deletes from an
    # emptied level, which max_buckets=1 allows; our kernel pops empty levels and keeps going.
    values = make_stream("change_points", 0, 5000)
    det = ADWIN(max_buckets=1, clock=1)
    drifts = det.update_many(values).drift
    assert drifts.size > 0
    row = det._row
    counts = row[_H:_H + MAX_LEVELS]
    assert counts.max() <= 1 and counts[int(row[7]) - 1] >= 1
    assert det.width == int(np.sum(counts * 2.0 ** np.arange(MAX_LEVELS)))
    np.testing.assert_allclose(det.total, values[-det.width:].sum(), rtol=1e-9, atol=1e-9)


@settings(max_examples=10)
@given(kind=st.sampled_from(KINDS[:4]),  # not "scaled": float sums there are too inexact
       seed=st.integers(0, 2**32 - 1), max_buckets=st.integers(1, 6))
def test_window_invariants(kind, seed, max_buckets):
    values = make_stream(kind, seed, 3000)
    det = ADWIN(max_buckets=max_buckets)
    drifts = det.update_many(values).drift
    start = drifts[-1] + 1 if drifts.size else 0  # the detector was reset after its last drift
    row = det._row
    counts = row[_H:_H + MAX_LEVELS]
    assert counts.max() <= max_buckets
    assert det.width == int(np.sum(counts * 2.0 ** np.arange(MAX_LEVELS)))
    window = values[start:][-det.width:]  # (width,) the values ADWIN still summarises
    np.testing.assert_allclose(det.total, window.sum(), rtol=1e-9, atol=1e-7)
    ssd = ((window - window.mean()) ** 2).sum()
    np.testing.assert_allclose(det.variance, ssd, rtol=1e-6, atol=1e-6)


def test_bad_fleet_parameter():
    with pytest.raises(ValueError, match="delta"):
        Fleet(ADWIN(), 2, delta=[0.1, 2.0])
    with pytest.raises(ValueError, match="max_buckets"):
        Fleet(ADWIN(), 2, max_buckets=[3, 4])


def test_fast_path_follows_replaced_rows():
    # update(x) calls the kernel on the row's raw address; a replaced row (load_state_dict,
    # unpickling, Fleet.stream) must be rebound, and copies must never share memory
    values = make_stream("change_points", 2, 3000).tolist()
    a, ref = ADWIN(clock=1), ADWIN(clock=1)
    for v in values[:1000]:
        a.update(v)
        ref.update(np.float64(v))  # the generic path
    np.testing.assert_array_equal(a._row, ref._row)
    b = pickle.loads(pickle.dumps(a))
    frozen = b._row.copy()
    a.update(values[1000])
    np.testing.assert_array_equal(b._row, frozen)  # the copy was not written through a
    c = ADWIN(clock=1)
    c.update(5.0)
    c.load_state_dict(b.state_dict())
    fleet = Fleet(ADWIN(clock=1), 1)
    fleet.update(np.asarray(values[:1000])[:, None])
    d = fleet.stream(0)
    for det in (b, c, d):
        for v in values[1000:]:
            det.update(v)
    for v in values[1001:]:
        a.update(v)
    for det in (b, c, d):
        np.testing.assert_array_equal(det._row, a._row)
    assert fleet._state[0].tolist() != a._row.tolist()  # the stream's copy was detached


@settings(max_examples=30)
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.integers(-160, 160),
       rel=st.sampled_from([1e-3, 1e-7, 1e-12, 0.0]))
def test_no_cut_certificate_never_contradicts_the_exact_test(seed, log_scale, rel):
    # splits placed right at the decision boundary: wherever the division-free certificate says
    # "no cut", River's formula (evaluated here in its order) must say so too
    from adaptive.drift.adwin import _surely_no_cut

    rng = np.random.default_rng(seed)
    scale = 10.0**log_scale
    issued = 0
    for _ in range(50):
        mwl = float(rng.integers(1, 20))
        n0 = float(rng.integers(int(mwl), 10**int(rng.integers(2, 8)) + int(mwl)))
        n1 = float(rng.integers(int(mwl), 10**int(rng.integers(2, 8)) + int(mwl)))
        width = n0 + n1
        var_w = scale * scale * rng.uniform(0.0, 4.0)  # inf beyond 1e154: no float error
        dprime = math.log(2.0 * math.log(width) / rng.choice([0.002, 0.1, 0.9]))
        m_recip = 1.0 / (n0 - mwl + 1.0) + 1.0 / (n1 - mwl + 1.0)
        eps = math.sqrt(2.0 * m_recip * var_w * dprime) + 2.0 / 3.0 * dprime * m_recip
        mu1 = scale * rng.normal(0.0, 100.0)
        mu0 = mu1 + rng.choice([-1, 1]) * eps * (1.0 + rel * rng.uniform(-1, 1))
        u0, u1 = mu0 * n0, mu1 * n1
        exact_cut = abs((u0 / n0) - (u1 / n1)) > eps
        if _surely_no_cut(n0, n1, u0, u1, mwl, var_w, dprime):
            assert not exact_cut
            issued += 1
    if rel >= 1e-7 and abs(log_scale) <= 100:  # not vacuous: half the splits sit below
        assert issued > 0
