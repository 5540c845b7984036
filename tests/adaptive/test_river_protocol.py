"""River's object protocol, tried as a River user would: our detectors inside River's own
wrappers and ensembles (same predictions as with River's detectors), the learner inside River's
pipelines and meta-models (clone gives a fresh, unfitted learner), and River's own checks."""

from __future__ import annotations

import copy
import itertools
import pickle

import numpy as np
import pytest
import torch
from river import checks as river_checks
from river import compose, datasets, ensemble, evaluate, forest, metrics, preprocessing, tree
from river import drift as river_drift
from river.datasets import synth

import adaptive
from adaptive import OnlineLearner

PHISHING = ["empty_server_form_handler", "popup_window", "https", "request_from_other_domain",
            "anchor_from_other_domain", "is_popular", "long_url", "age_of_domain", "ip_in_url"]
TRUMP = ["ordinal_date", "gallup", "ipsos", "morning_consult", "rasmussen", "you_gov"]


def _stream(n: int, seed: int = 3):
    """A River stream with a concept change (Agrawal function 0 -> 4) around n // 2."""
    return itertools.islice(synth.ConceptDriftStream(
        synth.Agrawal(classification_function=0, seed=seed),
        synth.Agrawal(classification_function=4, seed=seed + 1),
        position=n // 2, width=50, seed=seed), n)


def _predictions(model, n: int = 3000) -> list:
    out = []
    for x, y in _stream(n):
        out.append(model.predict_one(x))
        model.learn_one(x, y)
    return out


def _learner(n_in: int, n_out: int = 2, **kw) -> OnlineLearner:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(n_in, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, n_out))
    return OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.05), **kw)


# ---- our detectors inside River's models ---------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda det: forest.ARFClassifier(n_models=3, seed=1, drift_detector=det(delta=0.001),
                                     warning_detector=det(delta=0.01)),
    lambda det: tree.HoeffdingAdaptiveTreeClassifier(drift_detector=det(), seed=1),
], ids=["ARFClassifier", "HoeffdingAdaptiveTreeClassifier"])
def test_adwin_in_river_ensembles_predicts_like_rivers(make):
    ours = _predictions(make(adaptive.ADWIN))
    theirs = _predictions(make(river_drift.ADWIN))
    assert ours == theirs


@pytest.mark.parametrize("name", ["DDM", "EDDM", "HDDM_A", "HDDM_W"])
def test_warning_detectors_in_drift_retraining_predict_like_rivers(name):
    river_cls = getattr(river_drift.binary, name.replace("_", ""), None) or getattr(
        river_drift.binary, name)

    def make(det):
        return river_drift.DriftRetrainingClassifier(
            model=tree.HoeffdingTreeClassifier(grace_period=50), drift_detector=det)

    wrapped = make(getattr(adaptive, name)())
    assert _predictions(wrapped) == _predictions(make(river_cls()))
    # River's clone of the wrapper gives a fresh detector, not a deep copy of its state
    fresh = wrapped.clone()
    assert fresh.drift_detector is not wrapped.drift_detector
    np.testing.assert_array_equal(fresh.drift_detector.state_dict()["state"],
                                  getattr(adaptive, name)().state_dict()["state"])


def test_clone_of_a_used_detector_is_fresh_and_takes_new_params():
    det = adaptive.PageHinkley(threshold=20.0)
    det.update_many(np.r_[np.zeros(500), np.ones(500) * 5])
    fresh = det.clone()
    assert fresh.n == 0 and fresh.threshold == 20.0
    assert det.clone({"threshold": 5.0}).threshold == 5.0
    same = det.clone(include_attributes=True)
    np.testing.assert_array_equal(same._row, det._row)
    det.mutate({})  # River's mutate: no mutable attributes, so only the empty change
    with pytest.raises(ValueError, match="threshold"):
        det.mutate({"threshold": 3.0})


def test_kswin_window_is_the_live_window():
    det = adaptive.KSWIN(seed=1, window=[1.0, 2.0])
    det.update(3.0)
    assert list(det.window) == [1.0, 2.0, 3.0]
    ref = river_drift.KSWIN(seed=1, window=[1.0, 2.0])
    ref.update(3.0)
    assert list(det.window) == list(ref.window)


# ---- the learner inside River's pipelines and meta-models ----------------------------------------
def test_pipeline_with_the_learner_clones_fresh_and_scores():
    pipe = preprocessing.StandardScaler() | _learner(9, classes=[0, 1])
    assert isinstance(pipe, compose.Pipeline)
    metric = evaluate.progressive_val_score(_stream(1500), pipe, metrics.Accuracy())
    assert metric.get() > 0.6
    fresh = pipe.clone()
    learner, used = fresh.steps["OnlineLearner"], pipe.steps["OnlineLearner"]
    assert learner is not used and learner.n_learned == 0 and used.n_learned == 1500
    for p, q in zip(learner.model.parameters(), used.model.parameters()):
        assert p is not q
    # the clone starts from the weights the learner was built with
    start = _learner(9, classes=[0, 1]).model.state_dict()
    for k, v in learner.model.state_dict().items():
        torch.testing.assert_close(v, start[k])
    # and its optimizer trains the clone's own parameters
    assert {id(p) for g in learner.optimizer.param_groups for p in g["params"]} == {
        id(p) for p in learner.model.parameters()}
    again = evaluate.progressive_val_score(_stream(1500), fresh, metrics.Accuracy())
    assert again.get() == metric.get()  # fresh and deterministic: the same run


def test_clone_with_attributes_and_new_params():
    learner = _learner(9, classes=[0, 1], detector=adaptive.ADWIN())
    for x, y in _stream(300):
        learner.learn_one(x, y)
    same = learner.clone(include_attributes=True)
    assert same.n_learned == 300
    for p, q in zip(same.model.parameters(), learner.model.parameters()):
        torch.testing.assert_close(p, q)
        assert p is not q
    other = learner.clone({"delay": 5})
    assert other.delay == 5 and other.n_learned == 0
    assert other.detector is not learner.detector and other.detector.width == 0


def test_learner_in_river_meta_models():
    bag = ensemble.BaggingClassifier(model=_learner(9, classes=[0, 1]), n_models=3, seed=1)
    retrain = river_drift.DriftRetrainingClassifier(model=_learner(9, classes=[0, 1]),
                                                    drift_detector=adaptive.DDM())
    for model in (bag, retrain):
        metric = evaluate.progressive_val_score(_stream(1200), model, metrics.Accuracy())
        assert metric.get() > 0.55
    assert len({id(m.model) for m in bag.models}) == 3


def test_river_checks_pass_on_the_learner():
    classifier = _learner(len(PHISHING), classes=[False, True], features=PHISHING,
                          detector=adaptive.ADWIN())
    regressor = _learner(len(TRUMP), n_out=1, task="regression", features=TRUMP)
    for model in (classifier, regressor):
        n = 0
        for check in river_checks.yield_checks(model):
            check(copy.deepcopy(model))
            n += 1
        assert n > 20


def test_declared_features_impute_missing_and_ignore_unknown():
    learner = _learner(2, classes=[0, 1], features=["a", "b"])
    learner.learn_one({"a": 1.0, "b": 4.0}, 1)
    learner.learn_one({"a": 3.0, "zzz": 9.0}, 0)  # b imputed with its mean (4), zzz ignored
    x, _ = learner.recent_labelled() or (None, None)
    assert learner._inputs.n_imputed == 1
    state = pickle.loads(pickle.dumps(learner.state_dict()))
    again = _learner(2, classes=[0, 1], features=["a", "b"])
    again.load_state_dict(state)
    assert again._inputs.n_imputed == 1
    with pytest.raises(ValueError, match="features"):
        _learner(2, features=["a", "a"])


def test_river_datasets_run_through_progressive_val_score():
    model = preprocessing.StandardScaler() | _learner(len(PHISHING), classes=[False, True])
    metric = evaluate.progressive_val_score(datasets.Phishing(), model, metrics.Accuracy())
    assert metric.get() > 0.7
