"""Fresh copies for :meth:`adaptive.OnlineLearner.clone` (River's ``clone`` protocol).

River clones a model by calling its class with deep copies of the constructor's arguments. A
PyTorch optimizer holds references to the parameters of the model it was built for, so a deep
copy of both would train tensors that are not the new model's; and a detector or fleet holds
the state of the stream it watched. These helpers build what a fresh learner needs instead.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from river import base as river_base

from adaptive.drift import Fleet


def fresh_optimizer(optimizer: torch.optim.Optimizer, groups: list[dict[str, Any]],
                    old_model: torch.nn.Module, model: torch.nn.Module) -> torch.optim.Optimizer:
    """``optimizer``'s class with the group settings ``groups`` over ``model``'s parameters,
    which take the places ``old_model``'s parameters had in the optimizer."""
    index = {id(p): i for i, p in enumerate(old_model.parameters())}
    params = list(model.parameters())
    new_groups = []
    for g, options in zip(optimizer.param_groups, groups):
        try:
            new_groups.append({**options, "params": [params[index[id(p)]] for p in g["params"]]})
        except KeyError:
            raise ValueError("the optimizer holds parameters that are not the model's: pass "
                             "new_params={'optimizer': ...} to clone") from None
    try:
        return type(optimizer)(new_groups, **optimizer.defaults)
    except TypeError as err:
        raise ValueError(f"cannot rebuild {type(optimizer).__name__} from its defaults ({err}); "
                         "pass new_params={'optimizer': ...} to clone") from None


def fresh_copy(obj: Any) -> Any:
    """A fresh copy of a detector (River's clone), a fleet (same streams and parameters, fresh
    states) or anything else (a deep copy)."""
    if obj is None:
        return None
    if isinstance(obj, river_base.Base):
        return obj.clone()
    if isinstance(obj, Fleet):
        fleet = copy.deepcopy(obj)
        fleet.reset()
        fleet.n_skipped[:] = 0
        return fleet
    return copy.deepcopy(obj)
