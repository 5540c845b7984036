"""Reset the optimizer's moments on a drift.

Adaptive optimizers (Adam, RMSprop, momentum SGD) carry running averages of past gradients; after
a concept change those averages point the wrong way and damp the new gradients. This policy clears
the optimizer's per-parameter state, so Adam restarts its bias correction and momentum restarts
from zero; the learning rates and parameter groups are kept.

Examples
--------
>>> import torch
>>> from adaptive.online.policies import ResetMoments
>>> model = torch.nn.Linear(2, 1)
>>> opt = torch.optim.Adam(model.parameters())
>>> model(torch.ones(1, 2)).sum().backward(); opt.step()
>>> len(opt.state)
2
>>> class L: optimizer = opt
>>> ResetMoments().fire(L(), "drift")
>>> len(opt.state)
0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adaptive.online.policy import Policy

if TYPE_CHECKING:
    from adaptive.online.learner import OnlineLearner


class ResetMoments(Policy):
    """Clear the optimizer state (moments, step counts) when triggered.

    Parameters
    ----------
    on, sources
        See :class:`adaptive.policy.Policy`.
    """

    def fire(self, learner: OnlineLearner, kind: str) -> None:
        learner.optimizer.state.clear()
