"""The learning path of :class:`~adaptive.OnlineLearner` (a mixin): ``learn_*``,
``observe_many``, the update, the detector and the policies' hooks.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from adaptive.online.cloning import fresh_copy
from adaptive.online.inputs import release
from adaptive.online.signals import Exceedance, feature_alarms
from adaptive.online.signals import feed as _feed
from adaptive.online.stepper import Stepper

if TYPE_CHECKING:
    from adaptive.drift import Fleet
    from adaptive.online.inputs import InputSpec, Ring
    from adaptive.online.policy import Policy
    from adaptive.online.single import SingleLane
    from adaptive.online.standardize import RunningStandardizer


class Learning:
    """``learn_*`` and ``observe_many`` of :class:`~adaptive.OnlineLearner`, and the helpers
    its policies call."""

    # attributes and methods of OnlineLearner that these methods use (set in its __init__)
    task: str
    signal: str
    fast: Any
    delay: int
    nan_policy: str
    max_pending: int
    detector: Any  # River's detector interface: update(x), drift_detected, warning_detected
    feature_monitor: Fleet | None
    feature_fn: Any  # (B, ...) tensor -> (B, S) tensor, or None
    policies: list[Policy] | tuple[Policy, ...]
    recent: Ring
    recent_inputs: Ring
    events: list[tuple[int, str, str]]
    last_output: torch.Tensor | None
    n_seen: int
    n_learned: int
    n_skipped: int
    _class_index: dict[Any, int] | None
    _n_outputs: int | None
    _inputs: InputSpec
    _lane: SingleLane
    _stepper: Stepper
    _by_id: OrderedDict
    _pending: deque
    _scaler: RunningStandardizer | None
    _scale: Any  # method: (B, ...) tensor -> standardised tensor
    _x: Any  # method of Predicting: input -> (tensor, finite mask, first dict)
    _y: Any  # method of Predicting: labels -> tensor
    _signal: Any  # method: (out, y, losses) -> (B,) detector values
    _ensure_outputs: Any  # method of Predicting
    per_sample_loss: Any  # method: (out, y) -> (B,) losses

    # -- learning -------------------------------------------------------------------------------
    def learn_one(self, x: Any, y: Any, *, id: Any = None) -> None:
        """Learn one sample (after ``delay`` later samples arrived, or now when ``id`` is given).

        With ``id``, ``x`` may be None: the input stored by ``predict_one(x, id=id)`` is used.
        """
        if id is None and self._lane.learn(x, y):
            return
        if id is not None and x is None:
            if id not in self._by_id:
                raise ValueError(f"id={id!r} has no stored prediction (never predicted, already "
                                 f"learned or evicted beyond max_pending={self.max_pending})")
            t, first = self._by_id[id], {}
            finite = np.ones(1, dtype=bool)
        else:
            t, finite, first = self._x(x, False)
        self._learn(t, finite, first, y, by_id=id)

    def learn_many(self, X: Any, y: Any) -> None:
        """Learn a mini-batch: one update on the batch's mean loss (see the module docstring)."""
        t, finite, first = self._x(X, True)
        self._learn(t, finite, first, y, by_id=None)

    def observe_many(self, X: Any) -> None:
        """Label-free: feed inputs (B, ...) to the feature monitor and the recent-input buffer."""
        t, finite, first = self._x(X, True)
        self._inputs.commit(first)
        self.n_skipped += int((~finite).sum())
        raw = t[torch.as_tensor(finite, device=t.device)]
        self._arrive(self._scale(raw), raw)

    def _learn(self, t: torch.Tensor, finite: np.ndarray, first: dict, y: Any, by_id: Any) -> None:
        n = t.shape[0]
        if y is None:
            raise ValueError("y is None: learn_* needs labels (use observe_many for inputs alone)")
        if self.task == "classification" and self._class_index is None and self._n_outputs is None:
            self._ensure_outputs(t)
        yt = self._y(y, n)  # validated before anything changes
        if self.task == "regression":
            finite = finite & torch.isfinite(yt.reshape(n, -1)).all(1).cpu().numpy()
            if not finite.all() and self.nan_policy == "raise":
                raise ValueError("y has non-finite targets; pass nan_policy='skip' to skip them")
        self._inputs.commit(first, learned=True)
        keep = torch.as_tensor(finite, device=t.device)
        self.n_skipped += int(n - finite.sum())
        t, yt = t[keep], yt[keep]
        if by_id is not None:
            self._by_id.pop(by_id, None)
        raw, t = t, self._scale(t)  # scaled with the statistics before these samples
        self._arrive(t, raw)  # inputs reach the monitor at learn_* (with id: at the label)
        if self._scaler is not None:
            self._scaler.update(raw)
        if by_id is None and self.delay > 0:
            ready = release(self._pending, t, yt, self.delay)
            if ready is None:
                return
            t, yt = ready
        if t.shape[0]:
            self._train(t, yt)

    def _arrive(self, t: torch.Tensor, raw: torch.Tensor | None = None) -> None:
        """Model inputs ``t`` (B, ...) arrived (``raw``: as given, before the scaler): the
        recent-input buffer and the policies get ``t``, the label-free feature monitor ``raw``
        (its thresholds are in the units of the user's features)."""
        if t.shape[0] == 0:
            return
        if self.policies:
            self.recent_inputs.push(t)
        start = self.n_seen
        self.n_seen += t.shape[0]
        for p in self.policies:
            p.after_inputs(self, t)  # type: ignore[arg-type]
        if self.feature_monitor is None:
            return
        feats = t if raw is None else raw
        drift, warn = feature_alarms(self.feature_monitor, self.feature_fn, feats)
        self._dispatch(drift, warn, start, "features")

    def _train(self, x: torch.Tensor, y: torch.Tensor, acts: Any = None) -> None:
        """One step on model inputs (x (B, ...), y (B,)); then policies, detector and events.
        ``acts``: the forward activations of x from a prediction just before (fast path)."""
        out = self._stepper.learn(x, y, acts)
        self.last_output = out
        losses = None
        if self.signal == "loss" or any(p.needs_losses for p in self.policies):
            with torch.no_grad():
                losses = self.per_sample_loss(out, y).float()  # (B,)
        start = self.n_learned
        self.n_learned += x.shape[0]
        if self.policies:  # the buffer only serves policies
            self.recent.push(x, y)
        for p in self.policies:
            p.after_update(self, x, y, losses)  # type: ignore[arg-type]
        if self.detector is not None:
            drift, warn = _feed(self.detector, self._signal(out, y, losses))
            self._dispatch(drift, warn, start, "loss")

    def _dispatch(self, drift: np.ndarray, warn: np.ndarray, start: int, source: str) -> None:
        """Log the alarms of one batch; fire policies once per kind and batch."""
        for kind, mask in (("warning", warn), ("drift", drift)):
            hits = np.flatnonzero(mask)
            for i in hits:
                self.events.append((start + int(i), kind, source))
            if hits.size:
                for p in self.policies:
                    p.on_event(self, kind, source)  # type: ignore[arg-type]

    # -- helpers for policies -------------------------------------------------------------------
    def recent_labelled(self, last: int | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The newest ``last`` labelled samples (x (N, ...), y (N,)) in arrival order, or None."""
        return self.recent.get(last)  # type: ignore[return-value]

    def stepper_for(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Stepper:
        """A :class:`~adaptive.online.stepper.Stepper` for another model (a policy's candidate)
        under this learner's loss, objective and precision."""
        return Stepper(self, model, optimizer, self.fast)

    def reset_detector(self) -> None:
        """Start the detector afresh (after the model was replaced)."""
        if self.detector is not None:
            self.detector = fresh_copy(self.detector)
            self._exceed = Exceedance()

    def drifts(self, source: str = "loss") -> list[int]:
        """Sample indices at which drifts were signalled by ``source``."""
        return [t for t, k, s in self.events if k == "drift" and s == source]
