"""Save and restore a model's state around an attack.

An attack runs the model forward and backward many times; afterwards the model must be exactly
as the caller left it, also when the attack raises midway. :func:`preserved_state` records every
module's ``training`` flag, every buffer (BatchNorm running statistics and
``num_batches_tracked``, by module and name, so a buffer that is replaced is put back too), and
every parameter's ``.grad`` and ``requires_grad``; restores them in ``finally``; and meanwhile puts
the normalisation layers in the requested mode and freezes the parameters (gradients are taken
w.r.t. the perturbation only, so autograd need not keep what the weight gradients would need).

Examples
--------
>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).train()
>>> before = model[1].running_mean.clone()
>>> with preserved_state(model, "train"):
...     _ = model(torch.randn(8, 3))
...     model[1].training, model[0].weight.requires_grad
(True, False)
>>> torch.equal(model[1].running_mean, before), int(model[1].num_batches_tracked)
(True, 0)
>>> model.training, model[0].weight.requires_grad
(True, True)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.nn.modules.batchnorm import _NormBase

from robust.threat import BN_MODES, check_choice


@contextlib.contextmanager
def preserved_state(
    model: torch.nn.Module, bn_mode: str = "eval", *, freeze_params: bool = True
) -> Iterator[torch.nn.Module]:
    """Context manager: set the normalisation mode, restore the whole model state on exit.

    Parameters
    ----------
    model
        The module the attack runs (unwrapped, not a DDP wrapper).
    bn_mode
        ``"eval"``: BatchNorm/InstanceNorm layers use running statistics; ``"train"``: batch
        statistics (their running statistics are restored afterwards). Other modules (dropout)
        keep the mode the caller set.
    freeze_params
        Set ``requires_grad=False`` on every parameter while inside (restored on exit).
    """
    check_choice("bn_mode", bn_mode, BN_MODES)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    modules = list(model.modules())
    modes = [m.training for m in modules]
    params = list(model.parameters())
    grads = [p.grad for p in params]
    flags = [p.requires_grad for p in params]
    # (owner module, buffer name, original tensor object, saved values)
    buffers = [
        (m, name, b, b.detach().clone())
        for m in modules
        for name, b in m._buffers.items()
        if b is not None
    ]
    try:
        train_norm = bn_mode == "train"
        for m in modules:
            if isinstance(m, _NormBase):
                m.training = train_norm
        if freeze_params:
            for p in params:
                p.requires_grad_(False)
        yield model
    finally:
        with torch.no_grad():
            for m, name, original, saved in buffers:
                m._buffers[name] = original
                original.copy_(saved)
        for p, g, f in zip(params, grads, flags):
            p.requires_grad_(f)
            p.grad = g
        for m, t in zip(modules, modes):
            m.training = t
