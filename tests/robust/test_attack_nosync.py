"""No host synchronisation inside the step loop.

On CPU a ``TorchFunctionMode`` records every tensor operation that would synchronise a GPU
(``.item()``, ``.cpu()``, ``.tolist()``, ``.numpy()``, ``.nonzero()``, ``__bool__``/``__int__``/
``__float__``, boolean-mask indexing, copies to the host). It is armed right after the
attack's validation of the first logits (which may synchronise, once) and stays armed through the
loop, the restart selection and the state restore, up to the one check after the loop that the
model never returned NaN/inf logits (``check_finite_run``: one sync per attack call). On CUDA,
``torch.cuda.set_sync_debug_mode`` does the same job for real.
"""

from __future__ import annotations

import importlib

import pytest
import torch
from torch.overrides import TorchFunctionMode

from robust import EarlyStop, fgsm, pgd, trades_attack

# the modules (``robust.pgd`` as an attribute is the function of the same name)
KERNELS = [importlib.import_module(m) for m in ("robust.pgd", "robust.trades_attack")]

SYNCING = {"item", "cpu", "tolist", "numpy", "nonzero", "__bool__", "__int__", "__float__",
           "__index__", "argwhere", "masked_select", "unique", "any", "all", "equal"}



class SyncRecorder(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.armed = False
        self.finished = False  # reached the final finiteness check (where it disarms)
        self.seen: list[str] = []
        self.ops = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.armed:
            self.ops += 1
            name = getattr(func, "__name__", str(func))
            if name in SYNCING:
                self.seen.append(name)
            elif name == "__getitem__" and any(
                isinstance(a, torch.Tensor) and a.dtype == torch.bool
                for a in (args[1] if isinstance(args[1], tuple) else (args[1],))
            ):
                self.seen.append("bool-mask indexing")
            elif name == "to" and any(
                str(a) == "cpu" or isinstance(a, torch.device) for a in list(args[1:])
                + list(kwargs.values())
            ):
                self.seen.append("to(device)")
        return func(*args, **kwargs)


@pytest.fixture
def recorder(monkeypatch):
    rec = SyncRecorder()
    for module in KERNELS:
        original = module.check_logits

        def armed_check(*args, _original=original, **kwargs):
            _original(*args, **kwargs)  # validation may synchronise; everything after may not
            rec.armed = True

        monkeypatch.setattr(module, "check_logits", armed_check)
        final = module.check_finite_run

        def disarmed_final(*args, _original=final, **kwargs):
            rec.armed, rec.finished = False, rec.armed
            _original(*args, **kwargs)  # the one sync after the loop

        monkeypatch.setattr(module, "check_finite_run", disarmed_final)
    return rec


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(48, 4))


CALLS = {
    "fgsm_rs": lambda m, x, y, e, g: fgsm(m, x, y, eps=e, random_start=True, generator=g),
    "pgd_linf": lambda m, x, y, e, g: pgd(m, x, y, eps=e, steps=4, restarts=2, generator=g),
    "pgd_l2_margin_targeted": lambda m, x, y, e, g: pgd(
        m, x, y, eps=e, steps=4, norm="l2", loss="margin", targeted=True, restarts=2, generator=g
    ),
    "pgd_fp16": lambda m, x, y, e, g: pgd(m, x, y, eps=e, steps=3, precision="fp16", generator=g),
    "trades": lambda m, x, y, e, g: trades_attack(m, x, eps=e, alpha=0.01, steps=4, generator=g),
    # per-sample early stopping with masks (the default off the CPU): no sync either
    "pgd_early_stop": lambda m, x, y, e, g: pgd(m, x, y, eps=e, steps=4, generator=g,
                                                early_stop=EarlyStop(tau=1, compact=False)),
    "trades_early_stop": lambda m, x, y, e, g: trades_attack(
        m, x, eps=e, alpha=0.01, steps=4, generator=g, y=y,
        early_stop=EarlyStop(margin=0.1, compact=False)),
}


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("name", list(CALLS))
def test_no_sync_in_step_loop_cpu(recorder, name, per_sample):
    model = _model()
    x, y = torch.rand(3, 2, 4, 4), torch.tensor([0, 3, 1])
    eps = torch.tensor([0.0, 0.05, 0.1]) if per_sample else 0.05
    with recorder:
        x_adv = CALLS[name](model, x, y, eps, torch.Generator().manual_seed(0))
    assert recorder.finished and recorder.ops > 10  # the recorder saw the loop
    assert recorder.seen == []
    assert x_adv.shape == x.shape


def test_recorder_catches_a_sync():
    """The recorder itself works: an .item() and a boolean mask are seen."""
    rec = SyncRecorder()
    rec.armed = True
    t = torch.ones(3)
    with rec:
        t.sum().item()
        t[t > 0]
    assert rec.seen == ["item", "bool-mask indexing"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(CALLS))
def test_no_sync_in_step_loop_cuda(monkeypatch, name):
    """CUDA: the step loop runs under set_sync_debug_mode("error") (armed after validation)."""
    model = _model().cuda()
    x = torch.rand(3, 2, 4, 4, device="cuda")
    y = torch.tensor([0, 3, 1], device="cuda")
    for module in KERNELS:
        original = module.check_logits

        def armed_check(*args, _original=original, **kwargs):
            _original(*args, **kwargs)
            torch.cuda.set_sync_debug_mode("error")

        monkeypatch.setattr(module, "check_logits", armed_check)
        final = module.check_finite_run

        def disarmed_final(*args, _original=final, **kwargs):
            torch.cuda.set_sync_debug_mode("default")
            _original(*args, **kwargs)

        monkeypatch.setattr(module, "check_finite_run", disarmed_final)
    try:
        x_adv = CALLS[name](model, x, y, 0.05, torch.Generator(device="cuda").manual_seed(0))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert x_adv.shape == x.shape
