"""TENT: test-time adaptation by entropy minimisation on BatchNorm affine parameters.

Wang et al., "Tent: Fully Test-Time Adaptation by Entropy Minimization", ICLR 2021,
arXiv:2006.10726. Without labels, TENT minimises the mean entropy of the model's predictions on
new inputs, updating only the BatchNorm scale and shift (everything else frozen) while BatchNorm
normalises with the statistics of the current batch. Defaults follow the paper's CIFAR setting
(Adam, lr 1e-3, one step per batch of new inputs).

.. note:: The paper adapts on every test batch. Here TENT is a policy: a trigger (typically a
   drift of the label-free feature monitor) arms it; it then waits for ``n_inputs`` new inputs
   and runs ``steps`` passes of entropy minimisation over them in batches of ``batch_size``.
   The updates go through a :class:`traincore.Updater` over an optimizer of the BatchNorm affine
   parameters only; the forward passes in train mode also refresh the running statistics.

Examples
--------
>>> import torch
>>> from adaptive import OnlineLearner
>>> from adaptive.online.policies import TENT
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4),
...                             torch.nn.Linear(4, 3))
>>> tent = TENT(n_inputs=64)
>>> learner = OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.1), policies=[tent])
>>> w0, gamma0 = model[0].weight.clone(), model[1].weight.clone()
>>> tent.fire(learner, "drift")
>>> learner.observe_many(torch.randn(64, 2) * 3.0)
>>> torch.equal(model[0].weight, w0), torch.equal(model[1].weight, gamma0)
(True, False)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from adaptive.online.policies.bn_refresh import _RecentInputsPolicy
from adaptive.online.policy import batchnorm_layers, iter_batches
from traincore import Updater

if TYPE_CHECKING:
    from adaptive.online.learner import OnlineLearner


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """(B,) Shannon entropy (nats) of softmax(logits) for logits (B, C)."""
    logp = torch.log_softmax(logits.float(), 1)
    return -(logp.exp() * logp).sum(1)


class TENT(_RecentInputsPolicy):
    """Entropy minimisation on the BatchNorm affine parameters over the next ``n_inputs``.

    Parameters
    ----------
    lr
        Adam learning rate (paper, CIFAR: 1e-3).
    steps
        Passes over the collected inputs per trigger.
    n_inputs
        New inputs to wait for after the trigger (the adaptation set).
    batch_size
        Batch size of the entropy steps (BatchNorm uses the batch statistics).
    seed
        Seed of the shuffling.
    on, sources
        See :class:`adaptive.policy.Policy` (loss detector and feature monitor by default).
    """

    default_sources = ("loss", "features")

    def __init__(self, lr: float = 1e-3, steps: int = 1, n_inputs: int = 256,
                 batch_size: int = 64, *, seed: int = 0, on: str = "drift",
                 sources: tuple[str, ...] | None = None):
        super().__init__(on=on, sources=sources)
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"lr={lr!r} must be a number > 0")
        for name, v in (("steps", steps), ("n_inputs", n_inputs), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < (2 if name != "steps" else 1):
                raise ValueError(f"{name}={v!r} must be an integer >= "
                                 f"{2 if name != 'steps' else 1}")
        self.lr, self.steps, self.n_inputs, self.batch_size = float(lr), steps, n_inputs, batch_size
        self.seed = seed
        self._opt: torch.optim.Optimizer | None = None
        self.n_adapted = 0

    def _params(self, model: torch.nn.Module) -> list[torch.nn.Parameter]:
        return [p for m in batchnorm_layers(model) if m.affine for p in (m.weight, m.bias)]

    def bind(self, learner: OnlineLearner) -> None:
        if not self._params(learner.model):
            raise ValueError(f"{type(learner.model).__name__} has no affine BatchNorm layer "
                             "for TENT to adapt")
        if learner.task != "classification":
            raise ValueError("TENT minimises prediction entropy: it needs a classifier")
        self._check_memory(learner)
        self._opt = torch.optim.Adam(self._params(learner.model), lr=self.lr)

    def _act(self, learner: OnlineLearner, recent: torch.Tensor) -> None:
        self.adapt(learner, recent)

    def adapt(self, learner: OnlineLearner, x: torch.Tensor) -> None:
        """Entropy steps on inputs x (N, ...): BatchNorm affine parameters only."""
        model = learner.model
        bn = {id(p) for p in self._params(model)}
        frozen = [p for p in model.parameters() if id(p) not in bn and p.requires_grad]
        updater = Updater(model, self._opt, precision=learner.updater.precision)  # type: ignore[arg-type]
        gen = torch.Generator().manual_seed(self.seed + self.n_adapted)
        was = model.training
        try:
            for p in frozen:
                p.requires_grad_(False)
            model.train()  # BatchNorm normalises with the batch's statistics, as in the paper
            for _ in range(self.steps):
                for idx in iter_batches(x.shape[0], self.batch_size, gen):
                    if idx.numel() < 2:
                        continue
                    xb = x[idx.to(x.device)]
                    with updater.autocast(xb):
                        loss = entropy(model(xb)).mean()
                    updater.update(loss)
        finally:
            for p in frozen:
                p.requires_grad_(True)
            model.train(was)
        self.n_adapted += 1

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "n_adapted": self.n_adapted,
                "optimizer": None if self._opt is None else self._opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.n_adapted = int(state["n_adapted"])
        if state["optimizer"] is not None and self._opt is not None:
            self._opt.load_state_dict(state["optimizer"])
