"""Fast gradient sign method (FGSM), and FGSM with a random start (Fast-AT's attack).

Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", arXiv:1412.6572.
Random start: Wong, Rice, Kolter, "Fast is better than free: Revisiting adversarial training",
arXiv:2001.03994.

Threat model: ``||x_adv - x||_p <= eps`` (p = inf, or 2 for the fast gradient method) intersected
with the domain ``[lower, upper]`` (default ``[0, 1]``). One step of size ``alpha`` along
``sign(grad)`` (L2: ``grad / (||grad||_2 + 1e-10)``) from ``x``, or, with ``random_start``, from
a point drawn uniformly in the ball; then projection onto the ball and the domain.

Defaults: ``alpha = eps`` without random start (torchattacks' ``FGSM``), ``alpha = 1.25 * eps``
with it (Wong et al.; torchattacks' ``FFGSM`` uses 10/255 for eps 8/255, i.e. 1.25 * eps).

Examples
--------
>>> import torch
>>> from robust import fgsm
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(4, 3)
>>> x, y = torch.full((2, 4), 0.5), torch.tensor([0, 1])
>>> (fgsm(model, x, y, eps=0.1) - x).abs().amax(dim=1)
tensor([0.1000, 0.1000])
>>> x_rs = fgsm(model, x, y, eps=0.1, random_start=True, generator=torch.Generator().manual_seed(0))
>>> bool((x_rs - x).abs().max() <= 0.1 + 1e-6)
True
"""

from __future__ import annotations

from typing import Any

import torch

from robust.pgd import _bind_config, _repr, run_attack
from robust.threat import check_config

Tensor = torch.Tensor


def fgsm(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    norm: str = "linf",
    random_start: bool = False,
    alpha: float | Tensor | None = None,
    lower: float | Tensor = 0.0,
    upper: float | Tensor = 1.0,
    loss: str = "ce",
    targeted: bool = False,
    bn_mode: str = "eval",
    generator: torch.Generator | None = None,
    precision: str | None = None,
) -> Tensor:
    """One-step attack; returns ``x_adv`` with ``x``'s shape, dtype and device.

    Parameters
    ----------
    model, x, y, eps, norm, lower, upper, loss, targeted, bn_mode, generator, precision
        As in :func:`robust.pgd`.
    random_start
        Start uniformly in the ball (Fast-AT, Wong et al. 2020).
    alpha
        Step size; default ``eps`` without random start, ``1.25 * eps`` with it.
    """
    check_config(eps=eps, alpha=alpha, norm=norm, loss=loss, bn_mode=bn_mode,
                 precision=precision, generator=generator)
    rule = None
    if alpha is None:
        rule = "1.25 * eps" if random_start is True else "eps"
        alpha = 1.25 * eps if random_start is True else eps
    return run_attack(
        model, x, y, eps=eps, alpha=alpha, steps=1, norm=norm, random_start=random_start,
        restarts=1, loss=loss, targeted=targeted, lower=lower, upper=upper, bn_mode=bn_mode,
        generator=generator, precision=precision, compile=False, alpha_rule=rule,
    )


class FGSM:
    """FGSM with a stored configuration: ``FGSM(eps=8/255, random_start=True)(model, x, y)``.

    The keyword arguments are those of :func:`fgsm`, stored verbatim in :attr:`config` and
    validated at construction.

    Examples
    --------
    >>> FGSM(eps=8 / 255, random_start=True)
    FGSM(eps=0.03137254901960784, random_start=True)
    """

    def __init__(self, **config: Any):
        self.config = dict(config)
        _bind_config(fgsm, self.config)
        check_config(**{k: v for k, v in self.config.items()
                        if k in ("eps", "alpha", "norm", "loss", "bn_mode", "precision",
                                 "generator")})

    def __call__(self, model: torch.nn.Module, x: Tensor, y: Tensor) -> Tensor:
        return fgsm(model, x, y, **self.config)

    def __repr__(self) -> str:
        return _repr(self)
