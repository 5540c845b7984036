"""Retrain on a sliding window of the most recent labelled samples after a drift.

The detector fires some samples after the change, so the newest labelled samples are mostly
from the new concept. Replaying them for a few epochs moves the model to the new concept faster
than one pass of test-then-train would. Updates go through the learner's objective and
:class:`traincore.Updater` (the same precision, clipping, adversarial objective ...).

Examples
--------
>>> import torch
>>> from adaptive import OnlineLearner
>>> from adaptive.online.policies import WindowRetrain
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(2, 2)
>>> policy = WindowRetrain(window=8, epochs=2, batch_size=4)
>>> learner = OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.1),
...                         policies=[policy])
>>> learner.learn_many(torch.randn(8, 2), torch.randint(0, 2, (8,)))
>>> before = learner.updater.step_count
>>> policy.fire(learner, "drift")
>>> learner.updater.step_count - before  # 2 epochs x 2 batches of 4
4
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from adaptive.online.policy import Policy, iter_batches

if TYPE_CHECKING:
    from adaptive.online.learner import OnlineLearner


class WindowRetrain(Policy):
    """Replay the newest ``window`` labelled samples for ``epochs`` epochs of mini-batches.

    Parameters
    ----------
    window
        Number of most recent labelled samples replayed (bounded by the learner's ``memory``).
    epochs
        Passes over the window.
    batch_size
        Mini-batch size of the replay.
    seed
        Seed of the shuffling (a generator local to the policy).
    on, sources
        See :class:`adaptive.policy.Policy`.
    """

    def __init__(self, window: int = 256, epochs: int = 2, batch_size: int = 32, *,
                 seed: int = 0, on: str = "drift", sources: tuple[str, ...] | None = None):
        super().__init__(on=on, sources=sources)
        for name, v in (("window", window), ("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be an integer >= 1")
        self.window, self.epochs, self.batch_size, self.seed = window, epochs, batch_size, seed

    def bind(self, learner: OnlineLearner) -> None:
        if learner.memory < self.window:
            raise ValueError(f"window={self.window} exceeds the learner's memory="
                             f"{learner.memory}; raise memory or lower window")

    def fire(self, learner: OnlineLearner, kind: str) -> None:
        held = learner.recent_labelled(self.window)
        if held is None:
            return
        x, y = held  # (N, ...), (N,)
        gen = torch.Generator().manual_seed(self.seed + self.n_fired)
        learner.model.train()
        for _ in range(self.epochs):
            for idx in iter_batches(x.shape[0], self.batch_size, gen):
                idx = idx.to(x.device)
                learner.objective.step(learner.model, (x[idx], y[idx]), learner.updater)
