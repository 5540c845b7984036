"""calibrate() keeps its promise (issue 13): for every calibratable detector, targets 100, 1,000
and 10,000, and Gaussian, heavy-tailed (Student t, 3 dof) and autocorrelated (AR(1), 0.5)
references, the call either raises or returns a threshold whose ARL0, measured on fresh streams
of the process the reference came from, is within +-25% of the target. Binary detectors get
0/1 references instead: i.i.d. Bernoulli(0.2) and a two-state Markov chain with the same rate.

The ARL0 is the one calibrate estimates: the mean run length with a restart after each alarm,
over streams of 5 x target values (with parameters estimated in a warm-up, as CUSUM's, run
lengths are so heavy-tailed that a mean over unbounded streams hardly exists).

``make test`` runs a rotating sample of two (reference, target) pairs per detector, every
reference and target appearing (BOCPD and KSWIN, the slow ones, at 100 only);
``CALIBRATION_PROPERTY=full`` runs all of them with the full budget.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from adaptive.calibration import CalibrationError, calibrate
from adaptive.calibration.null_models import ar_order, null_values
from adaptive.drift import DETECTORS, Fleet

FULL = os.environ.get("CALIBRATION_PROPERTY") == "full"
TARGETS = (100, 1_000, 10_000)
REAL = ("gaussian", "student_t3", "ar1")
BINARY = ("bernoulli", "markov")
# fast configurations of the slow detectors (the property is about the search, not the size)
SMALL = {"BOCPD": {"max_run": 30, "window": 5}, "KSWIN": {"window_size": 50, "stat_size": 15,
                                                           "seed": 1}}


def process(kind: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """(T, S) values of S independent streams of the named in-control process."""
    t, s = shape
    if kind == "gaussian":
        return rng.normal(size=shape)
    if kind == "student_t3":
        return rng.standard_t(3, size=shape)
    if kind == "bernoulli":
        return (rng.random(shape) < 0.2).astype(np.float64)
    u = rng.random((t + 200, s)) if kind == "markov" else rng.normal(size=(t + 200, s))
    x = np.zeros((t + 200, s))
    for i in range(1, t + 200):
        if kind == "markov":  # P(1 | 1) = 0.5, P(1 | 0) = 0.125: stationary rate 0.2
            x[i] = u[i] < np.where(x[i - 1] == 1.0, 0.5, 0.125)
        else:
            x[i] = 0.5 * x[i - 1] + u[i]
    return x[200:]


def achieved_arl0(detector, kind: str, target: float, seed: int) -> float:
    """ARL0 as calibrate defines it, on fresh streams of the process itself (not resampled):
    streams of 5 x target values, the detector restarting after each alarm; exposure over
    alarms, over batches of 64 streams until 400 alarms."""
    rng = np.random.default_rng(seed)
    n, alarms = 0, 0
    while alarms < 400 and n < 400 * target * 64:
        values = process(kind, rng, (5 * target, 64))
        alarms += int(Fleet(detector, 64).update(values).drift.sum())
        n += values.size
    return n / max(alarms, 1)


def cases():
    calibratable = [c for c in DETECTORS.values()
                    if c._threshold is not None and c._threshold.param in c._fleet_params]
    out = []
    for i, cls in enumerate(calibratable):
        targets = TARGETS[:1] if cls.__name__ in SMALL and not FULL else TARGETS
        combos = list(itertools.product(BINARY if cls._binary else REAL, targets))
        if not FULL:  # two pairs per detector, rotating so every pair appears across detectors
            combos = [combos[(i + k) % len(combos)] for k in (0, len(combos) // 2)]
        out += [pytest.param(cls, kind, target, id=f"{cls.__name__}-{kind}-{target}")
                for kind, target in combos]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("cls,kind,target", cases())
def test_calibrated_arl0_holds_on_fresh_streams_or_the_call_raises(cls, kind, target):
    detector = cls(**SMALL.get(cls.__name__, {}))
    # 20,000 reference values, or 10 x target: with fewer, the heavy tail the bootstrap can draw
    # ends too early for alarms that one extreme value sets off (measured: CUSUM 25-30% short
    # at target 1,000 with 5,000 t3 values; EWMA 31% short at 10,000 with 20,000, even with
    # the fitted Pareto tail of null_models.resample)
    reference = process(kind, np.random.default_rng(123), (max(20_000, 10 * target), 1))[:, 0]
    try:
        res = calibrate(detector, target_arl0=target, reference=reference,
                        n_streams=200 if FULL else 64, seed=0)
    except CalibrationError as err:  # the promise: it names the closest values on both sides
        assert err.below is not None or err.above is not None
        assert err.below is None or err.below[1].ci_high < target
        assert err.above is None or err.above[1].ci_low > target
        return
    except ValueError as err:  # a target out of the parameter's reach is said as such
        assert "not reachable" in str(err)
        return
    assert res.estimate.ci_low <= target <= res.estimate.ci_high
    got = achieved_arl0(res.detector, kind, target, seed=7)
    assert 0.75 * target <= got <= 1.25 * target, (res.value, res.estimate, got)


def test_sieve_bootstrap_keeps_autocorrelation_and_plain_bootstrap_otherwise():
    rng = np.random.default_rng(0)
    ar = process("ar1", rng, (5_000, 1))[:, 0]
    p, phi = ar_order(ar)
    assert p == 1 and abs(phi[0] - 0.5) < 0.05
    sim = null_values(4, 20_000, rng, reference=ar)  # (S, T)
    lag1 = np.mean([np.corrcoef(s[1:], s[:-1])[0, 1] for s in sim])
    assert abs(lag1 - 0.5) < 0.05
    iid = rng.normal(size=5_000)
    assert ar_order(iid)[0] == 0
    assert np.isin(null_values(2, 100, rng, reference=iid), iid).all()  # resampled values
