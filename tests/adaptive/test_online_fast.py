"""The fast path of OnlineLearner (explicit MLP forward/backward on a flat buffer, the
single-sample lane) against the generic path: identical numbers, and the same behaviour when
policies, checkpoints or a user touch the model or the optimizer in between."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive import OnlineLearner
from adaptive.online.fast_mlp import FastMLP, mlp_layers
from adaptive.online.policies import ResetMoments, WindowRetrain

torch.set_num_threads(1)


def mlp(d=4, c=3, act=torch.nn.ReLU, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), act(), torch.nn.Linear(16, 16), act(),
                               torch.nn.Linear(16, c))


def optimizer(kind, params):
    if kind == "sgd":
        return torch.optim.SGD(params, lr=0.002)
    return torch.optim.Adam(params, lr=0.01, fused=kind == "adam_fused")


def pair(task="classification", opt="adam", act=torch.nn.ReLU, d=4, **kw):
    """Two learners that differ only in fast=None (fast path) vs fast=False (generic)."""
    c = 3 if task == "classification" else 1
    out = []
    for fast in (None, False):
        model = mlp(d, c, act)
        kw2 = {"detector": None, "policies": (), **kw}
        if "policies" in kw:
            kw2["policies"] = copy.deepcopy(kw["policies"])
        out.append(OnlineLearner(model, optimizer(opt, model.parameters()), task=task,
                                 fast=fast, **kw2))
    assert out[0]._stepper.fast is not None and out[1]._stepper.fast is None
    return out


def stream(n, d=4, task="classification", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * [1.0, 100.0, 0.01, 5.0][:d] + [0.0, 50.0, 0.0, -3.0][:d]
    y = (X[:, 0] + X[:, 1] / 100 > 0.5).astype(int) + (X[:, 3] > -3)
    if task == "regression":
        y = X[:, 0] * 2.0 + np.sin(X[:, 3])
    return [({f"f{j}": float(v) for j, v in enumerate(row)}, (int(t) if task ==
             "classification" else float(t))) for row, t in zip(X, y)]


def same(a: OnlineLearner, b: OnlineLearner) -> None:
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        for key in sa[k]:
            assert torch.equal(torch.as_tensor(sa[k][key]), torch.as_tensor(sb[k][key])), key
    assert a.updater.step_count == b.updater.step_count


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("opt", ["adam", "adam_fused", "sgd"])
@pytest.mark.parametrize("standardize", [True, False])
def test_predict_learn_one_identical_to_generic_path(task, opt, standardize):
    fast, ref = pair(task, opt, standardize=standardize)
    for x, y in stream(300, task=task):
        np.testing.assert_array_equal(fast.predict_one(x), ref.predict_one(x))
        fast.learn_one(x, y)
        ref.learn_one(x, y)
    same(fast, ref)


@pytest.mark.parametrize("act", [torch.nn.ReLU, torch.nn.Tanh])
def test_learn_many_identical_to_generic_path(act):
    fast, ref = pair(act=act)
    items = stream(256)
    X = np.array([[v for v in x.values()] for x, _ in items], dtype=np.float32)
    y = np.array([t for _, t in items])
    for s in range(0, 256, 32):
        np.testing.assert_array_equal(fast.predict_proba_many(X[s:s + 32]),
                                      ref.predict_proba_many(X[s:s + 32]))
        fast.learn_many(X[s:s + 32], y[s:s + 32])
        ref.learn_many(X[s:s + 32], y[s:s + 32])
    same(fast, ref)


def test_policies_and_a_users_own_steps_see_the_same_weights_and_moments():
    """WindowRetrain steps through torch's Adam, ResetMoments clears its state, a user edits a
    weight between predict_one and learn_one: the fast learner follows the generic one."""
    pols = [ResetMoments(on="drift"), WindowRetrain(window=32, epochs=2, batch_size=8)]
    fast, ref = pair(policies=pols, memory=64)
    for i, (x, y) in enumerate(stream(200)):
        for ln in (fast, ref):
            ln.predict_one(x)
            if i == 120:
                with torch.no_grad():
                    ln.model[0].weight[0, 0] += 0.5  # the cached forward is now stale
            ln.learn_one(x, y)
            if i in (60, 150):
                for p in ln.policies:
                    p.fire(ln, "drift")
    same(fast, ref)


def test_checkpoint_resume_on_the_fast_path_equals_straight_run():
    items = stream(300)
    straight, _ = pair(standardize=True)
    half, _ = pair(standardize=True)
    for x, y in items[:150]:
        straight.learn_one(x, y)
        half.learn_one(x, y)
    state = copy.deepcopy(half.state_dict())
    resumed, _ = pair(standardize=True)
    resumed.load_state_dict(state)
    for x, y in items[150:]:
        straight.predict_one(x)
        resumed.predict_one(x)
        straight.learn_one(x, y)
        resumed.learn_one(x, y)
    same(straight, resumed)


def test_fast_true_says_why_it_cannot_serve():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="Sequential of Linear"):
        OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.1), fast=True)
    model = mlp()
    with pytest.raises(ValueError, match="Adam options"):
        OnlineLearner(model, torch.optim.Adam(model.parameters(), weight_decay=0.1), fast=True)
    with pytest.raises(ValueError, match="fast"):
        OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.1), fast="yes")
    assert mlp_layers(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())) is None


@settings(max_examples=20, deadline=None)
@given(ops=st.lists(st.sampled_from(["predict", "learn", "learn_many", "both"]), min_size=1,
                    max_size=25), seed=st.integers(0, 1000), opt=st.sampled_from(["adam", "sgd"]))
def test_any_sequence_of_calls_gives_identical_weights(ops, seed, opt):
    fast, ref = pair(opt=opt)
    items = stream(len(ops) * 4, seed=seed)
    for i, op in enumerate(ops):
        chunk = items[4 * i:4 * i + 4]
        for ln in (fast, ref):
            if op in ("predict", "both"):
                ln.predict_one(chunk[0][0])
            if op in ("learn", "both"):
                ln.learn_one(chunk[0][0], chunk[0][1])
            if op == "learn_many":
                ln.learn_many([x for x, _ in chunk], [y for _, y in chunk])
    same(fast, ref)


def test_flat_buffer_keeps_the_models_own_parameters():
    model = mlp()
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=0.01)
    fast = FastMLP(model, opt, "ce")
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    fast.learn(torch.randn(1, 4), torch.tensor([1]))
    sd = opt.state_dict()
    assert all(float(s["step"]) == 1 for s in sd["state"].values())
    assert torch.equal(torch.cat([p.detach().reshape(-1) for p in params]), fast.buf.flat)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_pickled_or_copied_fast_learner_continues_exactly(how):
    """Tensor views (the flat buffers) do not survive a pickle: the fast path is rebuilt from
    the model and the optimizer, whose state holds everything (Adam's step count included)."""
    import pickle

    items = stream(120)
    ln, _ = pair(standardize=True)
    for x, y in items[:60]:
        ln.predict_one(x)
        ln.learn_one(x, y)
    twin = pickle.loads(pickle.dumps(ln)) if how == "pickle" else copy.deepcopy(ln)
    for x, y in items[60:]:
        for learner in (ln, twin):
            learner.predict_one(x)
            learner.learn_one(x, y)
    same(ln, twin)
    assert float(twin.optimizer.state_dict()["state"][0]["step"]) == 120
