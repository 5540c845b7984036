"""Adaptation policies: each fires on a small stream and changes what it should; with no alarm
they leave the model exactly as a learner without policies would."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive import Fleet, OnlineLearner, PageHinkley, Policy
from adaptive.online.policies import (
    EWC,
    TENT,
    BackgroundModel,
    BNRefresh,
    LRBoost,
    ReinitOutput,
    ResetMoments,
    WindowRetrain,
)
from adaptive.online.policies.tent import entropy

torch.set_num_threads(1)  # tiny models; the suite shares 2 cores


class Scripted:
    """A River-interface detector that signals at given update indices (0-based)."""

    def __init__(self, warn=(), drift=()):
        self.warn, self.drift, self.t = set(warn), set(drift), -1
        self.drift_detected = self.warning_detected = False

    def update(self, x):
        self.t += 1
        self.drift_detected = self.t in self.drift
        self.warning_detected = self.t in self.warn


class Probe(Policy):
    """Records ``fn(learner)`` each time it fires."""

    def __init__(self, fn, on="drift", sources=None):
        super().__init__(on=on, sources=sources)
        self.fn, self.seen = fn, []

    def fire(self, learner, kind):
        self.seen.append(self.fn(learner))


def net(seed=0, d=3, c=2, bn=False):
    torch.manual_seed(seed)
    layers = [torch.nn.BatchNorm1d(d)] if bn else []  # input normalisation, as sensors need
    layers += [torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, c)]
    return torch.nn.Sequential(*layers)


def stream(n=400, change=200, seed=0, d=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    y[change:] = (X[change:, 1] > 0).astype(np.int64)  # a real concept change
    return X, y


def run(learner, X, y, bs=10):
    for s in range(0, len(X), bs):
        learner.learn_many(X[s:s + bs], y[s:s + bs])


def learner(policies, detector=None, opt="adam", lr=0.01, seed=0, **kw):
    model = kw.pop("model", None) or net(seed)
    o = (torch.optim.Adam(model.parameters(), lr=lr) if opt == "adam"
         else torch.optim.SGD(model.parameters(), lr=lr))
    return OnlineLearner(model, o, detector=detector, policies=policies, **kw)


def test_policy_validation():
    with pytest.raises(ValueError, match="on="):
        ResetMoments(on="sometimes")
    with pytest.raises(ValueError, match="sources"):
        ResetMoments(sources=("labels",))
    with pytest.raises(ValueError, match="factor"):
        LRBoost(factor=0.5)
    with pytest.raises(ValueError, match="window"):
        WindowRetrain(window=0)
    with pytest.raises(ValueError, match="memory"):
        learner([WindowRetrain(window=500)], memory=100)
    with pytest.raises(ValueError, match="BatchNorm"):
        learner([BNRefresh()])
    with pytest.raises(ValueError, match="BatchNorm"):
        learner([TENT()])
    with pytest.raises(ValueError, match="init"):
        BackgroundModel(init="zeros")
    with pytest.raises(ValueError, match="lam"):
        EWC(lam=-1)


def test_real_detector_triggers_policies_after_the_change():
    X, y = stream(600, 300)
    probe = Probe(lambda ln: ln.n_learned)
    # the loss falls while the model learns: watch increases only (mode="up")
    ln = learner([ResetMoments(), probe], detector=PageHinkley(threshold=10.0, mode="up"),
                 lr=0.02)
    run(ln, X, y)
    assert probe.seen and all(t >= 300 for t in probe.seen)


def test_reset_moments_clears_adam_state():
    X, y = stream()
    probe = Probe(lambda ln: len(ln.optimizer.state))
    ln = learner([ResetMoments(), probe], detector=Scripted(drift=[250]))
    run(ln, X, y)
    assert probe.seen == [0] and len(ln.optimizer.state) > 0  # cleared, then rebuilt


def test_lr_boost_raises_then_decays_back():
    X, y = stream(1200)
    boost = LRBoost(factor=5.0, half_life=50)
    probe = Probe(lambda ln: ln.optimizer.param_groups[0]["lr"])
    ln = learner([boost, probe], detector=Scripted(drift=[205]), lr=0.01)
    run(ln, X, y)
    assert probe.seen == [pytest.approx(0.05)]
    assert ln.optimizer.param_groups[0]["lr"] == 0.01 and not boost.boosting


def test_window_retrain_replays_the_window():
    X, y = stream()
    steps = Probe(lambda ln: ln.updater.step_count)
    after = Probe(lambda ln: ln.updater.step_count)
    ln = learner([steps, WindowRetrain(window=64, epochs=3, batch_size=16), after],
                 detector=Scripted(drift=[255]))
    run(ln, X, y)
    assert after.seen[0] - steps.seen[0] == 3 * 4


def test_window_retrain_speeds_up_recovery():
    X, y = stream(700, 300)
    acc = {}
    for name, pol in (("none", []), ("retrain", [WindowRetrain(window=100, epochs=5)])):
        ln = learner(pol, detector=Scripted(drift=[349]), lr=0.01)
        run(ln, X[:360], y[:360])
        acc[name] = (ln.predict_many(X[400:]) == y[400:]).mean()
    assert acc["retrain"] > acc["none"] + 0.05


def test_reinit_output_resets_only_the_last_layer():
    X, y = stream()
    snap = lambda ln: [p.detach().clone() for p in ln.model.parameters()]  # noqa: E731
    before, after = Probe(snap), Probe(snap)
    ln = learner([before, ReinitOutput(seed=3), after], detector=Scripted(drift=[222]))
    run(ln, X, y)
    (b,), (a,) = before.seen, after.seen
    assert torch.equal(b[0], a[0]) and torch.equal(b[1], a[1])  # first layer kept
    assert not torch.equal(b[2], a[2]) and not torch.equal(b[3], a[3])  # output layer new


def _shifted(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(1200, 3)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)
    gain = np.array([2.0, 0.5, 1.0], np.float32)
    offset = np.array([1.5, -1.0, 0.5], np.float32)
    Xs = X * gain + offset  # sensor gain and offset drift, one per sensor
    return X, y, Xs


def _trained_bn(seed=0, policies_fn=None, **kw):
    X, y, Xs = _shifted(seed)
    model = net(seed, bn=True)
    pol = policies_fn() if policies_fn else []
    ln = learner(pol, model=model, lr=0.01, memory=512,
                 feature_monitor=Fleet(PageHinkley(threshold=20.0), 3), **kw)
    for _ in range(3):
        run(ln, X[:800], y[:800], bs=32)
    ln.feature_monitor.reset()
    return ln, X, y, Xs


def test_bn_refresh_recovers_from_covariate_shift_label_free():
    ln, X, y, Xs = _trained_bn(policies_fn=lambda: [BNRefresh(n_inputs=256)])
    acc_clean = (ln.predict_many(X[800:]) == y[800:]).mean()
    acc_shift = (ln.predict_many(Xs[800:]) == y[800:]).mean()
    ln.observe_many(X[:200])
    ln.observe_many(Xs[:600])  # the feature monitor fires, then 256 inputs are collected
    (policy,) = ln.policies
    assert policy.n_fired >= 1 and policy.n_refreshed >= 1
    # oracle: the running statistics are those of the newest inputs
    (recent,) = ln.recent_inputs.get(256)
    torch.testing.assert_close(ln.model[0].running_mean, recent.mean(0), rtol=1e-4, atol=1e-4)
    # momentum=None averages the per-batch (64) unbiased variances
    want_var = recent.reshape(4, 64, 3).var(1).mean(0)
    torch.testing.assert_close(ln.model[0].running_var, want_var, rtol=1e-4, atol=1e-4)
    acc_fixed = (ln.predict_many(Xs[800:]) == y[800:]).mean()
    assert acc_shift < acc_clean - 0.1
    assert acc_fixed - acc_shift >= 0.5 * (acc_clean - acc_shift)


def test_tent_updates_only_batchnorm_affine_and_lowers_entropy():
    ln, X, y, Xs = _trained_bn(policies_fn=lambda: [TENT(n_inputs=256, steps=3)])
    named = {n: p.detach().clone() for n, p in ln.model.named_parameters()}
    frozen = {n: p for n, p in named.items() if not n.startswith("0.")}  # 0 is the BatchNorm
    bn = {n: p for n, p in named.items() if n.startswith("0.")}
    xs = torch.as_tensor(Xs[:256])
    (policy,) = ln.policies
    model = ln.model.train()
    with torch.no_grad():
        h0 = entropy(model(xs)).mean()
    policy.adapt(ln, xs)
    with torch.no_grad():
        h1 = entropy(model(xs)).mean()
    assert h1 < h0
    for n, p in ln.model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
        else:
            assert not torch.equal(p, bn[n]), n
    # and the triggered path: feature drift -> wait for 256 inputs -> adapt
    ln.observe_many(Xs[:600])
    assert policy.n_fired >= 1 and policy.n_adapted >= 2


def test_ewc_anchors_to_the_weights_before_the_drift():
    X, y = stream(600, 300)
    dist = {}
    for lam in (0.0, 1e4):
        ewc = EWC(lam=lam, fisher_samples=50)
        ln = learner([ewc], detector=Scripted(drift=[299]), lr=0.01)
        run(ln, X, y)
        assert type(ln.objective).__name__ == "EWCObjective"
        anchor = torch.cat([a.flatten() for a in ewc.anchor])
        now = torch.cat([p.detach().flatten() for p in ln.model.parameters()])
        dist[lam] = float(((now - anchor) ** 2).sum())
        assert all((f >= 0).all() for f in ewc.fisher) and any(f.sum() > 0 for f in ewc.fisher)
    assert dist[1e4] < 0.5 * dist[0.0]


def test_background_model_starts_at_warning_and_swaps_when_better():
    X, y = stream(800, 300)
    bg = BackgroundModel(min_samples=50, seed=0)
    snap = Probe(lambda ln: [p.detach().clone() for p in ln.model.parameters()])
    ln = learner([bg, snap], detector=Scripted(warn=[309], drift=[599]), lr=0.01)
    run(ln, X[:600], y[:600])
    assert bg.n_swaps == 1 and not bg.training
    assert bg.loss_bg < bg.loss_fg  # it was better over the samples since the warning


def test_background_model_is_dropped_when_worse():
    X, y = stream(800, 800)  # no change: the trained model stays better than a fresh one
    bg = BackgroundModel(min_samples=50, seed=0)
    ln = learner([bg], detector=Scripted(warn=[400], drift=[599]), lr=0.01)
    run(ln, X[:600], y[:600])
    assert bg.n_swaps == 0 and not bg.training and bg.loss_bg > bg.loss_fg


ALL = (ResetMoments, LRBoost, WindowRetrain, ReinitOutput, EWC, BackgroundModel)


@settings(max_examples=8)
@given(seed=st.integers(0, 1000), n=st.integers(20, 120))
def test_policies_leave_model_unchanged_without_alarms(seed, n):
    X, y = stream(n, n // 2, seed=seed)
    plain = learner([], detector=PageHinkley(threshold=1e9), seed=seed)
    with_all = learner([cls() for cls in ALL], detector=PageHinkley(threshold=1e9), seed=seed)
    run(plain, X, y)
    run(with_all, X, y)
    assert with_all.events == []
    for a, b in zip(plain.model.parameters(), with_all.model.parameters()):
        assert torch.equal(a, b)
    assert type(with_all.objective).__name__ == "Supervised"
