"""Per-sample early-stopped PGD: "friendly" adversarial examples (Zhang et al. 2020).

J. Zhang, X. Xu, B. Han, G. Niu, L. Cui, M. Sugiyama, M. Kankanhalli, "Attacks Which Do Not Kill
Training Make Adversarial Learning Stronger", ICML 2020, arXiv:2002.11242 (FAT).

PGD-K-tau: each sample takes at most ``steps`` projected ascent steps, and stops for good once it
has been misclassified by more than ``margin`` (logit units: best other logit minus the label's
logit > ``margin``) at ``tau + 1`` of the points it visited; it keeps the point where it stopped.
``tau = 0`` stops at the first misclassified point. Training on such examples costs fewer
gradient evaluations per sample and, in the paper, keeps more natural accuracy at the same
robustness.

Two implementations of the same loop, tested equal:

- **masks** (the reference, and the default on accelerators): every step runs on the whole
  batch; the update of finished samples is multiplied by 0. No host synchronisation, so the
  loop stays asynchronous on a GPU; it saves no arithmetic, only changes the examples.
- **compaction** (the default on the CPU, where a host sync costs nothing): every step runs only
  on the samples still active (an index gather and scatter), so the cost falls with the number of
  finished samples. It needs the attack's BatchNorm in eval mode (``bn_mode="eval"``), so that a
  sample's logits do not depend on which others are in the batch.

Examples
--------
>>> import torch
>>> from robust import EarlyStop, pgd
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
>>> x, y = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
>>> masked = pgd(model, x, y, eps=0.3, steps=10, early_stop=EarlyStop(compact=False),
...              generator=torch.Generator().manual_seed(0))
>>> compacted = pgd(model, x, y, eps=0.3, steps=10, early_stop=EarlyStop(compact=True),
...                 generator=torch.Generator().manual_seed(0))
>>> torch.allclose(masked, compacted), bool((masked - x).abs().max() <= 0.3 + 1e-6)
(True, True)
>>> EarlyStop(margin=0.5, tau=2)
EarlyStop(margin=0.5, tau=2, compact=None)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from robust.threat import check_int

Tensor = torch.Tensor


class EarlyStop:
    """When a sample stops attacking: misclassified by ``> margin`` at ``tau + 1`` points.

    Parameters
    ----------
    margin
        Logit margin (>= 0) by which a point must be misclassified to count.
    tau
        Extra points (>= 0) a misclassified sample may still visit (FAT's tau).
    compact
        True: run each step on the active samples only (one host sync per step); False: masks
        (no sync); None: compact on the CPU, masks elsewhere.
    """

    def __init__(self, *, margin: float = 0.0, tau: int = 0, compact: bool | None = None):
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) \
                or not math.isfinite(margin) or margin < 0:
            raise ValueError(f"margin={margin!r} must be a finite number >= 0 (logit units)")
        check_int("tau", tau, 0)
        if compact is not None and not isinstance(compact, bool):
            raise TypeError(f"compact must be True, False or None, got {compact!r}")
        self.margin = float(margin)
        self.tau = tau
        self.compact = compact

    def compacts(self, device: torch.device, bn_mode: str) -> bool:
        """Whether the compacted loop runs for inputs on ``device``."""
        if self.compact is False:
            return False
        if bn_mode != "eval":
            if self.compact:
                raise ValueError("EarlyStop(compact=True) needs bn_mode='eval' (with batch "
                                 "statistics a sample's logits depend on the other samples)")
            return False
        return self.compact is True or device.type == "cpu"

    def __repr__(self) -> str:
        return f"EarlyStop(margin={self.margin!r}, tau={self.tau!r}, compact={self.compact!r})"


def check_early_stop(early_stop: object, x: Tensor, bn_mode: str, *, restarts: int = 1,
                     targeted: bool = False) -> bool:
    """Validate an ``early_stop`` option; returns whether the compacted loop runs."""
    if early_stop is None:
        return False
    if not isinstance(early_stop, EarlyStop):
        raise TypeError(f"early_stop must be a robust.EarlyStop or None, got "
                        f"{type(early_stop).__name__}")
    if restarts != 1 or targeted:
        raise ValueError("early_stop needs restarts=1 and targeted=False (it stops a sample "
                         f"once misclassified), got restarts={restarts!r}, targeted={targeted!r}")
    return early_stop.compacts(x.device, bn_mode)


def misclassified(logits: Tensor, y: Tensor, margin: float) -> Tensor:
    """(N,) bool: best other logit minus the label's logit > ``margin``."""
    z = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    z_y = z.gather(1, y[:, None]).squeeze(1)  # (N,)
    z_other = z.scatter(1, y[:, None], float("-inf")).amax(1)  # (N,)
    return (z_other - z_y) > margin


def _rows(t, rows: Tensor, n: int):
    """``t`` restricted to ``rows`` if it holds one row per sample (else it broadcasts as is)."""
    if isinstance(t, Tensor) and t.ndim > 0 and t.shape[0] == n and n > 1:
        return t.index_select(0, rows)
    return t


def ascend_early_(
    model: torch.nn.Module,
    s,
    x_adv: Tensor,
    objective: Callable[..., Tensor],
    steps: int,
    y: Tensor,
    stop: EarlyStop,
    compact: bool,
    check: Callable[[Tensor], None] | None = None,
) -> Tensor:
    """Early-stopped projected ascent on ``objective(logits, rows)`` in place on ``x_adv``.

    ``s`` is the attack's validated setup (``robust.pgd._Setup``); ``check`` sees the first
    logits. Returns ``x_adv``.
    """
    n = x_adv.shape[0]
    hits = torch.zeros(n, dtype=torch.int64, device=x_adv.device)  # misclassified points seen
    rows = torch.arange(n, device=x_adv.device)  # (active,) compacted path only
    shape = (-1, *([1] * (x_adv.ndim - 1)))
    with torch.enable_grad():
        for step in range(steps):
            sub = x_adv.index_select(0, rows) if compact else x_adv
            sub.requires_grad_(True)
            logits = s.forward(model, sub)  # (active, classes)
            if step == 0 and check is not None:
                check(logits)
            s.watch(logits)
            y_sub = y.index_select(0, rows) if compact else y
            count = misclassified(logits, y_sub, stop.margin).long()
            if compact:
                hits.index_add_(0, rows, count)
                keep = hits.index_select(0, rows) <= stop.tau  # (active,) bool
            else:
                hits.add_(count)
                keep = hits <= stop.tau  # (N,) bool
            total = objective(logits, rows if compact else None).sum()
            if s.scale != 1.0:
                total = total * s.scale
            (grad,) = torch.autograd.grad(total, sub)
            with torch.no_grad():
                if s.scale != 1.0:
                    grad.nan_to_num_(nan=0.0)
                grad.mul_(keep.view(shape).to(grad.dtype))  # finished samples do not move
                if compact:
                    args = [_rows(t, rows, n) for t in (s.x, s.eps, s.alpha, s.lo, s.hi,
                                                         s.box_lo, s.box_hi)]
                    sub = sub.detach()
                    s.update(sub, grad, *args)
                    x_adv.index_copy_(0, rows, sub)
                    rows = rows[keep]  # host sync: the CPU path only
                    if rows.numel() == 0:
                        break
                else:
                    s.update(sub, grad, s.x, s.eps, s.alpha, s.lo, s.hi, s.box_lo, s.box_hi)
        x_adv.requires_grad_(False)
    return x_adv
