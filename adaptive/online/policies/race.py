"""Race: on a warning, a candidate model learns beside the current one and replaces it only when
it is better on the same samples, by a margin, with a stated confidence.

The default adaptation of :class:`~adaptive.OnlineLearner`. A warning (or a drift) of the
learner's detector starts a race unless one is running. The candidate is a copy of the current
model (``init="fork"``) or a re-initialised one (``"fresh"``), with a fresh optimizer of the
same type and hyperparameters, first trained for ``replay_epochs`` passes over the newest
``replay`` labelled samples. From then on both models predict every new labelled sample before
learning it (prequential), and the race keeps the paired differences
``d_i = error_current_i - error_candidate_i`` (0/1 errors for a classifier, absolute errors for a
regressor). Every ``check_every`` samples after ``min_samples`` the race looks: the candidate
replaces the current model when the one-sided lower confidence bound of the mean difference
exceeds ``margin`` times the current model's mean error,

    mean(d) - z(delta_k) * sd(d) / sqrt(n) > margin * mean(error_current),

with ``delta_k = delta / (k (k + 1))`` at the k-th look, so that over all looks of a race the
chance of a swap to a candidate that is not better (normal approximation of the mean) is at
most ``delta``. After ``max_samples`` without a win the candidate is dropped and the current
model goes on untouched. A swap copies the candidate's weights and optimizer state into the
learner's own model and optimizer (the user's objects stay the same) and resets the detector.

This is the mechanism of the Adaptive Random Forest's background learners (Gomes et al.,
"Adaptive random forests for evolving data stream classification", Machine Learning 106, 2017)
with the swap decided by a paired sequential test instead of the drift signal alone, so that a
false alarm costs compute, not accuracy.

Examples
--------
>>> import torch
>>> from adaptive import OnlineLearner
>>> from adaptive.online.policies import Race
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
>>> race = Race(replay=64, replay_epochs=3, lr_factor=3.0, min_samples=64, check_every=32)
>>> learner = OnlineLearner(model, torch.optim.Adam(model.parameters(), lr=0.01),
...                         detector=None, policies=[race], standardize=False)
>>> x = torch.randn(2048, 2)
>>> y = torch.cat([x[:1024, 0] > 0, x[1024:, 0] < 0]).long()   # the concept flips at 1024
>>> for i in range(0, 1088, 32):
...     learner.learn_many(x[i:i + 32], y[i:i + 32])
>>> race.fire(learner, "warning")     # as a detector would, 64 samples after the change
>>> for i in range(1088, 2048, 32):
...     learner.learn_many(x[i:i + 32], y[i:i + 32])
>>> race.n_started, race.n_swaps, learner.optimizer.param_groups[0]["lr"]
(1, 1, 0.01)
"""

from __future__ import annotations

import copy
import math
import statistics
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from adaptive._checks import check_int
from adaptive.online.policy import Policy

if TYPE_CHECKING:
    from adaptive.online.learner import OnlineLearner

INITS = ("fork", "fresh")


def beats(sums: np.ndarray, n: int, look: int, delta: float, margin: float) -> bool:
    """The race's test at its ``look``-th look after ``n`` paired samples: ``sums`` holds the
    sums of d, of d**2 and of the current model's errors; True when the one-sided lower
    confidence bound of mean(d) at level ``delta / (look (look + 1))`` exceeds ``margin`` times
    the current model's mean error (normal approximation of the mean)."""
    mean, mean_cur = sums[0] / n, sums[2] / n
    var = max(sums[1] / n - mean * mean, 0.0) * n / (n - 1)
    z = statistics.NormalDist().inv_cdf(1 - delta / (look * (look + 1)))
    return mean - z * math.sqrt(var / n) > margin * mean_cur


class Race(Policy):
    """Race a candidate model against the current one; swap only on evidence.

    Parameters
    ----------
    init
        ``"fork"`` (copy the current weights) or ``"fresh"`` (re-initialise them).
    replay
        Newest labelled samples the candidate is first trained on (0: none).
    replay_epochs
        Passes over the replayed samples (mini-batches of 32).
    lr_factor
        The candidate learns at the learner's learning rate times this factor while it races
        (a swap restores the learner's own rate).
    margin
        Relative improvement required: the candidate's mean error must be lower than the
        current model's by at least ``margin`` times the latter (0.05 = 5 %).
    delta
        Chance, over all looks of one race, of swapping to a candidate that is not better.
    min_samples, check_every, max_samples
        First look after ``min_samples`` raced samples, then one every ``check_every``; the race
        ends without a swap after ``max_samples``.
    seed
        Seed of the fresh initialisation and of the replay order.
    on, sources
        See :class:`adaptive.policy.Policy`; warnings and drifts of the loss detector.
    """

    needs_losses = False  # the race compares errors, from the outputs

    def __init__(self, init: str = "fork", replay: int = 256, replay_epochs: int = 1,
                 lr_factor: float = 1.0, margin: float = 0.05, delta: float = 0.01,
                 min_samples: int = 200, check_every: int = 50, max_samples: int = 2000, *,
                 seed: int = 0, on: str = "both", sources: tuple[str, ...] | None = None):
        super().__init__(on=on, sources=sources)
        if init not in INITS:
            raise ValueError(f"init={init!r} must be one of {INITS}")
        check_int("replay", replay, 0)
        check_int("replay_epochs", replay_epochs, 1)
        check_int("min_samples", min_samples, 2)
        check_int("check_every", check_every, 1)
        check_int("max_samples", max_samples, min_samples)
        if not (isinstance(margin, (int, float)) and 0 <= margin < 1):
            raise ValueError(f"margin={margin!r} must be a number in [0, 1)")
        if not (isinstance(lr_factor, (int, float)) and lr_factor > 0):
            raise ValueError(f"lr_factor={lr_factor!r} must be a number > 0")
        if not (isinstance(delta, (int, float)) and 0 < delta < 1):
            raise ValueError(f"delta={delta!r} must be a number in (0, 1)")
        self.init, self.replay, self.replay_epochs = init, replay, replay_epochs
        self.lr_factor, self.margin, self.delta = float(lr_factor), float(margin), float(delta)
        self.min_samples, self.check_every, self.max_samples = min_samples, check_every, max_samples
        self.seed = seed
        self._learner: OnlineLearner | None = None
        self._cand = None  # (model, optimizer, stepper) while a race runs
        self.n_started = 0
        self.n_swaps = 0
        self._reset_race()

    def _reset_race(self) -> None:
        self.n_raced = 0
        self.n_looks = 0
        self._sums = np.zeros(3)  # sum d, sum d^2, sum error_current

    @property
    def racing(self) -> bool:
        """True while a candidate is racing."""
        return self._cand is not None

    def bind(self, learner: OnlineLearner) -> None:
        self._learner = learner
        if self.replay > learner.memory:
            raise ValueError(f"replay={self.replay} exceeds the learner's memory="
                             f"{learner.memory}; raise memory or lower replay")

    # -- the race -------------------------------------------------------------------------------
    def fire(self, learner: OnlineLearner, kind: str) -> None:
        if self._cand is None:
            self._start(learner)

    def _start(self, learner: OnlineLearner) -> None:
        model = copy.deepcopy(learner.model)
        if self.init == "fresh":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed + self.n_started)
                for m in model.modules():
                    if hasattr(m, "reset_parameters"):
                        m.reset_parameters()  # type: ignore[operator]
        opt = self._optimizer(learner, model)
        self._cand = (model, opt, learner.stepper_for(model, opt))  # type: ignore[assignment]
        self._reset_race()
        self.n_started += 1
        held = learner.recent_labelled(self.replay) if self.replay else None
        if held is not None:
            x, y = held
            gen = torch.Generator().manual_seed(self.seed + self.n_started)
            for _ in range(self.replay_epochs):
                for idx in torch.randperm(x.shape[0], generator=gen).split(32):
                    self._cand[2].learn(x[idx], y[idx])  # type: ignore[index]

    def _optimizer(self, learner: OnlineLearner, model: torch.nn.Module) -> torch.optim.Optimizer:
        """A fresh optimizer like the learner's over ``model``, its rate times ``lr_factor``."""
        opt = type(learner.optimizer)(model.parameters(), **learner.optimizer.defaults)
        for g, own in zip(opt.param_groups, learner.optimizer.param_groups):
            g["lr"] = own["lr"] * self.lr_factor
        return opt

    def after_update(self, learner: OnlineLearner, x: torch.Tensor, y: torch.Tensor,
                     losses: torch.Tensor) -> None:
        if self._cand is None:
            return
        stepper = self._cand[2]
        out, acts = stepper.forward(x)
        e_cand = learner.errors(out, y)  # (B,) float64
        e_cur = learner.errors(learner.last_output, y)
        stepper.learn(x, y, acts)
        d = e_cur - e_cand
        self._sums += (d.sum(), (d * d).sum(), e_cur.sum())
        before, self.n_raced = self.n_raced, self.n_raced + x.shape[0]
        looks = self._looks(self.n_raced) - self._looks(before)
        if looks > 0 and self._wins(looks):
            self._swap(learner)
        elif self.n_raced >= self.max_samples:
            self._cand = None

    def _looks(self, n: int) -> int:
        return 0 if n < self.min_samples else 1 + (n - self.min_samples) // self.check_every

    def _wins(self, looks: int) -> bool:
        self.n_looks += looks
        return beats(self._sums, self.n_raced, self.n_looks, self.delta, self.margin)

    def _swap(self, learner: OnlineLearner) -> None:
        model, opt, _ = self._cand  # type: ignore[misc]
        learner.model.load_state_dict(model.state_dict())  # type: ignore[has-type]
        groups = [dict(g) for g in learner.optimizer.param_groups]
        learner.optimizer.load_state_dict(opt.state_dict())  # type: ignore[has-type]
        for g, old in zip(learner.optimizer.param_groups, groups):
            g["lr"] = old["lr"]  # the user's schedule stays theirs
        learner.reset_detector()
        self._cand = None
        self.n_swaps += 1

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        cand = None
        if self._cand is not None:
            cand = {"model": self._cand[0].state_dict(), "optimizer": self._cand[1].state_dict()}
        return {**super().state_dict(), "n_started": self.n_started, "n_swaps": self.n_swaps,
                "n_raced": self.n_raced, "n_looks": self.n_looks,
                "sums": torch.from_numpy(self._sums.copy()), "candidate": cand}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.n_started, self.n_swaps = int(state["n_started"]), int(state["n_swaps"])
        self._cand = None
        if state["candidate"] is not None:
            learner = self._learner
            model = copy.deepcopy(learner.model)  # type: ignore[union-attr]
            model.load_state_dict(state["candidate"]["model"])
            opt = self._optimizer(learner, model)  # type: ignore[arg-type]
            opt.load_state_dict(state["candidate"]["optimizer"])
            self._cand = (model, opt, learner.stepper_for(model, opt))  # type: ignore[assignment, union-attr]
        self.n_raced, self.n_looks = int(state["n_raced"]), int(state["n_looks"])
        self._sums = state["sums"].double().numpy().copy()
