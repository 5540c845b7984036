"""The checked configuration of an :class:`~adaptive.OnlineLearner`.

:func:`check_config` validates the constructor's arguments (naming the bad one) before anything
is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adaptive._checks import check_bool, check_choice, check_int
from adaptive.drift import Fleet
from adaptive.online.policy import Policy

TASKS = ("classification", "regression")
SIGNALS = ("auto", "loss", "error")


def resolve_defaults(detector: Any, policies: Any) -> tuple[Any, Any]:
    """The detector and policies that ``"default"`` stands for (fresh objects each call)."""
    from adaptive.online.defaults import default_detector, default_policies

    if isinstance(detector, str):
        if detector != "default":
            raise ValueError(f"detector={detector!r} must be a detector, None or 'default'")
        detector = default_detector()
    if isinstance(policies, str):
        if policies != "default":
            raise ValueError(f"policies={policies!r} must be a list of policies or 'default'")
        policies = default_policies()
    return detector, policies


def check_config(
    *, task: str, loss: str | Callable, signal: str, detector: Any, feature_monitor: Any,
    policies: Any, delay: Any, classes: Any, nan_policy: str, memory: Any, max_pending: Any,
    standardize: Any = True, fast: Any = None,
) -> tuple[str | Callable, list | None, tuple[Policy, ...]]:
    """Validate :class:`~adaptive.OnlineLearner`'s arguments; the loss (the default follows the
    task), the classes as a list (or None) and the policies as a tuple."""
    check_choice("task", task, TASKS)
    if not (callable(loss) or loss in ("ce", "mse")):
        raise ValueError(f"loss={loss!r} must be 'ce', 'mse' or a callable")
    if task == "regression" and loss == "ce":
        loss = "mse"  # the default loss follows the task
    check_choice("signal", signal, SIGNALS)
    if detector is not None and not (
        hasattr(detector, "update") and hasattr(detector, "drift_detected")
    ):
        raise TypeError(f"detector must have update(x) and drift_detected, got {detector!r}")
    if feature_monitor is not None and not isinstance(feature_monitor, Fleet):
        raise TypeError(f"feature_monitor must be an adaptive.Fleet, got {feature_monitor!r}")
    check_int("delay", delay, 0)
    check_int("memory", memory, 0)
    check_int("max_pending", max_pending, 0)
    if delay > max_pending:
        raise ValueError(f"delay={delay} must be <= max_pending={max_pending}")
    check_choice("nan_policy", nan_policy, ("raise", "skip"))
    check_bool("standardize", standardize)
    if fast is not None:
        check_bool("fast", fast)
    if classes is not None:
        classes = list(classes)
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"classes={classes!r} must hold >= 2 distinct labels")
        if task != "classification":
            raise ValueError("classes is only meaningful for task='classification'")
    policies = tuple(policies)
    for p in policies:
        if not isinstance(p, Policy):
            raise TypeError(f"policies must be adaptive Policy objects, got {p!r}")
    return loss, classes, policies


