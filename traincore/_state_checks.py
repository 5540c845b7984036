"""Does a checkpoint fit the objects it is about to be restored into? Checked before any copy.

``torch.nn.Module.load_state_dict`` copies every matching tensor before it reports the ones
that do not match, and ``Optimizer.load_state_dict`` accepts the state of another optimizer
class, or momentum buffers of other shapes, without a word. :func:`restore_problems` looks at
everything first, so a checkpoint that does not fit is refused with the model, optimizer,
scheduler and updater exactly as they were.

Examples
--------
>>> import torch
>>> saved = torch.nn.Linear(3, 2).state_dict()
>>> model_problems(saved, torch.nn.Linear(4, 2))
['weight: shape (2, 3) in the checkpoint, (2, 4) here']
>>> model_problems(saved, torch.nn.Linear(3, 2))
[]
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from typing import Any

import torch

# torch optimizers whose per-parameter state tensors (beyond 0-dim step counters) have the
# shape of their parameter; others (LBFGS, Adafactor, user classes) get the structural checks
_PARAM_SHAPED = tuple(
    getattr(torch.optim, name) for name in (
        "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta",
        "Rprop", "ASGD", "SparseAdam",
    ) if hasattr(torch.optim, name)
)
_GROUP_KEYS_IGNORED = {"params", "param_names"}  # ids and names are re-mapped on load


def restore_problems(key: str, saved: Any, target: Any, saved_type: str | None) -> list[str]:
    """What keeps ``target.load_state_dict(saved)`` from restoring the saved ``key`` state."""
    found = type(target).__qualname__
    if saved_type is not None and key in ("optimizer", "scheduler") and saved_type != found:
        return [f"saved from a {saved_type}, this {key} is a {found}"]
    if key == "model":
        return model_problems(saved, target)
    if key == "optimizer":
        return optimizer_problems(saved, target)
    validate = getattr(target, "validate_state_dict", None)  # Updater; any object may add one
    if callable(validate):
        try:
            validate(saved)
        except (ValueError, TypeError, KeyError) as err:
            return [str(err)]
    return []


def _shape(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, torch.Tensor) or torch.nn.parameter.is_lazy(value):
        return None
    return tuple(value.shape)


def model_problems(saved: Any, model: torch.nn.Module) -> list[str]:
    """Missing and unexpected keys and shape differences of a model state dict."""
    if not isinstance(saved, Mapping):
        return [f"model state is a {type(saved).__name__}, not a state dict"]
    current = model.state_dict()
    problems = [f"{k}: missing from the checkpoint" for k in current if k not in saved]
    problems += [f"{k}: in the checkpoint, not in this model" for k in saved if k not in current]
    for key in current.keys() & saved.keys():
        here, there = _shape(current[key]), _shape(saved[key])
        if here is not None and there is not None and here != there:
            problems.append(f"{key}: shape {there} in the checkpoint, {here} here")
    return problems


def optimizer_problems(saved: Any, optimizer: torch.optim.Optimizer) -> list[str]:
    """Group structure, hyperparameter names and state tensor shapes of an optimizer state."""
    if not isinstance(saved, Mapping) or not {"state", "param_groups"} <= saved.keys():
        return ["optimizer state lacks 'state' and 'param_groups'"]
    groups, saved_groups = optimizer.param_groups, saved["param_groups"]
    if len(groups) != len(saved_groups):
        return [f"{len(saved_groups)} parameter groups in the checkpoint, {len(groups)} here"]
    problems = []
    for index, (group, old) in enumerate(zip(groups, saved_groups)):
        if len(group["params"]) != len(old["params"]):
            problems.append(f"param_groups[{index}]: {len(old['params'])} parameters in the "
                            f"checkpoint, {len(group['params'])} here")
        unknown = sorted(set(old) - set(group) - _GROUP_KEYS_IGNORED)
        if unknown:
            problems.append(f"param_groups[{index}]: hyperparameters {unknown} unknown to "
                            f"{type(optimizer).__name__}")
    if problems or not isinstance(optimizer, _PARAM_SHAPED):
        return problems
    names = [f"param_groups[{g}]['params'][{i}]"
             for g, group in enumerate(groups) for i in range(len(group["params"]))]
    params = zip(chain.from_iterable(g["params"] for g in saved_groups), names,
                 chain.from_iterable(g["params"] for g in groups))
    for saved_id, name, param in params:
        for field, value in saved["state"].get(saved_id, {}).items():
            shape = _shape(value)
            if shape and shape != tuple(param.shape):
                problems.append(f"{name} {field}: shape {shape} in the checkpoint, "
                                f"{tuple(param.shape)} for the parameter here")
    return problems


def foreign_parameters(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> str | None:
    """The first optimizer parameter that is not one of ``model``'s, described; else None."""
    owned = {id(p) for p in model.parameters()}
    for g, group in enumerate(optimizer.param_groups):
        for i, param in enumerate(group["params"]):
            if id(param) not in owned:
                return f"param_groups[{g}]['params'][{i}] (shape {tuple(param.shape)})"
    return None
