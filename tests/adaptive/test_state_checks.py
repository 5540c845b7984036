"""Issue 11 item 13: bad constructor arguments and bad saved states are refused by name.

Every parameter of every registered detector given a value of a wrong type (a string, bytes, a
list, a dict, an arbitrary object, a complex number; None where None is not an option; a bool
where a number is expected) is refused with an exception naming the parameter, never a
``TypeError`` from a comparison deep inside. ``load_state_dict`` of a detector and of a fleet
turns missing keys and wrong types or shapes into a ``ValueError`` naming the key, before
anything changes; a fleet refuses the state of another number of streams.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest

from adaptive.drift import DDM, DETECTORS, KSWIN, Fleet

NOT_NUMBERS = {"mode", "nan_policy", "two_sided_test", "window"}
WRONG = ["5", b"5", [1.0], {"a": 1}, object(), 1 + 0j]


def _params(cls):
    return [(n, p.default) for n, p in inspect.signature(cls.__init__).parameters.items()
            if n != "self"]


CASES = [(cls, name, default) for cls in DETECTORS.values() for name, default in _params(cls)]


@pytest.mark.parametrize("cls,name,default", CASES,
                         ids=[f"{c.__name__}-{n}" for c, n, _ in CASES])
def test_wrong_types_name_the_parameter(cls, name, default):
    bad = list(WRONG)
    if default is not None:
        bad.append(None)
    if name not in NOT_NUMBERS:
        bad.append(True)  # a bool is not a number of the detector's
    if name == "window":  # an iterable of numbers: text (or lists of text) is refused
        bad = ["5", b"12", ["1", "2"], [1.0, "x"], object(), 5.0]
    for value in bad:
        with pytest.raises((ValueError, TypeError), match=name) as info:
            cls(**{name: value})
        assert "not supported between" not in str(info.value)


@pytest.mark.parametrize("value", [-1, 0, 2.5, "7000", None, float("nan")])
def test_ddm_min_stable_size_checked_without_max_concept_size(value):
    with pytest.raises(ValueError, match="min_stable_size"):
        DDM(min_stable_size=value)


def test_kswin_window_of_numbers_still_accepted():
    assert list(KSWIN(window=[1.0, 2, np.float32(3.0)], seed=1).window) == [1.0, 2.0, 3.0]


# ---- load_state_dict ----------------------------------------------------------------------------
def _same(a: dict, b: dict) -> bool:
    """Two state dicts equal, nan slots included (nan != nan in a plain comparison)."""
    arrays = ("state", "stream_params")
    return (a.keys() == b.keys()
            and all(a[k] == b[k] for k in a if k not in arrays)
            and all(np.array_equal(np.asarray(a[k], float), np.asarray(b[k], float),
                                   equal_nan=True) for k in arrays if k in a))


def _config(cls) -> dict:
    """A test configuration (deterministic: KSWIN's default seed is fresh entropy)."""
    return next(iter(cls._unit_test_params()))


def _fed(cls):
    det = cls(**_config(cls))
    rng = np.random.default_rng(0)
    det.update_many((rng.random(200) < 0.3).astype(float) if cls._binary else rng.normal(size=200))
    return det


@pytest.mark.parametrize("cls", DETECTORS.values(), ids=list(DETECTORS))
def test_detector_state_missing_keys_and_wrong_types(cls):
    state = _fed(cls).state_dict()
    fresh = cls(**_config(cls)).state_dict()
    for key in state:
        target = cls(**_config(cls))
        with pytest.raises(ValueError, match=key):
            target.load_state_dict({k: v for k, v in state.items() if k != key})
        assert _same(target.state_dict(), fresh)
    size = len(state["state"])
    bad = [("state", "abc"), ("state", None), ("state", [None] * size), ("state", ["1.0"] * size),
           ("state", {"a": 1}), ("state", state["state"][:-1]), ("state", [True] * size),
           ("n_skipped", "x"), ("n_skipped", -1), ("n_skipped", 1.5), ("n_skipped", None),
           ("n_skipped", [0]), ("n_skipped", True)]
    for key, value in bad:
        target = cls(**_config(cls))
        with pytest.raises(ValueError, match=key):
            target.load_state_dict({**copy.deepcopy(state), key: value})
        assert _same(target.state_dict(), fresh)  # refused before any change
    with pytest.raises(ValueError):
        cls().load_state_dict(["not", "a", "dict"])
    restored = cls(**_config(cls))
    restored.load_state_dict(copy.deepcopy(state))  # the genuine state still loads
    assert _same(restored.state_dict(), state)


@pytest.mark.parametrize("cls", DETECTORS.values(), ids=list(DETECTORS))
def test_fleet_state_of_another_size_missing_keys_and_shapes(cls):
    state = Fleet(cls(), 3).state_dict()
    for n in (0, 2, 4):
        other = Fleet(cls(), n)
        with pytest.raises(ValueError, match="stream"):
            other.load_state_dict(state)
        assert other.n_streams == n
    for key in state:
        with pytest.raises(ValueError, match=key):
            Fleet(cls(), 3).load_state_dict({k: v for k, v in state.items() if k != key})
    bad = [("state", state["state"][:2]), ("state", "abc"),
           ("stream_params", state["stream_params"][:2]), ("stream_params", None),
           ("n_skipped", [0, 0]), ("n_skipped", ["a", "b", "c"])]
    for key, value in bad:
        target = Fleet(cls(), 3)
        before = target.state_dict()
        with pytest.raises(ValueError, match=key):
            target.load_state_dict({**copy.deepcopy(state), key: value})
        assert _same(target.state_dict(), before)
    Fleet(cls(), 3).load_state_dict(state)  # the same size loads
