"""Re-initialise the output layer on a drift.

When the mapping from features to labels changes (a real concept drift) while the learned
representation stays useful, resetting only the last layer forgets the old decision rule at once
and keeps the features. The layer's optimizer state is cleared with it.

Examples
--------
>>> import torch
>>> from adaptive.online.policies import ReinitOutput
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
>>> class L: pass
>>> L.model, L.optimizer = model, torch.optim.SGD(model.parameters(), lr=0.1)
>>> first = model[0].weight.clone(); last = model[2].weight.clone()
>>> ReinitOutput().fire(L, "drift")
>>> torch.equal(model[0].weight, first), torch.equal(model[2].weight, last)
(True, False)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from adaptive.online.policy import Policy

if TYPE_CHECKING:
    from adaptive.online.learner import OnlineLearner


def output_layer(model: torch.nn.Module, name: str | None = None) -> torch.nn.Module:
    """The module called ``name``, or the last module with ``reset_parameters`` and weights."""
    if name is not None:
        return model.get_submodule(name)
    last = None
    for m in model.modules():
        if m is not model and hasattr(m, "reset_parameters") and any(
            True for _ in m.parameters(recurse=False)
        ):
            last = m
    if last is None:
        raise ValueError(f"{type(model).__name__} has no layer with reset_parameters()")
    return last


class ReinitOutput(Policy):
    """Call ``reset_parameters()`` on the output layer and drop its optimizer state.

    Parameters
    ----------
    layer
        Name of the layer (as in ``model.get_submodule``); the last parametrised layer with
        ``reset_parameters`` by default.
    seed
        Seed of the re-initialisation (a generator local to the call), or None for torch's
        global RNG.
    on, sources
        See :class:`adaptive.policy.Policy`.
    """

    def __init__(self, layer: str | None = None, *, seed: int | None = None, on: str = "drift",
                 sources: tuple[str, ...] | None = None):
        super().__init__(on=on, sources=sources)
        self.layer = layer
        self.seed = seed

    def bind(self, learner: OnlineLearner) -> None:
        output_layer(learner.model, self.layer)  # fail at construction, not at the first drift

    def fire(self, learner: OnlineLearner, kind: str) -> None:
        mod = output_layer(learner.model, self.layer)
        if self.seed is None:
            mod.reset_parameters()  # type: ignore[operator]
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed + self.n_fired)
                mod.reset_parameters()  # type: ignore[operator]
        for p in mod.parameters(recurse=False):
            learner.optimizer.state.pop(p, None)
