"""Distributed helpers: one-process behaviour, env validation, and a real 2-process torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from traincore import (
    all_reduce_metrics,
    broadcast_object,
    distributed_sampler,
    init_distributed,
    is_distributed,
    is_main_process,
    load_checkpoint,
    rank,
    unwrap,
    world_size,
    wrap_ddp,
)

HERE = Path(__file__).parent


def test_single_process_is_unchanged(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert init_distributed() is False and not is_distributed()
    assert (world_size(), rank(), is_main_process()) == (1, 0, True)
    model = torch.nn.Linear(2, 2)
    assert wrap_ddp(model) is model and unwrap(model) is model
    assert unwrap(torch.nn.DataParallel(model)) is model
    assert distributed_sampler(list(range(4)), shuffle=True, seed=0) is None
    t = torch.tensor([1.0, 2.0])
    assert all_reduce_metrics(t) is t and t.tolist() == [1.0, 2.0]
    assert broadcast_object({"a": 1}) == {"a": 1}


@pytest.mark.parametrize(
    "env, match",
    [
        ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x'"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 and WORLD_SIZE=2"),
        ({"RANK": "0", "WORLD_SIZE": "-1"}, "WORLD_SIZE='-1'"),
    ],
)
def test_bad_environment(monkeypatch, env, match):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=match):
        init_distributed()


def test_bad_arguments():
    with pytest.raises(ValueError, match="backend='tcp'"):
        init_distributed("tcp")
    with pytest.raises(TypeError, match="tensor must be"):
        all_reduce_metrics([1.0])
    with pytest.raises(TypeError, match="model must be"):
        unwrap("model")
    with pytest.raises(TypeError, match="model must be"):
        wrap_ddp(None)


def test_torchrun_two_processes(tmp_path):
    """2 gloo processes: identical parameters, loss decreases, rank 0 alone logs and writes."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(HERE / "_ddp_script.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for key, value in results[0]["params"].items():
        assert torch.equal(value, results[1]["params"][key]), key
    losses = [row["train_loss"] for row in results[0]["history"]]
    assert losses[-1] < losses[0]
    strip = [[{k: v for k, v in row.items() if k != "time"} for row in r["history"]]
             for r in results]
    assert strip[0] == strip[1]  # metrics all-reduced: both ranks record the same history
    assert results[1]["writes"] == [] and results[0]["writes"]  # one checkpoint writer
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["last.pt"]
    for epoch in range(3):  # DistributedSampler: disjoint halves that cover the data set
        halves = [r["seen"][epoch] for r in results]
        assert len(halves[0]) == len(halves[1]) == 128
        assert sorted(halves[0] + halves[1]) == sorted(results[0]["all"])
    assert results[0]["seen"][0] != results[0]["seen"][1]  # set_epoch: a new shuffle per epoch
    lines = [line for line in done.stdout.splitlines() if " traincore: " in line]
    assert lines and all(line.startswith("rank0 ") for line in lines)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    state = load_checkpoint(tmp_path / "ckpt" / "last.pt", model=model, restore_rng=False)
    assert isinstance(state["rng"], list) and len(state["rng"]) == 2  # one RNG state per rank
    for key, value in model.state_dict().items():  # saved unwrapped from the DDP module
        assert torch.equal(value, results[0]["params"][key])
