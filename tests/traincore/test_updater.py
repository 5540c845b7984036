"""Updater and Precision: state round trip, clipping, fp16 scaler, schedulers, bad input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import traincore.precision as precision_module
from traincore import PRECISIONS, Precision, PrecisionNotSupportedError, Updater


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def _loss(model, updater, x, scale=1.0):
    with updater.autocast(x):
        out = model(x)
    return out.float().pow(2).mean() * scale


def test_state_dict_round_trip_fp16():
    model = _model()
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.01), precision="fp16")
    x = torch.randn(16, 4)
    for _ in range(3):
        updater.update(_loss(model, updater, x))
    updater.update(_loss(model, updater, x, scale=float("inf")))  # inf grads: scale backs off
    state = updater.state_dict()
    twin_model = _model()
    twin = Updater(twin_model, torch.optim.SGD(twin_model.parameters(), lr=0.01), precision="fp16")
    twin.load_state_dict(state)
    assert twin.step_count == 4
    assert twin.scale == updater.scale == 65536.0 * 0.5
    assert twin.scaler.state_dict() == updater.scaler.state_dict()
    with pytest.raises(ValueError, match="version"):
        twin.load_state_dict({**state, "version": 99})


def test_fp16_skips_inf_step_and_matches_fp32_otherwise():
    x = torch.randn(16, 4)
    ref, half = _model(), _model()
    ref_up = Updater(ref, torch.optim.SGD(ref.parameters(), lr=0.1))
    half_up = Updater(half, torch.optim.SGD(half.parameters(), lr=0.1), precision="fp16")
    before = [p.detach().clone() for p in half.parameters()]
    half_up.update(_loss(half, half_up, x, scale=float("inf")))
    assert all(torch.equal(a, b) for a, b in zip(before, half.parameters()))  # step skipped
    assert half_up.scale < 65536.0
    ref_up.update(_loss(ref, ref_up, x))
    half_up.update(_loss(half, half_up, x))
    for a, b in zip(ref.parameters(), half.parameters()):
        torch.testing.assert_close(a, b, atol=2e-3, rtol=0)  # fp16 forward, unscaled grads


def test_gradients_freed_after_update_and_stray_gradients_cleared():
    model = _model()
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
    x = torch.randn(8, 4)
    updater.update(_loss(model, updater, x))
    assert all(p.grad is None for p in model.parameters())  # freed by step()
    _loss(model, updater, x, scale=1e6).backward()  # a stray backward outside the updater
    twin = _model()
    twin_updater = Updater(twin, torch.optim.SGD(twin.parameters(), lr=0.1))
    twin_updater.update(_loss(twin, twin_updater, x))
    updater.backward(_loss(model, updater, x))
    twin_updater.backward(_loss(twin, twin_updater, x))
    for a, b in zip(model.parameters(), twin.parameters()):  # the stray gradient is gone
        assert torch.equal(a.grad, b.grad)
    updater.step()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_grad_clip_clips_global_norm(precision):
    model = _model()
    lr, clip = 1.0, 0.5
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=lr), precision=precision,
                      grad_clip=clip)
    x = torch.randn(16, 4) * 10
    for _ in range(40):  # fp16: the scaler skips steps whose scaled gradients overflow
        before = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
        updater.update(_loss(model, updater, x, scale=1000.0))
        moved = torch.nn.utils.parameters_to_vector(model.parameters()).detach() - before
        if moved.norm() > 0:
            break
    # plain SGD: the step is -lr * (unscaled, clipped) gradient
    assert moved.norm().item() == pytest.approx(lr * clip, rel=1e-3)


def test_no_clip_leaves_large_gradients():
    model = _model()
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=1.0))
    before = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    updater.update(_loss(model, updater, torch.randn(16, 4) * 10, scale=1000.0))
    moved = torch.nn.utils.parameters_to_vector(model.parameters()).detach() - before
    assert moved.norm().item() > 10.0


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_scheduler_interval(interval):
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    updater = Updater(model, optimizer, scheduler=scheduler, scheduler_interval=interval)
    x = torch.randn(4, 4)
    for _ in range(3):
        updater.update(_loss(model, updater, x))
    assert optimizer.param_groups[0]["lr"] == (0.125 if interval == "step" else 1.0)
    updater.epoch_end()
    assert optimizer.param_groups[0]["lr"] == (0.125 if interval == "step" else 0.5)


@pytest.mark.parametrize("name, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_low_precision_runs_on_cpu(name, dtype):
    model = _model()
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1), precision=name)
    x = torch.randn(8, 4)
    with updater.autocast(x):
        out = model(x)
    assert out.dtype == dtype
    updater.update(out.float().pow(2).mean())
    assert updater.step_count == 1
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32


@given(st.text(max_size=10).filter(lambda s: s not in PRECISIONS))
def test_unknown_precision_strings_rejected(name):
    with pytest.raises(ValueError) as info:
        Precision(name)
    assert repr(name) in str(info.value) and "'fp32', 'bf16', 'fp16'" in str(info.value)


@pytest.mark.parametrize("bad", [None, 16, torch.float16, ["fp16"]])
def test_non_string_precision_rejected(bad):
    with pytest.raises(ValueError, match="precision="):
        Precision(bad)


def test_unsupported_precision_names_alternatives(monkeypatch):
    def probe(device_type, name):
        return "no fp16 kernels here (simulated)" if name == "fp16" else None

    monkeypatch.setattr(precision_module, "_probe", probe)
    with pytest.raises(PrecisionNotSupportedError) as info:
        Precision("fp16").check("cpu")
    message = str(info.value)
    assert "'fp16'" in message and "simulated" in message and "['fp32', 'bf16']" in message
    model = _model()
    with pytest.raises(PrecisionNotSupportedError, match="fp16"):
        Updater(model, torch.optim.SGD(model.parameters(), lr=0.1), precision="fp16")


def test_precision_contract():
    p = Precision("bf16")
    assert Precision(p) == p and hash(Precision("bf16")) == hash(p)
    assert repr(p) == "Precision('bf16')"
    assert Precision("fp32").dtype is None and Precision("fp16").dtype == torch.float16


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"model": "net"}, TypeError, "model must be"),
        ({"optimizer": object()}, TypeError, "optimizer must be"),
        ({"grad_clip": 0}, ValueError, "grad_clip=0"),
        ({"grad_clip": -1.0}, ValueError, "grad_clip=-1.0"),
        ({"scheduler_interval": "batch"}, ValueError, "scheduler_interval='batch'"),
        ({"precision": "fp8"}, ValueError, "precision='fp8'"),
    ],
)
def test_updater_bad_input(kwargs, error, match):
    model = _model()
    args = {"model": model, "optimizer": torch.optim.SGD(model.parameters(), lr=0.1)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        Updater(args.pop("model"), args.pop("optimizer"), **args)


def test_updater_rejects_non_scalar_loss():
    model = _model()
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match=r"shape \(4, 2\)"):
        updater.update(model(torch.randn(4, 4)))


def test_precision_probe_under_no_grad_does_not_poison_the_cache():
    # the first check of a process may run inside no_grad (an evaluation); it must still find
    # bf16 usable, and the cached answer must not turn later training runs away
    precision_module._probe.cache_clear()
    with torch.no_grad(), torch.inference_mode():
        Precision("bf16").check("cpu")
    Precision("bf16").check("cpu")
