"""TorchFleet (PageHinkley, CUSUM, EWMA as (S,) tensor recurrences) against the numba Fleet.

On the CPU in float64 the two must agree exactly: alarms after every step and the final state
rows. A CUDA run of the same checks is marked ``gpu`` and skipped without a device.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive import CUSUM, DDM, EWMA, Fleet, PageHinkley
from adaptive.drift.torch_fleet import TorchFleet

DETECTORS = {
    "ph": lambda: PageHinkley(threshold=10.0, min_instances=5),
    "ph_down": lambda: PageHinkley(threshold=5.0, mode="down", alpha=0.99),
    "cusum": lambda: CUSUM(h=4.0, warm_start=10),
    "cusum_known": lambda: CUSUM(mu0=0.0, sigma=1.0, mode="up"),
    "ewma": lambda: EWMA(lambda_=0.3, warning_L=2.0, warm_start=10),
    "ewma_known": lambda: EWMA(mu0=0.0, sigma=1.0, lambda_=0.1, L=2.5),
}


def _values(kind, n_steps, n_streams, seed):
    rng = np.random.default_rng(seed)
    if kind == "extreme":  # a constant warm-up (sigma 0), then huge accepted values
        v = np.ones((n_steps, n_streams))
        v[n_steps // 2:] = rng.choice([-1e99, 1e99, 3.0], size=(n_steps - n_steps // 2,
                                                                n_streams))
        return v
    if kind == "repeated":
        v = np.repeat(rng.integers(-2, 3, size=(n_steps // 20 + 1, n_streams)), 20, axis=0)
        return v[:n_steps].astype(np.float64)
    v = rng.normal(0.0, 1.0, (n_steps, n_streams))  # (T, S)
    if kind == "change":
        v[n_steps // 2:, ::2] += 2.0
    return v


def _compare(make, values, device="cpu", **params):
    fleet = Fleet(make(), values.shape[1], **params)
    tfleet = TorchFleet(make(), values.shape[1], device=device, **params)
    half = values.shape[0] // 2  # two calls: state carries over
    ours = [fleet.update(values[:half]), fleet.update(values[half:])]
    theirs = [tfleet.update(torch.from_numpy(values[:half]).to(device)),
              tfleet.update(torch.from_numpy(values[half:]).to(device))]
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.drift, b.drift.cpu().numpy())
        np.testing.assert_array_equal(a.warning, b.warning.cpu().numpy())
    np.testing.assert_array_equal(fleet._state, tfleet.state.cpu().numpy())
    return sum(int(a.drift.sum()) for a in ours)


@pytest.mark.parametrize("name", list(DETECTORS))
@given(kind=st.sampled_from(["gauss", "change", "repeated", "extreme"]),
       n_steps=st.integers(1, 200),
       n_streams=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=8)
def test_torch_fleet_equals_numba_fleet(name, kind, n_steps, n_streams, seed):
    _compare(DETECTORS[name], _values(kind, n_steps, n_streams, seed))


@pytest.mark.parametrize("name", list(DETECTORS))
def test_torch_fleet_raises_alarms_like_numba(name):
    n_alarms = _compare(DETECTORS[name], _values("change", 800, 8, 1))
    assert n_alarms > 0  # the comparison above is not vacuous


def test_per_stream_params_round_trip_and_errors():
    values = _values("change", 600, 4, 3)
    assert _compare(lambda: PageHinkley(threshold=10.0), values,
                    threshold=[5.0, 10.0, 20.0, 40.0]) > 0
    tf = TorchFleet(CUSUM(mu0=0.0, sigma=1.0), 4, h=[2.0, 4.0, 6.0, 8.0])
    tf.update(torch.from_numpy(values[:300]))
    fleet = tf.to_fleet()
    rest = torch.from_numpy(values[300:])
    np.testing.assert_array_equal(fleet.update(values[300:]).drift, tf.update(rest).drift.numpy())
    back = TorchFleet.from_fleet(fleet)
    np.testing.assert_array_equal(back.state.numpy(), tf.state.numpy())
    with pytest.raises(ValueError, match=r"\(4,\) or \(T, 4\)"):
        tf.update(torch.zeros(5))
    with pytest.raises(ValueError, match="non-finite"):
        tf.update(torch.tensor([0.0, float("nan"), 0.0, 0.0]))
    with pytest.raises(TypeError, match="PageHinkley"):
        TorchFleet(DDM(), 2)
    with pytest.raises(ValueError, match="h"):
        TorchFleet(CUSUM(), 2, h=[1.0, -1.0])


@pytest.mark.parametrize("name", list(DETECTORS))
def test_values_above_max_abs_input_are_refused_like_numba(name):
    values = np.random.default_rng(5).normal(size=(300, 3))
    values[[7, 150, 151], [0, 2, 2]] = [2e100, -1e200, np.inf]
    with pytest.raises(ValueError, match="max_abs_input"):
        TorchFleet(DETECTORS[name](), 3).update(torch.from_numpy(values))
    make = lambda: DETECTORS[name]().clone({"nan_policy": "skip"})  # noqa: E731
    fleet, tfleet = Fleet(make(), 3), TorchFleet(make(), 3)
    np.testing.assert_array_equal(fleet.update(values).drift,
                                  tfleet.update(torch.from_numpy(values)).drift.numpy())
    np.testing.assert_array_equal(fleet._state, tfleet.state.numpy())
    assert tfleet.n_skipped.tolist() == fleet.n_skipped.tolist() == [1, 0, 2]


def test_nan_skip_matches_numba():
    values = _values("change", 400, 3, 4)
    values[[3, 50, 51, 300], [0, 1, 1, 2]] = np.nan
    make = lambda: EWMA(warm_start=10, nan_policy="skip")  # noqa: E731
    _compare(make, values)
    tf = TorchFleet(make(), 3)
    tf.update(torch.from_numpy(values))
    assert tf.n_skipped.tolist() == [1, 2, 1]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(DETECTORS))
def test_cuda_equals_numba(name):
    assert _compare(DETECTORS[name], _values("change", 800, 64, 5), device="cuda") > 0
