"""ARL0 estimation and calibration: accuracy on fresh streams, oracles, properties, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adaptive
from adaptive import ADWIN, Fleet, PageHinkley, calibrate, estimate_arl0
from adaptive.calibration.arl import _chi2_ppf, _estimate, _simulate
from adaptive.calibration.null_models import null_values
from adaptive.calibration.threshold_search import _resolve_param
from adaptive.drift.cusum import CUSUM
from adaptive.drift.ddm import DDM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# --- the requirement: calibrated detectors reach the target on fresh null streams -------------
# Budget: n_streams * max_steps = 400 * target values, i.e. about 400 alarms per estimate at the
# target: relative standard error 1/sqrt(400) = 5% for the calibration's estimates and for the
# fresh check, so +-20% is about 3 standard deviations of their difference.
# ADWIN's ARL0 on Gaussian data cannot go below about 1050 (delta must stay below 1; see
# test_unreachable_target), so its lower target is 2,000 instead of 1,000.
CASES = [
    ("PageHinkley", lambda: PageHinkley(), 1_000),
    ("PageHinkley", lambda: PageHinkley(), 10_000),
    ("CUSUM", lambda: CUSUM(mu0=0.0, sigma=1.0), 1_000),
    ("CUSUM", lambda: CUSUM(mu0=0.0, sigma=1.0), 10_000),
    ("ADWIN", lambda: ADWIN(), 2_000),
    ("ADWIN", lambda: ADWIN(), 10_000),
]


@pytest.mark.parametrize("name,make,target", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_calibrated_arl0_on_fresh_streams(name, make, target):
    res = calibrate(make(), target_arl0=target, n_streams=40, max_steps=10 * target, seed=1)
    assert type(res.detector).__name__ == name
    assert getattr(res.detector, res.param) == res.value
    fresh = estimate_arl0(res.detector, n_streams=40, max_steps=10 * target, seed=2024)
    assert fresh.rel_se <= 0.06, fresh
    assert abs(fresh.arl0 / target - 1) <= 0.20, (res.value, fresh)
    # the calibration's own estimate (also on streams the search did not use) agrees too
    assert abs(res.arl0 / target - 1) <= 0.20, res.estimate
    assert res.ci[0] < res.arl0 < res.ci[1]


def test_calibrate_bootstrap_reference_skewed_data():
    # PageHinkley is not scale free: calibrating on the data's own distribution matters
    ref = np.random.default_rng(5).exponential(2.0, size=400)
    res = calibrate(PageHinkley(), target_arl0=1_000, reference=ref, n_streams=40,
                    max_steps=10_000, seed=3)
    fresh = estimate_arl0(res.detector, reference=ref, n_streams=40, max_steps=10_000, seed=9)
    assert abs(fresh.arl0 / 1_000 - 1) <= 0.20, fresh
    gauss = calibrate(PageHinkley(), target_arl0=1_000, n_streams=40, max_steps=10_000, seed=3)
    assert abs(math.log(res.value / gauss.value)) > 0.3  # a clearly different threshold


def test_calibrate_binary_detector_bernoulli():
    # DDM's run lengths are heavy-tailed (a low early minimum of p + s delays alarms for long):
    # the counts vary far more between streams than Poisson, so this needs many more streams
    # for a 5% standard error; the interval (delta method over streams) shows it
    kw = dict(model="bernoulli", model_params={"p": 0.3}, n_streams=300, max_steps=5_000)
    res = calibrate(DDM(), target_arl0=1_000, seed=4, **kw)
    assert res.param == "drift_threshold"
    fresh = estimate_arl0(res.detector, seed=8, **kw)
    assert fresh.rel_se < 0.07
    assert abs(fresh.arl0 / 1_000 - 1) <= 0.20, (res.value, fresh)
    small = estimate_arl0(res.detector, seed=8, **{**kw, "n_streams": 20})
    assert small.rel_se > 2 / math.sqrt(small.n_alarms)  # overdispersion shows in the interval


def test_calibrate_is_reproducible_and_seeded():
    kw = dict(target_arl0=300, n_streams=10, max_steps=3_000)
    a = calibrate(PageHinkley(), seed=11, **kw)
    b = calibrate(PageHinkley(), seed=11, **kw)
    c = calibrate(PageHinkley(), seed=12, **kw)
    assert a.value == b.value and a.estimate == b.estimate and a.history == b.history
    assert a.value != c.value
    assert a.n_simulated_steps >= a.n_streams * a.max_steps


def test_on_target_reads_the_interval():
    res = calibrate(PageHinkley(), target_arl0=300, n_streams=10, max_steps=3_000, seed=11)
    assert res.on_target == (res.ci[0] <= 300 <= res.ci[1])
    off = dataclasses.replace(res, target_arl0=res.ci[1] * 2)
    assert not off.on_target


def test_calibrate_does_not_touch_the_input_detector():
    ph = PageHinkley(threshold=50.0)
    ph.update_many(np.zeros(40))
    state = ph.state_dict()
    res = calibrate(ph, target_arl0=200, n_streams=8, max_steps=2_000, seed=0)
    assert ph.state_dict() == state and ph.threshold == 50.0
    assert res.detector is not ph and res.detector.n == 0


# --- oracles ----------------------------------------------------------------------------------
def test_cusum_known_arl0_oracle():
    # two-sided tabular CUSUM, k = 1/2, h = 5, known N(0, 1): ARL0 = 465 (Montgomery, table 9.3)
    est = estimate_arl0(CUSUM(mu0=0.0, sigma=1.0), n_streams=100, max_steps=10_000, seed=7)
    assert est.ci_low < 465 < est.ci_high, est
    assert est.rel_se < 0.04


def test_simulation_counts_match_river_page_hinkley():
    river_drift = pytest.importorskip("river.drift")
    values = null_values(3, 4_000, np.random.default_rng(1))  # (S, T)
    fleet = Fleet(PageHinkley(), 3, threshold=np.array([8.0, 12.0, 20.0]))
    alarms = np.zeros(3, dtype=np.int64)
    _simulate(PageHinkley._step, PageHinkley._init, fleet._state, fleet._params, values,
              np.arange(3, dtype=np.int64), alarms)
    for s, thr in enumerate((8.0, 12.0, 20.0)):
        ph = river_drift.PageHinkley(threshold=thr)
        n = 0
        for x in values[s]:
            ph.update(float(x))
            n += ph.drift_detected
        assert alarms[s] == n
    assert alarms.sum() > 10


def test_simulation_agrees_with_fleet_update_for_resetting_detectors():
    values = null_values(4, 5_000, np.random.default_rng(2))  # (S, T)
    fleet = Fleet(ADWIN(), 4, delta=np.array([0.1, 0.3, 0.6, 0.9]))
    expected = fleet.update(values.T).drift.sum(axis=0)  # (S,)
    fresh = Fleet(ADWIN(), 4, delta=np.array([0.1, 0.3, 0.6, 0.9]))
    alarms = np.zeros(4, dtype=np.int64)
    _simulate(ADWIN._step, ADWIN._init, fresh._state, fresh._params, values,
              np.arange(4, dtype=np.int64), alarms)
    assert alarms.tolist() == expected.tolist() and alarms.sum() > 0


def test_plain_python_reference_matches_compiled():
    code = (
        "import json; from adaptive import PageHinkley, estimate_arl0;"
        "e = estimate_arl0(PageHinkley(threshold=10.0), n_streams=3, max_steps=1500, seed=3);"
        "print(json.dumps([e.n_alarms, e.arl0]))"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    plain = json.loads(out.stdout.strip().splitlines()[-1])
    jit = estimate_arl0(PageHinkley(threshold=10.0), n_streams=3, max_steps=1500, seed=3)
    assert plain == [jit.n_alarms, jit.arl0] and jit.n_alarms > 0


# --- the estimator ----------------------------------------------------------------------------
def test_estimate_hand_computed():
    est = _estimate(np.array([2, 3, 5]), 100, 0.95)
    assert est.arl0 == 30.0 and est.n_alarms == 10 and est.n_steps == 300
    none = _estimate(np.array([0, 0]), 1_000, 0.95)
    assert none.arl0 == math.inf and none.ci_high == math.inf
    # no alarm in 2000 values: rate < chi2_{0.975}(2) / 4000 = -2 log(0.025) / 4000
    assert none.ci_low == pytest.approx(4_000 / (-2 * math.log(0.025)))


@settings(max_examples=40)
@given(q=st.floats(0.0005, 0.9995), df=st.integers(1, 2000))
def test_chi2_quantile_matches_scipy(q, df):
    stats = pytest.importorskip("scipy.stats")
    assert _chi2_ppf(q, df) == pytest.approx(stats.chi2.ppf(q, df), rel=1e-9, abs=1e-12)


@given(counts=st.lists(st.integers(0, 50), min_size=2, max_size=30),
       steps=st.integers(1, 10_000), level=st.floats(0.5, 0.99))
def test_estimate_interval_contains_point(counts, steps, level):
    est = _estimate(np.array(counts), steps, level)
    assert 0 < est.ci_low <= est.arl0 <= est.ci_high
    wider = _estimate(np.array(counts), steps, min(0.999, level + 0.009))
    assert wider.ci_low <= est.ci_low and wider.ci_high >= est.ci_high


def test_null_values_bootstrap_draws_from_reference():
    # a reference without serial correlation is resampled as it is (the sieve's order 0); a
    # periodic one like [1.5, -2, 7] * 10 would be fitted by an AR model instead
    ref = np.random.default_rng(1).permutation(np.array([1.5, -2.0, 7.0] * 10))
    vals = null_values(5, 200, np.random.default_rng(0), reference=ref)
    assert vals.shape == (5, 200) and set(np.unique(vals)) == {1.5, -2.0, 7.0}


@pytest.mark.parametrize("name", ["PageHinkley", "CUSUM", "EWMA", "ADWIN", "KSWIN", "DDM", "EDDM",
                                  "FHDDM", "HDDM_A", "HDDM_W"])
def test_every_detector_has_a_default_threshold(name):
    det = getattr(adaptive, name)()
    param, direction, factor = _resolve_param(det, None)
    assert param in det._fleet_params and direction in (-1, 1) and factor > 1
    value = getattr(det, param)
    assert isinstance(value, float) and value > 0


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(target_arl0=1.0), "target_arl0"),
        (dict(target_arl0=0.5), "target_arl0"),
        (dict(target_arl0=math.inf), "target_arl0"),
        (dict(target_arl0=100, param="nope"), "param='nope'"),
        (dict(target_arl0=100, param="mode"), "cannot vary per stream"),
        (dict(target_arl0=100, param="min_instances"), "positive real"),
        (dict(target_arl0=100, reference=np.ones(5)), "at least 30"),
        (dict(target_arl0=100, reference=np.r_[np.ones(40), np.nan]), "finite"),
        (dict(target_arl0=100, reference=np.ones((40, 2))), "1-D"),
        (dict(target_arl0=100, reference=np.ones(40), model="gaussian"), "not both"),
        (dict(target_arl0=100, model="poisson"), "model='poisson'"),
        (dict(target_arl0=100, model_params={"mu": 1.0}), "'mu'"),
        (dict(target_arl0=100, model_params={"scale": -1.0}), "scale"),
        (dict(target_arl0=100, n_streams=1), "n_streams"),
        (dict(target_arl0=100, max_steps=0), "max_steps"),
        (dict(target_arl0=100, tol=0.0), "tol"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        calibrate(PageHinkley(), **kwargs)


def test_bad_input_binary_and_types():
    with pytest.raises(ValueError, match="0/1"):
        calibrate(DDM(), target_arl0=100, reference=np.linspace(0, 1, 50))
    with pytest.raises(ValueError, match="bernoulli"):
        calibrate(DDM(), target_arl0=100, model="gaussian")
    with pytest.raises(ValueError, match="cannot vary per stream"):
        calibrate(ADWIN(), target_arl0=100, param="max_buckets")
    with pytest.raises(TypeError, match="Detector"):
        calibrate(object(), target_arl0=100)
    with pytest.raises(ValueError, match="p"):
        estimate_arl0(DDM(), model_params={"p": 1.5})


def test_unreachable_target():
    # ADWIN's false-alarm rate on Gaussian data is bounded: delta < 1 gives ARL0 > ~1000
    with pytest.raises(ValueError, match="not reachable"):
        calibrate(ADWIN(), target_arl0=300, n_streams=8, max_steps=3_000, seed=0)
