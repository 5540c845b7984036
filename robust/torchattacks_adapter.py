"""Adapter: any torchattacks attack as an ``attack(model, x, y)`` of this library.

torchattacks (Kim, "Torchattacks: A PyTorch Repository for Adversarial Attacks",
arXiv:2010.01950) binds the model at construction and switches the model to eval mode without
``try``/``finally``. The adapter builds one torchattacks object per model (cached by model
identity; the last :data:`CACHE_SIZE` models are kept, since each attack holds its model) and
runs it inside
:func:`robust._state.preserved_state`, so the model's modes, buffers, ``.grad`` and
``requires_grad`` flags are restored even if the attack raises. torchattacks is an optional
dependency: it is imported only when a class plus keyword arguments is given.

Threat model and input range are those of the wrapped attack (torchattacks clips to [0, 1]).

Examples
--------
>>> import torch
>>> import torchattacks
>>> from robust import TorchattacksAdapter
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(4, 3)
>>> attack = TorchattacksAdapter(torchattacks.FGSM, eps=0.1)
>>> x, y = torch.full((2, 4), 0.5), torch.tensor([0, 1])
>>> (attack(model, x, y) - x).abs().amax(dim=1)
tensor([0.1000, 0.1000])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from robust._state import preserved_state
from robust.threat import BN_MODES, check_choice, check_input, check_labels

CACHE_SIZE = 8


class TorchattacksAdapter:
    """Wrap a torchattacks attack factory into ``attack(model, x, y) -> x_adv``.

    Parameters
    ----------
    factory
        A callable ``model -> torchattacks.Attack`` (e.g. ``lambda m: torchattacks.PGD(m)``), or
        a torchattacks attack class, then instantiated as ``factory(model, **kwargs)``.
    bn_mode
        ``"eval"`` (torchattacks' default: the whole model in eval mode) or ``"train"``
        (BatchNorm in train mode, dropout in eval, via ``set_model_training_mode``); buffers are
        restored afterwards either way.
    **kwargs
        Keyword arguments of the attack class (only with a class).
    """

    def __init__(self, factory: Callable[[torch.nn.Module], Any] | type, *,
                 bn_mode: str = "eval", **kwargs: Any):
        if not callable(factory):
            raise TypeError(f"factory must be a callable model -> torchattacks.Attack or an "
                            f"attack class, got {type(factory).__name__}")
        if kwargs and not isinstance(factory, type):
            raise TypeError("keyword arguments are only accepted with an attack class; "
                            f"got a {type(factory).__name__} and {sorted(kwargs)}")
        check_choice("bn_mode", bn_mode, BN_MODES)
        self.factory = factory
        self.bn_mode = bn_mode
        self.kwargs = dict(kwargs)
        self._cache: dict[int, tuple[torch.nn.Module, Any]] = {}  # id -> (model, attack)

    def __repr__(self) -> str:
        name = getattr(self.factory, "__name__", repr(self.factory))
        extra = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"TorchattacksAdapter({name}, bn_mode={self.bn_mode!r}{extra})"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": {}}

    def attack_for(self, model: torch.nn.Module) -> Any:
        """The torchattacks object for ``model`` (built on first use, then cached)."""
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        key = id(model)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is model:
            return hit[1]
        attack = self.factory(model, **self.kwargs)
        if not callable(attack) or not hasattr(attack, "set_model_training_mode"):
            raise TypeError(f"factory must return a torchattacks.Attack, got "
                            f"{type(attack).__name__}")
        if self.bn_mode == "train":
            attack.set_model_training_mode(model_training=True, batchnorm_training=True,
                                           dropout_training=False)
        self._cache.pop(key, None)
        while len(self._cache) >= CACHE_SIZE:  # oldest first (dicts keep insertion order)
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (model, attack)
        return attack

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_input(x)
        y = check_labels(y, x)
        attack = self.attack_for(model)
        with preserved_state(model, self.bn_mode, freeze_params=False):
            x_adv = attack(x, y)
        return x_adv.detach().to(dtype=x.dtype, device=x.device)
