"""Checkpoints: round trip of everything, RNG restore, atomicity, corrupt files."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.traincore._compare import same
from traincore import (
    CheckpointError,
    Objective,
    Updater,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)


class StatefulObjective(Objective):
    def __init__(self, state=None):
        self.state = state

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.state = state


def _parts(precision="fp32"):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    updater = Updater(model, optimizer, precision=precision, scheduler=scheduler)
    return model, optimizer, scheduler, updater


def _train(model, updater, steps=3):
    for _ in range(steps):
        with updater.autocast():
            loss = model(torch.randn(8, 3)).pow(2).mean()
        updater.update(loss)


def test_round_trip_restores_everything(tmp_path):
    torch.manual_seed(0)
    model, optimizer, scheduler, updater = _parts("fp16")
    _train(model, updater)
    objective = StatefulObjective({"delta": torch.arange(3.0), "n": 4})
    path = tmp_path / "c.pt"
    history = [{"epoch": 0, "train_loss": 0.5, "train_acc": None}]
    save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, updater=updater,
                    objective=objective, epoch=0, step=3, history=history, extra={"a": [1, "b"]})

    twin, twin_opt, twin_sched, twin_upd = _parts("fp16")
    twin_obj = StatefulObjective()
    state = load_checkpoint(path, model=twin, optimizer=twin_opt, scheduler=twin_sched,
                            updater=twin_upd, objective=twin_obj)
    for key, value in model.state_dict().items():  # parameters and BatchNorm buffers
        assert torch.equal(value, twin.state_dict()[key]), key
    assert twin_opt.state_dict()["state"][0]["exp_avg"].equal(
        optimizer.state_dict()["state"][0]["exp_avg"]
    )
    assert twin_sched.state_dict() == scheduler.state_dict()
    assert twin_upd.step_count == 3 and twin_upd.scale == updater.scale
    assert torch.equal(twin_obj.state["delta"], objective.state["delta"])
    assert (state["epoch"], state["step"], state["history"], state["extra"]) == (
        0, 3, history, {"a": [1, "b"]}
    )


def test_rng_states_restored(tmp_path):
    path = tmp_path / "c.pt"
    model = torch.nn.Linear(2, 2)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's legacy state
    save_checkpoint(path, model=model, epoch=0, step=0, history=[])
    expected = (random.random(), np.random.randn(), np.random.rand(), torch.rand(3))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    load_checkpoint(path)
    got = (random.random(), np.random.randn(), np.random.rand(), torch.rand(3))
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])


def test_load_without_rng_restore_leaves_generators(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, model=torch.nn.Linear(2, 2), epoch=0, step=0, history=[])
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    load_checkpoint(path, restore_rng=False)
    assert torch.equal(torch.rand(2), expected)


leaves = (
    st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, width=64)
    | st.text(max_size=8)
    | st.booleans()
    | st.none()
    | st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=5).map(
        lambda v: torch.tensor(v, dtype=torch.float64)
    )
    | st.lists(st.integers(-100, 100), min_size=1, max_size=5).map(torch.tensor)
)
nested = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objective_state=st.dictionaries(st.text(max_size=6), nested, max_size=4), extra=nested)
def test_round_trip_preserves_nested_state(tmp_path, objective_state, extra):
    path = tmp_path / "nested.pt"
    save_checkpoint(path, model=torch.nn.Linear(1, 1), objective=StatefulObjective(objective_state),
                    epoch=1, step=2, history=[], extra=extra)
    restored = StatefulObjective()
    state = load_checkpoint(path, objective=restored, restore_rng=False)
    assert same(restored.state, objective_state)
    assert same(state["extra"], extra)


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    model = torch.nn.Linear(4, 4)
    save_checkpoint(path, model=model, epoch=0, step=1, history=[{"epoch": 0}])
    before = path.read_bytes()
    real_save = torch.save

    def save_half_then_fail(obj, handle, *args, **kwargs):
        real_save(obj, handle, *args, **kwargs)
        handle.truncate(handle.tell() // 2)  # some bytes are on disk, then the write dies
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with torch.no_grad():
        model.weight.add_(1.0)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, model=model, epoch=1, step=2, history=[{"epoch": 0}, {"epoch": 1}])
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.pt"]  # the temporary file is gone
    assert read_checkpoint(path)["epoch"] == 0


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_file_raises_checkpoint_error_naming_it(tmp_path, damage):
    path = tmp_path / "bad.pt"
    save_checkpoint(path, model=torch.nn.Linear(8, 8), epoch=0, step=0, history=[])
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 50,
                      "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(path, model=torch.nn.Linear(8, 8))


def test_foreign_file_is_rejected(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"weight": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match="not a traincore-checkpoint"):
        read_checkpoint(path)


def test_pickled_code_is_not_loaded(tmp_path):
    path = tmp_path / "code.pt"
    torch.save({"format": "traincore-checkpoint", "version": 1, "fn": os.getcwd}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        read_checkpoint(path)


def test_missing_state_and_bad_arguments(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, model=torch.nn.Linear(2, 2), epoch=0, step=0, history=[])
    model, optimizer, _, _ = _parts()
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(path, optimizer=optimizer)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_checkpoint(tmp_path / "no" / "c.pt", model=model, epoch=0, step=0, history=[])
    with pytest.raises(ValueError, match="epoch=-1"):
        save_checkpoint(path, model=model, epoch=-1, step=0, history=[])
    with pytest.raises(TypeError, match="path must be"):
        save_checkpoint(3, model=model, epoch=0, step=0, history=[])


def test_wrapped_model_saved_unwrapped(tmp_path):
    path = tmp_path / "c.pt"
    inner = torch.nn.Linear(2, 2)
    save_checkpoint(path, model=torch.nn.DataParallel(inner), epoch=0, step=0, history=[])
    assert set(read_checkpoint(path)["model"]) == {"weight", "bias"}  # no "module." prefix
