"""BOCPD: the kernel against its plain-numpy reference, against an independent implementation
(bayesian_changepoint_detection, the test extra), bounded memory, scale freedom, calibration."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive.calibration import calibrate
from adaptive.drift import BOCPD, Fleet
from adaptive.drift.bocpd import BUF, reference_alarms

params = st.fixed_dictionaries({
    "lambda_": st.sampled_from([20.0, 100.0, 400.0]),
    "threshold": st.sampled_from([0.5, 3.0, 10.0, 50.0]),
    "window": st.integers(1, 25),
    "max_run": st.integers(30, 120),
    "warm_start": st.integers(3, 40),
    "kappa0": st.sampled_from([0.1, 1.0]),
    "beta0": st.sampled_from([0.5, 1.0, 3.0]),
})


def _stream(seed: int, n: int) -> np.ndarray:
    """Piecewise Gaussian with level and spread changes, an odd unit and offset."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, n, size=rng.integers(0, 4)))
    level, spread = rng.normal(0, 3, cuts.size + 1), rng.uniform(0.2, 3.0, cuts.size + 1)
    seg = np.searchsorted(cuts, np.arange(n), side="right")
    return 1e3 * (level[seg] + spread[seg] * rng.standard_t(8, size=n)) - 7e4


def _alarms_and_lags(det: BOCPD, x: np.ndarray) -> tuple[list[int], list[int]]:
    alarms, lags = [], []
    for t, v in enumerate(x.tolist()):
        det.update(v)
        if det.drift_detected:
            alarms.append(t)
            lags.append(det.change_lag)
    return alarms, lags


@settings(max_examples=15)
@given(params, st.booleans(), st.integers(0, 2**31), st.integers(1, 400))
def test_kernel_equals_the_numpy_reference(kw, known, seed, n):
    if kw["window"] >= kw["max_run"]:
        kw["window"] = kw["max_run"] - 1
    if known:
        kw.update(mu0=-7e4, sigma=2e3)
    x = _stream(seed, n)
    assert _alarms_and_lags(BOCPD(**kw), x) == reference_alarms(x, **kw)
    assert BOCPD(**kw).update_many(x).drift.tolist() == reference_alarms(x, **kw)[0]


def test_run_length_posterior_equals_an_independent_implementation():
    oncd = pytest.importorskip("bayesian_changepoint_detection.online_changepoint_detection")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 80), rng.normal(3, 2, 60), rng.normal(-1, 0.5, 60)])
    for lam, (a, b, k) in ((50.0, (1.0, 1.0, 1.0)), (200.0, (0.5, 2.0, 0.1))):
        big_r, _ = oncd.online_changepoint_detection(
            x, partial(oncd.constant_hazard, lam), oncd.StudentT(a, b, k, 0.0))
        det = BOCPD(lambda_=lam, threshold=1e300, window=5, max_run=x.size, mu0=0.0,
                    sigma=1.0, kappa0=k, alpha0=a, beta0=b)
        for t, v in enumerate(x):
            det.update(float(v))
            np.testing.assert_allclose(det.run_length_distribution, big_r[:t + 2, t + 1],
                                       rtol=1e-9, atol=1e-12)


def test_truncated_posterior_keeps_its_size_and_sums_to_one():
    det = BOCPD(max_run=50, threshold=1e300)
    x = np.random.default_rng(1).normal(size=20_000)
    det.update_many(x)
    assert det._row.size == BUF + det.warm_start + 3 * 51
    p = det.run_length_distribution
    assert p.shape == (51,) and p.sum() == pytest.approx(1.0) and (p >= 0).all()


def test_state_memory_is_bounded_in_a_fleet():
    fleet = Fleet(BOCPD(max_run=40, window=20), 16)
    nbytes = fleet.rows().nbytes
    fleet.update(np.random.default_rng(2).normal(size=(3000, 16)))
    assert fleet.rows().nbytes == nbytes == 16 * 8 * (BUF + 5 + 3 * 41)


@given(st.integers(-30, 30), st.integers(0, 2**31))
def test_alarms_do_not_depend_on_the_unit(power, seed):
    # a power-of-two unit is exact in floating point: the same standardised values
    x = _stream(seed, 300)
    assert BOCPD().update_many(x * 2.0**power).drift.tolist() == \
        BOCPD().update_many(x).drift.tolist()


def test_change_lag_points_at_the_change():
    rng = np.random.default_rng(3)
    hits = []
    for _ in range(20):
        x = np.concatenate([rng.normal(5, 1, 200), rng.normal(8, 1, 100)])
        alarms, lags = _alarms_and_lags(BOCPD(), x)
        after = [t - lag for t, lag in zip(alarms, lags) if t >= 200]
        hits.append(bool(after) and abs(after[0] - 200) <= 2)
    assert sum(hits) >= 18


def test_threshold_calibrates_to_an_arl0():
    res = calibrate(BOCPD(max_run=40, window=5), target_arl0=300, n_streams=32, seed=0)
    assert res.param == "threshold"
    assert res.estimate.ci_low <= 300 <= res.estimate.ci_high


@pytest.mark.parametrize("bad", [{"window": 50, "max_run": 50}, {"lambda_": 1.0},
                                 {"threshold": 0.0}, {"warm_start": 2}, {"kappa0": 0.0}])
def test_bad_parameters_are_named(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        BOCPD(**bad)
