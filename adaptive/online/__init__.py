"""Online learning of PyTorch models: the learner, adaptation policies and prequential
(test-then-train) evaluation. ``OnlineLearner`` and ``Policy`` need torch and load on first
use; :func:`prequential` does not."""

from __future__ import annotations

import importlib
from typing import Any

from adaptive.online.prequential_eval import PrequentialResult, prequential

_LAZY = {"OnlineLearner": "adaptive.online.learner", "Policy": "adaptive.online.policy"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'adaptive.online' has no attribute {name!r}")


__all__ = ["OnlineLearner", "Policy", "PrequentialResult", "prequential"]
