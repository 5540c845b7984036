"""Shared plumbing of the adversarial training objectives (private).

Every method in ``robust/pgd_at.py``, ``fast_at.py``, ``n_fgsm.py``, ``free_at.py``,
``trades.py`` derives from :class:`AdversarialObjective`: it validates ``eps``/``bn_mode`` the
same way, exposes an ``eps_scale`` that :class:`robust.EpsWarmup` drives (and that its
``state_dict`` carries), and runs attacks on the unwrapped module (``model.module`` of a DDP
wrapper) while the update goes through the wrapper.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from robust.threat import BN_MODES, check_choice
from traincore import Objective, StepOutput, Updater, split_batch


def check_eps(eps: Any, name: str = "eps") -> None:
    """``eps`` must be a positive finite float or a tensor of positive finite values: ``(N,)``
    per sample, or per element/channel (e.g. ``(C, 1, 1)``: :meth:`robust.Normalize.threat`).
    The shape is checked against each batch by the attack."""
    if isinstance(eps, torch.Tensor):
        if eps.dim() == 0 or eps.numel() == 0:
            raise ValueError(f"{name} as a tensor must have shape (N,) or a per-element shape "
                             f"such as (C, 1, 1), got {tuple(eps.shape)}")
        if not bool(torch.isfinite(eps).all()) or not bool((eps > 0).all()):
            raise ValueError(f"{name} tensor must hold positive finite values, got {eps}")
        return
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"{name} must be a float or an (N,) tensor, got {type(eps).__name__}")
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"{name}={eps!r} must be a positive finite number")


def check_positive(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a positive finite number")


def like_input(x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Give ``x_adv`` the memory format of ``x`` (channels_last stays channels_last)."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return x_adv.contiguous(memory_format=torch.channels_last)
    return x_adv


def check_bounds(lower: Any, upper: Any) -> None:
    """Domain bounds: numbers or tensors (per channel), ``lower < upper`` everywhere."""
    for name, b in (("lower", lower), ("upper", upper)):
        if not isinstance(b, torch.Tensor) and (isinstance(b, bool)
                                                or not isinstance(b, (int, float))):
            raise TypeError(f"{name} must be a number or a tensor, got {type(b).__name__}")
    if not bool(torch.all(torch.as_tensor(lower) < torch.as_tensor(upper))):
        raise ValueError(f"lower={lower!r} must be < upper={upper!r} everywhere")


class AdversarialObjective(Objective):
    """Base of the adversarial objectives: eps, warm-up scale and the attack's BN mode.

    ``eps_scale`` (1.0 by default) multiplies ``eps`` and an explicit ``alpha`` at every step;
    :class:`robust.EpsWarmup` sets it. Subclasses read :meth:`current_eps` and
    :meth:`current_alpha`.

    The default :meth:`step` is attack, then update: ``x_adv = self._adversarial(...)`` (which
    calls the subclass's ``attack``), ``(loss, logits) = self._loss(...)`` (cross-entropy on
    ``x_adv`` under the updater's autocast), ``updater.update(loss)``. A method overrides only
    the hook that differs; :meth:`state_dict` holds ``eps_scale`` and subclasses extend it via
    ``super()``.
    """

    eps: float | torch.Tensor
    alpha: float | None = None
    eps_scale: float = 1.0

    def _store_attack_config(self, eps: float | torch.Tensor, alpha: float | None, bn_mode: str,
                             lower: float | torch.Tensor, upper: float | torch.Tensor,
                             generator: torch.Generator | None) -> None:
        """Store the arguments every attacking method shares (eps/alpha validated by the
        caller; bn_mode and the bounds here)."""
        check_choice("bn_mode", bn_mode, BN_MODES)
        check_bounds(lower, upper)
        self.eps = eps
        self.alpha = alpha
        self.bn_mode = bn_mode
        self.lower = lower
        self.upper = upper
        self.generator = generator
        self.eps_scale = 1.0

    def current_eps(self) -> float | torch.Tensor:
        return self.eps * self.eps_scale

    def current_alpha(self, default_factor: float) -> float | torch.Tensor:
        """``alpha * eps_scale``, or ``default_factor * current_eps()`` when alpha is None."""
        if self.alpha is None:
            return self.current_eps() * default_factor
        return self.alpha * self.eps_scale

    def fallback(self) -> Objective | None:
        """The objective to switch to after catastrophic overfitting (None: keep this one)."""
        return None

    def _adversarial(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                     precision: str | None) -> torch.Tensor:
        """The training inputs for ``(x, y)`` (detached, shape of ``x``): ``self.attack``."""
        return self.attack(model, x, y, precision=precision)  # type: ignore[attr-defined]

    def _loss(self, model: torch.nn.Module, x: torch.Tensor, x_adv: torch.Tensor,
              y: torch.Tensor, updater: Updater) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, logits)`` of the update: cross-entropy of ``model(x_adv)`` under autocast."""
        with updater.autocast(x):
            logits = model(x_adv)  # (N, classes)
            loss = F.cross_entropy(logits, y)
        return loss, logits

    def step(self, model: torch.nn.Module, batch: Any, updater: Updater) -> StepOutput:
        x, y = split_batch(batch)
        x_adv = self._adversarial(model, x, y, precision=updater.precision.name)
        loss, logits = self._loss(model, x, x_adv, y, updater)
        updater.update(loss)
        return StepOutput(loss.detach().float(), logits.detach(), y)

    def state_dict(self) -> dict[str, Any]:
        return {"eps_scale": self.eps_scale}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.eps_scale = float(state.get("eps_scale", 1.0))
