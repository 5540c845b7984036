"""Issue 11 item 8: a finite but huge reading never leaves a detector's state non-finite.

Every detector exposes ``max_abs_input`` (a float): a value with ``|x| > max_abs_input`` is
refused like a non-finite one, by the detector's ``nan_policy`` (``ValueError`` naming x under
"raise", skipped and counted in ``n_skipped`` under "skip"; a Fleet the same per stream, through
both its kernels), and every accepted value keeps the state finite. Before the fix, 1e200 into
ADWIN made its variance infinite for good (it never detected again) and 1e308 into EWMA made it
alarm on in-control data; a CUSUM whose warm-up was constant put infinity into its sums.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive.drift import ADWIN, CUSUM, DETECTORS, EWMA, Fleet

# every registered detector, in every test configuration it declares, plus its defaults
CASES = [(cls, {}) for cls in DETECTORS.values()] + [
    (cls, params) for cls in DETECTORS.values() for params in cls._unit_test_params()]
IDS = [f"{c.__name__}-{i}" for i, (c, _) in enumerate(CASES)]
REAL = [(c, p) for c, p in CASES if not c._binary]
REAL_IDS = [f"{c.__name__}-{i}" for i, (c, _) in enumerate(REAL)]
# Known defects, reported to their owners; remove an entry when its detector passes.
OPEN: dict[str, str] = {}


def _cases(cases, ids):
    """pytest params, the detectors with an open defect marked as expected to fail."""
    return [pytest.param(*case, id=i, marks=[pytest.mark.xfail(reason=OPEN[case[0].__name__])]
                         if case[0].__name__ in OPEN else [])
            for case, i in zip(cases, ids)]
EXTRA = [  # configurations where a huge accepted value is most dangerous
    (CUSUM, {"mu0": 0.0, "sigma": 1e-300}), (CUSUM, {"mode": "up", "warm_start": 2}),
    (EWMA, {"mu0": 0.0, "sigma": 1.0}), (ADWIN, {"clock": 1}),
]


def _row(det) -> np.ndarray:
    return np.asarray(det.state_dict()["state"], dtype=np.float64)


def _finite_or_fresh(row: np.ndarray, fresh: np.ndarray) -> bool:
    """Every slot finite, or holding the sentinel (nan / inf) a fresh detector has there."""
    ok = np.isfinite(row) | (np.isnan(row) & np.isnan(fresh)) | (row == fresh)
    return bool(ok.all())


@pytest.mark.parametrize("cls,params", CASES, ids=IDS)
def test_max_abs_input_is_a_public_float(cls, params):
    det = cls(**params)
    assert isinstance(det.max_abs_input, float) and det.max_abs_input > 0
    with pytest.raises(AttributeError):
        det.max_abs_input = 1.0  # read-only: the kernels' bound


@pytest.mark.parametrize("cls,params", REAL + EXTRA, ids=REAL_IDS + [f"extra{i}" for i in
                                                                      range(len(EXTRA))])
def test_above_max_abs_input_is_refused_by_nan_policy(cls, params):
    if not math.isfinite(cls(**params).max_abs_input):
        pytest.skip("no finite value can overflow this detector's state")
    big = 4.0 * cls(**params).max_abs_input
    values = np.random.default_rng(1).normal(size=300)
    det = cls(**params)
    det.update_many(values[:100])
    before = _row(det)
    for x in (big, -big, np.float64(big), 10**200):
        with pytest.raises(ValueError, match=r"x=.*max_abs_input"):
            det.update(x)
    with pytest.raises(ValueError, match="max_abs_input"):
        det.update_many(np.array([0.5, big]))
    np.testing.assert_array_equal(_row(det), before)
    for fleet in (Fleet(cls(**params), 2), Fleet(cls(**params), 300)):
        vals = np.zeros((2, fleet.n_streams))
        vals[1, 1] = -big
        state = fleet.rows()
        with pytest.raises(ValueError, match="max_abs_input"):
            fleet.update(vals)
        np.testing.assert_array_equal(fleet.rows(), state)  # refused before any change
        with pytest.raises(ValueError, match="max_abs_input"):
            fleet.update_events([0, 1], [0.0, big])

    dirty = values.copy()
    dirty[[0, 150, 299]] = [big, -big, big]
    kept = np.delete(np.arange(values.size), [0, 150, 299])
    ref = cls(**params)
    want = ref.update_many(values[kept])
    skip = cls(**params, nan_policy="skip")
    got = skip.update_many(dirty)
    assert skip.n_skipped == 3 and got.drift.tolist() == kept[want.drift].tolist()
    np.testing.assert_array_equal(_row(skip), _row(ref))
    one = cls(**params, nan_policy="skip")
    for x in dirty.tolist():
        one.update(x)
    assert one.n_skipped == 3
    np.testing.assert_array_equal(_row(one), _row(ref))
    for n in (2, 300):  # the row kernel and the lane kernel (more than one block of streams)
        fleet = Fleet(cls(**params, nan_policy="skip"), n)
        block = np.tile(values[:, None], (1, n))
        block[:, 0] = dirty
        fleet.update(block)
        assert fleet.n_skipped[:2].tolist() == [3, 0]
        np.testing.assert_array_equal(_row(fleet.stream(0)), _row(ref))
    events = Fleet(cls(**params, nan_policy="skip"), 2)
    events.update_events(np.tile([0, 1], dirty.size), np.stack([dirty, values], 1).reshape(-1))
    assert events.n_skipped.tolist() == [3, 0]
    np.testing.assert_array_equal(_row(events.stream(0)), _row(ref))


def test_issue_repro_adwin_1e200():
    rng = np.random.default_rng(3)
    stream = np.concatenate([rng.normal(0, 1, 2000), rng.normal(3, 1, 2000)])
    det = ADWIN(nan_policy="skip")
    det.update_many(stream[:500])
    det.update(1e200)
    assert math.isfinite(det.estimation) and math.isfinite(det.variance)
    assert det.update_many(stream[500:]).drift.size > 0  # still detects the shift
    with pytest.raises(ValueError, match="x=1e"):
        ADWIN().update(1e200)


def test_issue_repro_ewma_1e308():
    in_control = np.random.default_rng(4).normal(0, 1, 3000)
    ref = EWMA(nan_policy="skip")
    ref.update_many(in_control[:100])
    want = ref.update_many(in_control[100:]).drift
    det = EWMA(nan_policy="skip")
    det.update_many(in_control[:100])
    det.update(1e308)
    assert det.update_many(in_control[100:]).drift.tolist() == want.tolist()
    assert det.n_skipped == 1


@pytest.mark.parametrize("cls,params", _cases(REAL + EXTRA, REAL_IDS + [f"extra{i}" for i in
                                                                         range(len(EXTRA))]))
def test_extreme_accepted_values_keep_the_state_finite(cls, params):
    m = min(cls(**params).max_abs_input, 1.7e308)  # inf: the largest finite doubles
    rng = np.random.default_rng(5)
    fresh = _row(cls(**params))
    patterns = [
        np.where(np.arange(400) % 2 == 0, m, -m),            # alternating extremes
        np.full(400, m),                                      # constant extreme
        np.concatenate([np.full(40, 1.0), np.full(360, m)]),  # constant warm-up, then a jump
        m * rng.uniform(-1, 1, 400),
        np.concatenate([rng.normal(size=200), [m, -m], rng.normal(size=198)]),
    ]
    for values in patterns:
        det = cls(**params)
        for x in values.tolist():
            det.update(x)
            assert _finite_or_fresh(_row(det), fresh), (x, _row(det))
        if getattr(det, "seed", 0) is None:  # KSWIN without a seed samples at random
            continue
        fleet = Fleet(cls(**params), 1)
        fleet.update(values[:, None])
        np.testing.assert_array_equal(_row(fleet.stream(0)), _row(det))


magnitudes = st.one_of(
    st.floats(-1e308, 1e308, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, -1.0, 1e100, -1e100, 1e200, 1e300, 1.7e308, -1.7e308]),
    st.floats(-10, 10),
)


@pytest.mark.parametrize("cls,params", _cases(CASES + EXTRA, IDS + [f"extra{i}" for i in
                                                                   range(len(EXTRA))]))
@given(values=st.lists(magnitudes, min_size=1, max_size=120))
@settings(max_examples=30, deadline=None)
def test_state_stays_finite_or_the_value_is_refused(cls, params, values):
    det = cls(**params, nan_policy="skip")
    fresh = _row(cls(**params))
    for x in values:
        before, skipped = _row(det), det.n_skipped
        try:
            det.update(x)
        except ValueError:  # a binary detector's non-bit: refused, nothing changed
            assert cls._binary and x not in (0.0, 1.0)
            np.testing.assert_array_equal(_row(det), before)
            continue
        if det.n_skipped != skipped:
            assert det.n_skipped == skipped + 1 and abs(x) > det.max_abs_input
            np.testing.assert_array_equal(_row(det), before)
        else:
            assert abs(x) <= det.max_abs_input
            assert _finite_or_fresh(_row(det), fresh), (x, _row(det))
