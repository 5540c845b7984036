"""Normalised inputs: keep the threat model in pixel space.

Most image models are trained on standardised inputs ``(x - mean) / std``. Adversarial
robustness is stated in pixel units (``eps = 8/255`` on images in [0, 1]), so there are two
equivalent ways to attack or train such a model:

1. **Normalisation inside the model** (recommended): the data loader yields pixels in [0, 1] and
   :class:`Normalize` is the model's first layer. Every attack, training method and evaluation
   then works with its defaults (``eps`` in pixel units, ``lower=0``, ``upper=1``).
2. **The loader already normalises**: the attack must then work in normalised units, where the
   pixel box [0, 1] becomes the per-channel box ``[(0 - mean) / std, (1 - mean) / std]`` and the
   pixel radius ``eps`` becomes ``eps / std`` per channel. :meth:`Normalize.threat` returns
   exactly these keyword arguments (``eps``, ``lower``, ``upper``, and ``alpha`` when given) for
   :func:`robust.pgd`, :func:`robust.fgsm`, the training methods and
   :func:`robust.autoattack_accuracy`.

Both give the same adversarial examples (up to rounding): for L-inf the sign of the gradient is
unchanged by the positive per-channel factor ``std``, and a step ``alpha / std`` in normalised
units is a step ``alpha`` in pixels. L2 radii do not map to one per-channel radius unless all
``std`` are equal, so the second route is L-inf only.

Examples
--------
>>> import torch
>>> from robust import Normalize, pgd
>>> norm = Normalize(mean=[0.5, 0.4], std=[0.25, 0.2])
>>> x = torch.full((1, 2, 3, 3), 0.5)
>>> norm(x)[0, :, 0, 0]
tensor([0.0000, 0.5000])
>>> t = norm.threat(eps=0.1)
>>> t["eps"].flatten(), t["lower"].flatten(), t["upper"].flatten()
(tensor([0.4000, 0.5000]), tensor([-2., -2.]), tensor([2., 3.]))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _channels(name: str, values: Sequence[float] | torch.Tensor, positive: bool) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float32).flatten()
    if t.numel() == 0:
        raise ValueError(f"{name} must hold one value per channel, got none")
    if not bool(torch.isfinite(t).all()) or (positive and not bool((t > 0).all())):
        raise ValueError(f"{name}={values!r} must be finite{' and > 0' if positive else ''}")
    return t.view(-1, 1, 1)  # (C, 1, 1)


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, as a model's first layer (inputs ``(N, C, ...)``).

    Parameters
    ----------
    mean, std
        One value per channel (``std > 0``), e.g. ``(0.2860,)`` / ``(0.3530,)`` for
        Fashion-MNIST. Stored as buffers of shape ``(C, 1, 1)`` (they follow ``.to(device)`` and
        are saved in the state dict).
    """

    mean: torch.Tensor  # (C, 1, 1) buffer
    std: torch.Tensor  # (C, 1, 1) buffer

    def __init__(self, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor):
        super().__init__()
        m, s = _channels("mean", mean, False), _channels("std", std, True)
        if m.shape != s.shape:
            raise ValueError(f"mean and std must have one value per channel each, got "
                             f"{m.shape[0]} and {s.shape[0]}")
        self.register_buffer("mean", m)
        self.register_buffer("std", s)

    def _view(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mean/std shaped to broadcast against ``x`` (N, C, *spatial)."""
        c = self.mean.shape[0]
        if x.ndim < 2 or x.shape[1] != c:
            raise ValueError(f"Normalize expects inputs (N, C={c}, ...), got {tuple(x.shape)}")
        shape = (c, *([1] * (x.ndim - 2)))
        return self.mean.view(shape).to(x.dtype), self.std.view(shape).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._view(x)
        return (x - mean) / std

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """The inverse map: normalised units back to pixels."""
        mean, std = self._view(z)
        return z * std + mean

    def threat(self, eps: float, *, alpha: float | None = None, lower: float = 0.0,
               upper: float = 1.0) -> dict[str, torch.Tensor]:
        """Keyword arguments for attacking in normalised units a pixel-space L-inf threat model.

        Parameters
        ----------
        eps, alpha
            Pixel-space radius and step size (floats); returned as ``eps / std`` (and
            ``alpha / std``) per channel, shape ``(C, 1, 1)``.
        lower, upper
            The pixel domain (default [0, 1]); returned as ``(bound - mean) / std``.
        """
        for name, v in (("eps", eps), ("lower", lower), ("upper", upper)) + (
                (("alpha", alpha),) if alpha is not None else ()):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name}={v!r} must be a finite number (pixel units)")
        if eps < 0 or (alpha is not None and alpha <= 0) or not lower < upper:
            raise ValueError(f"need eps >= 0, alpha > 0 and lower < upper; got eps={eps!r}, "
                             f"alpha={alpha!r}, lower={lower!r}, upper={upper!r}")
        out = {"eps": eps / self.std, "lower": (lower - self.mean) / self.std,
               "upper": (upper - self.mean) / self.std}
        if alpha is not None:
            out["alpha"] = alpha / self.std
        return out

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"
