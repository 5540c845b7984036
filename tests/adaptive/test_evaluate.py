"""Evaluation of alarms against change points: hand-computed cases, properties, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from adaptive import PageHinkley, Report, evaluate_alarms, evaluate_detector, pool_reports
from adaptive.calibration.evaluation import baseline_alarms, normalize_changes
from adaptive.calibration.null_models import bernoulli_shift, gaussian_shift


# --- hand-computed ----------------------------------------------------------------------------
def test_hand_computed_report():
    r = evaluate_alarms([120, 300, 530, 700], [100, 500], n_samples=1000, max_delay=50)
    assert (r.tp, r.fp, r.fn, r.n_alarms, r.n_changes) == (2, 2, 0, 4, 2)
    assert r.delays == (20, 30) and r.mean_delay == 25.0 and r.mtd == 25.0
    assert r.precision == 0.5 and r.recall == 1.0 and r.f1 == pytest.approx(2 / 3)
    assert r.false_alarms_per_1000 == 2.0
    # windows [100, 150] and [500, 550]: 102 samples; 898 in control, 2 false alarms
    assert r.mtfa == 449.0 and r.mdr == 0.0 and r.mtr == pytest.approx(449.0 / 25.0)
    # baseline: every 51st sample, alarms 50, 101, ..., 968 (19); 101 and 509 detect
    b = r.baseline
    assert r.baseline_every == 51 and b.n_alarms == 19 and b.delays == (1, 9)
    assert (b.tp, b.fp, b.fn) == (2, 17, 0) and b.baseline is None


def test_gradual_change_and_missed_detection():
    # gradual change (200, 300): window [200, 300 + 20]; the alarm at 310 detects it, delay 110
    r = evaluate_alarms([310, 900], [(200, 300), 600], n_samples=1000, max_delay=20)
    assert (r.tp, r.fp, r.fn) == (1, 1, 1) and r.delays == (110,)
    assert r.mdr == 0.5 and r.recall == 0.5 and r.precision == 0.5
    assert r.mtr == pytest.approx(r.mtfa / 110 * 0.5)
    # in control: 1000 - 121 (200..320) - 21 (600..620) samples, one false alarm
    assert r.mtfa == 858.0


def test_alarm_goes_to_first_undetected_change_in_overlapping_windows():
    # windows [10, 60] and [30, 80]: 40 detects change 10, 45 detects change 30, 50 is FP
    r = evaluate_alarms([40, 45, 50], [10, 30], n_samples=100, max_delay=50)
    assert r.delays == (30, 15) and r.fp == 1


def test_alarm_before_change_is_false_and_window_is_inclusive():
    r = evaluate_alarms([99, 150], [100], n_samples=200, max_delay=50)
    assert r.fp == 1 and r.delays == (50,)
    r = evaluate_alarms([151], [100], n_samples=200, max_delay=50)
    assert r.tp == 0 and r.fp == 1 and r.fn == 1


def test_no_alarms_no_changes():
    r = evaluate_alarms([], [], n_samples=500, max_delay=10)
    assert math.isnan(r.precision) and math.isnan(r.recall) and math.isnan(r.f1)
    assert r.mtfa == math.inf and math.isnan(r.mtd) and math.isnan(r.mtr)
    r = evaluate_alarms([5], [], n_samples=500, max_delay=10)
    assert r.precision == 0.0 and r.fp == 1 and r.mtfa == 500.0
    r = evaluate_alarms([], [50], n_samples=500, max_delay=10)
    assert r.recall == 0.0 and math.isnan(r.precision) and r.mdr == 1.0


def test_as_dict_round_trips_through_json():
    r = evaluate_alarms([120, 300], [100], n_samples=1000, max_delay=50, baseline_every=40)
    d = r.as_dict()
    assert d["tp"] == 1 and d["delays"] == [20] and d["baseline"]["baseline"] is None
    assert d["baseline_every"] == 40 and d["baseline"]["n_alarms"] == 25
    assert d["baseline"]["delays"] == [19]
    assert json.loads(json.dumps(d)) == d
    assert isinstance(r, Report)


def test_evaluate_detector_runs_a_clone():
    x = gaussian_shift(3000, [1500], [0.0, 3.0], seed=3)
    ph = PageHinkley(threshold=30.0)
    r = evaluate_detector(ph, x, [1500], max_delay=100)
    assert ph.n == 0  # the detector passed in is untouched
    alarms = PageHinkley(threshold=30.0).update_many(x).drift
    assert r == evaluate_alarms(alarms, [1500], 3000, 100)
    assert r.tp == 1 and r.delays[0] < 100


def test_pool_reports():
    a = evaluate_alarms([120, 300], [100], n_samples=1000, max_delay=50)
    b = evaluate_alarms([530], [500, 800], n_samples=900, max_delay=50)
    p = pool_reports([a, b])
    assert (p.tp, p.fp, p.fn, p.n_samples, p.n_changes) == (2, 1, 1, 1900, 3)
    assert p.delays == (20, 30) and p.mean_delay == 25.0 and p.mdr == pytest.approx(1 / 3)
    assert p.mtfa == a.n_in_control + b.n_in_control == 949 + 798
    assert p.baseline.tp == a.baseline.tp + b.baseline.tp
    assert pool_reports([a]) == a
    mixed = pool_reports([a, evaluate_alarms([3], [2], 10, 3)])
    assert mixed.max_delay == 50 and mixed.baseline_every is None and mixed.delays == (20, 1)
    with pytest.raises(ValueError, match="non-empty"):
        pool_reports([])


# --- properties -------------------------------------------------------------------------------
@st.composite
def scenario(draw, spaced=False):
    n = draw(st.integers(50, 3000))
    max_delay = draw(st.integers(0, 60))
    gap = max_delay + 1 if spaced else 1
    starts = sorted(draw(st.sets(st.integers(0, n - 1), max_size=8)))
    if spaced:  # keep changes at least max_delay + 1 apart and windows inside the stream
        kept = []
        for s in starts:
            if (not kept or s - kept[-1] >= gap + 1) and s + max_delay < n:
                kept.append(s)
        starts = kept
    changes = []
    for i, s in enumerate(starts):
        if spaced or draw(st.booleans()):
            changes.append(s)
        else:  # a gradual change ending before the next one starts
            nxt = n - 1 if i == len(starts) - 1 else starts[i + 1] - 1
            changes.append((s, draw(st.integers(s, max(s, nxt)))))
    alarms = sorted(draw(st.sets(st.integers(0, n - 1), max_size=20)))
    return n, max_delay, changes, alarms


@given(scenario())
def test_counts_add_up(sc):
    n, md, changes, alarms = sc
    r = evaluate_alarms(alarms, changes, n, md)
    assert r.tp + r.fn == len(changes)
    assert r.tp + r.fp == len(alarms)
    assert len(r.delays) == r.tp and all(0 <= d for d in r.delays)
    assert 0.0 <= r.false_alarms_per_1000 <= 1000.0
    spans = normalize_changes(changes, n)
    longest = int((spans[:, 1] - spans[:, 0]).max()) if len(spans) else 0
    assert all(d <= longest + md for d in r.delays)


@given(scenario(spaced=True))
def test_perfect_alarms(sc):
    n, md, changes, _ = sc
    r = evaluate_alarms(changes, changes, n, md)
    if changes:
        assert r.precision == 1.0 and r.recall == 1.0 and r.f1 == 1.0
        assert set(r.delays) == {0} and r.mean_delay == 0.0 and r.mdr == 0.0
    assert r.fp == 0 and r.mtfa == math.inf


@given(scenario(spaced=True), st.data())
def test_shifting_alarms_adds_the_shift_to_the_delay(sc, data):
    n, md, changes, _ = sc
    assume(changes)
    d = data.draw(st.integers(0, md))
    base = evaluate_alarms(changes, changes, n, md)
    shifted = evaluate_alarms([c + d for c in changes], changes, n, md)
    assert shifted.tp == base.tp == len(changes)
    assert shifted.mean_delay == pytest.approx(base.mean_delay + d)


@given(scenario(spaced=True))
def test_baseline_detects_every_well_separated_change(sc):
    n, md, changes, alarms = sc
    r = evaluate_alarms(alarms, changes, n, md)
    assert r.baseline.fn == 0 and all(dl <= md for dl in r.baseline.delays)
    assert r.baseline.n_alarms == len(baseline_alarms(n, md + 1))


# --- synthetic streams ------------------------------------------------------------------------
def test_synthetic_levels_and_ramps():
    x = gaussian_shift(400, [(100, 199), 300], [0.0, 10.0, -5.0], std=1e-9, seed=0)
    assert np.allclose(x[:100], 0.0) and np.allclose(x[199:300], 10.0)
    assert np.allclose(x[300:], -5.0) and np.all(np.diff(x[99:200]) > 0)
    b = bernoulli_shift(20_000, [10_000], [0.1, 0.4], seed=1)
    assert abs(b[:10_000].mean() - 0.1) < 0.01 and abs(b[10_000:].mean() - 0.4) < 0.015
    assert set(np.unique(b)) <= {0.0, 1.0}


def test_synthetic_bad_input():
    with pytest.raises(ValueError, match="means"):
        gaussian_shift(100, [50], [0.0])
    with pytest.raises(ValueError, match="rates"):
        bernoulli_shift(100, [50], [0.1, 1.5])
    with pytest.raises(ValueError, match="std"):
        gaussian_shift(100, [50], [0.0, 1.0], std=0.0)
    with pytest.raises(ValueError, match="n_samples"):
        bernoulli_shift(0, [], [0.1])


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "alarms,changes,n,md,match",
    [
        ([5, 3], [1], 10, 1, "strictly increasing"),
        ([3, 3], [1], 10, 1, "strictly increasing"),
        ([-1, 3], [1], 10, 1, r"\[0, n_samples=10\)"),
        ([3, 10], [1], 10, 1, r"\[0, n_samples=10\)"),
        ([1.5], [1], 10, 1, "integer indices"),
        ([[1, 2]], [1], 10, 1, "integer indices"),
        ([1], [10], 10, 1, "changes\\[0\\]=10"),
        ([1], [-2], 10, 1, "changes\\[0\\]=-2"),
        ([1], [5, 2], 10, 1, "strictly increasing start"),
        ([1], [(5, 3)], 10, 1, "start <= end"),
        ([1], [(5, 3, 1)], 10, 1, "pair of ints"),
        ([1], [2.5], 10, 1, "pair of ints"),
        ([1], [2], 10, -1, "max_delay=-1"),
        ([1], [2], 10, 1.5, "max_delay=1.5"),
        ([1], [2], 0, 1, "n_samples=0"),
    ],
)
def test_bad_input(alarms, changes, n, md, match):
    with pytest.raises(ValueError, match=match):
        evaluate_alarms(alarms, changes, n, md)


def test_bad_input_baseline_and_detector():
    with pytest.raises(ValueError, match="baseline_every=0"):
        evaluate_alarms([1], [2], 10, 1, baseline_every=0)
    with pytest.raises(TypeError, match="Detector"):
        evaluate_detector("ph", np.zeros(10), [], max_delay=1)
    with pytest.raises(ValueError, match="1-D"):
        evaluate_detector(PageHinkley(), np.zeros((10, 2)), [], max_delay=1)
    with pytest.raises(ValueError, match="changes"):
        evaluate_detector(PageHinkley(), np.zeros(10), [20], max_delay=1)
