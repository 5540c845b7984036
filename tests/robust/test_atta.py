"""Attack reuse across epochs (ATTA) and PGD's warm start (issue 16 item 3, cost cuts)."""

from __future__ import annotations

import pytest
import torch

import robust.atta as atta_module
from robust import ATTA, IndexedDataset, pgd
from traincore import Updater


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 3)).double()


def _data(n=8):
    g = torch.Generator().manual_seed(1)
    return (torch.rand(n, 1, 4, 4, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (n,), generator=g))


def test_warm_start_continues_the_attack():
    """3 steps, then 2 more from where they ended == 5 steps (deterministic L-inf PGD)."""
    model = _model()
    x, y = _data()
    kw = dict(eps=0.2, alpha=0.03, random_start=False)
    three = pgd(model, x, y, steps=3, **kw)
    five = pgd(model, x, y, steps=5, **kw)
    assert (pgd(model, x, y, steps=2, start=three, **kw) - five).abs().max() <= 1e-12
    assert (three != five).any()


def test_warm_start_is_projected_and_checked():
    model = _model()
    x, y = _data()
    far = x + 1.0  # outside the ball and the domain: projected first
    out = pgd(model, x, y, eps=0.1, steps=1, start=far)
    assert (out - x).abs().max() <= 0.1 + 1e-12 and out.max() <= 1.0
    for bad, words in ((x[:3], "start must be"), (x.float()[None], "start must be"),
                       (torch.full_like(x, float("nan")), "start contains NaN")):
        with pytest.raises(ValueError, match=words):
            pgd(model, x, y, eps=0.1, start=bad)
    with pytest.raises(ValueError, match="restarts=1"):
        pgd(model, x, y, eps=0.1, start=x, restarts=2)


def test_atta_continues_from_each_samples_stored_point(monkeypatch):
    model = _model()
    x, y = _data()
    idx = torch.arange(8)
    starts = []
    real = atta_module.pgd

    def spy(*args, **kwargs):
        starts.append(kwargs["start"].clone())
        return real(*args, **kwargs)

    monkeypatch.setattr(atta_module, "pgd", spy)
    obj = ATTA(eps=0.2, steps=1, num_samples=12, generator=torch.Generator().manual_seed(0))
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.0))  # weights stay fixed
    obj.step(model, (x, y, idx + 4), updater)
    first = obj.state_dict()["delta"][4:12].clone()
    assert (first.abs().max() <= 0.2 + 1e-6) and (first != 0).any()
    assert (obj.state_dict()["delta"][:4] == 0).all()  # rows of unseen samples untouched
    obj.step(model, (x, y, idx + 4), updater)
    assert (starts[1] - (x + first.double())).abs().max() <= 1e-6  # warm start = stored point
    assert not torch.allclose(starts[0], starts[1])  # the first visit was a random start


def test_atta_state_round_trip_and_bad_input():
    model = _model()
    x, y = _data()
    obj = ATTA(eps=0.2, steps=2, num_samples=8)
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
    obj.step(model, (x, y, torch.arange(8)), updater)
    fresh = ATTA(eps=0.2, steps=2, num_samples=8)
    fresh.load_state_dict(obj.state_dict())
    assert torch.equal(fresh.state_dict()["delta"], obj.state_dict()["delta"])
    with pytest.raises(ValueError, match="IndexedDataset"):
        obj.step(model, (x, y), updater)
    with pytest.raises(ValueError, match="index"):
        obj.step(model, (x, y, torch.arange(8) + 1), updater)
    with pytest.raises(ValueError, match="num_samples"):
        ATTA(eps=0.1, num_samples=0)
    with pytest.raises(TypeError, match="per-sample"):
        ATTA(eps=torch.full((8,), 0.1), num_samples=8)


def test_indexed_dataset():
    from torch.utils.data import TensorDataset

    ds = IndexedDataset(TensorDataset(*_data(5)))
    x, y, i = ds[3]
    assert len(ds) == 5 and i == 3 and x.shape == (1, 4, 4)
