"""Oracle tests: our attacks against torchattacks on the same models and inputs.

Deterministic attacks (random start off) in float64 must agree within 1e-6 max abs difference:
FGSM vs ``FGSM``, PGD L-inf vs ``PGD``, PGD L2 vs ``PGDL2`` (same ``eps_for_division``, same
order: step, ball projection, domain clamp), targeted PGD vs ``PGD`` in targeted-by-label mode,
and the TRADES attack vs ``TPGD`` (same gaussian start drawn from the global generator). With
random starts the two PGD-20 implementations must reach the same success rate within 1 point
on a model trained in the test (sklearn digits).
"""

from __future__ import annotations

import pytest
import torch

from robust import fgsm, pgd, trades_attack

torchattacks = pytest.importorskip("torchattacks")



def _cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(6 * 4 * 4, 5),
    ).double()
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.2, 0.2)
    return model.train()  # torchattacks and ours both attack in eval mode


def _mlp() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 16),
                               torch.nn.Tanh(), torch.nn.Linear(16, 5)).double()


@pytest.fixture(params=["cnn", "mlp"])
def setup(request):
    model = _cnn() if request.param == "cnn" else _mlp()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(16, 3, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (16,), generator=g)
    return model, x, y


def _max_diff(a, b):
    return (a - b).abs().max().item()


@pytest.mark.parametrize("eps", [2 / 255, 8 / 255, 0.3])
def test_fgsm_matches_torchattacks(setup, eps):
    model, x, y = setup
    ours = fgsm(model, x, y, eps=eps)
    theirs = torchattacks.FGSM(model, eps=eps)(x, y)
    assert _max_diff(ours, theirs) <= 1e-6
    assert _max_diff(ours, x) > 0


@pytest.mark.parametrize("eps,alpha,steps", [(8 / 255, 2 / 255, 10), (0.1, 0.03, 5)])
def test_pgd_linf_matches_torchattacks(setup, eps, alpha, steps):
    model, x, y = setup
    ours = pgd(model, x, y, eps=eps, alpha=alpha, steps=steps, random_start=False)
    theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    assert _max_diff(ours, theirs) <= 1e-6


def test_pgd_default_alpha_is_torchattacks_default(setup):
    model, x, y = setup
    ours = pgd(model, x, y, eps=8 / 255, random_start=False)  # alpha = 2.5 * eps / 10 = 2/255
    theirs = torchattacks.PGD(model, random_start=False)(x, y)
    assert _max_diff(ours, theirs) <= 1e-6


@pytest.mark.parametrize("eps,alpha,steps", [(1.0, 0.2, 10), (0.3, 0.1, 5)])
def test_pgd_l2_matches_torchattacks(setup, eps, alpha, steps):
    model, x, y = setup
    ours = pgd(model, x, y, eps=eps, alpha=alpha, steps=steps, norm="l2", random_start=False)
    theirs = torchattacks.PGDL2(model, eps=eps, alpha=alpha, steps=steps,
                                random_start=False)(x, y)
    assert _max_diff(ours, theirs) <= 1e-6


def test_pgd_targeted_matches_torchattacks(setup):
    model, x, y = setup
    target = (y + 1) % 5
    ours = pgd(model, x, target, eps=0.1, alpha=0.02, steps=5, random_start=False,
               targeted=True)
    attack = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=5, random_start=False)
    attack.set_mode_targeted_by_label(quiet=True)
    assert _max_diff(ours, attack(x, target)) <= 1e-6


def test_trades_attack_matches_tpgd(setup):
    model, x, y = setup
    torch.manual_seed(5)  # both draw the 0.001 * N(0, 1) start from the global generator
    ours = trades_attack(model, x, eps=8 / 255, alpha=2 / 255, steps=5)
    torch.manual_seed(5)
    theirs = torchattacks.TPGD(model, eps=8 / 255, alpha=2 / 255, steps=5)(x)
    assert _max_diff(ours, theirs) <= 1e-6


def _digits_model():
    """A small MLP trained in < 1 s on sklearn digits (8x8 images scaled to [0, 1])."""
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8)
    y = torch.tensor(data.target)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(40):  # full batch on the first 1400 images
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[:1400]), y[:1400]).backward()
        opt.step()
    return model.eval(), x[1400:], y[1400:]


def test_pgd20_success_rate_matches_torchattacks():
    model, x, y = _digits_model()
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    assert clean > 0.9  # a standard-trained model, not a broken one
    eps, alpha = 0.1, 0.01
    ours = pgd(model, x, y, eps=eps, alpha=alpha, steps=20,
               generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=20, random_start=True)(x, y)
    with torch.no_grad():
        rate_ours = (model(ours).argmax(1) != y).float().mean().item()
        rate_theirs = (model(theirs).argmax(1) != y).float().mean().item()
    assert 0.05 < rate_theirs < 0.95  # the comparison is not saturated
    assert abs(rate_ours - rate_theirs) <= 0.01
