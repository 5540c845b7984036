"""Checkpoint integrity (issue 11 item 10): checksum, all-or-nothing restore, stale temp files."""

from __future__ import annotations

import copy
import subprocess
import sys
import threading
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.traincore._compare import same
from traincore import (
    CheckpointError,
    Updater,
    fit,
    load_checkpoint,
    read_checkpoint,
    remove_stale_temp_files,
    save_checkpoint,
)
from traincore import checkpoint as checkpoint_module


def _net(out=3):
    return torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, out))


def _trained(optimizer_cls=torch.optim.SGD, out=3, **opt_args):
    torch.manual_seed(0)
    model = _net(out)
    optimizer = optimizer_cls(model.parameters(), lr=0.1, **opt_args)
    loss = model(torch.randn(8, 6)).pow(2).mean()
    loss.backward()
    optimizer.step()  # optimizer state (momentum buffers, Adam moments) exists
    return model, optimizer


def _snapshot(model, optimizer):
    return copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())


def _flip(path, offset, count):
    data = bytearray(path.read_bytes())
    for i in range(offset, min(offset + count, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_the_middle_are_refused_naming_the_file(tmp_path):
    """Regression: 64 flipped bytes in a weight record loaded silently with changed weights."""
    model, optimizer = _trained(momentum=0.9)
    path = tmp_path / "flipped.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, epoch=0, step=1, history=[])
    _flip(path, path.stat().st_size // 2, 64)
    twin, twin_opt = _trained(momentum=0.9)
    before = _snapshot(twin, twin_opt)
    with pytest.raises(CheckpointError, match=r"flipped\.pt.*checksum"):
        load_checkpoint(path, model=twin, optimizer=twin_opt)
    assert same(before, _snapshot(twin, twin_opt))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0, 1, exclude_max=True), count=st.integers(1, 64))
def test_damage_anywhere_is_refused_or_harmless(tmp_path, where, count):
    """Property: after flipping bytes anywhere, a load raises or returns exactly what was saved."""
    model, optimizer = _trained(torch.optim.Adam)
    path = tmp_path / "damaged.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, epoch=2, step=7,
                    history=[{"epoch": 0, "loss": 0.25}], extra={"note": "x"})
    clean = read_checkpoint(path)
    _flip(path, int(where * path.stat().st_size), count)
    try:
        damaged = read_checkpoint(path)
    except CheckpointError as err:
        assert "damaged.pt" in str(err)
    else:  # bytes no record depends on (zip padding, a comment): the contents are intact
        assert same(damaged, clean)


def test_model_that_does_not_fit_leaves_model_and_optimizer_untouched(tmp_path):
    """Regression: load_state_dict copied the matching layers before refusing the wrong one."""
    model, optimizer = _trained(momentum=0.9)
    path = tmp_path / "c.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, epoch=0, step=1, history=[])
    other, other_opt = _trained(out=4, momentum=0.9)  # last layer (4, 32) instead of (3, 32)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    before = _snapshot(other, other_opt)
    with pytest.raises(CheckpointError, match=r"c\.pt.*2\.weight.*\(3, 32\).*\(4, 32\)"):
        load_checkpoint(path, model=other, optimizer=other_opt, restore_rng=False)
    assert same(before, _snapshot(other, other_opt))


def test_other_optimizer_leaves_model_and_optimizer_untouched(tmp_path):
    """Regression: an SGD state loaded silently into Adam after the model had been copied."""
    model, optimizer = _trained(momentum=0.9)
    path = tmp_path / "c.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, epoch=0, step=1, history=[])
    twin, adam = _trained(torch.optim.Adam)
    with torch.no_grad():
        twin[0].weight.add_(1.0)
    before = _snapshot(twin, adam)
    with pytest.raises(CheckpointError, match=r"c\.pt.*optimizer.*SGD.*Adam"):
        load_checkpoint(path, model=twin, optimizer=adam)
    assert same(before, _snapshot(twin, adam))


def test_optimizer_state_of_other_shapes_is_refused(tmp_path):
    """Same optimizer class and parameter count, momentum buffers of other shapes."""
    model, optimizer = _trained(momentum=0.9)
    path = tmp_path / "c.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, epoch=0, step=1, history=[])
    other = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    other_opt = torch.optim.SGD(other.parameters(), lr=0.1, momentum=0.9)
    before = copy.deepcopy(other_opt.state_dict())
    with pytest.raises(CheckpointError, match=r"momentum_buffer.*\(32, 6\).*\(8, 6\)"):
        load_checkpoint(path, optimizer=other_opt)
    assert same(before, other_opt.state_dict())


def test_scheduler_and_updater_are_validated_before_any_copy(tmp_path):
    model, optimizer = _trained(momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    path = tmp_path / "c.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler,
                    updater=Updater(model, optimizer), epoch=0, step=1, history=[])
    twin, twin_opt = _trained(momentum=0.9)
    with torch.no_grad():
        twin[0].weight.add_(1.0)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(twin_opt, T_max=5)  # sets initial_lr
    before = _snapshot(twin, twin_opt)
    with pytest.raises(CheckpointError, match=r"scheduler.*StepLR.*CosineAnnealingLR"):
        load_checkpoint(path, model=twin, optimizer=twin_opt, scheduler=cosine)
    state = read_checkpoint(path)
    state["updater"]["step_count"] = "many"
    broken = tmp_path / "broken.pt"
    checkpoint_module._atomic_save(checkpoint_module._sealed(state), broken)
    with pytest.raises(CheckpointError, match=r"broken\.pt.*updater.*step_count='many'"):
        load_checkpoint(broken, model=twin, optimizer=twin_opt, updater=Updater(twin, twin_opt))
    assert same(before, _snapshot(twin, twin_opt))


def test_fit_refuses_an_optimizer_over_another_models_parameters():
    """Regression: fit trained on, updating nothing of the model (or another model's weights)."""
    model, stranger = _net(), _net()
    optimizer = torch.optim.SGD(stranger.parameters(), lr=0.1)
    loader = [(torch.randn(4, 6), torch.randint(0, 3, (4,)))]
    before = copy.deepcopy(stranger.state_dict())
    with pytest.raises(ValueError, match=r"optimizer: param_groups\[0\]\['params'\]\[0\].*"
                                         r"\(32, 6\).*not a parameter of model"):
        fit(model, loader, optimizer=optimizer, epochs=1, progress=False)
    assert same(before, stranger.state_dict())


def test_version_1_checkpoints_still_load_with_a_warning(tmp_path):
    model, optimizer = _trained()
    path = tmp_path / "c.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, epoch=3, step=9, history=[])
    old = read_checkpoint(path)
    for key in ("sha256", "types"):
        del old[key]
    old["version"] = 1  # what traincore wrote before checksums
    torch.save(old, path)
    twin, twin_opt = _trained()
    with pytest.warns(UserWarning, match=r"c\.pt.*version 1.*no checksum"):
        state = load_checkpoint(path, model=twin, optimizer=twin_opt, restore_rng=False)
    assert state["epoch"] == 3 and torch.equal(twin[0].weight, model[0].weight)
    old["version"] = 2  # a current checkpoint must carry its checksum
    torch.save(old, path)
    with pytest.raises(CheckpointError, match="no checksum"):
        read_checkpoint(path)
    old["version"] = 3
    torch.save(old, path)
    with pytest.raises(CheckpointError, match="version 3"):
        read_checkpoint(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a current file loads without a warning
        save_checkpoint(path, model=model, epoch=0, step=0, history=[])
        read_checkpoint(path)


def _tmp_name(stem="last.pt", tag="k3v9x_a1"):
    return f".{stem}.{tag}.tmp"


def test_stale_temp_files_of_a_killed_writer_are_removed_on_start(tmp_path):
    """Regression: `.last.pt.*.tmp` left by kill -9 stayed forever (16 MB each)."""
    run = tmp_path / "run"
    run.mkdir()
    stale = run / _tmp_name()
    stale.write_bytes(b"half a checkpoint")
    keep = [run / _tmp_name("other.pt"), run / ".last.pt.tmp", run / "last.pt.abcdefgh.tmp",
            run / _tmp_name(tag="TOO_LONG_1"), run / "notes.txt"]
    for path in keep:
        path.write_bytes(b"not ours")
    model = _net()
    loader = [(torch.randn(4, 6), torch.randint(0, 3, (4,)))]
    fit(model, loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=1,
        checkpoint_dir=run, progress=False)
    assert sorted(p.name for p in run.iterdir()) == sorted([p.name for p in keep] + ["last.pt"])


def test_a_temp_file_held_by_a_live_writer_is_kept(tmp_path):
    """A writer paused mid-write (its temp file locked) keeps its file; the save completes."""
    target = tmp_path / "last.pt"
    model = _net()
    paused, resume = threading.Event(), threading.Event()

    def hook(phase):
        if phase == "chunk" and not paused.is_set():
            paused.set()
            resume.wait(30)

    errors = []

    def write():
        try:
            save_checkpoint(target, model=model, epoch=0, step=0, history=[])
        except BaseException as err:  # surfaced by the assert below
            errors.append(err)

    checkpoint_module._write_hook = hook
    try:
        writer = threading.Thread(target=write)
        writer.start()
        assert paused.wait(30)
        (live,) = tmp_path.glob(".last.pt.*.tmp")
        assert remove_stale_temp_files(target) == []
        assert live.exists()
        resume.set()
        writer.join(30)
    finally:
        checkpoint_module._write_hook = None
        resume.set()
    assert not errors and read_checkpoint(target)["epoch"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_locked_temp_file_of_another_process_is_kept(tmp_path):
    target = tmp_path / "last.pt"
    held, stale = tmp_path / _tmp_name(tag="held0000"), tmp_path / _tmp_name(tag="stale000")
    held.write_bytes(b"in use")
    stale.write_bytes(b"left behind")
    holder = subprocess.Popen(  # a live writer elsewhere: holds the lock until stdin closes
        [sys.executable, "-c", _HOLD_LOCK, str(held)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        assert remove_stale_temp_files(target) == [stale]
        assert held.exists() and not stale.exists()
    finally:
        holder.communicate(timeout=60)
    assert remove_stale_temp_files(target) == [held]  # its writer is gone now


_HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""
