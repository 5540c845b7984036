"""Contracts of the small public pieces: objectives, History, evaluate, split_batch."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
import torch.nn.functional as F

from traincore import (
    History,
    MetricAccumulator,
    Objective,
    StepOutput,
    Supervised,
    Updater,
    evaluate,
    split_batch,
)


def test_supervised_uses_its_loss_fn_and_has_no_state():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4)
    twin = torch.nn.Linear(3, 4)
    twin.load_state_dict(model.state_dict())
    x, y = torch.randn(8, 3), torch.randint(0, 4, (8,))

    def smoothed(logits, target):
        return F.cross_entropy(logits, target, label_smoothing=0.1)

    out = Supervised(smoothed).step(model, (x, y), Updater(model, torch.optim.SGD(
        model.parameters(), lr=0.1)))
    assert isinstance(out, StepOutput) and out.loss == smoothed(twin(x), y).detach()
    assert torch.equal(out.output, twin(x).detach()) and torch.equal(out.target, y)
    objective = Supervised()
    assert objective.state_dict() == {} and objective.on_epoch_end(0, model, None) == {}
    objective.load_state_dict({})
    with pytest.raises(ValueError, match=r"Supervised has no state, got keys \['delta'\]"):
        objective.load_state_dict({"delta": 1})


def test_objective_base_requires_step():
    with pytest.raises(NotImplementedError):
        Objective().step(torch.nn.Linear(1, 1), None, None)


@pytest.mark.parametrize("batch", [torch.ones(2), (torch.ones(2),), [1, 2, 3], None])
def test_split_batch_rejects_non_pairs(batch):
    with pytest.raises(ValueError, match="batch must be a pair"):
        split_batch(batch)


def test_history_is_a_json_list():
    history = History([{"epoch": 0, "train_loss": 1.0}, {"epoch": 1}])
    assert isinstance(history, list) and history.column("train_loss") == [1.0, None]
    assert json.loads(history.to_json()) == list(history)
    assert pickle.loads(pickle.dumps(history)) == history


def test_metric_accumulator_pickles_and_is_deterministic():
    def run():
        acc = MetricAccumulator()
        gen = torch.Generator().manual_seed(0)
        for _ in range(5):
            acc.update(torch.rand((), generator=gen), torch.randn(4, 3, generator=gen),
                       torch.randint(0, 3, (4,), generator=gen))
        return acc

    first = run()
    assert run().compute() == first.compute()
    assert pickle.loads(pickle.dumps(first)).compute() == first.compute()


def test_evaluate_restores_mode_on_error_and_rejects_bad_input():
    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)

        def forward(self, x):
            raise RuntimeError("broken forward")

    model = Broken().train()
    with pytest.raises(RuntimeError, match="broken forward"):
        evaluate(model, [(torch.ones(1, 2), torch.zeros(1, dtype=torch.long))])
    assert model.training
    with pytest.raises(TypeError, match="model must be"):
        evaluate("model", [])
    with pytest.raises(TypeError, match="loader must be"):
        evaluate(torch.nn.Linear(2, 2), iter([]))
    with pytest.raises(ValueError, match="precision='int8'"):
        evaluate(torch.nn.Linear(2, 2), [], precision="int8")
    assert evaluate(torch.nn.Linear(2, 2), []) == {"loss": None, "acc": None, "count": 0}
