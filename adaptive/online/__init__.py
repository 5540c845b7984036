"""Online learning of PyTorch models: the learner, adaptation policies and prequential
(test-then-train) evaluation. ``OnlineLearner`` and ``Policy`` need torch and load on first
use; :func:`prequential` does not."""

from __future__ import annotations

from adaptive._lazy import lazy_getattr
from adaptive.online.prequential_eval import PrequentialResult, prequential

_LAZY = {"OnlineLearner": "adaptive.online.learner", "Policy": "adaptive.online.policy"}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())

__all__ = ["OnlineLearner", "Policy", "PrequentialResult", "prequential"]
