"""Throughput of OnlineLearner against River's ARF and HAT (pytest-benchmark, make bench).

One workload: a SEA stream with an abrupt drift (River's generator, seeded), predicted then
learned. Ours with its defaults (standardisation, one-sided detector, race) and the MLP 64-64 of
``online_vs_river.py`` under fused Adam, one sample at a time (``predict_one`` + ``learn_one``
on River dicts, the single-sample lane) and in mini-batches of 32 (``predict_many`` +
``learn_many``); River's models one sample at a time. ``items`` = samples per timed call; the
prequential accuracy of the timed call is in ``extra_info`` (not asserted). deep-river cannot
be imported here (it pins river<0.26): ``online_vs_river.py`` compares against it.
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
    items = [(x, int(y)) for x, y in stream.take(N)]
    X = np.array([[x[k] for k in sorted(x)] for x, _ in items], dtype=np.float32)
    y = np.array([v for _, v in items], dtype=np.int64)
    return items, X, y


def _learner():
    from adaptive import OnlineLearner

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 2))
    return OnlineLearner(model, torch.optim.Adam(model.parameters(), lr=1e-3, fused=True))


def _run_many(learner, X, y):
    hits = 0
    for s in range(0, len(X), BATCH):
        hits += int((learner.predict_many(X[s:s + BATCH]) == y[s:s + BATCH]).sum())
        learner.learn_many(X[s:s + BATCH], y[s:s + BATCH])
    return hits / len(X)


def _run_one(model, items):
    hits = 0
    for x, y in items:
        hits += model.predict_one(x) == y
        model.learn_one(x, y)
    return hits / len(items)


@pytest.mark.parametrize("peer", ["ARF", "HAT"])
@pytest.mark.parametrize("mode", ["one", "many32"])
def test_ours(benchmark, sea, peer, mode):
    items, X, y = sea
    torch.set_num_threads(1)
    benchmark.group = f"online-sea-{N}-test-then-train-vs-{peer}"
    benchmark.extra_info.update(impl="ours", mode=mode, items=N)
    if mode == "one":
        acc = benchmark.pedantic(_run_one, setup=lambda: ((_learner(), items), {}), rounds=3,
                                 warmup_rounds=1)
    else:
        acc = benchmark.pedantic(_run_many, setup=lambda: ((_learner(), X, y), {}), rounds=3,
                                 warmup_rounds=1)
    benchmark.extra_info["accuracy"] = acc


@pytest.mark.parametrize("peer", ["ARF", "HAT"])
def test_river(benchmark, sea, peer):
    from river import forest, tree

    items, _, _ = sea
    benchmark.group = f"online-sea-{N}-test-then-train-vs-{peer}"
    benchmark.extra_info.update(impl="river", model=peer, items=N)
    make = (lambda: forest.ARFClassifier(n_models=10, seed=0)) if peer == "ARF" else (
        lambda: tree.HoeffdingAdaptiveTreeClassifier(seed=0))
    acc = benchmark.pedantic(_run_one, setup=lambda: ((make(), items), {}), rounds=3,
                             warmup_rounds=1)
    benchmark.extra_info["accuracy"] = acc
