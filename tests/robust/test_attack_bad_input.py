"""Bad input gets a clear ValueError/TypeError naming the parameter, for every attack."""

from __future__ import annotations

import pytest
import torch

from robust import FGSM, PGD, TorchattacksAdapter, TRADESAttack, fgsm, pgd, trades_attack


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 3))


X = torch.rand(4, 2, 3)
Y = torch.tensor([0, 1, 2, 0])


def _call(name, **over):
    kw = dict(eps=0.1)
    kw.update(over)
    model = kw.pop("model", _model())
    x = kw.pop("x", X)
    y = kw.pop("y", Y)
    if name == "pgd":
        return pgd(model, x, y, **kw)
    if name == "fgsm":
        kw.pop("steps", None)
        kw.pop("restarts", None)
        return fgsm(model, x, y, **kw)
    kw.setdefault("alpha", 0.01)
    for k in ("restarts", "loss", "targeted"):
        kw.pop(k, None)
    return trades_attack(model, x, **kw)


COMMON = [
    (dict(eps=-0.1), ValueError, "eps"),
    (dict(eps=float("nan")), ValueError, "eps"),
    (dict(eps="0.1"), TypeError, "eps"),
    (dict(eps=True), TypeError, "eps"),
    (dict(alpha=0.0), ValueError, "alpha"),
    (dict(alpha=-1.0), ValueError, "alpha"),
    (dict(norm="l1"), ValueError, "norm"),
    (dict(bn_mode="frozen"), ValueError, "bn_mode"),
    (dict(precision="fp8"), ValueError, "precision"),
    (dict(x=X + 0.5), ValueError, "outside the domain"),
    (dict(x=X.to(torch.int64)), TypeError, "floating"),
    (dict(x=torch.where(X > 0.5, float("nan"), X)), ValueError, "NaN"),
    (dict(x=X.numpy()), TypeError, "x must be a torch.Tensor"),
    (dict(eps=torch.full((3,), 0.1)), ValueError, "per-sample eps"),
    (dict(eps=torch.full((4, 1), 0.1)), ValueError, "eps"),
    (dict(eps=torch.tensor([0.1, -0.1, 0.1, 0.1])), ValueError, "eps"),
    (dict(lower=1.0, upper=0.0), ValueError, "lower must be < upper"),
    (dict(lower=torch.zeros(5, 1)), ValueError, "lower of shape"),
    (dict(model=torch.nn.Flatten(0)), ValueError, "logits of shape"),
    (dict(model=lambda x: x), TypeError, "model must be a torch.nn.Module"),
    (dict(generator=1), TypeError, "generator"),
]
LABELLED = [
    (dict(steps=0), ValueError, "steps"),
    (dict(steps=2.5), TypeError, "steps"),
    (dict(restarts=0), ValueError, "restarts"),
    (dict(loss="hinge"), ValueError, "loss"),
    (dict(targeted=1), TypeError, "targeted"),
    (dict(y=Y.float()), TypeError, "y must hold integer"),
    (dict(y=Y[:3]), ValueError, r"y must have shape \(4,\)"),
    (dict(y=Y.view(4, 1)), ValueError, "y must have shape"),
    (dict(y=torch.tensor([0, 1, 3, 0])), ValueError, r"labels y must lie in \[0, 2\]"),
    (dict(y=torch.tensor([0, -1, 2, 0])), ValueError, "labels y must lie"),
    (dict(y=[0, 1, 2, 0]), TypeError, "y must be a torch.Tensor"),
]


@pytest.mark.parametrize("name", ["pgd", "fgsm", "trades"])
@pytest.mark.parametrize("over,exc,match", COMMON)
def test_common_bad_input(name, over, exc, match):
    with pytest.raises(exc, match=match):
        _call(name, **over)


@pytest.mark.parametrize("name", ["pgd", "fgsm"])
@pytest.mark.parametrize("over,exc,match", LABELLED)
def test_labelled_bad_input(name, over, exc, match):
    if name == "fgsm" and ("steps" in over or "restarts" in over):
        pytest.skip("fgsm has no steps/restarts")
    with pytest.raises(exc, match=match):
        _call(name, **over)


def test_trades_bad_options():
    with pytest.raises(ValueError, match="init_std"):
        _call("trades", init_std=-1.0)
    with pytest.raises(ValueError, match=r"logits_clean must have shape \(N=4"):
        _call("trades", logits_clean=torch.zeros(3, 3))
    with pytest.raises(TypeError, match="alpha"):
        trades_attack(_model(), X, eps=0.1)  # alpha is required


def test_generator_on_another_device_type():
    try:
        gen = torch.Generator(device="meta")
    except RuntimeError:
        pytest.skip("no generator for a second device type here")
    with pytest.raises(ValueError, match="generator is on device"):
        pgd(_model(), X, Y, eps=0.1, generator=gen)


@pytest.mark.parametrize("cls,kw,match", [
    (PGD, dict(eps=-1.0), "eps"),
    (PGD, dict(eps=0.1, norm="linf2"), "norm"),
    (PGD, dict(eps=0.1, steps=0), "steps"),
    (PGD, dict(eps=0.1, epsilon=0.1), "unknown option"),
    (PGD, dict(steps=3), "needs"),
    (FGSM, dict(eps=0.1, bn_mode="x"), "bn_mode"),
    (FGSM, dict(eps=0.1, steps=3), "unknown option"),
    (TRADESAttack, dict(eps=0.1), "needs"),
    (TRADESAttack, dict(eps=0.1, alpha=0.0), "alpha"),
])
def test_classes_validate_eagerly(cls, kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cls(**kw)


def test_adapter_bad_input():
    torchattacks = pytest.importorskip("torchattacks")
    with pytest.raises(TypeError, match="factory"):
        TorchattacksAdapter(3)
    with pytest.raises(TypeError, match="only accepted with an attack class"):
        TorchattacksAdapter(lambda m: torchattacks.FGSM(m), eps=0.1)
    with pytest.raises(ValueError, match="bn_mode"):
        TorchattacksAdapter(torchattacks.FGSM, bn_mode="x")
    with pytest.raises(TypeError, match="torchattacks.Attack"):
        TorchattacksAdapter(lambda m: None)(_model(), X, Y)
    with pytest.raises(ValueError, match="y must have shape"):
        TorchattacksAdapter(torchattacks.FGSM)(_model(), X, Y[:2])


def test_eps_zero_alpha_zero_is_allowed_for_warmup():
    out = pgd(_model(), X, Y, eps=0.0, alpha=0.0)
    assert torch.equal(out, X)
