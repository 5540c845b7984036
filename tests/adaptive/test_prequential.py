"""prequential(): scores against a hand-written test-then-train loop, curves, files, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive import OnlineLearner, PageHinkley, prequential
from adaptive.online.prequential_eval import PrequentialResult

torch.set_num_threads(1)


def make(seed=0, task="classification"):
    torch.manual_seed(seed)
    model = torch.nn.Linear(2, 2 if task == "classification" else 1)
    return OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.2), task=task,
                         detector=PageHinkley(threshold=5.0, mode="up"), signal="error")


def stream(n=300, change=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    y[change:] = 1 - y[change:]
    return X, y


@pytest.mark.parametrize("batch_size", [1, 7])
def test_matches_hand_written_loop(batch_size):
    X, y = stream()
    res = prequential(make(), (X, y), window=50, changes=[150], post_drift_window=60,
                      batch_size=batch_size)
    ref = make()
    hits = []
    for s in range(0, len(X), batch_size):
        pred = ref.predict_many(X[s:s + batch_size])
        hits.extend(pred == y[s:s + batch_size])
        ref.learn_many(X[s:s + batch_size], y[s:s + batch_size])
    hits = np.array(hits, dtype=float)
    np.testing.assert_array_equal(res.scores, hits)
    assert res.score == pytest.approx(hits.mean())
    assert res.post_drift == [pytest.approx(hits[150:210].mean())]
    assert res.drifts == ref.drifts() and res.throughput > 0


def test_iterable_of_dicts_and_mae():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 2))
    items = [({"a": a, "b": b}, 2 * a - b) for a, b in X]
    res = prequential(make(task="regression"), items, metric="mae", window=20, batch_size=8)
    assert res.n == 120 and np.all(res.scores >= 0)
    assert res.rolling[-20:].mean() < res.rolling[:20].mean()  # it learns


@settings(max_examples=20)
@given(scores=st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=60),
       window=st.integers(1, 20))
def test_rolling_and_cumulative_are_the_naive_means(scores, window):
    r = PrequentialResult("accuracy", np.array(scores), window, [], 10, 1.0, [], [], [])
    naive_roll = [np.mean(scores[max(0, i + 1 - window):i + 1]) for i in range(len(scores))]
    naive_cum = [np.mean(scores[:i + 1]) for i in range(len(scores))]
    np.testing.assert_allclose(r.rolling, naive_roll)
    np.testing.assert_allclose(r.cumulative, naive_cum)


def test_writes_json_and_png(tmp_path):
    X, y = stream()
    res = prequential(make(), (X, y), changes=[150], post_drift_window=100, batch_size=10,
                      out_dir=tmp_path, name="run")
    doc = json.loads((tmp_path / "run.json").read_text())
    assert doc["score"] == pytest.approx(res.score) and doc["changes"] == [150]
    assert len(doc["curve"]["t"]) == len(doc["curve"]["rolling"]) > 10
    assert (tmp_path / "run.png").stat().st_size > 1000


@pytest.mark.parametrize("kw, word", [
    ({"metric": "f1"}, "metric"), ({"window": 0}, "window"), ({"batch_size": 0}, "batch_size"),
    ({"changes": [-5]}, "changes"), ({"post_drift_window": 0}, "post_drift_window"),
])
def test_bad_arguments(kw, word):
    X, y = stream(20)
    with pytest.raises(ValueError, match=word):
        prequential(make(), (X, y), **kw)
    with pytest.raises(ValueError, match="rows"):
        prequential(make(), (X, y[:-1]))
