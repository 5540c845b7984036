"""ScaleCUSUM, MeanScaleCUSUM and ScaleFree: textbook recurrences as oracles, the robust warm-up
against its numpy reference, unit invariance, detection of both kinds of change."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive.drift import ADWIN, CUSUM, KSWIN, MeanScaleCUSUM, PageHinkley, ScaleCUSUM
from adaptive.drift._robust import robust_location_scale, robust_scale
from adaptive.drift.scale_free import ScaleFree


def textbook(x, mu, sigma, h, shift, ratio, mean=True):
    """The four (or two) one-sided CUSUMs of log-likelihood ratios, restarted after an alarm:
    [(t, kind, t - lag)] with lag = values since the alarming sum last left 0, minus one."""
    a_up, b_up = 0.5 * (1 - ratio**-2), math.log(ratio)
    a_dn, b_dn = 0.5 * (1 - ratio**2), -math.log(ratio)
    sums, runs, out = [0.0] * 4, [0] * 4, []
    for t, v in enumerate(x):
        z = (v - mu) / sigma
        inc = [shift * z - shift**2 / 2, -shift * z - shift**2 / 2,
               a_up * z * z - b_up, a_dn * z * z - b_dn]
        for i in range(4):
            sums[i] = max(0.0, sums[i] + inc[i])
            runs[i] = runs[i] + 1 if sums[i] > 0 else 0
        kind = 0
        if sums[2] > h and sums[2] >= sums[3]:
            kind = 3
        elif sums[3] > h:
            kind = 4
        if mean and sums[0] > h and sums[0] >= sums[1]:
            kind = 1
        elif mean and sums[1] > h:
            kind = 2
        if kind:
            names = ("mean up", "mean down", "spread up", "spread down")
            out.append((t, names[kind - 1], t - (runs[kind - 1] - 1)))
            sums, runs = [0.0] * 4, [0] * 4
    return out


def alarms(det, x):
    out = []
    for t, v in enumerate(np.asarray(x).tolist()):
        det.update(v)
        if det.drift_detected:
            out.append((t, getattr(det, "change_kind", None), t - det.change_lag))
    return out


def stream(seed, n=600):
    rng = np.random.default_rng(seed)
    cut = int(rng.integers(0, n))
    x = rng.normal(3.0, 2.0, n)
    x[cut:] = rng.normal(3.0 + rng.choice([0, 3]), 2.0 * rng.choice([0.5, 1, 2.5]), n - cut)
    return x


@given(st.integers(0, 2**31), st.sampled_from([2.0, 5.0, 9.0]), st.sampled_from([0.5, 1.0, 2.0]),
       st.sampled_from([1.2, 1.5, 3.0]))
def test_mean_scale_cusum_is_the_textbook_recurrence(seed, h, shift, ratio):
    x = stream(seed)
    det = MeanScaleCUSUM(shift=shift, ratio=ratio, h=h, mu0=3.0, sigma=2.0)
    assert alarms(det, x) == textbook(x, 3.0, 2.0, h, shift, ratio)


@given(st.integers(0, 2**31), st.sampled_from([2.0, 5.0, 9.0]), st.sampled_from([1.2, 1.5, 3.0]))
def test_scale_cusum_is_the_textbook_recurrence(seed, h, ratio):
    x = stream(seed)
    det = ScaleCUSUM(ratio=ratio, h=h, mu0=3.0, sigma=2.0)
    assert alarms(det, x) == textbook(x, 3.0, 2.0, h, 1.0, ratio, mean=False)


@given(st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=80), st.integers(0, 3))
def test_robust_scale_kernel_equals_its_numpy_reference(values, repeat):
    x = np.repeat(np.asarray(values), repeat + 1)
    med, s = robust_location_scale(x)
    assert med == np.median(x)
    assert robust_scale(x, med) == pytest.approx(s, rel=1e-12)
    assert s > 0


def test_warm_up_estimate_resists_outliers_and_replays():
    rng = np.random.default_rng(0)
    x = rng.normal(100.0, 2.0, 400)
    x[[3, 17]] = [1e5, -1e5]  # two wild readings inside the warm-up
    det = MeanScaleCUSUM(warm_start=50)
    det.update_many(x[:50])
    assert det.mu0_ == pytest.approx(100.0, abs=1.0) and det.sigma_ == pytest.approx(2.0, rel=0.3)
    # a change in the warm-up's minority is seen at its end, pointing back into it
    y = np.concatenate([rng.normal(0, 1, 35), rng.normal(30, 1, 15)])
    got = alarms(MeanScaleCUSUM(warm_start=50), y)
    assert got and got[0][:2] == (49, "mean up") and abs(got[0][2] - 35) <= 1


@pytest.mark.parametrize("cls", [ScaleCUSUM, MeanScaleCUSUM])
@given(power=st.integers(-30, 30), seed=st.integers(0, 2**31))
def test_alarms_do_not_depend_on_the_unit(cls, power, seed):
    x = stream(seed)
    assert cls().update_many(x * 2.0**power).drift.tolist() == cls().update_many(x).drift.tolist()


@pytest.mark.parametrize("make", [PageHinkley, ADWIN, lambda: KSWIN(seed=1), CUSUM])
@given(power=st.integers(-30, 30), seed=st.integers(0, 2**31))
def test_scale_free_wrapper_makes_any_detector_unit_free(make, power, seed):
    x = stream(seed, 300)
    a = ScaleFree(make()).update_many(x).drift.tolist()
    assert ScaleFree(make()).update_many(x * 2.0**power).drift.tolist() == a


def test_each_kind_of_change_is_reported_as_such():
    rng = np.random.default_rng(1)
    kinds = {"mean up": 0, "spread up": 0, "spread down": 0}
    for _ in range(10):
        base = rng.normal(50.0, 4.0, 400)
        for kind, after in (("mean up", rng.normal(58.0, 4.0, 300)),
                            ("spread up", rng.normal(50.0, 12.0, 300)),
                            ("spread down", rng.normal(50.0, 1.0, 300))):
            got = [a for a in alarms(MeanScaleCUSUM(), np.concatenate([base, after]))
                   if a[0] >= 400]
            # a threefold spread makes large deviations that the mean sums may see first
            right = bool(got) and (got[0][1] == kind or kind == "spread up")
            kinds[kind] += right and abs(got[0][2] - 400) <= 25
    assert min(kinds.values()) >= 8, kinds


def test_scale_free_state_round_trip_and_errors():
    x = stream(3)
    a = ScaleFree(CUSUM(), warm_start=20)
    a.update_many(x[:100])
    b = ScaleFree(CUSUM(), warm_start=20)
    b.load_state_dict(a.state_dict())
    assert a.update_many(x[100:]).drift.tolist() == b.update_many(x[100:]).drift.tolist()
    with pytest.raises(ValueError, match="warm_start"):
        ScaleFree(CUSUM(), warm_start=2)
    with pytest.raises(ValueError, match="detector"):
        ScaleFree(object())
    with pytest.raises(ValueError, match="warm_start"):
        ScaleFree(CUSUM(), warm_start=30).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="not finite"):
        a.update(float("nan"))
