"""Normalised inputs (issue 16 item 2): Normalize inside the model == per-channel threat model.

Route 1: pixels in [0, 1], ``Normalize(mean, std)`` as the model's first layer, eps in pixels.
Route 2: the loader normalises; the attack gets ``Normalize.threat(eps)`` (eps / std per channel,
bounds (0 - mean) / std and (1 - mean) / std). Both must give the same adversarial examples (in
normalised units, route 2 = Normalize(route 1)) and the same training update.
"""

from __future__ import annotations

import copy

import pytest
import torch

from robust import NFGSM, PGDAT, FastAT, FreeAT, Normalize, fgsm, pgd
from traincore import Updater

MEAN, STD = [0.3, 0.5, 0.6], [0.2, 0.35, 0.1]



def _setup(seed=0):
    torch.manual_seed(seed)
    norm = Normalize(MEAN, STD).double()
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Tanh(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 25, 5)).double()
    x = torch.rand(12, 3, 5, 5, dtype=torch.float64)
    y = torch.randint(0, 5, (12,))
    return norm, net, x, y


ATTACKS = {
    "pgd": lambda m, x, y, g, **t: pgd(m, x, y, steps=5, generator=g, **t),
    "pgd_alpha": lambda m, x, y, g, **t: pgd(m, x, y, steps=3, generator=g, **t),
    "pgd_margin_restarts": lambda m, x, y, g, **t: pgd(m, x, y, steps=3, restarts=2,
                                                       loss="margin", generator=g, **t),
    "fgsm_rs": lambda m, x, y, g, **t: fgsm(m, x, y, random_start=True, generator=g, **t),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attacks_give_the_same_examples_both_ways(name):
    norm, net, x, y = _setup()
    eps, alpha = 0.1, (0.04 if name == "pgd_alpha" else None)
    pixel_kw = {"eps": eps} | ({"alpha": alpha} if alpha else {})
    x_pix = ATTACKS[name](torch.nn.Sequential(norm, net), x, y,
                          torch.Generator().manual_seed(3), **pixel_kw)
    threat = norm.threat(eps, alpha=alpha)
    x_norm = ATTACKS[name](net, norm(x), y, torch.Generator().manual_seed(3), **threat)
    assert (norm(x_pix) - x_norm).abs().max() <= 1e-9
    assert (x_pix - x).abs().max() > 0.5 * eps  # the attack moved: not a vacuous comparison
    assert (x_pix - x).abs().max() <= eps + 1e-12 and x_pix.min() >= 0 and x_pix.max() <= 1


METHODS = {
    "pgd_at": lambda **t: PGDAT(steps=3, generator=torch.Generator().manual_seed(5), **t),
    "fast_at": lambda **t: FastAT(generator=torch.Generator().manual_seed(5), **t),
    "n_fgsm": lambda **t: NFGSM(generator=torch.Generator().manual_seed(5), **t),
    "free_at": lambda **t: FreeAT(m=2, **t),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_training_step_is_the_same_both_ways(name):
    """One update of net's weights: pixel data + Normalize layer == normalised data + threat."""
    norm, net, x, y = _setup()
    net2 = copy.deepcopy(net)
    kw = {} if name == "free_at" else {"bn_mode": "eval"}
    obj_pix = METHODS[name](eps=0.1, **kw)
    up1 = Updater(torch.nn.Sequential(norm, net), torch.optim.SGD(net.parameters(), lr=0.5))
    obj_pix.step(torch.nn.Sequential(norm, net), (x, y), up1)
    obj_norm = METHODS[name](**norm.threat(0.1), **kw)
    up2 = Updater(net2, torch.optim.SGD(net2.parameters(), lr=0.5))
    obj_norm.step(net2, (norm(x), y), up2)
    for p1, p2 in zip(net.parameters(), net2.parameters()):
        assert (p1 - p2).abs().max() <= 1e-9
    _, fresh, _, _ = _setup()  # the step changed the weights: not a vacuous comparison
    assert any((a - b).abs().max() > 1e-4 for a, b in zip(net.parameters(), fresh.parameters()))


def test_threat_values_and_round_trip():
    norm = Normalize(MEAN, STD)
    t = norm.threat(0.1, alpha=0.02)
    assert torch.allclose(t["eps"].flatten(), 0.1 / torch.tensor(STD))
    assert torch.allclose(t["alpha"].flatten(), 0.02 / torch.tensor(STD))
    assert torch.allclose(t["lower"].flatten(), -torch.tensor(MEAN) / torch.tensor(STD))
    x = torch.rand(2, 3, 4, 4)
    assert torch.allclose(norm.denormalize(norm(x)), x, atol=1e-6)
    assert set(norm.state_dict()) == {"mean", "std"}


@pytest.mark.parametrize("kw, words", [
    (dict(mean=[0.1, 0.2], std=[0.3]), "one value per channel"),
    (dict(mean=[0.1], std=[0.0]), "std"),
    (dict(mean=[float("nan")], std=[1.0]), "mean"),
    (dict(mean=[], std=[]), "mean"),
])
def test_normalize_bad_input(kw, words):
    with pytest.raises(ValueError, match=words):
        Normalize(**kw)


def test_threat_and_forward_bad_input():
    norm = Normalize([0.5], [0.5])
    with pytest.raises(ValueError, match="eps"):
        norm.threat(-0.1)
    with pytest.raises(ValueError, match="eps"):
        norm.threat(float("inf"))
    with pytest.raises(ValueError, match=r"\(N, C=1"):
        norm(torch.rand(2, 3, 4, 4))
