"""Projected gradient descent (PGD), L-inf and L2, with random restarts.

Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to Adversarial
Attacks", arXiv:1706.06083.

Threat model: ``||x_adv - x||_p <= eps`` (p = inf or 2) intersected with the input domain
``[lower, upper]`` (default ``[0, 1]``; per-channel tensors for models that normalise inside).
Each step ascends the loss along ``sign(grad)`` (L-inf) or ``grad / (||grad||_2 + 1e-10)`` (L2)
by ``alpha`` and projects back. Gradients are taken w.r.t. the input only
(:func:`torch.autograd.grad`), parameters are frozen meanwhile, and the loop never synchronises
with the device (no ``.item()``, no boolean masks, no branching on tensor values).

Defaults follow torchattacks' ``PGD`` (``alpha = 2/255, steps = 10, random_start = True`` for
``eps = 8/255``): ``alpha = 2.5 * eps / steps`` (Madry's rule), which is exactly 2/255 there.

.. note::
   Departures from torchattacks: ``eps`` has no default (8/255 suits L-inf on [0, 1] images,
   torchattacks' ``PGDL2`` uses 1.0); for L2 the default ``alpha`` is ``2.5 * eps / steps``
   (torchattacks: 0.2 for eps 1.0); the L2 random start is uniform in the ball (torchattacks draws
   the radius uniformly, which concentrates the start near the centre); the loss is summed over the
   batch (torchattacks: mean), which changes no sign and no direction.

Examples
--------
>>> import torch
>>> from robust import pgd
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
>>> x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 2, 0])
>>> g = torch.Generator().manual_seed(0)
>>> x_adv = pgd(model, x, y, eps=8 / 255, steps=5, generator=g)
>>> x_adv.shape, x_adv.dtype
(torch.Size([4, 3, 2, 2]), torch.float32)
>>> bool((x_adv - x).abs().max() <= 8 / 255 + 1e-6), bool(x_adv.min() >= 0)
(True, True)
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from robust._state import preserved_state
from robust.early_stop import EarlyStop, ascend_early_, check_early_stop
from robust.threat import (
    L2_DIVISION_EPS,
    _zero_pair,
    check_config,
    check_finite_run,
    check_generator,
    check_input,
    check_labels,
    check_logits,
    check_model,
    domain_bounds,
    linf_box,
    per_sample,
    per_sample_only,
    project_,
    random_start,
    work_dtype,
)
from traincore.precision import Precision

FP16_LOSS_SCALE = 1024.0  # keeps fp16 input gradients above the subnormal range (sign/normalise
# make the factor irrelevant; per-sample loss gradients are <= 1 in magnitude, so 1024 cannot
# overflow at the logits)

Tensor = torch.Tensor


class _Setup:
    """Everything validated and precomputed once per attack call (may synchronise)."""

    def __init__(self, model, x, eps, alpha, norm, lower, upper, precision, generator, compile,
                 alpha_rule=None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        check_input(x)
        check_model(model)
        check_generator(generator, x)
        if not isinstance(compile, bool):
            raise TypeError(f"compile must be a bool, got {type(compile).__name__}")
        self.x = x.detach().to(work_dtype(x))  # (N, ...) work dtype; never written to
        self.input_dtype = x.dtype
        self.eps = per_sample(eps, "eps", x)
        # alpha_rule: how a default alpha was derived from eps (None: the caller gave alpha)
        strict = alpha_rule is None and not _zero_pair(eps, alpha)  # a derived alpha may be 0
        try:
            self.alpha = per_sample(alpha, "alpha", x, strict=strict)
        except ValueError as err:
            if alpha_rule is None:
                raise
            dtype = work_dtype(x)
            raise ValueError(f"eps={eps!r} is too large: the default alpha = {alpha_rule} "
                             f"overflows {dtype}, the attack's work dtype for {x.dtype} inputs "
                             f"(max {torch.finfo(dtype).max:.3g})") from err
        if norm != "linf":
            self.eps = per_sample_only(self.eps, "eps", x, norm)
            self.alpha = per_sample_only(self.alpha, "alpha", x, norm)
        self.norm = norm
        self.lo, self.hi = domain_bounds(lower, upper, x)
        if norm == "linf":
            self.box_lo, self.box_hi = linf_box(self.x, self.eps, self.lo, self.hi)
        else:
            self.box_lo = self.box_hi = None
        self.generator = generator
        device = x.device.type
        outer_fp16 = torch.is_autocast_enabled(device) and (
            torch.get_autocast_dtype(device) == torch.float16
        )
        fp16 = precision == "fp16" or x.dtype == torch.float16 or (
            precision is None and outer_fp16
        )
        self.scale = FP16_LOSS_SCALE if fp16 else 1.0
        if precision is None:
            self.autocast = contextlib.nullcontext
        elif precision == "fp32":
            self.autocast = lambda: torch.autocast(device, enabled=False)
        else:
            p = Precision(precision)
            p.check(x)
            self.autocast = lambda: p.autocast(x)
        self.update = _compiled_update(norm) if compile else _UPDATES[norm]
        self.nonfinite = torch.zeros((), dtype=torch.int64, device=x.device)  # NaN/inf seen

    def watch(self, t: Tensor) -> None:
        """Count (on the device, no sync) the NaN/inf values of ``t``."""
        self.nonfinite.add_(torch.isfinite(t).logical_not_().sum())

    def forward(self, model: torch.nn.Module, x_adv: Tensor) -> Tensor:
        inp = x_adv if self.input_dtype == x_adv.dtype else x_adv.to(self.input_dtype)
        with self.autocast():
            return model(inp)

    def start(self, random: bool, at: Tensor | None = None) -> Tensor:
        """The first point: ``at`` if given (a warm start), else ``x`` (+ a random start);
        projected onto the ball and the domain."""
        if at is not None:
            x_adv = at.detach().to(self.x.dtype).clone()
        else:
            x_adv = self.x.clone()
            if random:
                x_adv.add_(random_start(self.x, self.eps, self.norm, self.generator))
        return project_(x_adv, self.x, self.eps, self.norm, self.lo, self.hi,
                        self.box_lo, self.box_hi)


# ----------------------------------------------------------------------------- the step


def _linf_update_(x_adv, grad, x, eps, alpha, lo, hi, box_lo, box_hi):
    """x_adv <- clamp(x_adv + alpha * sign(grad), box): 3 kernels, all in place."""
    step = grad.sign_()
    if isinstance(alpha, Tensor):
        x_adv.addcmul_(step, alpha)
    else:
        x_adv.add_(step, alpha=alpha)
    torch.clamp(x_adv, box_lo, box_hi, out=x_adv)


def _l2_update_(x_adv, grad, x, eps, alpha, lo, hi, box_lo, box_hi):
    """x_adv <- proj(x_adv + alpha * grad / (||grad|| + 1e-10)), in place.

    The per-sample factor alpha / (||grad|| + 1e-10) is formed on (N,) values, so the step is one
    full-size addcmul instead of a division and an add (torchattacks' PGDL2 up to rounding).
    """
    n = grad.shape[0]
    norms = grad.flatten(1).norm(dim=1).add_(L2_DIVISION_EPS)  # (N,)
    alpha_n = alpha.view(n) if isinstance(alpha, Tensor) else alpha
    factor = alpha_n / norms  # (N,)
    x_adv.addcmul_(grad, factor.view(n, *([1] * (grad.ndim - 1))))
    project_(x_adv, x, eps, "l2", lo, hi)


_UPDATES = {"linf": _linf_update_, "l2": _l2_update_}
_COMPILED: dict[str, Callable] = {}


def _compiled_update(norm: str) -> Callable:
    """The update step under torch.compile, falling back to eager on the first failure."""
    if norm in _COMPILED:
        return _COMPILED[norm]
    eager = _UPDATES[norm]
    state = {"fn": None, "proven": False}

    def update(*args):
        if state["fn"] is None:
            try:
                state["fn"] = torch.compile(eager, dynamic=False)
            except Exception as err:  # noqa: BLE001 - no compiler on this platform
                warnings.warn(f"torch.compile unavailable ({err}); using eager", stacklevel=2)
                state["fn"] = eager
        if state["fn"] is eager or state["proven"]:
            return state["fn"](*args)
        saved = args[0].clone()  # first compiled call only: undo a partial write on failure
        try:
            out = state["fn"](*args)
            state["proven"] = True
            return out
        except Exception as err:  # noqa: BLE001 - e.g. inductor needs a C++ compiler
            warnings.warn(f"torch.compile failed ({type(err).__name__}: {err}); using eager",
                          stacklevel=2)
            state["fn"] = eager
            args[0].copy_(saved)
            return eager(*args)

    _COMPILED[norm] = update
    return update


def ascend_(
    model: torch.nn.Module,
    s: _Setup,
    x_adv: Tensor,
    objective: Callable[[Tensor], Tensor],
    steps: int,
    check: Callable[[Tensor], None] | None = None,
) -> Tensor:
    """``steps`` projected ascent steps on ``objective(model(x_adv))`` (N,), in place on x_adv.

    ``check`` sees the first logits (before the loop proper; it may synchronise). NaN/inf
    logits are recorded in ``s.nonfinite`` without a sync; the caller raises after the loop.
    """
    with torch.enable_grad():
        x_adv.requires_grad_(True)
        logits = s.forward(model, x_adv)  # (N, classes)
        if check is not None:
            check(logits)
        for step in range(steps):
            s.watch(logits)
            total = objective(logits).sum()  # per-sample losses summed: grads do not mix
            if s.scale != 1.0:
                total = total * s.scale
            (grad,) = torch.autograd.grad(total, x_adv)  # (N, ...) work dtype
            with torch.no_grad():
                if s.scale != 1.0:
                    grad.nan_to_num_(nan=0.0)  # fp16 overflow: inf keeps its sign, NaN does not
                s.update(x_adv, grad, s.x, s.eps, s.alpha, s.lo, s.hi, s.box_lo, s.box_hi)
            if step + 1 < steps:
                logits = s.forward(model, x_adv)
        x_adv.requires_grad_(False)
    return x_adv


def at_least_fp32(t: Tensor) -> Tensor:
    """fp16/bf16 -> fp32; fp32 and fp64 unchanged (the oracle tests run in fp64)."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def classification_objective(loss: str, y: Tensor, targeted: bool) -> Callable[..., Tensor]:
    """Per-sample value the attack maximises: CE or CW margin, negated when targeted.

    ``objective(logits, rows=None)``: ``rows`` (an index tensor) when the logits are those of a
    subset of the samples (the compacted early-stopped loop).
    """

    def objective(logits: Tensor, rows: Tensor | None = None) -> Tensor:
        z = at_least_fp32(logits)  # (N, classes) losses in fp32 (fp64 stays) under autocast
        yy = y if rows is None else y.index_select(0, rows)
        if loss == "ce":
            value = F.cross_entropy(z, yy, reduction="none")  # (N,)
        else:  # CW margin: best other logit minus the label's logit (> 0 once misclassified)
            z_y = z.gather(1, yy[:, None]).squeeze(1)  # (N,)
            z_other = z.scatter(1, yy[:, None], float("-inf")).amax(1)  # (N,)
            value = z_other - z_y
        return -value if targeted else value

    return objective


def run_attack(
    model, x, y, *, eps, alpha, steps, norm, random_start, restarts, loss, targeted,
    lower, upper, bn_mode, generator, precision, compile, alpha_rule=None, early_stop=None,
    start=None,
) -> Tensor:
    """Shared kernel of :func:`pgd` and :func:`robust.fgsm` (arguments already type-checked)."""
    for name, flag in (("random_start", random_start), ("targeted", targeted)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    compact = check_early_stop(early_stop, x, bn_mode, restarts=restarts, targeted=targeted)
    if start is not None:
        check_input(start, "start")
        if start.shape != x.shape or start.device != x.device or restarts != 1:
            raise ValueError(f"start must be a tensor of x's shape {tuple(x.shape)} on "
                             f"{x.device} with restarts=1, got shape {tuple(start.shape)} on "
                             f"{start.device}, restarts={restarts}")
    s = _Setup(model, x, eps, alpha, norm, lower, upper, precision, generator, compile,
               alpha_rule)
    y = check_labels(y, x)
    objective = classification_objective(loss, y, targeted)
    n = x.shape[0]
    with preserved_state(model, bn_mode):
        best = best_value = best_success = None
        for r in range(restarts):
            x_adv = s.start(random_start, start)
            check = (lambda z: check_logits(z, y, n)) if r == 0 else None
            if early_stop is None:
                ascend_(model, s, x_adv, objective, steps, check)
            else:
                ascend_early_(model, s, x_adv, objective, steps, y, early_stop, compact, check)
            if restarts == 1:
                best = x_adv
                break
            with torch.no_grad():  # worst case per sample, selected without host sync
                logits = at_least_fp32(s.forward(model, x_adv))  # (N, classes)
                s.watch(logits)
                value = objective(logits)  # (N,)
                hit = logits.argmax(1) == y
                success = hit if targeted else ~hit  # (N,) bool
                if best is None:
                    best, best_value, best_success = x_adv, value, success
                    continue
                # keep the first success; otherwise take a success or a higher loss
                take = ~best_success & (success | (value > best_value))  # type: ignore[operator]  # (N,)
                best = torch.where(take.view(n, *([1] * (x.ndim - 1))), x_adv, best)
                best_value = torch.where(take, value, best_value)  # type: ignore[arg-type]
                best_success = best_success | (take & success)
    s.watch(best)  # type: ignore[arg-type]  # a NaN gradient in the last step leaves NaN in x_adv
    check_finite_run(s.nonfinite)
    return best.detach().to(x.dtype)  # type: ignore[union-attr]


def pgd(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float | Tensor,
    alpha: float | Tensor | None = None,
    steps: int = 10,
    norm: str = "linf",
    random_start: bool = True,
    restarts: int = 1,
    loss: str = "ce",
    targeted: bool = False,
    lower: float | Tensor = 0.0,
    upper: float | Tensor = 1.0,
    bn_mode: str = "eval",
    generator: torch.Generator | None = None,
    precision: str | None = None,
    compile: bool = False,
    early_stop: EarlyStop | None = None,
    start: Tensor | None = None,
) -> Tensor:
    """PGD adversarial examples for ``(x, y)``; returns ``x_adv`` with ``x``'s shape and dtype.

    Parameters
    ----------
    model
        Classifier returning logits of shape ``(N, classes)``.
    x
        Inputs ``(N, ...)`` inside ``[lower, upper]``; floating point.
    y
        Integer labels ``(N,)``; the target labels when ``targeted``.
    eps
        Radius of the ball: a float or a per-sample tensor ``(N,)``.
    alpha
        Step size (float or ``(N,)``), default ``2.5 * eps / steps``.
    steps
        Number of gradient steps (>= 1).
    norm
        ``"linf"`` or ``"l2"``.
    random_start
        Start uniformly inside the ball (the L2 ball, not its sphere) instead of at ``x``.
    restarts
        Independent runs; per sample the first successful one is kept, else the highest loss.
    loss
        ``"ce"`` (cross-entropy) or ``"margin"`` (CW logit margin).
    targeted
        Minimise the loss towards the labels ``y`` instead of maximising it.
    lower, upper
        Domain bounds: floats or tensors broadcastable to ``x[0]`` (e.g. ``(C, 1, 1)``).
    bn_mode
        ``"eval"`` (running statistics) or ``"train"`` (batch statistics); buffers are restored.
    generator
        ``torch.Generator`` on ``x``'s device for the random starts (reproducible runs).
    precision
        None (the caller's autocast context), or ``"fp32"``, ``"bf16"``, ``"fp16"``. Under fp16
        the loss is scaled by 1024 before backward; the perturbation stays fp32.
    compile
        Run the update step under ``torch.compile`` (falls back to eager with a warning).
    early_stop
        :class:`robust.EarlyStop`: stop each sample once misclassified (friendly adversarial
        examples, :mod:`robust.early_stop`); needs ``restarts=1`` and an untargeted attack.
    start
        A warm start (``x``'s shape; projected onto the ball and the domain): the attack
        continues from it instead of ``x`` or a random start (:class:`robust.ATTA` passes each
        sample's previous adversarial point). Needs ``restarts=1``.

    Returns
    -------
    Tensor
        ``x_adv``, detached, same shape, dtype and device as ``x``.
    """
    check_config(eps=eps, alpha=alpha, steps=steps, norm=norm, restarts=restarts, loss=loss,
                 bn_mode=bn_mode, precision=precision, generator=generator)
    rule = "2.5 * eps / steps" if alpha is None else None
    if alpha is None:
        alpha = eps * (2.5 / steps)  # not 2.5 * eps first: no overflow for eps near the max
    return run_attack(
        model, x, y, eps=eps, alpha=alpha, steps=steps, norm=norm, random_start=random_start,
        restarts=restarts, loss=loss, targeted=targeted, lower=lower, upper=upper,
        bn_mode=bn_mode, generator=generator, precision=precision, compile=compile,
        alpha_rule=rule, early_stop=early_stop, start=start,
    )


class PGD:
    """PGD with a stored configuration: ``PGD(eps=8/255)(model, x, y)``.

    The keyword arguments are those of :func:`pgd`, stored verbatim in :attr:`config` and
    validated at construction. The model is an argument of each call, never bound.

    Examples
    --------
    >>> import torch
    >>> attack = PGD(eps=0.1, steps=3, norm="l2")
    >>> attack
    PGD(eps=0.1, steps=3, norm='l2')
    >>> model = torch.nn.Linear(5, 3)
    >>> x, y = torch.rand(2, 5), torch.tensor([0, 2])
    >>> bool((attack(model, x, y) - x).norm(dim=1).max() <= 0.1 + 1e-6)
    True
    """

    def __init__(self, **config: Any):
        self.config = dict(config)
        _bind_config(pgd, self.config)
        cfg = {k: v for k, v in self.config.items() if k not in _CALL_ONLY}
        check_config(**{k: v for k, v in cfg.items() if k in _CHECKED})

    def __call__(self, model: torch.nn.Module, x: Tensor, y: Tensor) -> Tensor:
        return pgd(model, x, y, **self.config)

    def __repr__(self) -> str:
        return _repr(self)


_CHECKED = ("eps", "alpha", "steps", "norm", "restarts", "loss", "bn_mode", "precision",
            "generator")
_CALL_ONLY = ()


def _bind_config(fn: Callable, config: dict) -> None:
    """Reject unknown or positional keys now, as the function would at call time."""
    import inspect

    sig = inspect.signature(fn)
    allowed = [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for {fn.__name__}; allowed: {allowed}")
    missing = [p.name for p in sig.parameters.values()
               if p.kind is p.KEYWORD_ONLY and p.default is p.empty and p.name not in config]
    if missing:
        raise TypeError(f"{fn.__name__} needs {missing}")


def _repr(obj) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in obj.config.items())
    return f"{type(obj).__name__}({args})"
