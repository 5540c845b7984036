"""Background model: a warning starts training a new model beside the current one; a drift
swaps it in when it is better on the samples both have seen since.

This is the mechanism of the Adaptive Random Forest (Gomes et al., "Adaptive random forests for
evolving data stream classification", Machine Learning 106, 2017) applied to one PyTorch model:
the background model is trained on every labelled batch after the warning, and both models'
prequential losses (measured before each update) are accumulated over the same samples. On a
drift the background model replaces the foreground if its mean loss is lower; otherwise it is
dropped. A drift without a preceding warning starts a background model (ARF then resets the tree;
here the new model must first prove itself at the next drift).

Examples
--------
>>> import torch
>>> from adaptive import OnlineLearner
>>> from adaptive.online.policies import BackgroundModel
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(2, 2)
>>> bg = BackgroundModel(min_samples=8)
>>> learner = OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.5), policies=[bg])
>>> bg.fire(learner, "warning")
>>> x = torch.randn(64, 2); y = (x[:, 0] > 0).long()
>>> for i in range(0, 64, 8):
...     learner.learn_many(x[i:i + 8], y[i:i + 8])
>>> bg.training, bg.n_compared
(True, 64)
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch

from adaptive.online.policy import Policy
from traincore import Updater

if TYPE_CHECKING:
    from adaptive.online.learner import OnlineLearner

INITS = ("fresh", "copy")


class BackgroundModel(Policy):
    """Train a background model from a warning; swap it in at a drift if it is better.

    Parameters
    ----------
    init
        ``"fresh"`` (a re-initialised copy of the architecture, as ARF grows a new tree) or
        ``"copy"`` (start from the current weights).
    min_samples
        Samples the background model must have been compared on before it may be swapped in.
    seed
        Seed of the fresh initialisation (None: torch's global RNG).
    on, sources
        See :class:`adaptive.policy.Policy`; listens to warnings and drifts (``on="both"``).
    """

    def __init__(self, init: str = "fresh", min_samples: int = 50, *, seed: int | None = None,
                 on: str = "both", sources: tuple[str, ...] | None = None):
        super().__init__(on=on, sources=sources)
        if init not in INITS:
            raise ValueError(f"init={init!r} must be one of {INITS}")
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ValueError(f"min_samples={min_samples!r} must be an integer >= 1")
        self.init, self.min_samples, self.seed = init, min_samples, seed
        self._bg: torch.nn.Module | None = None
        self._updater: Updater | None = None
        self._learner: OnlineLearner | None = None
        self.n_compared = 0
        self.loss_fg = 0.0  # summed prequential losses since the background model started
        self.loss_bg = 0.0
        self.n_swaps = 0

    @property
    def training(self) -> bool:
        """True while a background model is being trained."""
        return self._bg is not None

    def bind(self, learner: OnlineLearner) -> None:
        self._learner = learner

    def _start(self, learner: OnlineLearner) -> None:
        bg = copy.deepcopy(learner.model)
        if self.init == "fresh":
            with torch.random.fork_rng(devices=[], enabled=self.seed is not None):
                if self.seed is not None:
                    torch.manual_seed(self.seed + self.n_fired)
                for m in bg.modules():
                    if hasattr(m, "reset_parameters"):
                        m.reset_parameters()  # type: ignore[operator]
        opt = learner.optimizer
        bg_opt = type(opt)(bg.parameters(), **opt.defaults)
        self._bg = bg
        self._updater = Updater(bg, bg_opt, precision=learner.updater.precision,
                                grad_clip=learner.updater.grad_clip)
        self.n_compared, self.loss_fg, self.loss_bg = 0, 0.0, 0.0

    def fire(self, learner: OnlineLearner, kind: str) -> None:
        if self._bg is None:
            self._start(learner)
            return
        if kind != "drift":
            return
        if self.n_compared >= self.min_samples and self.loss_bg < self.loss_fg:
            learner.model.load_state_dict(self._bg.state_dict())
            learner.optimizer.state.clear()  # moments belonged to the replaced weights
            self.n_swaps += 1
        self._bg, self._updater = None, None

    def after_update(self, learner: OnlineLearner, x: torch.Tensor, y: torch.Tensor,
                     losses: torch.Tensor) -> None:
        if self._bg is None:
            return
        self._bg.train()
        with torch.no_grad(), self._updater.autocast(x):  # type: ignore[union-attr]  # prequential: test before training
            bg_losses = learner.per_sample_loss(self._bg(x).float(), y)
        self.loss_bg += float(bg_losses.sum())
        self.loss_fg += float(losses.sum())
        self.n_compared += x.shape[0]
        learner.objective.step(self._bg, (x, y), self._updater)  # type: ignore[arg-type]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "n_compared": self.n_compared, "loss_fg": self.loss_fg,
                "loss_bg": self.loss_bg, "n_swaps": self.n_swaps,
                "model": None if self._bg is None else self._bg.state_dict(),
                "optimizer": None if self._bg is None else self._updater.optimizer.state_dict(),  # type: ignore[union-attr]
                "updater": None if self._bg is None else self._updater.state_dict()}  # type: ignore[union-attr]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._bg, self._updater = None, None
        if state["model"] is not None:
            self._start(self._learner)  # type: ignore[arg-type]
            self._bg.load_state_dict(state["model"])  # type: ignore[attr-defined]
            self._updater.optimizer.load_state_dict(state["optimizer"])  # type: ignore[attr-defined]
            self._updater.load_state_dict(state["updater"])  # type: ignore[attr-defined]
        self.n_compared, self.n_swaps = int(state["n_compared"]), int(state["n_swaps"])
        self.loss_fg, self.loss_bg = float(state["loss_fg"]), float(state["loss_bg"])
