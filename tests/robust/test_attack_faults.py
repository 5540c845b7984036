"""Issue 11 item 11: a broken model or a wrong argument raises, naming what is at fault.

- NaN/inf logits at any point of an attack (the clean forward or a later step) raise
  ``FloatingPointError`` instead of returning a point computed from NaN gradients.
- A huge ``eps`` is blamed on ``eps``, not on the ``alpha`` derived from it.
- A wrong ``logits_clean`` (shape, type, device, values) is named.
- Meta-device tensors and models (no data) are named, instead of raw torch errors.
"""

from __future__ import annotations

import pytest
import torch

from robust import fgsm, pgd, trades_attack

X = torch.full((4, 1, 2, 2), 0.5)
Y = torch.tensor([0, 1, 2, 0])


class NaNAway(torch.nn.Module):
    """Finite logits at the clean input (all 0.5); NaN (or inf) once the first pixel moves away
    by more than ``radius`` (``radius < 0``: everywhere)."""

    def __init__(self, value: float = float("nan"), radius: float = 1e-3):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(4, 3)
        self.value, self.radius = value, radius

    def forward(self, x):
        z = self.lin(x.flatten(1))  # (N, 3)
        bad = (x.flatten(1)[:, :1] - 0.5).abs() > self.radius  # (N, 1)
        return torch.where(bad, torch.full_like(z, self.value), z)


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))


ATTACKS = {
    "pgd": lambda m, **kw: pgd(m, X, Y, eps=0.1, steps=3, **kw),
    "pgd_restarts": lambda m, **kw: pgd(m, X, Y, eps=0.1, steps=3, restarts=2, **kw),
    "pgd_fp16": lambda m, **kw: pgd(m, X, Y, eps=0.1, steps=3, precision="fp16", **kw),
    "fgsm_rs": lambda m, **kw: fgsm(m, X, Y, eps=0.1, random_start=True, **kw),
    "trades": lambda m, **kw: trades_attack(m, X, eps=0.1, alpha=0.05, steps=3, **kw),
}


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_non_finite_logits_inside_the_attack_raise(name, value):
    model = NaNAway(value)
    assert torch.isfinite(model(X)).all()  # the clean forward is fine: the NaN comes later
    with pytest.raises(FloatingPointError, match="non-finite logits"):
        ATTACKS[name](model, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", list(ATTACKS))
def test_non_finite_logits_on_the_clean_input_raise(name):
    model = NaNAway(radius=-1.0)  # NaN everywhere
    with pytest.raises(FloatingPointError, match="non-finite logits"):
        ATTACKS[name](model)


@pytest.mark.parametrize("call", [
    lambda: pgd(_model(), X, Y, eps=1e308),
    lambda: pgd(_model(), X, Y, eps=1e308, alpha=0.1),
    lambda: pgd(_model(), X, Y, eps=3e38, steps=1),  # fits float32, its 2.5x alpha does not
    lambda: fgsm(_model(), X, Y, eps=1e308),
    lambda: fgsm(_model(), X, Y, eps=1e308, random_start=True),
    lambda: trades_attack(_model(), X, eps=1e308, alpha=0.1),
])
def test_huge_eps_is_blamed_on_eps(call):
    with pytest.raises(ValueError, match=r"^eps") as err:
        call()
    assert "alpha=" not in str(err.value)


def test_huge_alpha_is_blamed_on_alpha():
    with pytest.raises(ValueError, match=r"^alpha"):
        pgd(_model(), X, Y, eps=0.1, alpha=1e308)


def test_huge_eps_in_float64_is_the_whole_domain():
    """1e308 fits float64: the attack runs and its result stays in the domain."""
    x = X.double()
    out = pgd(_model().double(), x, Y, eps=1e308, steps=2)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("logits, exc, words", [
    (torch.zeros(4, 5), ValueError, r"logits_clean must have the model's shape \(4, 3\)"),
    (torch.zeros(4, 3, 1), ValueError, "logits_clean"),
    (torch.zeros(3, 3), ValueError, "logits_clean"),
    ([[0.0] * 3] * 4, TypeError, "logits_clean"),
    (torch.zeros(4, 3, dtype=torch.int64), TypeError, "logits_clean"),
    (torch.full((4, 3), float("nan")), ValueError, "logits_clean"),
])
def test_wrong_logits_clean_is_named(logits, exc, words):
    with pytest.raises(exc, match=words):
        trades_attack(_model(), X, eps=0.1, alpha=0.05, logits_clean=logits)


META = [
    ("x", lambda: pgd(_model(), X.to("meta"), Y, eps=0.1)),
    ("x", lambda: trades_attack(_model(), X.to("meta"), eps=0.1, alpha=0.05)),
    ("y", lambda: pgd(_model(), X, Y.to("meta"), eps=0.1)),
    ("eps", lambda: pgd(_model(), X, Y, eps=torch.full((4,), 0.1, device="meta"))),
    ("alpha", lambda: pgd(_model(), X, Y, eps=0.1, alpha=torch.full((4,), 0.1, device="meta"))),
    ("lower", lambda: pgd(_model(), X, Y, eps=0.1, lower=torch.zeros(1, 2, 2, device="meta"))),
    ("model", lambda: pgd(_model().to("meta"), X, Y, eps=0.1)),
    ("logits_clean", lambda: trades_attack(_model(), X, eps=0.1, alpha=0.05,
                                           logits_clean=torch.zeros(4, 3, device="meta"))),
]


@pytest.mark.parametrize("name, call", META, ids=[f"{n}-{i}" for i, (n, _) in enumerate(META)])
def test_meta_device_is_named(name, call):
    with pytest.raises(ValueError, match=rf"^{name}\b.*meta"):
        call()
