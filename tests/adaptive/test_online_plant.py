"""The simulated production line used by the online demo: determinism, drifts where injected."""

from __future__ import annotations

import numpy as np
import pytest

from adaptive.demos.plant import simulate_plant


def test_seeded_and_shaped():
    a, b = simulate_plant(2000, seed=3), simulate_plant(2000, seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.X.shape == (2000, 8) and a.X.dtype == np.float32 and a.y.dtype == np.int64
    assert a.changes == [666, 1333] and a.kinds == ["calibration", "material"]
    assert 0.1 < a.y.mean() < 0.5
    assert not np.array_equal(a.X, simulate_plant(2000, seed=4).X)


def test_calibration_shifts_some_sensors_only():
    s = simulate_plant(6000, seed=0, changes={3000: "calibration"}, label_noise=0.0)
    ref = simulate_plant(6000, seed=0, changes={}, label_noise=0.0)
    np.testing.assert_array_equal(s.y, ref.y)  # the quality rule is unchanged
    np.testing.assert_array_equal(s.X[:3000], ref.X[:3000])
    moved = np.abs(s.X[3000:] - ref.X[3000:]).mean(0) > 0.5
    assert 1 <= moved.sum() < s.X.shape[1]


def test_material_changes_the_labels_not_the_readings():
    s = simulate_plant(6000, seed=0, changes={3000: "material"}, label_noise=0.0)
    ref = simulate_plant(6000, seed=0, changes={}, label_noise=0.0)
    np.testing.assert_array_equal(s.y[:3000], ref.y[:3000])
    assert (s.y[3000:] != ref.y[3000:]).mean() > 0.2


@pytest.mark.parametrize("kw, word", [
    ({"n": 0}, "n="), ({"n_sensors": 2}, "n_sensors"), ({"label_noise": 0.7}, "label_noise"),
    ({"changes": {10: "flood"}}, "changes"), ({"changes": {5000: "material"}}, "outside"),
])
def test_bad_arguments(kw, word):
    args = {"n": 1000, **kw}
    with pytest.raises(ValueError, match=word):
        simulate_plant(**args)
