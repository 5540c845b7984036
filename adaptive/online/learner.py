"""Online learning of a PyTorch model with drift detection and adaptation policies.

:class:`OnlineLearner` wraps a model and its optimizer in River's online API (``learn_one``,
``learn_many``, ``predict_one`` ...). Every update goes through :class:`traincore.Updater` (so the
precision options of the training core apply) and through a :class:`traincore.Objective`
(plain supervised by default; an adversarial objective from ``robust`` works too). The
per-sample loss (or 0/1 error) measured *before* each update feeds a drift detector; a
label-free :class:`~adaptive.Fleet` may watch the input features. Their warnings and drifts
trigger the adaptation policies (see :mod:`adaptive.policy`).

Loss reduction: the objective's loss is the *mean* over the batch. One ``learn_many(X, y)`` on
B rows is therefore one optimizer step along the mean gradient; for plain SGD its result equals
the average of the weights that B separate ``learn_one`` calls would reach from the same start
(θ - lr·mean_i g_i = mean_i (θ - lr·g_i)), and a batch of one equals ``learn_one`` exactly.

Examples
--------
>>> import torch
>>> from adaptive import OnlineLearner, PageHinkley
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(2, 2)
>>> learner = OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.5),
...                         detector=PageHinkley(), signal="error")
>>> for x0 in [0.0, 1.0] * 20:
...     learner.learn_one({"a": x0, "b": 1.0}, int(x0))
>>> learner.predict_one({"a": 1.0, "b": 1.0}), learner.predict_one({"a": 0.0, "b": 1.0})
(1, 0)
>>> learner.n_learned
40
"""

from __future__ import annotations

import collections
import copy
import io
import pickle
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from river import base as river_base

from adaptive.drift import Detector, Fleet
from adaptive.online.cloning import fresh_copy, fresh_optimizer
from adaptive.online.config import TASKS, check_config, resolve_defaults
from adaptive.online.inputs import InputSpec, Ring
from adaptive.online.learning import Learning
from adaptive.online.policy import Policy
from adaptive.online.predicting import Predicting
from adaptive.online.signals import Exceedance, per_sample_loss, signal_values
from adaptive.online.single import SingleLane
from adaptive.online.standardize import RunningStandardizer
from adaptive.online.stepper import Stepper
from traincore import Objective, Supervised, Updater

_STATE_VERSION = 2


class OnlineLearner(Predicting, Learning, river_base.Estimator):
    """A PyTorch model learning from a stream, test-then-train, with drift adaptation.

    Parameters
    ----------
    model, optimizer
        The module and a ``torch.optim.Optimizer`` over its parameters.
    loss
        ``"ce"`` (cross-entropy), ``"mse"`` or a callable ``(output, y) -> (B,)`` per-sample losses.
    task
        ``"classification"`` or ``"regression"``.
    precision
        ``"fp32"``, ``"bf16"`` or ``"fp16"`` (see :class:`traincore.Precision`).
    objective
        Any :class:`traincore.Objective`; :class:`traincore.Supervised` on ``loss`` by default.
    detector
        A detector with River's interface (``update(x)``, ``drift_detected``,
        ``warning_detected``), fed the per-sample ``signal``; None for no detection.
        ``"default"``: a one-sided :class:`~adaptive.HDDM_W`, which reacts to an *increase* of
        the error only (see :mod:`adaptive.online.defaults` for how it was chosen).
    signal
        ``"loss"`` (per-sample loss), ``"error"`` (0/1 error; absolute error for regression) or
        ``"auto"`` (the 0/1 error of a classifier; for a regressor, 1 when a sample's absolute
        error exceeds the running mean absolute error: bounded and scale-free).
    feature_monitor
        A :class:`~adaptive.Fleet` with one stream per feature (or per column of
        ``feature_fn(x)``), fed every input as it arrives, labels or not, as given (before
        the scaler of ``standardize``).
    policies
        Adaptation policies run, in order, on warnings and drifts. ``"default"``: one
        :class:`~adaptive.online.policies.Race` (a candidate model replaces the current one only
        when it is better on the same samples, with a stated confidence); ``()`` for none.
    delay
        Label delay in samples: a sample given to ``learn_*`` is trained on only after
        ``delay`` later samples arrived. Labels may also be matched by ``id=``.
    classes
        The class labels (any hashable values); None means integer labels ``0..C-1``.
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (drop samples with non-finite values and count them).
    memory
        Rows kept of recent labelled samples and of recent inputs (for the policies).
    max_pending
        Bound on samples predicted with an ``id`` and waiting for their label.
    feature_fn
        Optional map ``(B, ...) tensor -> (B, S)`` of the statistics the feature monitor watches.
    grad_clip
        Passed to the :class:`traincore.Updater`.
    device
        Where inputs go; the device of the model's parameters by default.
    features
        For dict inputs: the feature names, in the model's input order. Given, a missing
        feature is imputed with its running mean over the labelled samples so far (0 before
        any) and an unknown feature is ignored, as River's models do; None (default): the
        first input fixes the features and a change raises.
    standardize
        Scale every input feature by its running mean and standard deviation over the
        labelled samples so far, test-then-train (see
        :class:`~adaptive.online.standardize.RunningStandardizer`); False feeds inputs as given.
    fast
        None (default): plain MLPs (Linear/ReLU/Tanh) under Adam or SGD in fp32 train on an
        explicit forward/backward over one flat parameter buffer, with results identical to the
        generic path, and everything else on the generic path; False: always the generic path;
        True: the fast path or a ``ValueError`` saying why it cannot serve the learner.

    Notes
    -----
    The learner follows River's object protocol: ``OnlineLearner(...)`` is a
    ``river.base.Classifier`` (or ``Regressor`` for ``task="regression"``), and
    :meth:`clone` gives a fresh, unfitted learner: the model with the weights it had when this
    learner was built, a new optimizer of the same class and hyperparameters over it, and fresh
    copies of the detector, feature monitor and policies. River wrappers that clone their model
    (``DriftRetrainingClassifier``, ``BaggingClassifier``, a ``Pipeline``) therefore work.
    """

    _supervised = True  # River's estimator protocol

    def __new__(cls, *args: Any, task: str = "classification", **kwargs: Any):
        # River decides what a model is with isinstance(model, river.base.Classifier/Regressor):
        # one subclass per task lets progressive_val_score and River's wrappers take the learner.
        if cls is OnlineLearner and task in TASKS:
            cls = _Classifier if task == "classification" else _Regressor
        return super().__new__(cls)

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "ce",
        *,
        task: str = "classification",
        precision: str = "fp32",
        objective: Objective | None = None,
        detector: river_base.DriftDetector | river_base.BinaryDriftDetector | Literal["default"]
        | None = "default",
        signal: str = "auto",
        feature_monitor: Fleet | None = None,
        policies: tuple[Policy, ...] | list[Policy] | str = "default",
        delay: int = 0,
        classes: list | tuple | None = None,
        nan_policy: str = "raise",
        memory: int = 1000,
        max_pending: int = 10_000,
        feature_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        grad_clip: float | None = None,
        device: torch.device | str | None = None,
        features: list | tuple | None = None,
        standardize: bool = True,
        fast: bool | None = None,
    ):
        self._init_params: dict[str, Any] = {  # the arguments as given: _get_params, clone
            "model": model, "optimizer": optimizer, "loss": loss, "task": task,
            "precision": precision, "objective": objective, "detector": detector,
            "signal": signal, "feature_monitor": feature_monitor, "policies": policies,
            "delay": delay, "classes": classes, "nan_policy": nan_policy, "memory": memory,
            "max_pending": max_pending, "feature_fn": feature_fn, "grad_clip": grad_clip,
            "device": device, "features": features, "standardize": standardize, "fast": fast,
        }
        detector, policies = resolve_defaults(detector, policies)
        loss, classes, policies = check_config(
            task=task, loss=loss, signal=signal, detector=detector,
            feature_monitor=feature_monitor, policies=policies, delay=delay, classes=classes,
            nan_policy=nan_policy, memory=memory, max_pending=max_pending,
            standardize=standardize, fast=fast)
        self._features = _check_features(features)
        self.model = model
        self.optimizer = optimizer
        self.updater = Updater(model, optimizer, precision=precision, grad_clip=grad_clip)
        self.loss, self.task, self.precision, self.signal = loss, task, precision, signal
        self.objective = objective if objective is not None else Supervised(self._mean_loss)
        self._default_objective = self.objective if objective is None else None
        self.standardize, self.fast = standardize, fast
        self.detector, self.feature_monitor, self.feature_fn = detector, feature_monitor, feature_fn
        self.policies, self.delay, self.classes = policies, int(delay), classes
        self.nan_policy, self.memory, self.max_pending = nan_policy, int(memory), int(max_pending)
        self.grad_clip = grad_clip
        self.device = torch.device(device) if device is not None else self.updater.device
        self._class_index = None if classes is None else {c: i for i, c in enumerate(classes)}
        # what clone() starts from: the weights and optimizer settings as given
        self._initial_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._initial_groups = [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
                                for g in optimizer.param_groups]
        self._reset()
        for p in policies:
            p.bind(self)
        self._stepper = Stepper(self, model, optimizer, fast)
        self._lane = SingleLane(self)

    def _reset(self) -> None:
        self._inputs = InputSpec(self._features)
        self._n_outputs: int | None = None
        self._pending: collections.deque = collections.deque()  # (x (1, ...), y (1,)) by delay
        self._by_id: collections.OrderedDict = collections.OrderedDict()  # id -> x (1, ...)
        self.recent = Ring(self.memory)  # labelled (x, y)
        self.recent_inputs = Ring(self.memory)  # every input, labelled or not
        self.n_seen = 0  # inputs that arrived at learn_* / observe_many
        self.n_learned = 0  # samples trained on
        self.n_skipped = 0  # samples dropped for non-finite values (nan_policy="skip")
        self.n_expired = 0  # id-predictions evicted before their label came
        self.events: list[tuple[int, str, str]] = []  # (t, "warning"/"drift", source)
        self._scaler = RunningStandardizer() if self.standardize else None
        self._exceed = Exceedance()  # state of signal="auto" for a regressor
        self.last_output: torch.Tensor | None = None  # (B, ...) pre-update output, last batch

    def __repr__(self) -> str:
        return (f"OnlineLearner({type(self.model).__name__}, task={self.task!r}, "
                f"detector={self.detector!r}, policies={list(self.policies)!r})")

    # -- River's object protocol ---------------------------------------------------------------
    def _get_params(self) -> dict[str, Any]:
        # the policies as a list: River's parameter walk reads param[0] of every tuple
        params = dict(self._init_params)
        if not isinstance(params["policies"], str):  # "default" stays a string
            params["policies"] = list(params["policies"])
        return params

    @property
    def _multiclass(self) -> bool:
        return self.task == "classification" and (self.classes is None or len(self.classes) > 2)

    @classmethod
    def _unit_test_params(cls):
        model = torch.nn.Linear(4, 2)
        yield {"model": model, "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
               "classes": [False, True]}

    def clone(self, new_params: dict[str, Any] | None = None,
              include_attributes: bool = False) -> OnlineLearner:
        """A fresh, unfitted learner with the same configuration (River's ``clone``).

        The model starts from the weights this learner was built with, under a new optimizer of
        the same class and hyperparameters; detector, feature monitor, objective and policies
        are fresh copies. ``new_params`` replaces constructor arguments (a new ``model`` without
        an ``optimizer`` gets one built like this learner's). With ``include_attributes=True``
        the clone also takes this learner's whole state (weights, optimizer moments, buffers,
        counters), as :meth:`load_state_dict` restores it.
        """
        new = dict(new_params or {})
        params = {k: v for k, v in self._init_params.items() if k not in ("model", "optimizer")}
        model = new.pop("model", None)
        if model is None:
            model = copy.deepcopy(self.model)
            model.load_state_dict(self._initial_weights)
        optimizer = new.pop("optimizer", None)
        if optimizer is None:
            optimizer = fresh_optimizer(self.optimizer, self._initial_groups, self.model, model)
        for key in ("detector", "feature_monitor", "objective"):
            params[key] = fresh_copy(params[key])
        params["policies"] = tuple(p.clone() for p in self.policies)
        params = {k: (v if k in ("feature_fn", "loss") else copy.deepcopy(v))
                  for k, v in params.items()}
        params.update(new)
        clone = OnlineLearner(model, optimizer, **params)
        if include_attributes:
            clone.load_state_dict(self.state_dict())
        return clone

    # -- losses ---------------------------------------------------------------------------------
    def per_sample_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B,) losses of outputs ``out`` (B, ...) against targets ``y`` (B,)."""
        return per_sample_loss(self.loss, out, y)

    def _mean_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.per_sample_loss(out, y).mean()  # mean reduction, see the module docstring

    def _signal(self, out: torch.Tensor, y: torch.Tensor,
                losses: torch.Tensor | None) -> np.ndarray:
        return signal_values(self.signal, self.task, out, y, losses, self._exceed)

    def errors(self, out: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """(B,) float64 errors of outputs ``out`` against ``y``: 0/1 for a classifier, absolute
        for a regressor (what a :class:`~adaptive.online.policies.Race` compares)."""
        return signal_values("error", self.task, out, y, None)

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        """Model inputs: ``x`` (B, ...) standardised with the statistics so far (or as given)."""
        return x if self._scaler is None else self._scaler.transform(x)

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: model, optimizer, updater, objective, detector, monitor,
        policies, buffers and counters (tensors and plain values; ``torch.load`` with
        ``weights_only=True`` reads it). A River detector travels as its pickle, as bytes."""
        det = None
        if isinstance(self.detector, Detector):
            det = {"kind": "adaptive", "state": self.detector.state_dict()}
        elif self.detector is not None:
            det = {"kind": "pickle", "state": _bytes_tensor(pickle.dumps(self.detector))}
        fm = self.feature_monitor
        return {
            "version": _STATE_VERSION,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updater": self.updater.state_dict(),
            "objective": self.objective.state_dict(),
            "detector": det,
            "feature_monitor": None if fm is None else fm.state_dict(),
            "policies": [p.state_dict() for p in self.policies],
            "inputs": self._inputs.state_dict(),
            "n_outputs": self._n_outputs,
            "pending": [list(p) for p in self._pending],
            "by_id": [[k, v] for k, v in self._by_id.items()],
            "recent": self.recent.state_dict(),
            "recent_inputs": self.recent_inputs.state_dict(),
            "counters": [self.n_seen, self.n_learned, self.n_skipped, self.n_expired],
            "events": [list(e) for e in self.events],
            "scaler": None if self._scaler is None else self._scaler.state_dict(),
            "exceed": self._exceed.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into a learner built with the same configuration."""
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise ValueError(f"not an OnlineLearner state of version {_STATE_VERSION}")
        if len(state["policies"]) != len(self.policies):
            raise ValueError(f"state has {len(state['policies'])} policies, this learner "
                             f"{len(self.policies)}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updater.load_state_dict(state["updater"])
        for p, s in zip(self.policies, state["policies"]):
            p.load_state_dict(s)  # may re-wrap the objective (EWC)
        self.objective.load_state_dict(state["objective"])
        det = state["detector"]
        if det is not None and det["kind"] == "adaptive":
            self.detector.load_state_dict(det["state"])
        elif det is not None:
            self.detector = pickle.load(io.BytesIO(det["state"].numpy().tobytes()))
        if state["feature_monitor"] is not None:
            self.feature_monitor.load_state_dict(state["feature_monitor"])  # type: ignore[union-attr]
        self._inputs.load_state_dict(state["inputs"])
        self._n_outputs = state["n_outputs"]
        self._pending = collections.deque(tuple(p) for p in state["pending"])
        self._by_id = collections.OrderedDict((k, v) for k, v in state["by_id"])
        self.recent.load_state_dict(state["recent"])
        self.recent_inputs.load_state_dict(state["recent_inputs"])
        self.n_seen, self.n_learned, self.n_skipped, self.n_expired = state["counters"]
        self.events = [tuple(e) for e in state["events"]]
        if (state["scaler"] is None) != (self._scaler is None):
            raise ValueError(f"state has standardize={state['scaler'] is not None}, this learner "
                             f"{self._scaler is not None}")
        if self._scaler is not None:
            self._scaler.load_state_dict(state["scaler"])
        self._exceed.load_state_dict(state["exceed"])


class _Classifier(OnlineLearner, river_base.Classifier):  # type: ignore[misc]
    """OnlineLearner with task='classification' (a River classifier)."""


class _Regressor(OnlineLearner, river_base.Regressor):
    """OnlineLearner with task='regression' (a River regressor)."""


def _check_features(features: Any) -> list | None:
    if features is None:
        return None
    if isinstance(features, (str, bytes)) or not isinstance(features, (list, tuple)):
        raise ValueError(f"features={features!r} must be None or a list of feature names")
    if not features or len(set(features)) != len(features):
        raise ValueError(f"features={features!r} must hold distinct names")
    return list(features)


def _bytes_tensor(b: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(b), dtype=torch.uint8).clone()


# River names pipeline steps and reprs by the class name: both read "OnlineLearner" (pickle
# finds the classes by their qualified names, which stay _Classifier / _Regressor)
_Classifier.__name__ = _Regressor.__name__ = "OnlineLearner"
