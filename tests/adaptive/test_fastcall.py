"""``update(x)`` through the compiled builtin (adaptive.drift._fastcall) against the Python path.

For every registered detector the builtin and the plain Python method (``Detector.update``)
give the same rows and flags after every value; every input the builtin does not take itself
(ints, bools, NumPy scalars, text, non-finite or huge values, wrong arity) behaves exactly as in
the Python method; copies never share the builtin; the builtin outlives its detector; reference
counts of the objects it returns stay balanced.
"""

from __future__ import annotations

import copy
import gc
import pickle
import sys

import numpy as np
import pytest

from adaptive.drift import ADWIN, DDM, DETECTORS, Fleet, PageHinkley, _fastcall
from adaptive.drift.base import Detector

pytestmark = pytest.mark.skipif(not _fastcall.available(),
                                reason="no builtin update here (not CPython / JIT disabled)")
CONFIGS = [(cls, params) for cls in DETECTORS.values() for params in cls._unit_test_params()]
IDS = [f"{c.__name__}-{i}" for i, (c, _) in enumerate(CONFIGS)]


def _stream(cls, n, seed):
    rng = np.random.default_rng(seed)
    if cls._binary:
        return (rng.random(n) < np.where(np.arange(n) < n // 2, 0.1, 0.5)).astype(float)
    return rng.normal(0.0, 1.0, n) + 2.0 * (np.arange(n) >= n // 2)


@pytest.mark.parametrize("cls,params", CONFIGS, ids=IDS)
def test_builtin_equals_the_python_path(cls, params):
    fast, slow = cls(**params), cls(**params)
    for i, x in enumerate(_stream(cls, 1500, 0).tolist()):
        fast.update(x)
        Detector.update(slow, x)
        if i == 0:
            assert type(fast.__dict__["update"]).__name__ == "builtin_function_or_method"
        assert fast.drift_detected is slow.drift_detected
        assert fast.warning_detected is slow.warning_detected
    np.testing.assert_array_equal(fast._row, slow._row)
    assert fast.drift_detected == (fast._row[0] != 0.0)


def test_inputs_the_builtin_leaves_to_python():
    det = ADWIN()
    det.update(0.5)  # binds
    for x in (1, True, np.float64(1.5), np.float32(2.0), np.int64(3), np.bool_(False)):
        det.update(x)
    ref = ADWIN()
    for x in (0.5, 1.0, 1.0, 1.5, 2.0, 3.0, 0.0):
        Detector.update(ref, x)
    np.testing.assert_array_equal(det._row, ref._row)
    for bad, match in (("1.5", "not a number"), (b"1", "not a number"), (None, "not a number"),
                       ([1.0], "not a number"), (float("nan"), "not finite"),
                       (float("-inf"), "not finite"), (1e200, "max_abs_input"),
                       (10**400, "max_abs_input")):
        with pytest.raises(ValueError, match=match):
            det.update(bad)
    with pytest.raises(TypeError):
        det.update()
    with pytest.raises(TypeError):
        det.update(1.0, 2.0)
    with pytest.raises(TypeError):
        det.update(x=1.0)
    np.testing.assert_array_equal(det._row, ref._row)  # nothing refused changed the state
    skip = ADWIN(nan_policy="skip")
    for x in (1.0, float("nan"), 1e200, 2.0):
        skip.update(x)
    assert skip.n_skipped == 2 and skip.width == 2
    bits = DDM()
    bits.update(1.0)
    with pytest.raises(ValueError, match="binary"):
        bits.update(0.5)


def test_copies_never_share_the_builtin():
    values = _stream(ADWIN, 3000, 1).tolist()
    a = ADWIN(clock=1)
    for x in values[:1000]:
        a.update(x)
    copies = [pickle.loads(pickle.dumps(a)), copy.deepcopy(a), a.clone(include_attributes=True)]
    loaded = ADWIN(clock=1)
    loaded.update(5.0)
    loaded.load_state_dict(a.state_dict())
    fleet = Fleet(ADWIN(clock=1), 1)
    fleet.update(np.asarray(values[:1000])[:, None])
    copies += [loaded, fleet.stream(0)]
    frozen = [c._row.copy() for c in copies]
    a.update(values[1000])
    for c, row in zip(copies, frozen):
        np.testing.assert_array_equal(c._row, row)  # not written through a
    for c in copies:
        for x in values[1000:]:
            c.update(x)
    for x in values[1001:]:
        a.update(x)
    for c in copies:
        np.testing.assert_array_equal(c._row, a._row)
        assert c.drift_detected is a.drift_detected
    assert fleet.rows()[0].tolist() != a._row.tolist()  # the stream's copy was detached
    shallow = copy.copy(a)  # a shallow copy shares the row, not the builtin
    assert "update" not in shallow.__dict__


def test_the_builtin_outlives_its_detector():
    det = PageHinkley()
    det.update(0.0)
    update, row = det.update, det._row
    del det
    gc.collect()
    ref = PageHinkley()
    ref.update(0.0)
    for x in np.random.default_rng(2).normal(size=100).tolist():
        assert update(x) is None
        ref.update(x)
    np.testing.assert_array_equal(row, ref._row)  # the builtin kept updating the same row


def test_reference_counts_stay_balanced():
    det = PageHinkley(threshold=1.0, min_instances=1)
    det.update(0.0)
    values = np.random.default_rng(3).normal(0.0, 5.0, 20_000).tolist()
    # None/True/False are immortal from Python 3.12 (constant counts): the value passed in is not
    probe = values[0]
    counts = [sys.getrefcount(obj) for obj in (None, True, False, probe)]
    for x in values:
        det.update(x)
        det.update(probe)
        det.drift_detected  # noqa: B018 - reads the mirrored flag
    after = [sys.getrefcount(obj) for obj in (None, True, False, probe)]
    for before, now in zip(counts, after):
        assert abs(now - before) < 100  # no leak (20,000 calls) and no over-release
