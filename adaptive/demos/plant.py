"""A simulated multi-sensor production line: sensor readings, a quality label, injected drifts.

A latent process state (load, temperature, speed: three AR(1) processes, unit variance) drives
``n_sensors`` noisy sensors through a fixed random mixing with a mild non-linearity. Each part's
quality is ``defect`` (1) when a non-linear score of the process state exceeds a threshold;
2 % of the labels are flipped (inspection errors). Drifts are injected at known samples:

* ``"calibration"``: a third of the sensors get a gain and an offset (a covariate shift of the
  readings; the process and the quality rule are unchanged);
* ``"material"``: a new raw material changes the quality rule (a real concept drift: the
  speed term flips sign and the threshold moves);
* ``"wear"``: tool wear adds a slowly growing bias to the temperature (gradual drift).

Examples
--------
>>> from adaptive.demos.plant import simulate_plant
>>> s = simulate_plant(3000, seed=0, changes={1000: "calibration", 2000: "material"})
>>> s.X.shape, s.y.shape, s.changes, s.kinds
((3000, 8), (3000,), [1000, 2000], ['calibration', 'material'])
>>> round(float(s.y.mean()), 2)
0.26
"""

from __future__ import annotations

import dataclasses

import numpy as np

DRIFT_KINDS = ("calibration", "material", "wear")


@dataclasses.dataclass
class PlantStream:
    """Sensor readings ``X`` (T, S) float32, labels ``y`` (T,) int64 (1 = defect), drifts."""

    X: np.ndarray
    y: np.ndarray
    changes: list[int]
    kinds: list[str]
    sensor_names: list[str]


def simulate_plant(
    n: int = 12_000,
    n_sensors: int = 8,
    *,
    seed: int = 0,
    changes: dict[int, str] | None = None,
    label_noise: float = 0.02,
) -> PlantStream:
    """Generate ``n`` parts; ``changes`` maps a sample index to a drift kind (see module doc).

    By default a calibration drift at ``n // 3`` and a material change at ``2 * n // 3``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be an integer >= 1")
    if isinstance(n_sensors, bool) or not isinstance(n_sensors, int) or n_sensors < 3:
        raise ValueError(f"n_sensors={n_sensors!r} must be an integer >= 3")
    if not 0.0 <= label_noise < 0.5:
        raise ValueError(f"label_noise={label_noise!r} must be in [0, 0.5)")
    if changes is None:
        changes = {n // 3: "calibration", 2 * n // 3: "material"}
    for t, kind in changes.items():
        if kind not in DRIFT_KINDS:
            raise ValueError(f"changes[{t}]={kind!r} must be one of {DRIFT_KINDS}")
        if not 0 <= t < n:
            raise ValueError(f"change at {t} is outside the stream [0, {n})")
    rng = np.random.default_rng(seed)
    drift_rng = np.random.default_rng([seed, 1])  # apart, so drifts leave the base stream as is
    # latent process state (T, 3): AR(1) with coefficient 0.95, unit stationary variance
    phi = 0.95
    eps = rng.normal(size=(n, 3)) * np.sqrt(1 - phi**2)
    z = np.empty((n, 3))
    z[0] = rng.normal(size=3)
    for t in range(1, n):
        z[t] = phi * z[t - 1] + eps[t]
    # independent part-to-part variation on top of the slow process (same scale)
    z = 0.3 * z + 0.95 * rng.normal(size=(n, 3))
    mix = rng.normal(size=(3, n_sensors))  # (3, S) how each sensor sees the process
    base = rng.uniform(-2.0, 2.0, n_sensors)  # sensor set points (units of the reading)
    sens_gain = np.ones((n, n_sensors))
    sens_off = np.zeros((n, n_sensors))
    flip = np.ones(n)  # sign of the speed term of the quality rule
    thresh = np.full(n, 0.6)
    for t, kind in sorted(changes.items()):
        if kind == "calibration":
            drifted = drift_rng.choice(n_sensors, size=max(1, n_sensors // 3), replace=False)
            sens_gain[t:, drifted] = drift_rng.uniform(1.6, 2.2, drifted.size)
            sens_off[t:, drifted] = drift_rng.uniform(1.0, 2.0, drifted.size) * drift_rng.choice(
                [-1.0, 1.0], drifted.size)
        elif kind == "material":
            flip[t:] *= -1.0
            thresh[t:] = 0.3
        else:  # wear: temperature bias growing to +1.5 over 3000 samples
            z[t:, 1] += np.minimum(np.arange(n - t) / 3000.0, 1.0) * 1.5
    X = (z @ mix + 0.3 * np.tanh(z @ mix)) + base  # (T, S)
    X = X * sens_gain + sens_off + 0.1 * rng.normal(size=X.shape)
    score = z[:, 0] * z[:, 1] + 0.8 * flip * z[:, 2] - 0.3 * z[:, 1] ** 2
    y = (score > thresh).astype(np.int64)
    noisy = rng.random(n) < label_noise
    y[noisy] = 1 - y[noisy]
    kinds = [changes[t] for t in sorted(changes)]
    names = [f"sensor_{i}" for i in range(n_sensors)]
    return PlantStream(X.astype(np.float32), y, sorted(changes), kinds, names)
