"""Per-sample early-stopped PGD (issue 16 item 3): semantics, masks == compaction, cost, bad input.

The reference is a hand-written loop over one sample at a time with a Python ``break``; the
library's masked loop (no host sync) and its compacted CPU loop must both equal it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from robust import PGDAT, TRADES, EarlyStop, pgd, trades_attack
from traincore import Updater


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(4 * 16, 4)).double().eval()


def _data(n=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 2, 4, 4, generator=g, dtype=torch.float64),
            torch.randint(0, 4, (n,), generator=g))


def _reference(model, x, y, eps, alpha, steps, margin, tau):
    """One sample at a time: L-inf PGD from x (no random start), break once stopped."""
    out = []
    for xi, yi in zip(x, y):
        xa, hits = xi.clone()[None], 0
        for _ in range(steps):
            xa.requires_grad_(True)
            z = model(xa)
            other = z.clone().detach()
            other[0, yi] = float("-inf")
            hits += int(other.max() - z[0, yi].detach() > margin)
            if hits > tau:
                break
            (g,) = torch.autograd.grad(F.cross_entropy(z, yi[None]), xa)
            with torch.no_grad():
                xa = torch.clamp(xa + alpha * g.sign(), torch.clamp(xi - eps, min=0),
                                 torch.clamp(xi + eps, max=1))
        out.append(xa.detach()[0])
    return torch.stack(out)


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("margin, tau", [(0.0, 0), (0.5, 0), (0.0, 2)])
def test_equals_the_one_sample_reference(compact, margin, tau):
    model = _model()
    x, y = _data()
    ref = _reference(model, x, y, eps=0.3, alpha=0.05, steps=8, margin=margin, tau=tau)
    ours = pgd(model, x, y, eps=0.3, alpha=0.05, steps=8, random_start=False,
               early_stop=EarlyStop(margin=margin, tau=tau, compact=compact))
    assert (ours - ref).abs().max() <= 1e-12
    full = pgd(model, x, y, eps=0.3, alpha=0.05, steps=8, random_start=False)
    assert (ours != full).any()  # some samples stopped early: the comparison has teeth


CASES = {
    "linf_per_sample": dict(eps=torch.linspace(0.05, 0.3, 16, dtype=torch.float64), steps=6),
    "linf_per_channel": dict(eps=torch.tensor([0.1, 0.3], dtype=torch.float64).view(2, 1, 1),
                             steps=6),
    "l2": dict(eps=1.0, steps=6, norm="l2"),
    "fp16_scaled": dict(eps=0.2, steps=4, precision="fp16"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_masks_equal_compaction(name):
    model = _model()
    x, y = _data()
    kw = dict(CASES[name])
    if name == "fp16_scaled":  # the fp16 loss-scaling path, in float32 on the CPU
        model, x = model.float(), x.float()
    outs = [pgd(model, x, y, generator=torch.Generator().manual_seed(4),
                early_stop=EarlyStop(compact=c), **kw) for c in (False, True)]
    tol = 1e-12 if x.dtype == torch.float64 else 1e-6
    assert (outs[0] - outs[1]).abs().max() <= tol


def test_trades_masks_equal_compaction_and_stop_means_misclassified():
    model = _model()
    x, y = _data()
    outs = [trades_attack(model, x, eps=0.3, alpha=0.08, steps=6, y=y,
                          generator=torch.Generator().manual_seed(2),
                          early_stop=EarlyStop(compact=c)) for c in (False, True)]
    assert (outs[0] - outs[1]).abs().max() <= 1e-12
    full = trades_attack(model, x, eps=0.3, alpha=0.08, steps=6,
                         generator=torch.Generator().manual_seed(2))
    assert (outs[0] != full).any()


def test_tau_beyond_steps_is_plain_pgd():
    model = _model()
    x, y = _data()
    a = pgd(model, x, y, eps=0.3, steps=5, generator=torch.Generator().manual_seed(0),
            early_stop=EarlyStop(tau=5, compact=False))
    b = pgd(model, x, y, eps=0.3, steps=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


class Counting(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.rows = inner, 0

    def forward(self, x):
        self.rows += x.shape[0]
        return self.inner(x)


def test_compaction_runs_fewer_rows_and_masks_run_all():
    x, y = _data(n=32)
    counts = {}
    for compact in (False, True):
        model = Counting(_model())
        pgd(model, x, y, eps=0.4, steps=10, early_stop=EarlyStop(compact=compact),
            generator=torch.Generator().manual_seed(0))
        counts[compact] = model.rows
    assert counts[False] == 32 * 10
    assert counts[True] < 0.8 * counts[False]  # most of these samples break within a few steps


@pytest.mark.parametrize("method", ["pgd_at", "trades"])
def test_training_methods_take_early_stop(method):
    model = _model().float().train()
    x, y = _data()
    stop = EarlyStop(tau=1)
    obj = (PGDAT(eps=0.2, steps=4, early_stop=stop) if method == "pgd_at"
           else TRADES(eps=0.2, steps=4, early_stop=stop))
    before = [p.detach().clone() for p in model.parameters()]
    out = obj.step(model, (x.float(), y), Updater(model, torch.optim.SGD(model.parameters(),
                                                                         lr=0.1)))
    assert torch.isfinite(out.loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert "early_stop=EarlyStop(" in repr(obj)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: EarlyStop(margin=-1.0), ValueError, "margin"),
    (lambda: EarlyStop(margin=float("nan")), ValueError, "margin"),
    (lambda: EarlyStop(tau=-1), ValueError, "tau"),
    (lambda: EarlyStop(tau=1.5), TypeError, "tau"),
    (lambda: EarlyStop(compact="yes"), TypeError, "compact"),
    (lambda: pgd(_model(), *_data(), eps=0.1, restarts=2, early_stop=EarlyStop()), ValueError,
     "restarts=1"),
    (lambda: pgd(_model(), *_data(), eps=0.1, targeted=True, early_stop=EarlyStop()),
     ValueError, "targeted"),
    (lambda: pgd(_model(), *_data(), eps=0.1, early_stop=0.5), TypeError, "early_stop"),
    (lambda: pgd(_model(), *_data(), eps=0.1, bn_mode="train",
                 early_stop=EarlyStop(compact=True)), ValueError, "bn_mode='eval'"),
    (lambda: trades_attack(_model(), _data()[0], eps=0.1, alpha=0.01, early_stop=EarlyStop()),
     ValueError, "labels y"),
    (lambda: PGDAT(eps=0.1, restarts=2, early_stop=EarlyStop()), ValueError, "restarts=1"),
    (lambda: TRADES(eps=0.1, early_stop="friendly"), TypeError, "early_stop"),
])
def test_bad_input(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_curriculum_sets_steps_and_tau_per_epoch_and_survives_a_checkpoint():
    from robust import Curriculum

    c = Curriculum(PGDAT(eps=0.1, steps=10, early_stop=EarlyStop(margin=0.2)),
                   steps=[2, 5, 10], tau=[0, 1, 2, 3])
    seen = []
    for epoch in range(5):
        c.on_epoch_start(epoch)
        seen.append((c.objective.steps, c.objective.early_stop.tau))
    assert seen == [(2, 0), (5, 1), (10, 2), (10, 3), (10, 3)]
    assert c.objective.early_stop.margin == 0.2
    c.on_epoch_start(1)
    state = c.state_dict()
    fresh = Curriculum(PGDAT(eps=0.1, early_stop=EarlyStop(margin=0.2)), steps=[2, 5, 10],
                       tau=[0, 1, 2, 3])
    fresh.load_state_dict(state)
    assert (fresh.objective.steps, fresh.objective.early_stop.tau) == (5, 1)
    assert c.relative_cost(epochs=3, reference_steps=10) == pytest.approx((3 + 6 + 11) / 33)


@pytest.mark.parametrize("kw, exc, words", [
    (dict(), ValueError, "steps=.*tau="),
    (dict(steps=[]), ValueError, "at least one"),
    (dict(steps=[0]), ValueError, "steps"),
    (dict(steps="10"), TypeError, "steps"),
    (dict(tau=[1]), TypeError, "early_stop"),
])
def test_curriculum_bad_input(kw, exc, words):
    from robust import Curriculum

    with pytest.raises(exc, match=words):
        Curriculum(PGDAT(eps=0.1), **kw)
