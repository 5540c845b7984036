"""Numeric precision of a training run: fp32, bf16 autocast, or fp16 autocast with a scaler.

The device type is always read from the tensors (or the device) the caller passes, never
hard-coded, so one ``Precision`` serves CPU and CUDA runs alike.

Examples
--------
>>> import torch
>>> p = Precision("bf16")
>>> x = torch.ones(2, 3)
>>> with p.autocast(x):
...     y = torch.nn.functional.linear(x, torch.ones(4, 3))
>>> y.dtype
torch.bfloat16
>>> Precision("fp32").uses_scaler, Precision("fp16").uses_scaler
(False, True)
"""

from __future__ import annotations

import contextlib
import functools

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionNotSupportedError(RuntimeError):
    """The requested precision cannot run on the device in use."""


def _device_type(where: torch.Tensor | torch.device | str) -> str:
    if isinstance(where, torch.Tensor):
        return where.device.type
    return torch.device(where).type


@functools.cache
def _probe(device_type: str, name: str) -> str | None:
    """Run one tiny forward/backward under autocast; return the error text, or None if it ran."""
    if device_type == "cuda" and name == "bf16" and not torch.cuda.is_bf16_supported():
        return "this CUDA device does not support bfloat16"
    try:
        # the first check may come from inside no_grad/inference_mode (an evaluation, an
        # attack): the probe needs autograd on, and its answer is cached for the process
        with torch.inference_mode(False), torch.enable_grad():
            w = torch.ones(4, 4, device=device_type, requires_grad=True)
            with torch.autocast(device_type=device_type, dtype=_DTYPES[name]):
                out = torch.nn.functional.linear(torch.ones(2, 4, device=device_type), w)
            out.float().sum().backward()
    except (RuntimeError, TypeError) as err:  # autocast or kernels missing on this device
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    return None


class Precision:
    """Precision policy: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (fp16 uses a gradient scaler).

    Parameters
    ----------
    name
        One of ``"fp32"``, ``"bf16"``, ``"fp16"``. A ``Precision`` is also accepted and copied.
    """

    name: str

    def __init__(self, name: str | Precision = "fp32"):
        if isinstance(name, Precision):
            name = name.name
        if not isinstance(name, str) or name not in PRECISIONS:
            raise ValueError(f"precision={name!r} is not supported; use one of {PRECISIONS}")
        self.name = name

    def __repr__(self) -> str:
        return f"Precision({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Precision) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for fp32."""
        return _DTYPES[self.name]

    @property
    def uses_scaler(self) -> bool:
        """True for fp16, whose small gradients need loss scaling to survive."""
        return self.name == "fp16"

    def check(self, where: torch.Tensor | torch.device | str) -> None:
        """Raise :class:`PrecisionNotSupportedError` if this precision cannot run on ``where``."""
        if self.name == "fp32":
            return
        device_type = _device_type(where)
        problem = _probe(device_type, self.name)
        if problem is not None:
            others = [p for p in PRECISIONS if p != self.name and _probe_ok(device_type, p)]
            raise PrecisionNotSupportedError(
                f"precision={self.name!r} cannot run on device type {device_type!r} "
                f"({problem}); precisions that run here: {others}"
            )

    def autocast(
        self, where: torch.Tensor | torch.device | str
    ) -> contextlib.AbstractContextManager:
        """Autocast context for the device of ``where`` (a null context for fp32)."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        self.check(where)
        return torch.autocast(device_type=_device_type(where), dtype=self.dtype)

    def grad_scaler(self, where: torch.Tensor | torch.device | str) -> torch.amp.GradScaler:
        """A gradient scaler for the device of ``where``; disabled unless fp16."""
        device_type = _device_type(where)
        if self.uses_scaler:
            self.check(device_type)
        return torch.amp.GradScaler(device_type, enabled=self.uses_scaler)


def _probe_ok(device_type: str, name: str) -> bool:
    return name == "fp32" or _probe(device_type, name) is None
