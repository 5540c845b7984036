"""AutoAttack on any input domain and any input shape (torchattacks' ensemble, re-parametrised).

Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020, arXiv:2003.01690. The attacks are torchattacks' (APGD-CE,
APGD-T, FAB-T, Square for ``version="standard"``), an optional peer: ``pip install torchattacks``.

torchattacks' AutoAttack assumes inputs of shape ``(N, C, H, W)`` in [0, 1]: it clamps every
point to [0, 1] (a model on standardised data or signals would silently be attacked in the wrong
set) and its APGD fails on other shapes. Here the model is re-parametrised exactly instead:

- ``u = (x - lower) / (upper - lower)`` maps the domain onto [0, 1] (``lower``/``upper``
  scalars or per-channel tensors broadcastable to ``x[0]``), and the attacked module is
  ``u -> model(lower + (upper - lower) * u)``;
- an L-inf radius ``eps`` (float, or per element, e.g. :meth:`robust.Normalize.threat`'s
  ``eps / std``) becomes ``eps / (upper - lower)``, which must be one number: the L-inf ball
  maps onto an L-inf ball only then (true for pixel-space radii on normalised data). For L2 the
  range must be the same everywhere;
- ``x`` of any shape is viewed as ``(N, C, H, W)``: ``(N, D)`` as ``(N, 1, D, 1)``,
  ``(N, C, L)`` as ``(N, C, L, 1)``, ``(N, C, D1, ..., H, W)`` as ``(N, C * D1 * ..., H, W)``.

The adversarial points are mapped back to ``x``'s units and projected onto the ball and the
domain (a rounding correction of at most a few ulps). The model's mode, buffers and gradients
are restored afterwards, and the global RNG (which torchattacks reseeds) is left untouched.

Examples
--------
>>> import torch
>>> from robust import AutoAttack
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 4))
>>> x = torch.rand(4, 2, 4) * 8 - 4  # (N, C, L) signals in [-4, 4]
>>> y = model(x).argmax(1)
>>> x_adv = AutoAttack(eps=2.0, lower=-4.0, upper=4.0)(model, x, y)
>>> bool((x_adv - x).abs().max() <= 2.0 + 1e-5), bool((model(x_adv).argmax(1) != y).all())
(True, True)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from robust._state import preserved_state
from robust.threat import (
    check_input,
    check_labels,
    check_logits,
    check_model,
    domain_bounds,
    linf_box,
    per_sample,
    project_,
)

NORMS = ("Linf", "L2")
VERSIONS = ("standard", "plus", "rand")
_REL_TOL = 1e-5  # how far eps / (upper - lower) may vary (rounding of eps / std, (1 - m) / std)


def view_4d(shape: torch.Size) -> tuple[int, ...]:
    """The ``(N, C, H, W)`` view torchattacks' attacks need, for an input of any ``shape``."""
    n, rest = shape[0], tuple(shape[1:])
    if len(rest) == 0:
        return (n, 1, 1, 1)
    if len(rest) == 1:
        return (n, 1, rest[0], 1)
    if len(rest) == 2:
        return (n, rest[0], rest[1], 1)
    return (n, math.prod(rest[:-2]), rest[-2], rest[-1])


class _UnitCube(nn.Module):
    """``u`` (N, C', H', W') in [0, 1] -> ``model(u.reshape(x shape) * width + lower)``."""

    def __init__(self, model: nn.Module, lo: torch.Tensor, width: torch.Tensor, shape):
        super().__init__()
        self.model = model
        self.lo, self.width, self.shape = lo, width, tuple(shape[1:])

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        x = u.reshape(u.shape[0], *self.shape) * self.width + self.lo
        return self.model(x)


def _unit_radius(eps, norm: str, x: torch.Tensor, width: torch.Tensor) -> float:
    """``eps / (upper - lower)`` as one number, or a ValueError naming eps."""
    e = per_sample(eps, "eps", x)
    if isinstance(e, torch.Tensor) and e.shape[0] != 1:
        raise ValueError("eps of AutoAttack must be a float or a per-element tensor broadcastable "
                         f"to x[0] (one radius for all samples), got shape {tuple(eps.shape)}")
    if norm == "L2" and float(width.max() - width.min()) > _REL_TOL * float(width.max()):
        raise ValueError("norm='L2' needs the same range upper - lower everywhere (an L2 ball "
                         "does not map onto [0, 1] otherwise); put the normalisation inside the "
                         "model (robust.Normalize) and attack in [0, 1]")
    if norm == "L2" and isinstance(e, torch.Tensor):
        raise ValueError("eps of an L2 AutoAttack must be a float")
    ratio = torch.as_tensor(e, dtype=torch.float64) / width.double()  # (1, ...) or scalar
    lo_r, hi_r = float(ratio.min()), float(ratio.max())
    if hi_r - lo_r > _REL_TOL * hi_r:
        raise ValueError(
            f"eps / (upper - lower) must be the same for every element (it varies from {lo_r:.6g}"
            f" to {hi_r:.6g}): AutoAttack attacks one radius on [0, 1]. Scale eps with the range "
            "per channel (robust.Normalize.threat does) or put the normalisation inside the "
            "model (robust.Normalize)")
    if not hi_r > 0:
        raise ValueError(f"eps={eps!r} must be > 0 for AutoAttack")
    return hi_r


def autoattack(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float | torch.Tensor,
    norm: str = "Linf", version: str = "standard", n_classes: int | None = None, seed: int = 0,
    lower: float | torch.Tensor = 0.0, upper: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """AutoAttack adversarial examples for ``(x, y)`` inside ``[lower, upper]`` (module doc).

    Parameters
    ----------
    model
        Classifier returning ``(N, classes)`` logits; attacked in eval mode, state restored.
    x, y
        Inputs of any shape ``(N, ...)`` inside ``[lower, upper]``; integer labels ``(N,)``.
    eps
        Radius in ``x``'s units: a float, or (L-inf) a tensor broadcastable to ``x[0]`` with
        ``eps / (upper - lower)`` constant.
    norm, version, seed
        torchattacks' ``AutoAttack`` options (``"Linf"``/``"L2"``; ``"standard"``, ``"plus"``,
        ``"rand"``).
    n_classes
        Number of classes (None: taken from the model's logits); must match the model.
    lower, upper
        Domain bounds: floats or tensors broadcastable to ``x[0]`` (e.g. ``(C, 1, 1)``).
    """
    try:
        import torchattacks
    except ImportError as err:
        raise ImportError("AutoAttack needs torchattacks (an optional peer): "
                          "pip install torchattacks") from err
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r} is not supported by AutoAttack; use one of {NORMS}")
    if version not in VERSIONS:
        raise ValueError(f"version={version!r} is not supported; use one of {VERSIONS}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_input(x)
    check_model(model)
    y = check_labels(y, x)
    lo, hi = domain_bounds(lower, upper, x)  # work dtype; refuses x outside the domain
    lo, width = lo.to(x.dtype), (hi - lo).to(x.dtype)
    eps_u = _unit_radius(eps, norm, x, width)
    with preserved_state(model, "eval"), torch.random.fork_rng(
            devices=[x.device] if x.device.type == "cuda" else []):
        with torch.no_grad():
            logits = model(x)
        check_logits(logits, y, x.shape[0])
        k = logits.shape[1]
        if n_classes is not None and n_classes != k:
            raise ValueError(f"n_classes={n_classes!r} but the model returns {k} logits")
        need = 3 if version == "rand" else 4  # the DLR losses read the 3rd / 4th largest logit
        if k < need:
            raise ValueError(f"AutoAttack version={version!r} needs a model with >= {need} "
                             f"classes (its DLR loss), got {k}")
        wrapped = _UnitCube(model, lo, width, x.shape).eval()
        u = ((x - lo) / width).clamp(0.0, 1.0).reshape(view_4d(x.shape))
        aa = torchattacks.AutoAttack(wrapped, norm=norm, eps=eps_u, version=version,
                                     n_classes=k, seed=seed)
        u_adv = aa(u, y)
    x_adv = (u_adv.reshape(x.shape) * width + lo).to(x.dtype)
    if norm == "Linf":  # undo rounding beyond the ball or the domain (a few ulps)
        e = per_sample(eps, "eps", x)
        box_lo, box_hi = linf_box(x, e, lo, lo + width)
        return torch.clamp(x_adv, box_lo, box_hi)
    return project_(x_adv, x, float(eps), "l2", lo, lo + width)


class AutoAttack:
    """AutoAttack with a stored configuration: ``AutoAttack(eps=0.1)(model, x, y)``.

    The keyword arguments are those of :func:`autoattack` (``eps`` required), validated at
    construction where they do not depend on ``x``.
    """

    def __init__(self, *, eps: float | torch.Tensor, norm: str = "Linf",
                 version: str = "standard", n_classes: int | None = None, seed: int = 0,
                 lower: float | torch.Tensor = 0.0, upper: float | torch.Tensor = 1.0):
        if norm not in NORMS:
            raise ValueError(f"norm={norm!r} is not supported by AutoAttack; use one of {NORMS}")
        if version not in VERSIONS:
            raise ValueError(f"version={version!r} is not supported; use one of {VERSIONS}")
        if not isinstance(eps, torch.Tensor) and not (
                isinstance(eps, (int, float)) and not isinstance(eps, bool)
                and math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps={eps!r} must be a positive finite float (or a tensor)")
        self.config: dict[str, Any] = dict(
            eps=eps, norm=norm, version=version, n_classes=n_classes, seed=seed, lower=lower,
            upper=upper)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return autoattack(model, x, y, **self.config)

    def __repr__(self) -> str:
        return "AutoAttack(" + ", ".join(f"{k}={v!r}" for k, v in self.config.items()) + ")"
