"""OverfitGuard and ThresholdMonitor: firing, restore, fallback, state round trip, monitors."""

from __future__ import annotations

import copy
import io
import logging

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from robust import MLP, NFGSM, PGDAT, EpsWarmup, FastAT, OverfitGuard, ThresholdMonitor
from traincore import Supervised, Updater


class ScriptedMonitor:
    """A monitor stub: drift exactly at the given update indices."""

    def __init__(self, drift_at):
        self.drift_at = set(drift_at)
        self.n = 0
        self.seen = []
        self.drift_detected = False

    def update(self, x):
        self.seen.append(x)
        self.drift_detected = self.n in self.drift_at
        self.n += 1


def _setup(objective_factory=lambda: FastAT(eps=0.1), seed=0, **guard_kwargs):
    torch.manual_seed(seed)
    model = MLP(16, 3, hidden=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    updater = Updater(model, opt)
    x_hold = torch.rand(32, 1, 4, 4)
    y_hold = torch.randint(0, 3, (32,))
    guard = OverfitGuard(objective_factory(), (x_hold, y_hold), **guard_kwargs)
    batches = [(torch.rand(8, 1, 4, 4), torch.randint(0, 3, (8,))) for _ in range(3)]
    return model, updater, guard, batches


def _epoch(guard, model, updater, batches, epoch):
    guard.on_epoch_start(epoch)
    for b in batches:
        guard.step(model, b, updater)
    return guard.on_epoch_end(epoch, model, updater)


def test_guard_fires_restores_and_falls_back(monkeypatch, caplog):
    model, updater, guard, batches = _setup()
    accs = iter([0.50, 0.60, 0.05])  # a forced collapse at epoch 2
    monkeypatch.setattr(guard, "pgd_accuracy", lambda m: next(accs))
    _epoch(guard, model, updater, batches, 0)
    _epoch(guard, model, updater, batches, 1)
    good_params = copy.deepcopy(model.state_dict())
    good_opt = copy.deepcopy(updater.optimizer.state_dict())
    good_steps = updater.step_count
    with caplog.at_level(logging.WARNING, logger="robust.guard"):
        metrics = _epoch(guard, model, updater, batches, 2)
    assert metrics["guard_collapse"] == 1.0 and metrics["guard_pgd_acc"] == 0.05
    for k, v in model.state_dict().items():  # the epoch-1 state is back
        assert torch.equal(v, good_params[k])
    buf = updater.optimizer.state_dict()["state"]
    for k, v in good_opt["state"].items():
        assert torch.equal(buf[k]["momentum_buffer"], v["momentum_buffer"])
    assert updater.step_count == good_steps
    assert isinstance(guard.objective, NFGSM)  # Fast-AT -> N-FGSM
    assert guard.fallbacks_applied == 1
    assert [e["collapse"] for e in guard.history] == [False, False, True]
    assert guard.history[-1]["restored"] and "NFGSM" in guard.history[-1]["fallback"]
    assert "catastrophic overfitting at epoch 2" in caplog.text


def test_guard_fires_on_a_real_accuracy_drop():
    torch.manual_seed(0)
    # a learnable held-out problem: the class is the brightest quarter of the image
    x = torch.rand(96, 1, 4, 4) * 0.3
    y = torch.randint(0, 3, (96,))
    x[torch.arange(96), 0, y, 0] = 1.0
    model = MLP(16, 3, hidden=16)
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.5))
    guard = OverfitGuard(FastAT(eps=0.05), (x[:48], y[:48]), steps=5)
    for epoch in range(3):
        for _ in range(20):
            guard.step(model, (x[48:], y[48:]), updater)
        guard.on_epoch_end(epoch, model, updater)
    assert guard.history[-1]["pgd_acc"] > 0.6 and not any(e["collapse"] for e in guard.history)
    good = copy.deepcopy(model.state_dict())
    with torch.no_grad():  # sabotage: the "collapse" a broken step would leave behind
        for p in model.parameters():
            p.mul_(-1.0)
    metrics = guard.on_epoch_end(3, model, updater)
    assert metrics["guard_collapse"] == 1.0
    for k, v in model.state_dict().items():
        assert torch.equal(v, good[k])
    assert guard.pgd_accuracy(model) == pytest.approx(guard.history[-2]["pgd_acc"])


def test_guard_rise_is_not_a_collapse():
    model, updater, guard, batches = _setup(monitor=ScriptedMonitor(drift_at=[1]))
    accs = iter([0.2, 0.6])
    guard.pgd_accuracy = lambda m: next(accs)
    _epoch(guard, model, updater, batches, 0)
    metrics = _epoch(guard, model, updater, batches, 1)
    assert metrics["guard_collapse"] == 0.0 and isinstance(guard.objective, FastAT)


def test_guard_state_survives_checkpoint_resume_exactly():
    accs = [0.5, 0.6, 0.05, 0.55, 0.58]

    def run(n_epochs, state=None):
        model, updater, guard, batches = _setup(lambda: EpsWarmup(FastAT(eps=0.1), epochs=2))
        it = iter(accs[len(state["guard"]["accs"]):] if state else accs)
        guard.pgd_accuracy = lambda m: next(it)
        start = 0
        if state is not None:
            model.load_state_dict(state["model"])
            updater.optimizer.load_state_dict(state["opt"])
            updater.load_state_dict(state["updater"])
            guard.load_state_dict(state["guard"])
            start = len(state["guard"]["accs"])
        torch.manual_seed(100 + start)
        for epoch in range(start, n_epochs):
            torch.manual_seed(100 + epoch)  # the RNG a checkpoint would restore
            _epoch(guard, model, updater, batches, epoch)
        return model, updater, guard

    full_model, _, full_guard = run(5)
    model, updater, guard = run(3)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": updater.optimizer.state_dict(),
                "updater": updater.state_dict(), "guard": guard.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)  # plain tensors and python values only
    resumed_model, _, resumed_guard = run(5, state)
    assert resumed_guard.history == full_guard.history
    assert type(resumed_guard.objective.objective) is NFGSM  # the fallback was re-applied
    assert resumed_guard.fallbacks_applied == full_guard.fallbacks_applied == 1
    for a, b in zip(full_model.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)
    for k, v in full_guard.state_dict()["good"]["model"].items():
        assert torch.equal(v, resumed_guard.state_dict()["good"]["model"][k])


def test_guard_accepts_river_and_adaptive_detectors():
    river_drift = pytest.importorskip("river.drift")
    import adaptive  # the tests may import both packages; robust itself imports neither

    for monitor in (river_drift.PageHinkley(min_instances=3, threshold=0.2, mode="down"),
                    adaptive.PageHinkley(min_instances=3, threshold=0.2, mode="down")):
        model, updater, guard, batches = _setup(monitor=monitor)
        accs = iter([0.5, 0.52, 0.51, 0.53, 0.52, 0.0, 0.0, 0.0])
        guard.pgd_accuracy = lambda m: next(accs)
        for epoch in range(8):
            _epoch(guard, model, updater, batches, epoch)
            if guard.fallbacks_applied:
                break
        assert guard.fallbacks_applied == 1, type(monitor).__name__
        assert any(e["collapse"] for e in guard.history)


def test_guard_with_pgd_at_restores_only():
    model, updater, guard, batches = _setup(lambda: PGDAT(eps=0.1, steps=2))
    accs = iter([0.5, 0.0])
    guard.pgd_accuracy = lambda m: next(accs)
    _epoch(guard, model, updater, batches, 0)
    _epoch(guard, model, updater, batches, 1)
    assert guard.history[-1]["collapse"] and guard.history[-1]["fallback"] is None
    assert isinstance(guard.objective, PGDAT) and guard.fallbacks_applied == 0


def test_guard_leaves_model_mode_and_rng_alone():
    model, updater, guard, _ = _setup()
    model.train()
    state = torch.get_rng_state()
    guard.pgd_accuracy(model)
    assert model.training
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"eval_batch": (torch.rand(3, 4), torch.zeros(2))}, ValueError, "eval_batch"),
    ({"eval_batch": "x"}, ValueError, "eval_batch"),
    ({"monitor": object()}, TypeError, "drift_detected"),
    ({"fallback": "pgd7"}, ValueError, "fallback"),
    ({"steps": 0}, ValueError, "steps"),
])
def test_guard_bad_input(kwargs, exc, words):
    args = {"objective": FastAT(eps=0.1),
            "eval_batch": (torch.rand(4, 1, 4, 4), torch.zeros(4, dtype=torch.long))}
    args.update(kwargs)
    with pytest.raises(exc, match=words):
        OverfitGuard(args.pop("objective"), args.pop("eval_batch"), **args)


def test_guard_needs_an_attack_without_eps():
    with pytest.raises(ValueError, match="eps"):
        OverfitGuard(Supervised(), (torch.rand(4, 16), torch.zeros(4, dtype=torch.long)))


@pytest.mark.parametrize("kwargs", [{"drop": -0.1}, {"drop": 2}, {"ratio": 1.5}])
def test_threshold_monitor_bad_input(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ThresholdMonitor(**kwargs)


def test_threshold_monitor_ignores_wobbles_of_a_weak_model():
    m = ThresholdMonitor()
    for acc in (0.155, 0.245, 0.115, 0.2):  # seen in the eps=0.3, alpha=2 eps Fast-AT probe
        m.update(acc)
        assert not m.drift_detected
    m.update(0.02)  # a crash: 22.5 points and below half of the best
    assert m.drift_detected


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.floats(0, 1), st.floats(0, 1))
def test_threshold_monitor_matches_its_rule(values, drop, ratio):
    m = ThresholdMonitor(drop=drop, ratio=ratio)
    best = None
    for v in values:
        m.update(v)
        expected = best is not None and (v < best - drop and v < ratio * best)
        assert m.drift_detected == expected
        if not expected:
            best = v if best is None else max(best, v)
