"""seed_everything: same draws after the same seed; deterministic flags; bad input."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from traincore import seed_everything


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


@given(st.integers(0, 2**32 - 1))
def test_same_seed_same_draws(seed):
    assert seed_everything(seed) == seed
    first = _draw()
    seed_everything(seed)
    assert _draw() == first


def test_different_seeds_differ():
    seed_everything(1)
    a = _draw()
    seed_everything(2)
    assert _draw() != a


def test_deterministic_sets_flags(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    try:
        seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[1:]


@pytest.mark.parametrize("bad", [-1, 2**32, 1.0, "1", True, None])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match="seed="):
        seed_everything(bad)


def test_bad_deterministic():
    with pytest.raises(TypeError, match="deterministic="):
        seed_everything(0, deterministic="yes")
