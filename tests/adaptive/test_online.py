"""OnlineLearner: contract, learn_many vs learn_one, delayed labels, River oracle, resume, bad
input, and the combination with a robust training objective."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive import Fleet, OnlineLearner, PageHinkley
from adaptive.online.policies import EWC, BackgroundModel, LRBoost, ResetMoments

# Tiny models: one intra-op thread is faster, and the suite shares 2 cores between workers.
torch.set_num_threads(1)


def mlp(seed: int = 0, d: int = 3, c: int = 2) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.Tanh(), torch.nn.Linear(8, c))


def make(model=None, lr=0.1, opt="sgd", **kw) -> OnlineLearner:
    model = model if model is not None else mlp()
    o = (torch.optim.SGD(model.parameters(), lr=lr) if opt == "sgd"
         else torch.optim.Adam(model.parameters(), lr=lr))
    # the semantics under test are the plain learner's: no scaler, no default adaptation
    kw = {"standardize": False, "detector": None, "policies": (), **kw}
    return OnlineLearner(model, o, **kw)


def params(learner) -> list[torch.Tensor]:
    return [p.detach().clone() for p in learner.model.parameters()]


def data(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return X, y


# -- contract ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, word", [
    ({"task": "ranking"}, "task"), ({"loss": "hinge"}, "loss"), ({"signal": "p"}, "signal"),
    ({"delay": -1}, "delay"), ({"delay": 1.5}, "delay"), ({"nan_policy": "drop"}, "nan_policy"),
    ({"memory": -3}, "memory"), ({"classes": [1, 1]}, "classes"),
    ({"delay": 20, "max_pending": 10}, "delay"),
])
def test_bad_construction_names_parameter(kw, word):
    with pytest.raises(ValueError, match=word):
        make(**kw)


def test_bad_types():
    with pytest.raises(TypeError, match="detector"):
        make(detector=object())
    with pytest.raises(TypeError, match="policies"):
        make(policies=[object()])
    with pytest.raises(TypeError, match="feature_monitor"):
        make(feature_monitor=PageHinkley())


def test_learn_one_many_predict_api_forms():
    X, y = data(32)
    ln = make(classes=["neg", "pos"])
    labels = np.array(["neg", "pos"])[y]
    ln.learn_many(X, labels)
    ln.learn_one(torch.as_tensor(X[0]), "pos")
    assert ln.n_learned == 33
    assert ln.predict_one(X[0]) in ("neg", "pos")
    p = ln.predict_proba_one(X[0])
    assert set(p) == {"neg", "pos"} and abs(sum(p.values()) - 1) < 1e-6
    assert ln.predict_proba_many(X).shape == (32, 2)
    assert set(ln.predict_many(X)) <= {"neg", "pos"}
    reg = make(model=mlp(c=1), task="regression")
    reg.learn_many(X, X[:, 0])
    assert isinstance(reg.predict_one(X[0]), float)
    with pytest.raises(TypeError, match="classification"):
        reg.predict_proba_one(X[0])


# -- learn_many vs learn_one -------------------------------------------------------------------
@settings(max_examples=15)
@given(b=st.integers(1, 6), seed=st.integers(0, 10_000), lr=st.floats(0.01, 1.0))
def test_learn_many_is_mean_of_learn_one_steps(b, seed, lr):
    """Mean reduction: one learn_many step on B rows equals the average of the B weights that
    learn_one on each row reaches from the same start (plain SGD is linear in the gradient);
    B = 1 is learn_one exactly."""
    X, y = data(b, seed=seed)
    batch = make(model=mlp(seed), lr=lr)
    batch.learn_many(X, y)
    singles = []
    for i in range(b):
        one = make(model=mlp(seed), lr=lr)
        one.learn_one(X[i], int(y[i]))
        singles.append(params(one))
    mean = [torch.stack(ps).mean(0) for ps in zip(*singles)]
    for got, want in zip(params(batch), mean):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    if b == 1:
        assert all(torch.equal(a, c) for a, c in zip(params(batch), singles[0]))


# -- delayed labels -----------------------------------------------------------------------------
@settings(max_examples=10)
@given(delay=st.integers(0, 12), n=st.integers(1, 30), bs=st.integers(1, 5))
def test_delayed_label_never_used_before_it_arrives(delay, n, bs):
    """After n arrivals with delay d, the model equals one trained without delay on exactly the
    first n - d samples (the same batches), so no label was used early."""
    X, y = data(n, seed=n)
    delayed = make(model=mlp(1), delay=delay)
    for s in range(0, n, bs):
        delayed.learn_many(X[s:s + bs], y[s:s + bs])
    ref = make(model=mlp(1))
    trained = max(n - delay, 0)
    # replay the exact batches the delayed learner trained: rows released per arrival batch
    released = 0
    for s in range(0, n, bs):
        upto = max(min(s + bs, n) - delay, 0)
        if upto > released:
            ref.learn_many(X[released:upto], y[released:upto])
            released = upto
    assert delayed.n_learned == trained == ref.n_learned
    for a, b in zip(params(delayed), params(ref)):
        torch.testing.assert_close(a, b)


def test_explicit_ids():
    X, y = data(4)
    ln = make(max_pending=2)
    before = params(ln)
    ln.predict_one(X[0], id="a")
    ln.predict_one(X[1], id="b")
    assert all(torch.equal(p, q) for p, q in zip(before, params(ln)))  # nothing learned yet
    ln.learn_one(None, int(y[1]), id="b")
    assert ln.n_learned == 1
    ln.predict_one(X[2], id="c")
    ln.predict_one(X[3], id="d")  # evicts "a": the bound holds
    assert ln.n_expired == 1
    with pytest.raises(ValueError, match="id='a'"):
        ln.learn_one(None, 0, id="a")


# -- River oracle ------------------------------------------------------------------------------
def test_river_progressive_val_score_runs_learner_unchanged():
    pytest.importorskip("river")
    from river import datasets, evaluate, metrics

    stream = list(datasets.synth.SEA(seed=1).take(400))
    ln = make(model=mlp(0, d=3), lr=0.05, opt="adam", classes=[False, True])
    got = evaluate.progressive_val_score(stream, ln, metrics.Accuracy())
    # the same test-then-train loop by hand on an identical learner gives the identical score
    twin = make(model=mlp(0, d=3), lr=0.05, opt="adam", classes=[False, True])
    hits = 0
    for x, y in stream:
        hits += twin.predict_one(x) == y
        twin.learn_one(x, y)
    assert got.get() == pytest.approx(hits / len(stream))
    assert got.get() > 0.75  # SEA is close to linearly separable

    reg = make(model=mlp(0, d=10, c=1), lr=0.01, opt="adam", task="regression")
    mae = evaluate.progressive_val_score(datasets.synth.Friedman(seed=0).take(300), reg,
                                         metrics.MAE())
    assert np.isfinite(mae.get())


def test_river_detector_by_duck_typing():
    drift = pytest.importorskip("river.drift")
    X, y = data(400, seed=3)
    y[200:] = 1 - y[200:]
    ln = make(lr=0.3, detector=drift.ADWIN(), signal="error")
    for s in range(0, 400, 10):
        ln.learn_many(X[s:s + 10], y[s:s + 10])
    assert ln.drifts() and min(ln.drifts()) >= 200


def test_feature_monitor_signals_covariate_shift():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3)).astype(np.float32)
    X[300:, 2] += 4.0
    ln = make(feature_monitor=Fleet(PageHinkley(threshold=50.0), 3))
    ln.observe_many(X)
    feats = [t for t, k, s in ln.events if s == "features" and k == "drift"]
    assert feats and 300 <= feats[0] < 360
    with pytest.raises(ValueError, match="streams"):
        make(feature_monitor=Fleet(PageHinkley(), 2)).observe_many(X)


# -- resume ------------------------------------------------------------------------------------
def _stream(n=600, seed=0):
    X, y = data(n, seed=seed)
    y[n // 2:] = 1 - y[n // 2:]
    return X, y


def _full_learner(seed=0):
    torch.manual_seed(seed)
    return make(model=mlp(seed), lr=0.05, opt="adam", detector=PageHinkley(threshold=5.0),
                policies=[ResetMoments(), LRBoost(), EWC(fisher_samples=20),
                          BackgroundModel(seed=1, min_samples=10)], delay=3, memory=100)


def test_checkpoint_resume_mid_stream_gives_identical_predictions(tmp_path):
    X, y = _stream()
    a = _full_learner()
    for s in range(0, 400, 10):
        a.learn_many(X[s:s + 10], y[s:s + 10])
    assert a.events, "the test stream must make the detector fire before the checkpoint"
    torch.save(a.state_dict(), tmp_path / "l.pt")
    b = _full_learner(seed=5)  # different initial weights, overwritten by the resume
    b.load_state_dict(torch.load(tmp_path / "l.pt", weights_only=True))
    for s in range(400, 600, 10):
        for ln in (a, b):
            ln.learn_many(X[s:s + 10], y[s:s + 10])
        np.testing.assert_array_equal(a.predict_proba_many(X[:50]), b.predict_proba_many(X[:50]))
    assert a.events == b.events and a.n_learned == b.n_learned


def test_resume_through_traincore_checkpoint(tmp_path):
    ck = pytest.importorskip("traincore.checkpoint")
    X, y = _stream()
    a = _full_learner()
    for s in range(0, 300, 10):
        a.learn_many(X[s:s + 10], y[s:s + 10])
    ck.save_checkpoint(tmp_path / "c.pt", model=a.model, optimizer=a.optimizer, updater=a.updater,
                       epoch=0, step=a.updater.step_count, history=[],
                       extra={"learner": a.state_dict()})
    b = _full_learner(seed=7)
    got = ck.load_checkpoint(tmp_path / "c.pt", model=b.model, optimizer=b.optimizer,
                             updater=b.updater)
    b.load_state_dict(got["extra"]["learner"])
    for s in range(300, 600, 10):
        a.learn_many(X[s:s + 10], y[s:s + 10])
        b.learn_many(X[s:s + 10], y[s:s + 10])
    np.testing.assert_array_equal(a.predict_many(X), b.predict_many(X))


def test_pickle_round_trip():
    X, y = data(40)
    a = make(detector=PageHinkley())
    a.learn_many(X, y)
    b = pickle.loads(pickle.dumps(a))
    assert type(b) is type(a)
    np.testing.assert_array_equal(a.predict_proba_many(X), b.predict_proba_many(X))


# -- bad input: clear errors, nothing lost -----------------------------------------------------
def _snapshot(ln):
    return params(ln), ln.n_learned, ln.n_seen, copy.deepcopy(ln.detector.state_dict())


def _same(s1, s2):
    return all(torch.equal(a, b) for a, b in zip(s1[0], s2[0])) and s1[1:] == s2[1:]


@pytest.mark.parametrize("bad, exc, word", [
    (lambda ln, X, y: ln.learn_many(X[:, :2], y), ValueError, "features"),
    (lambda ln, X, y: ln.learn_many(X.astype(np.float64), y), TypeError, "dtype"),
    (lambda ln, X, y: ln.learn_one(np.array([np.nan, 0, 0], np.float32), 1), ValueError,
     "non-finite"),
    (lambda ln, X, y: ln.learn_many(X, y + 5), ValueError, "outside the classes"),
    (lambda ln, X, y: ln.learn_many(X, y[:-1]), ValueError, "labels"),
    (lambda ln, X, y: ln.learn_many(X, y.astype(np.float32)), ValueError, "integer"),
    (lambda ln, X, y: ln.learn_one("abc", 1), TypeError, "x"),
    (lambda ln, X, y: ln.learn_one(X[0], None), ValueError, "y"),
])
def test_bad_input_raises_and_keeps_state(bad, exc, word):
    X, y = data(16)
    ln = make(detector=PageHinkley())
    ln.learn_many(X, y)
    before = _snapshot(ln)
    with pytest.raises(exc, match=word):
        bad(ln, X, y)
    assert _same(before, _snapshot(ln))


def test_dict_features_fixed_on_first_sight():
    ln = make(classes=["a", "b"])
    ln.learn_one({"u": 1.0, "v": 2.0, "w": 0.0}, "a")
    ln.learn_one({"w": 0.0, "v": 2.0, "u": 1.0}, "b")  # same keys, any order
    with pytest.raises(ValueError, match="features changed"):
        ln.learn_one({"u": 1.0, "v": 2.0}, "a")
    with pytest.raises(ValueError, match="classes"):
        ln.learn_one({"u": 1.0, "v": 2.0, "w": 0.0}, "c")
    with pytest.raises(TypeError, match="real number"):
        ln.learn_one({"u": "x", "v": 2.0, "w": 0.0}, "a")
    assert ln.n_learned == 2


def test_nan_skip_counts_and_skips():
    X, y = data(20)
    X[3, 1] = np.nan
    ln = make(nan_policy="skip")
    ln.learn_many(X, y)
    assert ln.n_skipped == 1 and ln.n_learned == 19
    pred = ln.predict_many(X)
    assert pred[3] is None and ln.n_skipped == 2
    assert ln.predict_one(X[3]) is None
    assert np.isnan(ln.predict_proba_many(X)[3]).all()


# -- robust + adaptive (in tests only: the packages do not import each other) ---------------------
def test_online_learner_with_robust_objective_adapts_robustly():
    fast_at = pytest.importorskip("robust.fast_at", reason="robust.fast_at (FastAT) not there yet")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(1200, 4)).astype(np.float32)
    y = (X[:, 0] > X[:, 1]).astype(np.int64)
    y[600:] = (X[600:, 2] > X[600:, 3]).astype(np.int64)  # the concept changes at 600
    model = mlp(0, d=4)
    objective = fast_at.FastAT(eps=0.03, generator=torch.Generator().manual_seed(0))
    ln = make(model=model, lr=0.01, opt="adam", objective=objective,
              detector=PageHinkley(threshold=10.0), policies=[ResetMoments(), LRBoost()])
    for s in range(0, 1200, 20):
        ln.learn_many(X[s:s + 20], y[s:s + 20])
    assert any(600 <= d < 800 for d in ln.drifts())  # the change is detected
    xt = torch.as_tensor(X[1000:])
    yt = torch.as_tensor(y[1000:])
    clean = (ln.predict_many(xt) == y[1000:]).mean()
    assert clean > 0.8
    pgd = pytest.importorskip("robust.pgd")
    x_adv = pgd.pgd(model.eval(), xt, yt, eps=0.03, alpha=0.01, steps=10)
    adv = (ln.predict_many(x_adv) == y[1000:]).mean()
    assert adv > 0.6  # robust to small perturbations of the new concept


def test_precision_goes_through_the_updater():
    from traincore import PrecisionNotSupportedError

    X, y = data(64)
    try:
        ln = make(precision="bf16", detector=PageHinkley(), lr=0.5)
        for s in range(0, 64, 16):
            ln.learn_many(X[s:s + 16], y[s:s + 16])
    except PrecisionNotSupportedError as err:  # pragma: no cover - depends on the CPU build
        pytest.skip(str(err))
    assert ln.updater.precision.name == "bf16" and ln.updater.step_count == 4
    assert ln.predict_proba_many(X).dtype == np.float32
    with pytest.raises(ValueError, match="precision"):
        make(precision="fp8")
