"""Adaptation policies: what an :class:`~adaptive.OnlineLearner` does when a detector fires.

A policy is a small object with hooks the learner calls:

* ``on_event(learner, kind, source)`` when a detector signals; ``kind`` is ``"warning"`` or
  ``"drift"``, ``source`` is ``"loss"`` (the detector fed the per-sample loss or error) or
  ``"features"`` (the label-free feature monitor). The base class filters events by the
  ``on`` argument and calls :meth:`Policy.fire`.
* ``after_update(learner, x, y, losses)`` after every update of the model on a labelled batch
  (``x`` (B, ...), ``y`` (B,), ``losses`` (B,) the per-sample losses measured *before* the
  update), for policies that act over time (LR decay, a background model in training).
* ``after_inputs(learner, x)`` when inputs arrive, labelled or not (label-free policies that
  wait for post-change inputs).

Policies compose: the learner calls them in the order given. Each keeps its state in plain
Python values or tensors returned by ``state_dict`` so that a checkpoint resumes it exactly.
"""

from __future__ import annotations

import copy
import inspect
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from adaptive.online.learner import OnlineLearner

EVENT_SOURCES = ("loss", "features")
_ON = {"drift": ("drift",), "warning": ("warning",), "both": ("warning", "drift")}


class Policy:
    """Base class of the adaptation policies.

    Parameters
    ----------
    on
        Which events trigger the policy: ``"drift"``, ``"warning"`` or ``"both"``.
    sources
        Which detectors may trigger it: a tuple of ``"loss"`` and/or ``"features"``.
    """

    #: sources a policy listens to when the caller does not say (label-free ones add "features")
    default_sources: tuple[str, ...] = ("loss",)
    #: whether after_update needs the per-sample losses (the learner skips computing them when
    #: no policy does)
    needs_losses: bool = True

    def __init__(self, *, on: str = "drift", sources: tuple[str, ...] | None = None):
        if on not in _ON:
            raise ValueError(f"on={on!r} must be one of {tuple(_ON)}")
        srcs = self.default_sources if sources is None else tuple(sources)
        if not srcs or any(s not in EVENT_SOURCES for s in srcs):
            raise ValueError(f"sources={sources!r} must be a non-empty subset of {EVENT_SOURCES}")
        self.on = on
        self.sources = srcs
        self.n_fired = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(on={self.on!r}, sources={self.sources!r})"

    def clone(self) -> Policy:
        """A fresh policy with the same constructor arguments (unbound, no state)."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        return type(self)(**{n: copy.deepcopy(getattr(self, n)) for n in names})

    def bind(self, learner: OnlineLearner) -> None:
        """Called once by the learner that owns the policy (checks compatibility)."""

    def on_event(self, learner: OnlineLearner, kind: str, source: str) -> bool:
        """Run :meth:`fire` if this event is one the policy listens to; return whether it ran."""
        if kind not in _ON[self.on] or source not in self.sources:
            return False
        self.fire(learner, kind)
        self.n_fired += 1
        return True

    def fire(self, learner: OnlineLearner, kind: str) -> None:
        raise NotImplementedError

    def after_update(
        self, learner: OnlineLearner, x: torch.Tensor, y: torch.Tensor, losses: torch.Tensor
    ) -> None:
        """Hook after each labelled update (no-op by default)."""

    def after_inputs(self, learner: OnlineLearner, x: torch.Tensor) -> None:
        """Hook when inputs x (B, ...) arrive, labelled or not, before the feature monitor."""

    def state_dict(self) -> dict[str, Any]:
        return {"n_fired": self.n_fired}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.n_fired = int(state["n_fired"])


def batchnorm_layers(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` (found by type, not by class name)."""
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def iter_batches(n: int, batch_size: int, generator: torch.Generator | None = None):
    """Index tensors covering ``range(n)`` in batches (shuffled when a generator is given)."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]
