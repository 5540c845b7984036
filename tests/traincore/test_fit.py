"""fit(): history, callbacks, logging, precisions, resume (also after SIGKILL), bad input."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from traincore import (
    CheckpointError,
    History,
    MetricAccumulator,
    Objective,
    StepOutput,
    Supervised,
    Updater,
    evaluate,
    evaluate_accuracy,
    fit,
    read_checkpoint,
    save_checkpoint,
    seed_everything,
)

HERE = Path(__file__).parent


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)  # (N, features)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return torch.utils.data.TensorDataset(x, y)


def _setup(seed=0, shuffle=True, lr=0.2):
    seed_everything(seed)
    loader = torch.utils.data.DataLoader(_data(), batch_size=16, shuffle=shuffle)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 2)
    )
    return model, loader, torch.optim.SGD(model.parameters(), lr=lr)


def test_history_rows_and_json():
    model, loader, optimizer = _setup()
    eval_loader = torch.utils.data.DataLoader(_data(seed=1), batch_size=32)
    history = fit(model, loader, optimizer=optimizer, epochs=4, eval_loader=eval_loader,
                  progress=False)
    assert isinstance(history, History) and history.column("epoch") == [0, 1, 2, 3]
    assert set(history[0]) == {"epoch", "train_loss", "train_acc", "eval_loss", "eval_acc", "time"}
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert json.loads(history.to_json()) == list(history)
    scores = evaluate(model, eval_loader)
    assert scores["loss"] == pytest.approx(history[-1]["eval_loss"])
    assert evaluate_accuracy(model, eval_loader) == history[-1]["eval_acc"]
    assert model.training  # evaluation restores the mode


def test_fit_equals_a_hand_written_loop_of_one_line_calls():
    """Everything fit does per step is reachable as objective.step + updater + accumulator."""
    model, loader, optimizer = _setup()
    history = fit(model, loader, optimizer=optimizer, epochs=2, progress=False)

    twin, loader, optimizer = _setup()
    updater, objective = Updater(twin, optimizer), Supervised()
    for epoch in range(2):
        meter = MetricAccumulator()
        for batch in loader:
            meter.update(*objective.step(twin, batch, updater))
        assert meter.compute()["loss"] == history[epoch]["train_loss"]
        assert meter.compute()["acc"] == history[epoch]["train_acc"]
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)


class CountingObjective(Objective):
    """Two updates per batch (like Free-AT), no predictions, epoch metrics as tensors."""

    def __init__(self):
        self.started = []

    def on_epoch_start(self, epoch):
        self.started.append(epoch)

    def step(self, model, batch, updater):
        x, y = batch
        for _ in range(2):
            loss = F.cross_entropy(model(x), y)
            updater.update(loss)
        return StepOutput(loss.detach())

    def on_epoch_end(self, epoch, model, updater):
        return {"updates": torch.tensor(updater.step_count), "tag": "x"}


def test_custom_objective_hooks_and_metrics():
    model, loader, optimizer = _setup()
    objective = CountingObjective()
    history = fit(model, loader, optimizer=optimizer, epochs=2, objective=objective,
                  progress=False)
    assert objective.started == [0, 1]
    assert history.column("updates") == [12, 24] and history.column("tag") == ["x", "x"]
    assert history[0]["train_acc"] is None and history[0]["train_loss"] > 0
    json.dumps(list(history))


def test_objective_metric_values_must_be_plain():
    class Bad(Supervised):
        def on_epoch_end(self, epoch, model, updater):
            return {"vector": torch.ones(3)}

    model, loader, optimizer = _setup()
    with pytest.raises(TypeError, match="'vector'"):
        fit(model, loader, optimizer=optimizer, epochs=1, objective=Bad(), progress=False)


def test_objective_must_return_step_output():
    class Bad(Supervised):
        def step(self, model, batch, updater):
            return super().step(model, batch, updater).loss

    model, loader, optimizer = _setup()
    with pytest.raises(TypeError, match="StepOutput"):
        fit(model, loader, optimizer=optimizer, epochs=1, objective=Bad(), progress=False)


def test_callbacks_receive_metrics_and_can_stop():
    model, loader, optimizer = _setup()
    seen = []

    def record(epoch, metrics, wrapped):
        seen.append((epoch, metrics["train_loss"], wrapped is model))
        return "stop" if epoch == 1 else None

    history = fit(model, loader, optimizer=optimizer, epochs=5, callbacks=[record],
                  progress=False)
    assert len(history) == 2 and [s[0] for s in seen] == [0, 1] and all(s[2] for s in seen)
    assert seen[1][1] == history[1]["train_loss"]
    with pytest.raises(ValueError, match="expected None or 'stop'"):
        fit(model, loader, optimizer=optimizer, epochs=1, callbacks=[lambda *a: True],
            progress=False)


def test_logging_and_progress(caplog, capsys):
    model, loader, optimizer = _setup()
    with caplog.at_level(logging.INFO, logger="traincore"):
        fit(model, loader, optimizer=optimizer, epochs=1, log_every=2, progress=True)
    messages = [r.getMessage() for r in caplog.records if r.name == "traincore"]
    assert sum("step" in m for m in messages) == 3  # 6 batches / log_every 2
    assert any(m.startswith("epoch 1/1") and "train_loss" in m for m in messages)
    assert "epoch 1/1" in capsys.readouterr().err  # tqdm bar description


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_fit_on_cpu(precision):
    model, loader, optimizer = _setup()
    history = fit(model, loader, optimizer=optimizer, epochs=3, precision=precision,
                  eval_loader=loader, progress=False)
    assert all(0 < row["train_loss"] < 5 for row in history)
    assert history[-1]["eval_acc"] > 0.6


def test_epoch_scheduler_and_grad_clip():
    model, loader, optimizer = _setup()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    fit(model, loader, optimizer=optimizer, epochs=3, scheduler=scheduler,
        scheduler_interval="epoch", grad_clip=1.0, progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.2 / 8)


def test_in_process_resume_and_checkpoint_contents(tmp_path):
    model, loader, optimizer = _setup()
    fit(model, loader, optimizer=optimizer, epochs=2, checkpoint_dir=tmp_path / "run",
        progress=False)
    state = read_checkpoint(tmp_path / "run" / "last.pt")
    assert (state["epoch"], state["step"], len(state["history"])) == (1, 12, 2)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["last.pt"]
    twin, loader, optimizer = _setup(seed=3)
    history = fit(twin, loader, optimizer=optimizer, epochs=3, resume=tmp_path / "run" / "last.pt",
                  progress=False)
    assert history.column("epoch") == [0, 1, 2] and history[:2] == state["history"]
    done = fit(twin, loader, optimizer=optimizer, epochs=2, resume=tmp_path / "run" / "last.pt",
               progress=False)
    assert done == state["history"]  # nothing left to train


def test_resume_after_sigkill_is_exact(tmp_path):
    """4 epochs straight == killed by SIGKILL after the epoch-2 checkpoint, then resumed."""
    script = str(HERE / "_resume_script.py")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    straight.mkdir(), killed.mkdir()
    runs = [
        subprocess.Popen([sys.executable, script, str(straight)]),
        subprocess.Popen([sys.executable, script, str(killed), "--kill-after", "1"]),
    ]
    codes = [run.wait(timeout=120) for run in runs]
    assert codes == [0, -signal.SIGKILL]
    assert not (killed / "result.pt").exists()
    assert read_checkpoint(killed / "ckpt" / "last.pt")["epoch"] == 1  # epochs 0 and 1 done
    subprocess.run([sys.executable, script, str(killed), "--resume"], check=True, timeout=120)

    a = torch.load(straight / "result.pt", weights_only=True)
    b = torch.load(killed / "result.pt", weights_only=True)
    assert a["params"].keys() == b["params"].keys()
    for key in a["params"]:
        assert torch.equal(a["params"][key], b["params"][key]), key
    strip = [{k: v for k, v in row.items() if k != "time"} for row in a["history"]]
    assert strip == [{k: v for k, v in row.items() if k != "time"} for row in b["history"]]
    assert len(strip) == 4 and strip[-1]["objective_steps"] == 24


def _bad(tmp_path):
    model, loader, optimizer = _setup()
    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    return model, loader, optimizer, not_dir, corrupt


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"model": "net"}, TypeError, "model must be"),
        ({"optimizer": None}, TypeError, "optimizer must be"),
        ({"train_loader": "gen"}, TypeError, "train_loader must be"),
        ({"train_loader": 5}, TypeError, "train_loader must be"),
        ({"eval_loader": iter([])}, TypeError, "eval_loader must be"),
        ({"epochs": 0}, ValueError, "epochs=0"),
        ({"epochs": 2.0}, ValueError, "epochs=2.0"),
        ({"precision": "fp64"}, ValueError, "precision='fp64'.*'fp32', 'bf16', 'fp16'"),
        ({"objective": object()}, TypeError, "objective must"),
        ({"callbacks": [1]}, TypeError, "callbacks="),
        ({"callbacks": print}, TypeError, "wrap a single callback in a list"),
        ({"callbacks": 3}, TypeError, "callbacks=3"),
        ({"log_every": 0}, ValueError, "log_every=0"),
        ({"progress": "yes"}, TypeError, "progress='yes'"),
        ({"scheduler_interval": "batch"}, ValueError, "scheduler_interval='batch'"),
        ({"grad_clip": -1}, ValueError, "grad_clip=-1"),
        ({"resume": "missing"}, FileNotFoundError, "resume=.*missing"),
        ({"resume": "corrupt"}, CheckpointError, "corrupt.pt"),
        ({"checkpoint_dir": "not_dir"}, NotADirectoryError, "checkpoint_dir="),
        ({"device": 3}, TypeError, "device must be"),
    ],
)
def test_bad_input(tmp_path, change, error, match):
    model, loader, optimizer, not_dir, corrupt = _bad(tmp_path)
    args = {"model": model, "train_loader": loader, "optimizer": optimizer, "epochs": 1,
            "progress": False}
    replacements = {"gen": (b for b in loader), "missing": tmp_path / "missing.pt",
                    "corrupt": corrupt, "not_dir": not_dir}
    args.update({k: replacements.get(v, v) if isinstance(v, str) else v
                 for k, v in change.items()})
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(error, match=match):
        fit(args.pop("model"), args.pop("train_loader"), **args)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # nothing trained


def test_resume_into_a_different_model_fails_loudly(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, model=torch.nn.Linear(3, 3), epoch=0, step=0, history=[])
    model, loader, optimizer = _setup()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(CheckpointError, match=r"c\.pt.*does not fit the model.*0\.weight"):
        fit(model, loader, optimizer=optimizer, epochs=2, resume=path, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
