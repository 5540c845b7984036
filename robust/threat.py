"""Threat models: an L-inf or L2 ball around ``x`` intersected with the input domain.

Everything an attack kernel needs besides the model: validation of its inputs (done once, before
the step loop; these checks may synchronise with the device), per-sample epsilon broadcasting,
domain bounds (floats, or per-channel tensors for models that normalise inside), random starts
drawn from a :class:`torch.Generator` on the input's device, and in-place projections that do
not synchronise.

Conventions
-----------
- ``x`` has shape ``(N, ...)``; a per-sample ``eps``/``alpha`` is a tensor of shape ``(N,)`` and
  is broadcast to ``(N, 1, ..., 1)``.
- The perturbation and projection run in the *work dtype*: ``float64`` for ``float64`` inputs,
  ``float32`` otherwise (fp16/bf16 inputs are promoted so the perturbation does not lose bits).
- L-inf projection is one ``torch.clamp`` against the box ``[max(x - eps, lower),
  min(x + eps, upper)]``, computed once per attack.

Examples
--------
>>> import torch
>>> x = torch.full((2, 3), 0.5)
>>> eps = per_sample(torch.tensor([0.1, 0.2]), "eps", x)
>>> eps.shape
torch.Size([2, 1])
>>> lo, hi = domain_bounds(0.0, 1.0, x)
>>> box_lo, box_hi = linf_box(x, eps, lo, hi)
>>> x_adv = x + 1.0
>>> project_(x_adv, x, eps, "linf", lo, hi, box_lo, box_hi)
tensor([[0.6000, 0.6000, 0.6000],
        [0.7000, 0.7000, 0.7000]])
"""

from __future__ import annotations

import math
from numbers import Real

import torch

NORMS = ("linf", "l2")
BN_MODES = ("eval", "train")
LOSSES = ("ce", "margin")
DOMAIN_TOL = 1e-6  # how far x may sit outside [lower, upper] (rounding of upstream transforms)
L2_DIVISION_EPS = 1e-10  # torchattacks' ``eps_for_division`` in the L2 gradient normalisation


# ----------------------------------------------------------------------------- scalar checks


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``allowed``; otherwise raise ValueError naming it."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; use one of {allowed}")
    return value


def check_int(name: str, value: object, minimum: int) -> int:
    """An integer (not bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}={value!r} must be an int >= {minimum}")
    return value


def check_device(name: str, t: torch.Tensor) -> None:
    """A tensor on the meta device has no data: name it instead of failing inside torch."""
    if t.device.type == "meta":
        raise ValueError(f"{name} is on the meta device (a tensor without data); materialise it "
                         "on a real device first (e.g. .to_empty(device='cpu') and load values)")


def check_model(model: torch.nn.Module) -> None:
    """A model with meta-device parameters or buffers (not materialised) cannot be attacked."""
    for kind, tensors in (("parameters", model.parameters()), ("buffers", model.buffers())):
        if any(t.device.type == "meta" for t in tensors):
            raise ValueError(f"model has {kind} on the meta device (not materialised); call "
                             "model.to_empty(device=...) and load its weights first")


def check_scalar(name: str, value: object, *, strict: bool) -> None:
    """Validate a python number or a tensor (per-sample or per-element) without knowing ``x``.

    ``strict=True`` requires ``> 0`` (alpha), otherwise ``>= 0`` (eps). Tensors are checked for
    device, dtype and values only; their shape is checked against ``x`` by :func:`per_sample`.
    """
    what = "> 0" if strict else ">= 0"
    if isinstance(value, torch.Tensor):
        check_device(name, value)
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must be a real tensor, got dtype {value.dtype}")
        bad = ~torch.isfinite(value) | ((value <= 0) if strict else (value < 0))
        if bool(bad.any()):  # validation only: may synchronise
            raise ValueError(f"{name} must be finite and {what}; got {value}")
        return
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{name} must be a float or a per-sample tensor of shape (N,), "
            f"got {type(value).__name__}"
        )
    if not math.isfinite(value) or (value <= 0 if strict else value < 0):
        raise ValueError(f"{name}={value!r} must be finite and {what}")


def _zero_pair(eps: object, alpha: object) -> bool:
    """``eps == 0`` with ``alpha == 0`` (python numbers) is allowed: an epsilon warm-up at 0."""
    return (isinstance(eps, Real) and isinstance(alpha, Real) and not isinstance(alpha, bool)
            and eps == 0 and alpha == 0)


def check_config(
    *,
    eps: object = 0.0,
    alpha: object = None,
    steps: object = 1,
    norm: object = "linf",
    restarts: object = 1,
    loss: object = "ce",
    bn_mode: object = "eval",
    precision: object = None,
    generator: object = None,
) -> None:
    """Eager validation of an attack configuration (used by the functions and the classes)."""
    check_scalar("eps", eps, strict=False)
    if alpha is not None and not _zero_pair(eps, alpha):
        check_scalar("alpha", alpha, strict=True)
    check_int("steps", steps, 1)
    check_int("restarts", restarts, 1)
    check_choice("norm", norm, NORMS)
    check_choice("loss", loss, LOSSES)
    check_choice("bn_mode", bn_mode, BN_MODES)
    if precision is not None:
        check_choice("precision", precision, ("fp32", "bf16", "fp16"))
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator)}")


# ----------------------------------------------------------------------------- tensor checks


def work_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 stays float64; everything else is perturbed in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def check_input(x: object, name: str = "x") -> torch.Tensor:
    """``x`` must be a finite floating tensor of shape ``(N, ...)`` with ``N >= 1``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float16/bfloat16/float32/float64), "
            f"got dtype {x.dtype}"
        )
    check_device(name, x)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must have shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):  # validation only: may synchronise
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def check_labels(y: object, x: torch.Tensor, name: str = "y") -> torch.Tensor:
    """Integer labels of shape ``(N,)`` on ``x``'s device; returned as int64."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of class indices, got {type(y).__name__}")
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise TypeError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    check_device(name, y)
    if y.shape != (x.shape[0],):
        raise ValueError(f"{name} must have shape ({x.shape[0]},) (one label per sample of x), "
                         f"got {tuple(y.shape)}")
    if y.device != x.device:
        raise ValueError(f"{name} is on {y.device} but x is on {x.device}")
    return y.long()


def check_logits(logits: object, y: torch.Tensor | None, n: int) -> None:
    """The model must return ``(N, classes)`` floating logits; labels must lie in range."""
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(
            f"the model must return a floating (N, classes) tensor of logits, got "
            f"{type(logits).__name__ if not isinstance(logits, torch.Tensor) else logits.dtype}"
        )
    if logits.ndim != 2 or logits.shape[0] != n or logits.shape[1] < 2:
        raise ValueError(
            f"the model must return logits of shape (N={n}, classes>=2), "
            f"got {tuple(logits.shape)}"
        )
    if y is not None:
        k = logits.shape[1]
        lo, hi = int(y.min()), int(y.max())  # validation only: may synchronise
        if lo < 0 or hi >= k:
            raise ValueError(f"labels y must lie in [0, {k - 1}] for a {k}-class model, "
                             f"got values in [{lo}, {hi}]")


def check_generator(generator: torch.Generator | None, x: torch.Tensor) -> None:
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator)}")
    if generator.device.type != x.device.type:
        raise ValueError(f"generator is on device {generator.device} but x is on {x.device}; "
                         "create it with torch.Generator(device=x.device)")


def per_sample(
    value: float | torch.Tensor, name: str, x: torch.Tensor, *, strict: bool = False
) -> float | torch.Tensor:
    """A python float, or a tensor of the work dtype on ``x``'s device that broadcasts to ``x``.

    Tensor forms: ``(N,)`` per sample (viewed as ``(N, 1, ..., 1)``); a shape with ``x.ndim``
    dimensions broadcastable to ``x`` (e.g. ``(1, C, 1, 1)``); or, for ``x`` of 3 or more
    dimensions, a shape broadcastable to one sample ``x[0]`` (e.g. ``(C, 1, 1)``: per channel, as
    for ``lower``/``upper``). The value must fit the work dtype (no overflow to inf inside).
    """
    check_scalar(name, value, strict=strict)
    dtype = work_dtype(x)
    biggest = torch.finfo(dtype).max
    if not isinstance(value, torch.Tensor) or value.ndim == 0:
        value = float(value)
        if abs(value) > biggest:
            raise ValueError(f"{name}={value!r} does not fit {dtype}, the attack's work dtype "
                             f"for {x.dtype} inputs (max {biggest:.3g})")
        return value
    if float(value.abs().max()) > biggest:  # validation only: may synchronise
        raise ValueError(f"{name} holds values beyond {dtype}'s range (max {biggest:.3g}), the "
                         f"attack's work dtype for {x.dtype} inputs")
    n = x.shape[0]
    if value.ndim == 1:
        if value.shape != (n,):
            raise ValueError(f"per-sample {name} must have shape ({n},) to match x of shape "
                             f"{tuple(x.shape)}, got {tuple(value.shape)}")
        shaped = value.view(n, *([1] * (x.ndim - 1)))
    elif value.ndim == x.ndim - 1:
        shaped = value.unsqueeze(0)  # (1, ...) per element of one sample
    else:
        shaped = value
    try:
        fits = shaped.ndim == x.ndim and torch.broadcast_shapes(shaped.shape, x.shape) == x.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"{name} of shape {tuple(value.shape)} must be (N,) = ({n},) per sample, "
                         f"or broadcast to x {tuple(x.shape)} or to one sample x[0] "
                         f"{tuple(x.shape[1:])} (e.g. (C, 1, 1) per channel)")
    return shaped.to(device=x.device, dtype=dtype)


def per_sample_only(value: float | torch.Tensor, name: str, x: torch.Tensor,
                    norm: str) -> float | torch.Tensor:
    """An L2 radius is one number per sample: a per-element tensor is refused."""
    if not isinstance(value, torch.Tensor) or all(d == 1 for d in value.shape[1:]):
        if isinstance(value, torch.Tensor):  # (N or 1, 1, ..., 1) -> (N, 1, ..., 1)
            return value.expand(x.shape[0], *value.shape[1:])
        return value
    raise ValueError(f"{name} of shape {tuple(value.shape)} varies within a sample: a per-element "
                     f"radius needs norm='linf' (norm={norm!r} takes a float or (N,) tensor)")


def check_finite_run(nonfinite: torch.Tensor) -> None:
    """Raise after an attack whose model gave NaN/inf logits (or gradients) at some step.

    ``nonfinite`` is a 0-d count accumulated on the device during the step loop (no sync
    there); reading it here is the attack's one synchronisation after the loop.
    """
    count = int(nonfinite)
    if count:
        raise FloatingPointError(
            f"the model returned non-finite logits (NaN or inf; {count} values) during the "
            "attack, or its "
            "gradient was non-finite, so the adversarial point would be meaningless; check the "
            "model on inputs near x (an unguarded log, division or overflow)")


def domain_bounds(
    lower: float | torch.Tensor, upper: float | torch.Tensor, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Domain bounds as tensors broadcastable to ``x``; checks ``lower < upper`` and ``x``."""
    bounds = []
    for name, b in (("lower", lower), ("upper", upper)):
        if isinstance(b, torch.Tensor):
            check_device(name, b)
            if not (b.is_floating_point() or b.dtype in (torch.int32, torch.int64)):
                raise TypeError(f"{name} must be a float or a real tensor, got dtype {b.dtype}")
            try:
                shape = torch.broadcast_shapes(b.shape, x.shape[1:])
            except RuntimeError:
                shape = None
            if shape != x.shape[1:]:
                raise ValueError(f"{name} of shape {tuple(b.shape)} must broadcast to one "
                                 f"sample x[0] of shape {tuple(x.shape[1:])} (e.g. (C, 1, 1))")
            t = b.to(device=x.device, dtype=work_dtype(x)).unsqueeze(0)  # (1, ...)
        elif isinstance(b, Real) and not isinstance(b, bool):
            t = torch.tensor(float(b), device=x.device, dtype=work_dtype(x))
        else:
            raise TypeError(f"{name} must be a float or a tensor, got {type(b).__name__}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite, got {b}")
        bounds.append(t)
    lo, hi = bounds
    if not bool((lo < hi).all()):
        raise ValueError(f"lower must be < upper everywhere, got lower={lower}, upper={upper}")
    xw = x.to(work_dtype(x))
    below = (lo - xw).amax()
    above = (xw - hi).amax()
    if float(below) > DOMAIN_TOL or float(above) > DOMAIN_TOL:
        raise ValueError(
            f"x lies outside the domain [lower, upper] by {max(float(below), float(above)):.3g} "
            f"(> {DOMAIN_TOL}); pass the bounds of the data (lower=..., upper=...) or rescale x"
        )
    return lo, hi


# ----------------------------------------------------------------------------- kernels (no sync)


def linf_box(
    x: torch.Tensor, eps: float | torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The L-inf ball intersected with the domain, as per-element bounds of ``x``'s shape."""
    return torch.maximum(x - eps, lo), torch.minimum(x + eps, hi)


def random_start(
    x: torch.Tensor, eps: float | torch.Tensor, norm: str, generator: torch.Generator | None
) -> torch.Tensor:
    """A perturbation drawn uniformly from the ``norm`` ball of radius ``eps`` (work dtype).

    L-inf: uniform in the cube. L2: uniform in the ball (gaussian direction, radius
    ``eps * U**(1/d)`` with ``d`` the number of elements of one sample), not on the sphere only.
    """
    n, d = x.shape[0], x[0].numel()
    dtype = work_dtype(x)
    if norm == "linf":
        delta = torch.rand(x.shape, generator=generator, device=x.device, dtype=dtype)
        return delta.mul_(2).sub_(1).mul_(eps)  # uniform in [-eps, eps]
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=dtype)
    u = torch.rand(n, generator=generator, device=x.device, dtype=dtype)
    radius = u.pow_(1.0 / d).view(n, *([1] * (x.ndim - 1)))  # (N, 1, ..., 1)
    norms = direction.flatten(1).norm(dim=1).clamp_min_(1e-30).view_as(radius)
    return direction.mul_(radius.div_(norms)).mul_(eps)


def l2_normalise(g: torch.Tensor, division_eps: float = L2_DIVISION_EPS) -> torch.Tensor:
    """``g / (||g||_2 + division_eps)`` per sample (torchattacks' PGDL2 normalisation)."""
    n = g.shape[0]
    norms = g.flatten(1).norm(dim=1).add_(division_eps)
    return g.div_(norms.view(n, *([1] * (g.ndim - 1))))


def project_(
    x_adv: torch.Tensor,
    x: torch.Tensor,
    eps: float | torch.Tensor,
    norm: str,
    lo: torch.Tensor,
    hi: torch.Tensor,
    box_lo: torch.Tensor | None = None,
    box_hi: torch.Tensor | None = None,
) -> torch.Tensor:
    """Project ``x_adv`` in place onto the ball around ``x`` and then the domain.

    For L-inf, pass the precomputed :func:`linf_box` to make this a single clamp. For L2 the
    delta is rescaled to norm ``<= eps`` and then clamped to the domain, which (for ``x`` in the
    domain) only shrinks it, so the result lies in both sets (torchattacks' order).
    """
    if norm == "linf":
        if box_lo is None or box_hi is None:
            box_lo, box_hi = linf_box(x, eps, lo, hi)
        return torch.clamp(x_adv, box_lo, box_hi, out=x_adv)
    n = x.shape[0]
    delta = x_adv.sub_(x)  # (N, ...) reuses x_adv's storage
    norms = delta.flatten(1).norm(dim=1).clamp_min_(1e-30)  # (N,)
    eps_n = eps.reshape(n) if isinstance(eps, torch.Tensor) else eps  # float or (N,)
    factor = torch.clamp(eps_n / norms, max=1.0)  # (N,) eps / ||delta||, at most 1
    torch.addcmul(x, delta, factor.view(n, *([1] * (x.ndim - 1))), out=x_adv)  # x + f * delta
    return torch.clamp(x_adv, lo, hi, out=x_adv)
