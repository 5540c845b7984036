"""What an :class:`~adaptive.OnlineLearner` holds: its checked configuration and its state.

:func:`check_config` validates the constructor's arguments (naming the bad one) before anything
is built. The state is a dict of tensors and plain values (``torch.load`` with
``weights_only=True`` reads it): model, optimizer, updater, objective, detector, feature monitor,
policies, input spec, buffers and counters. A River detector (not an adaptive
:class:`~adaptive.Detector`) travels as its pickle, as bytes in a uint8 tensor.
"""

from __future__ import annotations

import collections
import io
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from adaptive.base import Detector, Fleet
from adaptive.policy import Policy

_STATE_VERSION = 1
TASKS = ("classification", "regression")
SIGNALS = ("loss", "error")


def check_config(
    *, task: str, loss: str | Callable, signal: str, detector: Any, feature_monitor: Any,
    policies: Any, delay: Any, classes: Any, nan_policy: str, memory: Any, max_pending: Any,
) -> tuple[str | Callable, list | None, tuple[Policy, ...]]:
    """Validate :class:`~adaptive.OnlineLearner`'s arguments; the loss (the default follows the
    task), the classes as a list (or None) and the policies as a tuple."""
    if task not in TASKS:
        raise ValueError(f"task={task!r} must be one of {TASKS}")
    if not (callable(loss) or loss in ("ce", "mse")):
        raise ValueError(f"loss={loss!r} must be 'ce', 'mse' or a callable")
    if task == "regression" and loss == "ce":
        loss = "mse"  # the default loss follows the task
    if signal not in SIGNALS:
        raise ValueError(f"signal={signal!r} must be one of {SIGNALS}")
    if detector is not None and not (
        hasattr(detector, "update") and hasattr(detector, "drift_detected")
    ):
        raise TypeError(f"detector must have update(x) and drift_detected, got {detector!r}")
    if feature_monitor is not None and not isinstance(feature_monitor, Fleet):
        raise TypeError(f"feature_monitor must be an adaptive.Fleet, got {feature_monitor!r}")
    if isinstance(delay, bool) or not isinstance(delay, (int, np.integer)) or delay < 0:
        raise ValueError(f"delay={delay!r} must be an integer >= 0 (samples)")
    for name, v in (("memory", memory), ("max_pending", max_pending)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name}={v!r} must be an integer >= 0")
    if delay > max_pending:
        raise ValueError(f"delay={delay} must be <= max_pending={max_pending}")
    if nan_policy not in ("raise", "skip"):
        raise ValueError(f"nan_policy={nan_policy!r} must be 'raise' or 'skip'")
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


def learner_state_dict(learner: Any) -> dict[str, Any]:
    """The state of ``learner`` (see :meth:`adaptive.OnlineLearner.state_dict`)."""
    det = None
    if isinstance(learner.detector, Detector):
        det = {"kind": "adaptive", "state": learner.detector.state_dict()}
    elif learner.detector is not None:  # a River detector: its pickle, as bytes in a tensor
        det = {"kind": "pickle", "state": _bytes_tensor(pickle.dumps(learner.detector))}
    return {
        "version": _STATE_VERSION,
        "model": learner.model.state_dict(),
        "optimizer": learner.optimizer.state_dict(),
        "updater": learner.updater.state_dict(),
        "objective": learner.objective.state_dict(),
        "detector": det,
        "feature_monitor": None if learner.feature_monitor is None
        else learner.feature_monitor.state_dict(),
        "policies": [p.state_dict() for p in learner.policies],
        "inputs": learner._inputs.state_dict(),
        "n_outputs": learner._n_outputs,
        "pending": [list(p) for p in learner._pending],
        "by_id": [[k, v] for k, v in learner._by_id.items()],
        "recent": learner.recent.state_dict(),
        "recent_inputs": learner.recent_inputs.state_dict(),
        "counters": [learner.n_seen, learner.n_learned, learner.n_skipped, learner.n_expired],
        "events": [list(e) for e in learner.events],
    }


def load_learner_state(learner: Any, state: dict[str, Any]) -> None:
    """Restore :func:`learner_state_dict` into ``learner`` (built with the same configuration)."""
    if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
        raise ValueError(f"not an OnlineLearner state of version {_STATE_VERSION}")
    if len(state["policies"]) != len(learner.policies):
        raise ValueError(f"state has {len(state['policies'])} policies, this learner "
                         f"{len(learner.policies)}")
    learner.model.load_state_dict(state["model"])
    learner.optimizer.load_state_dict(state["optimizer"])
    learner.updater.load_state_dict(state["updater"])
    for p, s in zip(learner.policies, state["policies"]):
        p.load_state_dict(s)  # may re-wrap the objective (EWC)
    learner.objective.load_state_dict(state["objective"])
    det = state["detector"]
    if det is not None and det["kind"] == "adaptive":
        learner.detector.load_state_dict(det["state"])
    elif det is not None:
        learner.detector = pickle.load(io.BytesIO(det["state"].numpy().tobytes()))
    if state["feature_monitor"] is not None:
        learner.feature_monitor.load_state_dict(state["feature_monitor"])
    learner._inputs.load_state_dict(state["inputs"])
    learner._n_outputs = state["n_outputs"]
    learner._pending = collections.deque(tuple(p) for p in state["pending"])
    learner._by_id = collections.OrderedDict((k, v) for k, v in state["by_id"])
    learner.recent.load_state_dict(state["recent"])
    learner.recent_inputs.load_state_dict(state["recent_inputs"])
    learner.n_seen, learner.n_learned, learner.n_skipped, learner.n_expired = state["counters"]
    learner.events = [tuple(e) for e in state["events"]]


def _bytes_tensor(b: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(b), dtype=torch.uint8).clone()
