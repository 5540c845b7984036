"""Contract suite over every public drift detector (``adaptive.drift.DETECTORS``).

The detectors come from the package's one registry and their test configurations from their own
``_unit_test_params`` (River's convention), so a new detector is checked without a line here.
The suite checks: parameters stored verbatim and bad ones rejected with their name; ``update`` /
``update_many`` / every stream of a ``Fleet`` (dense and event feeding) agree on the same data;
``state_dict`` and pickle round trips mid-stream give the same future alarms; the NaN policies;
binary detectors reject non-0/1 values; fleet shape errors; clone and repr; per-stream fleet
parameters; River's own object-protocol checks.
"""

from __future__ import annotations

import inspect
import json
import math
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import checks as river_checks

from adaptive.drift import DETECTORS as REGISTRY
from adaptive.drift import Detector, Fleet


@dataclass
class Spec:
    """cls: the detector; params: a non-default configuration that alarms on the test streams;
    bad: (parameter, value) pairs the constructor must reject; fleet: per-stream values to try
    for some of ``cls._fleet_params`` (stream 1 gets the value, stream 0 keeps ``params``)."""

    cls: type
    params: dict[str, Any] = field(default_factory=dict)
    bad: tuple[tuple[str, Any], ...] = ()
    fleet: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # readable test ids
        return self.cls.__name__


# Range violations a generic rule cannot know, per detector (the generic ones are added below).
RANGE_ERRORS: dict[str, tuple[tuple[str, Any], ...]] = {
    "PageHinkley": (("threshold", -1.0), ("mode", "sideways"), ("min_instances", 0),
                    ("alpha", 1.5)),
    "CUSUM": (("k", -0.1), ("h", 0.0), ("sigma", -1.0), ("warm_start", 1), ("mode", "x"),
              ("mu0", math.inf)),
    "EWMA": (("lambda_", 0.0), ("L", -1.0), ("warning_L", 5.0), ("warm_start", 0)),
    "DDM": (("warm_start", -1), ("drift_threshold", 0.0), ("max_concept_size", 50),
            ("min_stable_size", 0)),
    "EDDM": (("alpha", 1.5), ("beta", 0.0), ("warm_start", 2.5)),
    "FHDDM": (("sliding_window_size", 0), ("confidence_level", 1.0), ("short_window_size", 0),
              ("short_window_size", 10_000)),
    "HDDMA": (("drift_confidence", 0.0), ("warning_confidence", 1.0), ("two_sided_test", "yes")),
    "HDDMW": (("lambda_val", 0.0), ("drift_confidence", -0.1)),
    "ADWIN": (("delta", 0.0), ("clock", 0), ("max_buckets", 0), ("min_window_length", 0),
              ("grace_period", -1)),
    "BOCPD": (("lambda_", 1.0), ("threshold", 0.0), ("window", 300), ("max_run", 1),
              ("warm_start", 2), ("sigma", 0.0), ("kappa0", -1.0)),
    "ScaleCUSUM": (("ratio", 1.0), ("h", 0.0), ("warm_start", 2), ("sigma", -1.0)),
    "MeanScaleCUSUM": (("shift", 0.0), ("ratio", 0.5), ("h", -1.0), ("warm_start", 2)),
    "KSWIN": (("alpha", 1.5), ("window_size", 1), ("stat_size", 0), ("seed", "x"),
              ("window", "5"), ("window_size", 10.0), ("stat_size", 60), ("seed", 2**53),
              ("window", [1.0, math.nan]), ("window", ["a"]), ("window", 3)),
}


def _generic_bad(cls: type) -> tuple[tuple[str, Any], ...]:
    """Wrong types for every parameter with a number default: text, and a bool."""
    out = []
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            out += [(name, "1"), (name, True)]
    return tuple(out)


def _fleet_values(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """A second valid value of the calibrated threshold, for a per-stream fleet parameter."""
    th = cls._threshold
    if th is None or th.param not in cls._fleet_params:
        return {}
    value = cls(**params)._get_params()[th.param]
    return {th.param: value * th.grid_factor if th.direction > 0 else value / th.grid_factor}


DETECTORS = [
    Spec(cls, params, _generic_bad(cls) + RANGE_ERRORS.get(name, ()), _fleet_values(cls, params))
    for name, cls in REGISTRY.items() for params in cls._unit_test_params()
]


def test_registry_is_covered():
    assert {s.cls for s in DETECTORS} == set(REGISTRY.values())
    assert all(name in RANGE_ERRORS for name in REGISTRY), "add the range errors of a detector"


@pytest.mark.parametrize("cls", REGISTRY.values(), ids=list(REGISTRY))
def test_river_object_protocol(cls):
    """River's own estimator checks (clone, mutate, repr, pickling, params) pass."""
    for params in cls._unit_test_params():
        det = cls(**params)
        for check in river_checks.yield_checks(det):
            check(cls(**params))


# ---- streams ------------------------------------------------------------------------------------
def make_stream(spec: Spec, kind: str, n: int, seed: int) -> np.ndarray:
    """(n,) float64 test stream: gaussian or bernoulli, with/without a change, or repeated."""
    rng = np.random.default_rng(seed)
    cut = n // 2
    if spec.cls._binary:
        if kind == "repeated":
            x = np.repeat(rng.integers(0, 2, size=max(1, n // 50)), 50)[:n]
        elif kind == "change":
            x = np.concatenate([rng.random(cut) < 0.1, rng.random(n - cut) < 0.6])
        else:
            x = rng.random(n) < rng.uniform(0.05, 0.5)
        return np.asarray(x, dtype=np.float64)
    if kind == "repeated":
        return np.repeat(rng.integers(-2, 3, size=max(1, n // 40)), 40)[:n].astype(np.float64)
    if kind == "change":
        return np.concatenate([rng.normal(0, 1, cut), rng.normal(2.5, 1, n - cut)])
    if kind == "bernoulli":
        return (rng.random(n) < 0.3).astype(np.float64)
    return rng.normal(rng.uniform(-1, 1), rng.uniform(0.1, 2), n)


streams = st.tuples(
    st.sampled_from(["gauss", "bernoulli", "change", "repeated"]),
    st.integers(1, 700),
    st.integers(0, 2**32 - 1),
)


def per_value(det: Detector, values: np.ndarray) -> tuple[list[int], list[int]]:
    """Drift and warning indices from update() one value at a time (Alarms convention)."""
    drift, warn = [], []
    for i, x in enumerate(values.tolist()):
        det.update(x)
        if det.drift_detected:
            drift.append(i)
        elif det.warning_detected:
            warn.append(i)
    return drift, warn


# ---- constructor, clone, repr -------------------------------------------------------------------
@pytest.mark.parametrize("spec", DETECTORS, ids=repr)
def test_params_stored_verbatim_and_cloned(spec):
    det = spec.cls(**spec.params)
    for name, value in spec.params.items():
        assert getattr(det, name) is value
    clone = det.clone()
    assert type(clone) is spec.cls and clone is not det
    assert clone._get_params() == det._get_params()
    assert repr(det).startswith(f"{spec.cls.__name__} (")  # River's repr
    assert repr(det) == repr(clone)
    assert spec.cls()._get_params() != det._get_params() or not spec.params


@pytest.mark.parametrize("spec", DETECTORS, ids=repr)
def test_rejects_bad_params(spec):
    assert spec.bad, "every detector lists some invalid parameters"
    for name, value in spec.bad:
        with pytest.raises((ValueError, TypeError), match=name):
            spec.cls(**{**spec.params, name: value})
    with pytest.raises(ValueError, match="nan_policy"):
        spec.cls(**spec.params, nan_policy="ignore")


# ---- the three feeding paths agree --------------------------------------------------------------
@pytest.mark.parametrize("spec", DETECTORS, ids=repr)
@given(data=streams)
def test_update_update_many_and_fleet_agree(spec, data):
    values = make_stream(spec, *data)
    det = spec.cls(**spec.params)
    drift, warn = per_value(det, values)

    many = spec.cls(**spec.params)
    alarms = many.update_many(values)
    assert alarms.drift.tolist() == drift and alarms.warning.tolist() == warn
    np.testing.assert_array_equal(many._row, det._row)

    # the stream is column 1 of a 3-stream fleet; the other columns are other data
    other = make_stream(spec, "gauss", values.size, data[2] + 1)
    block = np.stack([other, values, other[::-1].copy()], axis=1)  # (T, 3)
    fleet = Fleet(spec.cls(**spec.params), 3)
    masks = fleet.update(block)
    assert np.flatnonzero(masks.drift[:, 1]).tolist() == drift
    assert np.flatnonzero(masks.warning[:, 1]).tolist() == warn
    np.testing.assert_array_equal(fleet.stream(1)._row, det._row)
    pairs = Fleet(spec.cls(**spec.params), 3).update(block, output="pairs").drift
    assert pairs[pairs[:, 1] == 1, 0].tolist() == drift

    # events in arrival order: stream 1 interleaved with stream 0
    events = Fleet(spec.cls(**spec.params), 2)
    ids = np.tile([0, 1], values.size)
    vals = np.stack([other, values], axis=1).reshape(-1)
    ev = events.update_events(ids, vals)
    assert [k // 2 for k in ev.drift.tolist() if k % 2 == 1] == drift
    np.testing.assert_array_equal(events.stream(1)._row, det._row)

    # one step at a time through the fleet
    step = Fleet(spec.cls(**spec.params), 3)
    got = [t for t in range(values.size) if step.update(block[t]).drift[1]]
    assert got == drift


# ---- state round trips --------------------------------------------------------------------------
@pytest.mark.parametrize("spec", DETECTORS, ids=repr)
@given(data=streams, cut=st.floats(0.0, 1.0))
@settings(max_examples=10)
def test_state_dict_and_pickle_round_trip(spec, data, cut):
    values = make_stream(spec, *data)
    k = int(cut * values.size)
    full = spec.cls(**spec.params)
    full.update_many(values[:k])
    expected = spec.cls(**spec.params)
    expected.update_many(values[:k])
    future = expected.update_many(values[k:])

    state = json.loads(json.dumps(full.state_dict()))  # plain values, no pickle inside
    restored = spec.cls(**spec.params)
    restored.load_state_dict(state)
    got = restored.update_many(values[k:])
    assert got.drift.tolist() == future.drift.tolist()
    assert got.warning.tolist() == future.warning.tolist()

    unpickled = pickle.loads(pickle.dumps(full))
    got = unpickled.update_many(values[k:])
    assert got.drift.tolist() == future.drift.tolist()
    np.testing.assert_array_equal(unpickled._row, expected._row)

    fleet = Fleet(spec.cls(**spec.params), 2)
    fleet.update(np.stack([values[:k], values[:k]], axis=1))
    fleet2 = Fleet(spec.cls(**spec.params), 2)
    fleet2.load_state_dict(json.loads(json.dumps(fleet.state_dict())))
    masks = fleet2.update(np.stack([values[k:], values[k:]], axis=1))
    assert np.flatnonzero(masks.drift[:, 0]).tolist() == future.drift.tolist()


@pytest.mark.parametrize("spec", DETECTORS, ids=repr)
def test_load_state_dict_rejects_foreign_state(spec):
    det = spec.cls(**spec.params)
    state = det.state_dict()
    with pytest.raises(ValueError, match="version"):
        det.load_state_dict({**state, "version": 999})
    with pytest.raises(ValueError, match="belongs to"):
        det.load_state_dict({**state, "detector": "Other"})
    other = spec.cls()
    if other._get_params() != det._get_params():
        with pytest.raises(ValueError, match="parameters"):
            other.load_state_dict(state)


# ---- bad values ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", DETECTORS, ids=repr)
def test_nan_raise_and_skip(spec):
    values = make_stream(spec, "change", 300, 3)
    dirty = values.copy()
    dirty[[5, 77, 150]] = [np.nan, np.inf, -np.inf]

    det = spec.cls(**spec.params)
    det.update_many(values[:5])
    before = det._row.copy()
    with pytest.raises(ValueError, match="non-finite"):
        det.update_many(dirty)
    np.testing.assert_array_equal(det._row, before)  # validated before any state change
    with pytest.raises(ValueError, match="not finite"):
        det.update(float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        Fleet(spec.cls(**spec.params), 1).update(dirty[:, None])

    clean = spec.cls(**spec.params).update_many(np.delete(values, [5, 77, 150]))
    skip = spec.cls(**spec.params, nan_policy="skip")
    got = skip.update_many(dirty)
    assert skip.n_skipped == 3
    kept = np.delete(np.arange(values.size), [5, 77, 150])  # index map clean -> dirty
    assert got.drift.tolist() == kept[clean.drift].tolist()
    one = spec.cls(**spec.params, nan_policy="skip")
    for x in dirty.tolist():
        one.update(x)
    assert one.n_skipped == 3
    np.testing.assert_array_equal(one._row, skip._row)
    fleet = Fleet(spec.cls(**spec.params, nan_policy="skip"), 2)
    fleet.update(np.stack([dirty, values], axis=1))
    assert fleet.n_skipped.tolist() == [3, 0]
    np.testing.assert_array_equal(fleet.stream(0)._row, skip._row)
    with pytest.raises(ValueError, match="not a number"):
        det.update("abc")
    with pytest.raises(ValueError, match="not a number"):
        det.update("1.0")  # text is not silently converted
    with pytest.raises(ValueError, match="numeric"):
        det.update_many(["0", "1"])


@pytest.mark.parametrize("spec", [s for s in DETECTORS if s.cls._binary], ids=repr)
@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0])
def test_binary_detectors_reject_non_bits(spec, bad):
    det = spec.cls(**spec.params)
    with pytest.raises(ValueError, match="binary"):
        det.update(bad)
    with pytest.raises(ValueError, match="binary"):
        det.update_many([0, 1, bad])
    with pytest.raises(ValueError, match="binary"):
        Fleet(spec.cls(**spec.params), 2).update([0.0, bad])
    det.update(True)  # bools and ints are bits
    det.update(np.bool_(False))
    det.update(1)
    det.update_many([True, False])
    ref = spec.cls(**spec.params)
    ref.update_many([1.0, 0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(det._row, ref._row)


# ---- fleets -------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", DETECTORS, ids=repr)
def test_fleet_bad_shapes(spec):
    fleet = Fleet(spec.cls(**spec.params), 3)
    for bad in (np.zeros(4), np.zeros((5, 2)), np.zeros((2, 3, 1))):
        with pytest.raises(ValueError, match=r"\(3,\) or \(T, 3\)"):
            fleet.update(bad)
    with pytest.raises(ValueError, match="equal length"):
        fleet.update_events([0, 1], [0.0])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        fleet.update_events([0, 3], [0.0, 1.0])
    with pytest.raises(ValueError, match="output"):
        fleet.update(np.zeros(3), output="list")
    with pytest.raises(ValueError, match="n_streams"):
        Fleet(spec.cls(**spec.params), -1)
    with pytest.raises(TypeError, match="Detector"):
        Fleet(object(), 2)
    bad_name = "no_such_param"
    with pytest.raises(ValueError, match=bad_name):
        Fleet(spec.cls(**spec.params), 2, **{bad_name: [1.0, 2.0]})


@pytest.mark.parametrize("spec", [s for s in DETECTORS if s.fleet], ids=repr)
def test_fleet_per_stream_params(spec):
    values = make_stream(spec, "change", 600, 11)
    block = np.stack([values, values], axis=1)  # (T, 2)
    kw = {name: [spec.params.get(name, getattr(spec.cls(), name)), v]
          for name, v in spec.fleet.items()}
    fleet = Fleet(spec.cls(**spec.params), 2, **kw)
    masks = fleet.update(block)
    for s in range(2):
        params = {**spec.params, **{n: kw[n][s] for n in kw}}
        det = spec.cls(**params)
        ref = det.update_many(values)
        assert np.flatnonzero(masks.drift[:, s]).tolist() == ref.drift.tolist()
        assert fleet.stream(s)._get_params() == det._get_params()
        np.testing.assert_array_equal(fleet.stream(s)._row, det._row)
    name = next(iter(spec.fleet))
    assert fleet.param(name).tolist() == [float(v) for v in kw[name]]
    with pytest.raises(ValueError, match=name):
        Fleet(spec.cls(**spec.params), 2, **{name: [1.0, 2.0, 3.0]})  # wrong length
    bad = dict(spec.bad).get(name)
    if bad is not None:
        with pytest.raises(ValueError, match=name):
            Fleet(spec.cls(**spec.params), 2, **{name: [kw[name][0], bad]})


@pytest.mark.parametrize("spec", DETECTORS, ids=repr)
def test_fleet_add_streams_and_reset(spec):
    values = make_stream(spec, "change", 400, 5)
    fleet = Fleet(spec.cls(**spec.params), 1)
    fleet.update(values[:200, None])
    fleet.add_streams(2)
    assert fleet.n_streams == 3
    fresh = spec.cls(**spec.params)
    np.testing.assert_array_equal(fleet.stream(2)._row, fresh._row)
    fleet.reset([0])
    np.testing.assert_array_equal(fleet.stream(0)._row, fresh._row)
    assert fleet.drift_detected.shape == (3,) and fleet.warning_detected.shape == (3,)
