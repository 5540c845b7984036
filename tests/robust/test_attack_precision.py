"""Mixed precision: bf16/fp16 autocast (the caller's or ``precision=``), fp32 perturbation, fp16
loss scaling so that input gradients do not underflow."""

from __future__ import annotations

import pytest
import torch

from robust import fgsm, pgd, trades_attack
from traincore import Precision, PrecisionNotSupportedError


def _needs(name: str) -> None:
    try:
        Precision(name).check("cpu")
    except PrecisionNotSupportedError as err:
        pytest.skip(str(err))


def _cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 5))


ATTACKS = {
    "fgsm_rs": lambda m, x, y, **kw: fgsm(m, x, y, eps=0.05, random_start=True, **kw),
    "pgd_linf": lambda m, x, y, **kw: pgd(m, x, y, eps=0.05, steps=3, **kw),
    "pgd_l2": lambda m, x, y, **kw: pgd(m, x, y, eps=0.3, steps=3, norm="l2", **kw),
    "trades": lambda m, x, y, **kw: trades_attack(m, x, eps=0.05, alpha=0.02, steps=3, **kw),
}


def _check(x_adv, x, eps, norm):
    delta = (x_adv - x).flatten(1)
    dist = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert x_adv.dtype == torch.float32  # the perturbation stays fp32
    assert (dist <= eps + 1e-6).all()
    assert 0 <= x_adv.min() and x_adv.max() <= 1
    assert (dist > 0).any()  # the attack moved


@pytest.mark.parametrize("name", list(ATTACKS))
@pytest.mark.parametrize("dtype_name", ["bf16", "fp16"])
@pytest.mark.parametrize("how", ["caller_autocast", "keyword"])
def test_autocast_runs_in_ball(name, dtype_name, how):
    _needs(dtype_name)
    model = _cnn()
    x, y = torch.rand(4, 3, 4, 4), torch.tensor([0, 1, 2, 3])
    g = torch.Generator().manual_seed(0)
    if how == "keyword":
        x_adv = ATTACKS[name](model, x, y, generator=g, precision=dtype_name)
    else:
        dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float16
        with torch.autocast("cpu", dtype=dtype):
            x_adv = ATTACKS[name](model, x, y, generator=g)
    eps, norm = (0.3, "l2") if name == "pgd_l2" else (0.05, "linf")
    _check(x_adv, x, eps, norm)


class _Tiny(torch.nn.Module):
    """Logits = 1e-3 * (W x) with |W| ~ 1e-5: in fp16 the input gradient of the per-sample loss
    is ~1e-8, below fp16's smallest subnormal (6e-8), so it underflows to 0 unless the loss is
    scaled."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 4, bias=False)
        with torch.no_grad():
            sign = torch.tensor([1.0, -1.0, -1.0, 1.0])[:, None]  # (4, 1)
            self.lin.weight.copy_(1e-5 * sign * torch.linspace(1, 2, 8))  # (4, 8)

    def forward(self, x):
        return self.lin(x) * 1e-3


def test_fp16_input_gradient_does_not_underflow():
    _needs("fp16")
    model = _Tiny()
    x, y = torch.full((2, 8), 0.5), torch.tensor([0, 3])
    # precondition: without scaling, the fp16 input gradient is exactly zero
    xr = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.float16):
        loss = torch.nn.functional.cross_entropy(model(xr).float(), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, xr)
    assert torch.count_nonzero(grad) == 0
    # fp32 reference: the attack moves every coordinate by eps
    ref = fgsm(model, x, y, eps=0.01)
    for kwargs in ({"precision": "fp16"}, {}):
        if kwargs:
            out = fgsm(model, x, y, eps=0.01, **kwargs)
        else:
            with torch.autocast("cpu", dtype=torch.float16):
                out = fgsm(model, x, y, eps=0.01)
        assert torch.equal(out, ref)


def test_fp32_keyword_disables_outer_autocast():
    model = _cnn()
    x, y = torch.rand(2, 3, 4, 4), torch.tensor([0, 1])
    ref = pgd(model, x, y, eps=0.05, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = pgd(model, x, y, eps=0.05, precision="fp32",
                  generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, ref)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_keep_their_dtype(dtype):
    """Half inputs: perturbed in fp32, returned in the input dtype (model in the same dtype)."""
    _needs("fp16" if dtype == torch.float16 else "bf16")
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3).to(dtype)
    x, y = torch.rand(3, 6).to(dtype), torch.tensor([0, 1, 2])
    x_adv = pgd(model, x, y, eps=0.1, steps=2, generator=torch.Generator().manual_seed(0))
    assert x_adv.dtype == dtype
    assert ((x_adv.float() - x.float()).abs().max() <= 0.1 + 1e-2)  # half rounding of x_adv
