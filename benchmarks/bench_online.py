"""Throughput of OnlineLearner (test-then-train in mini-batches) against River's ARF and HAT.

One workload per peer: the same SEA stream with an abrupt drift (River's generator, seeded),
predicted then learned; ours in mini-batches of 32 with ADWIN and the adaptation policies of
``online_vs_river.py``, River's models one sample at a time. ``items`` = samples per timed call;
the prequential accuracy of the timed call is reported in ``extra_info`` (not asserted).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

N = 2000  # samples per timed call
BATCH = 32


@pytest.fixture(scope="module")
def sea():
    pytest.importorskip("river")
    from river.datasets import synth

    stream = synth.ConceptDriftStream(synth.SEA(variant=3, seed=0), synth.SEA(variant=2, seed=1),
                                      position=N // 2, width=100, seed=2)
    items = list(stream.take(N))
    X = np.array([[x[k] for k in sorted(x)] for x, _ in items], dtype=np.float32)
    y = np.array([int(v) for _, v in items], dtype=np.int64)
    return items, X, y


def _learner():
    from adaptive import ADWIN, OnlineLearner
    from adaptive.online.policies import LRBoost, ResetMoments, WindowRetrain

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
    return OnlineLearner(model, torch.optim.Adam(model.parameters(), lr=2e-3), detector=ADWIN(),
                         signal="error", memory=512,
                         policies=[ResetMoments(), LRBoost(factor=10.0, half_life=1000),
                                   WindowRetrain(window=128, epochs=5, batch_size=BATCH)])


def _run_ours(learner, X, y):
    hits = 0
    for s in range(0, len(X), BATCH):
        hits += int((learner.predict_many(X[s:s + BATCH]) == y[s:s + BATCH]).sum())
        learner.learn_many(X[s:s + BATCH], y[s:s + BATCH])
    return hits / len(X)


def _run_river(model, items):
    hits = 0
    for x, y in items:
        hits += model.predict_one(x) == y
        model.learn_one(x, y)
    return hits / len(items)


@pytest.mark.parametrize("peer", ["ARF", "HAT"])
def test_ours(benchmark, sea, peer):
    _, X, y = sea
    torch.set_num_threads(1)
    benchmark.group = f"online-sea-{N}-test-then-train-vs-{peer}"
    benchmark.extra_info.update(impl="ours", items=N)
    acc = benchmark.pedantic(_run_ours, setup=lambda: ((_learner(), X, y), {}), rounds=3,
                             warmup_rounds=1)
    benchmark.extra_info["accuracy"] = acc


@pytest.mark.parametrize("peer", ["ARF", "HAT"])
def test_river(benchmark, sea, peer):
    from river import forest, tree

    items, _, _ = sea
    benchmark.group = f"online-sea-{N}-test-then-train-vs-{peer}"
    benchmark.extra_info.update(impl="river", model=peer, items=N)
    make = (lambda: forest.ARFClassifier(seed=0)) if peer == "ARF" else (
        lambda: tree.HoeffdingAdaptiveTreeClassifier(seed=0))
    acc = benchmark.pedantic(_run_river, setup=lambda: ((make(), items), {}), rounds=3,
                             warmup_rounds=1)
    benchmark.extra_info["accuracy"] = acc
