"""MetricAccumulator: equals a plain numpy computation; one host read; bad input rejected."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from traincore import MetricAccumulator

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def batches(draw):
    classes = draw(st.integers(1, 5))
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        n = draw(st.integers(1, 9))
        logits = draw(arrays(np.float32, (n, classes), elements=finite))
        target = draw(arrays(np.int64, (n,), elements=st.integers(0, classes - 1)))
        loss = draw(finite)
        steps.append((loss, logits, target))
    return steps


@given(batches(), st.sampled_from([1, 2, 3, 32]))
def test_matches_numpy(steps, fold_every):
    acc = MetricAccumulator(fold_every=fold_every)
    for loss, logits, target in steps:
        acc.update(torch.tensor(loss), torch.from_numpy(logits), torch.from_numpy(target))
    got = acc.compute()
    n = np.array([len(t) for _, _, t in steps], dtype=np.float64)
    losses = np.array([loss for loss, _, _ in steps], dtype=np.float64)
    correct = sum(int((lg.argmax(-1) == t).sum()) for _, lg, t in steps)
    assert got["count"] == int(n.sum())
    assert got["loss"] == pytest.approx((losses * n).sum() / n.sum(), rel=1e-12, abs=1e-9)
    assert got["acc"] == correct / n.sum()
    # totals() carries the same numbers (what an all-reduce sums across processes)
    assert acc.compute(acc.totals()) == pytest.approx(got)


@given(st.lists(st.tuples(finite, st.integers(0, 50)), min_size=1, max_size=8))
def test_explicit_n_without_predictions(steps):
    acc = MetricAccumulator()
    for loss, n in steps:
        acc.update(torch.tensor(loss), n=n)
    total = sum(n for _, n in steps)
    got = acc.compute()
    assert got["acc"] is None and got["count"] == total
    if total:
        expected = sum(np.float64(np.float32(loss)) * n for loss, n in steps) / total
        assert got["loss"] == pytest.approx(expected, rel=1e-12, abs=1e-9)
    else:
        assert got["loss"] is None


def test_one_host_read_per_compute(monkeypatch):
    """The steps never read device values; compute() reads once, with one tolist()."""
    acc = MetricAccumulator()
    calls = []
    real_item, real_tolist = torch.Tensor.item, torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "item", lambda self: calls.append("item") or real_item(self))
    monkeypatch.setattr(
        torch.Tensor, "tolist", lambda self: calls.append("tolist") or real_tolist(self)
    )
    for _ in range(20):
        acc.update(torch.rand(()), torch.randn(4, 3), torch.randint(0, 3, (4,)))
    assert calls == []
    acc.compute()
    assert calls == ["tolist"]


def test_reset_and_empty():
    acc = MetricAccumulator()
    assert acc.compute() == {"loss": None, "acc": None, "count": 0}
    acc.update(torch.tensor(1.0), torch.eye(2), torch.tensor([0, 1]))
    acc.reset()
    assert acc.compute() == {"loss": None, "acc": None, "count": 0}


def test_low_precision_losses_accumulate_in_float64():
    acc = MetricAccumulator()
    acc.update(torch.tensor(0.1, dtype=torch.bfloat16), n=3)
    assert acc.totals().dtype == torch.float64
    assert acc.compute()["loss"] == pytest.approx(float(torch.tensor(0.1, dtype=torch.bfloat16)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss": torch.ones(2)}, "loss must be a scalar"),
        ({"loss": 1.0}, "loss must be a scalar"),
        ({"loss": torch.tensor(1.0), "output": torch.ones(2, 2)}, "given together"),
        ({"loss": torch.tensor(1.0), "output": torch.ones(2), "target": torch.ones(2)}, "output"),
        ({"loss": torch.tensor(1.0), "output": torch.ones(2, 2), "target": torch.ones(3)},
         "target must be"),
        ({"loss": torch.tensor(1.0), "n": -1}, "n=-1"),
        ({"loss": torch.tensor(1.0), "n": 1.5}, "n=1.5"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MetricAccumulator().update(**kwargs)


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="device"):
        MetricAccumulator(device=3)
    with pytest.raises(ValueError, match="fold_every=0"):
        MetricAccumulator(fold_every=0)


def test_folding_bounds_kept_tensors():
    acc = MetricAccumulator(fold_every=4)
    for step in range(10):
        acc.update(torch.tensor(float(step)), n=step % 3 + 1)  # several distinct n per fold
        assert len(acc._losses) < 4
    expected = sum(step * (step % 3 + 1) for step in range(10)) / sum(s % 3 + 1 for s in range(10))
    assert acc.compute()["loss"] == pytest.approx(expected, rel=1e-12)
