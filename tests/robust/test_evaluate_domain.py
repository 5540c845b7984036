"""Issue 11 item 9: robust evaluation on any input domain and any input shape.

torchattacks' AutoAttack clamps to [0, 1] and its APGD assumes (N, C, H, W). Ours takes
``lower``/``upper`` (scalars or per-channel) and re-parametrises the model onto [0, 1] (and a 4-D
view), so a signal model in [-4, 4] gets the AutoAttack a hand-written re-parametrised
torchattacks run gives, and data outside the domain is refused instead of clamped silently.
"""

from __future__ import annotations

import pytest
import torch

from robust import (
    PGD,
    AutoAttack,
    Normalize,
    accuracy_vs_eps,
    autoattack_accuracy,
    clean_accuracy,
    robust_accuracy,
)

torchattacks = pytest.importorskip("torchattacks")



def _signal_problem(n=24):
    """A 1-D conv model on (N, 2, 16) signals in [-4, 4], 4 classes (AutoAttack's DLR loss
    needs >= 4); labels = its clean predictions."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(64, 4))
    x = torch.rand(n, 2, 16) * 8 - 4  # (N, C, L) in [-4, 4]
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


class _OnUnitCube(torch.nn.Module):
    """Hand-written re-parametrisation: u in [0, 1]^(C, L, 1) -> x = -4 + 8 u -> model."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, u):
        return self.model(u.squeeze(-1) * 8.0 - 4.0)


def test_signal_in_minus4_4_equals_hand_written_reparametrised_torchattacks():
    model, x, y = _signal_problem()
    eps = 0.4  # signal units: 0.05 of the range
    ours = autoattack_accuracy(model, (x, y), eps=eps, lower=-4.0, upper=4.0, n_classes=4,
                               seed=0)
    wrapped = _OnUnitCube(model)
    u = ((x + 4.0) / 8.0).unsqueeze(-1)  # (N, C, L, 1) in [0, 1]
    u_adv = torchattacks.AutoAttack(wrapped, norm="Linf", eps=eps / 8.0, version="standard",
                                    n_classes=4, seed=0)(u, y)
    with torch.no_grad():
        theirs = int((wrapped(u_adv).argmax(1) == y).sum()) / len(y)
    assert ours == theirs
    assert ours < 1.0  # the attack found something: the comparison is not vacuous


def test_autoattack_examples_stay_in_the_ball_and_the_domain():
    model, x, y = _signal_problem(n=8)
    x_adv = AutoAttack(eps=0.4, lower=-4.0, upper=4.0, n_classes=4, seed=0)(model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert (x_adv - x).abs().max() <= 0.4 + 1e-5
    assert x_adv.min() >= -4.0 and x_adv.max() <= 4.0
    with torch.no_grad():
        assert (model(x_adv).argmax(1) != y).any()


def test_autoattack_refuses_data_outside_its_domain():
    """Before: torchattacks clamped [-4, 4] data to [0, 1] and reported a wrong accuracy."""
    model, x, y = _signal_problem(n=4)
    with pytest.raises(ValueError, match="outside the domain"):
        autoattack_accuracy(model, (x, y), eps=0.4, n_classes=4)


def test_per_channel_bounds_equal_the_normalize_layer():
    """Data normalised by the loader (per-channel bounds, eps / std) = pixel data + Normalize."""
    torch.manual_seed(1)
    mean, std = [0.4, 0.5], [0.2, 0.3]
    norm = Normalize(mean, std).double()
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 36, 4)).double()
    x = torch.rand(16, 2, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        y = net(norm(x)).argmax(1)
    pixel = autoattack_accuracy(torch.nn.Sequential(norm, net), (x, y), eps=0.08, n_classes=4)
    threat = norm.threat(eps=0.08)
    normalised = autoattack_accuracy(net, (norm(x), y), n_classes=4, **threat)
    assert pixel == normalised
    assert pixel < 1.0


def test_unequal_radius_per_unit_range_is_refused():
    model, x, y = _signal_problem(n=4)
    lower = torch.tensor([-4.0, -2.0]).view(2, 1)
    upper = torch.tensor([4.0, 2.0]).view(2, 1)
    with pytest.raises(ValueError, match="eps"):
        autoattack_accuracy(model, (x.clamp(-2, 2), y), eps=0.4, lower=lower, upper=upper,
                            n_classes=4)


def test_robust_accuracy_and_curve_take_the_domain():
    model, x, y = _signal_problem()
    with pytest.raises(ValueError, match="outside the domain"):
        robust_accuracy(model, (x, y), eps=0.4, steps=3)
    torch.manual_seed(0)  # the default PGD's random start draws from the global generator
    acc = robust_accuracy(model, (x, y), eps=0.4, steps=3, lower=-4.0, upper=4.0)
    torch.manual_seed(0)
    direct = robust_accuracy(model, (x, y), PGD(eps=0.4, steps=3, lower=-4.0, upper=4.0))
    assert acc == direct and acc < 1.0
    curve = accuracy_vs_eps(model, (x, y), [0.0, 0.4, 2.0], steps=3, lower=-4.0, upper=4.0)
    accs = curve["curves"]["model"]
    assert accs[0] == clean_accuracy(model, (x, y)) and accs[0] >= accs[1] >= accs[2]


def test_domain_with_an_explicit_attack_is_ambiguous():
    model, x, y = _signal_problem(n=4)
    with pytest.raises(ValueError, match="lower"):
        robust_accuracy(model, (x, y), PGD(eps=0.4, lower=-4.0, upper=4.0), lower=-4.0)
