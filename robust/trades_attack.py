"""TRADES inner maximisation: the KL divergence between clean and adversarial predictions.

Zhang, Yu, Jiao, Xing, El Ghaoui, Jordan, "Theoretically Principled Trade-off between Robustness
and Accuracy", arXiv:1901.08573.

Threat model: ``||x_adv - x||_p <= eps`` (p = inf or 2) intersected with ``[lower, upper]``
(default ``[0, 1]``). The attack maximises ``KL(softmax(f(x)) || softmax(f(x_adv)))`` per sample,
starting from ``x + init_std * N(0, 1)`` (``init_std = 0.001`` as in the paper's code), with
``steps`` signed (L-inf) or normalised (L2) gradient steps of size ``alpha``. Labels are not used.
The paper's CIFAR-10 setting is ``eps = 8/255, alpha = 2/255, steps = 10`` (torchattacks'
``TPGD`` defaults).

.. note::
   The gaussian start is projected onto the ball and the domain before the first step (the
   paper's code only clips it to the domain; the two agree whenever ``eps`` exceeds the noise).
   The L2 variant takes normalised gradient steps like :func:`robust.pgd` (the paper's code runs
   SGD on the perturbation and renormalises it).

Examples
--------
>>> import torch
>>> from robust import trades_attack
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(6, 4)
>>> x = torch.rand(3, 6)
>>> g = torch.Generator().manual_seed(0)
>>> x_adv = trades_attack(model, x, eps=0.05, alpha=0.02, steps=3, generator=g)
>>> bool((x_adv - x).abs().max() <= 0.05 + 1e-6), bool((x_adv != x).any())
(True, True)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from robust._state import preserved_state
from robust.early_stop import EarlyStop, ascend_early_, check_early_stop
from robust.pgd import _bind_config, _repr, _Setup, ascend_, at_least_fp32
from robust.threat import (
    check_config,
    check_device,
    check_finite_run,
    check_labels,
    check_logits,
    project_,
)

Tensor = torch.Tensor


def trades_attack(
    model: torch.nn.Module,
    x: Tensor,
    *,
    eps: float | Tensor,
    alpha: float | Tensor,
    steps: int = 10,
    norm: str = "linf",
    lower: float | Tensor = 0.0,
    upper: float | Tensor = 1.0,
    bn_mode: str = "eval",
    generator: torch.Generator | None = None,
    init_std: float = 0.001,
    logits_clean: Tensor | None = None,
    precision: str | None = None,
    compile: bool = False,
    y: Tensor | None = None,
    early_stop: EarlyStop | None = None,
) -> Tensor:
    """TRADES adversarial examples for ``x``; returns ``x_adv`` with ``x``'s shape and dtype.

    Parameters
    ----------
    model, x, eps, alpha, steps, norm, lower, upper, bn_mode, generator, precision, compile
        As in :func:`robust.pgd` (``alpha`` is required here).
    init_std
        Standard deviation of the gaussian start around ``x`` (>= 0).
    logits_clean
        Clean logits ``(N, classes)`` if the caller already has them (detached here); otherwise
        computed without gradient under ``bn_mode``.
    y, early_stop
        Labels ``(N,)`` and a :class:`robust.EarlyStop`: stop each sample once misclassified
        (the KL attack itself uses no labels; only the stopping rule does).
    """
    check_config(eps=eps, alpha=alpha, steps=steps, norm=norm, bn_mode=bn_mode,
                 precision=precision, generator=generator)
    if isinstance(init_std, bool) or not isinstance(init_std, (int, float)) or not (
        init_std >= 0 and init_std < float("inf")
    ):
        raise ValueError(f"init_std={init_std!r} must be a finite float >= 0")
    s = _Setup(model, x, eps, alpha, norm, lower, upper, precision, generator, compile)
    n = x.shape[0]
    compact = check_early_stop(early_stop, x, bn_mode)
    if early_stop is not None:
        if y is None:
            raise ValueError("early_stop needs the labels y (a sample stops once misclassified)")
        y = check_labels(y, x)
    if logits_clean is not None:
        check_logits_clean(logits_clean, x)
    with preserved_state(model, bn_mode):
        if logits_clean is None:
            with torch.no_grad():
                logits_clean = s.forward(model, s.x)
            check_logits(logits_clean, None, n)
            s.watch(logits_clean)
        z_clean = at_least_fp32(logits_clean.detach())  # (N, classes)
        log_p_clean = F.log_softmax(z_clean, dim=1)
        p_clean = F.softmax(z_clean, dim=1)  # not log_p_clean.exp(): same rounding as the paper

        def kl(logits: Tensor, rows: Tensor | None = None) -> Tensor:
            """(N,) KL(p_clean || p_adv), the paper's sum-KL (``rows``: a subset's logits)."""
            log_p_adv = F.log_softmax(at_least_fp32(logits), dim=1)
            p, log_p = p_clean, log_p_clean
            if rows is not None:
                p, log_p = p.index_select(0, rows), log_p.index_select(0, rows)
            return (p * (log_p - log_p_adv)).sum(1)

        def check(logits: Tensor) -> None:
            check_logits(logits, None, n)
            if logits.shape != z_clean.shape:
                raise ValueError(f"logits_clean must have the model's shape "
                                 f"{tuple(logits.shape)}, got {tuple(z_clean.shape)}")

        x_adv = s.x.clone()
        noise = torch.randn(x_adv.shape, generator=generator, device=x.device,
                            dtype=x_adv.dtype)
        x_adv.add_(noise, alpha=init_std)
        project_(x_adv, s.x, s.eps, norm, s.lo, s.hi, s.box_lo, s.box_hi)
        if early_stop is None:
            ascend_(model, s, x_adv, kl, steps, check)
        else:
            ascend_early_(model, s, x_adv, kl, steps, y, early_stop, compact, check)  # type: ignore[arg-type]
    s.watch(x_adv)
    check_finite_run(s.nonfinite)
    return x_adv.detach().to(x.dtype)


def check_logits_clean(logits: object, x: Tensor) -> None:
    """Given clean logits: a finite floating ``(N, classes)`` tensor on ``x``'s device."""
    n = x.shape[0]
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits_clean must be a torch.Tensor of shape (N={n}, classes) or None, "
                        f"got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"logits_clean must be a floating tensor, got dtype {logits.dtype}")
    check_device("logits_clean", logits)
    if logits.ndim != 2 or logits.shape[0] != n or logits.shape[1] < 2:
        raise ValueError(f"logits_clean must have shape (N={n}, classes>=2), "
                         f"got {tuple(logits.shape)}")
    if logits.device != x.device:
        raise ValueError(f"logits_clean is on {logits.device} but x is on {x.device}")
    if not bool(torch.isfinite(logits).all()):  # validation only: may synchronise
        raise ValueError("logits_clean contains NaN or infinite values")


class TRADESAttack:
    """TRADES attack with a stored configuration; ``__call__(model, x, y)`` ignores ``y``.

    Examples
    --------
    >>> TRADESAttack(eps=8 / 255, alpha=2 / 255)
    TRADESAttack(eps=0.03137254901960784, alpha=0.00784313725490196)
    """

    def __init__(self, **config: Any):
        self.config = dict(config)
        _bind_config(trades_attack, self.config)
        check_config(**{k: v for k, v in self.config.items()
                        if k in ("eps", "alpha", "steps", "norm", "bn_mode", "precision",
                                 "generator")})

    def __call__(self, model: torch.nn.Module, x: Tensor, y: Tensor | None = None) -> Tensor:
        if self.config.get("early_stop") is not None and "y" not in self.config:
            return trades_attack(model, x, y=y, **self.config)
        return trades_attack(model, x, **self.config)

    def __repr__(self) -> str:
        return _repr(self)
