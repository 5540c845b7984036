"""Content digest of a checkpoint payload: SHA-256 over a canonical walk of its values.

The digest covers what a load returns, not the bytes of the file: every tensor's dtype, shape
and raw bytes, and every plain value with its type, in the order the containers hold them
(dicts keep their insertion order through pickling). So a flipped byte that changes anything a
load would hand back changes the digest, while the file format stays plain ``torch.save``.

Examples
--------
>>> import torch
>>> a = payload_digest({"w": torch.ones(2), "step": 3})
>>> a == payload_digest({"w": torch.ones(2), "step": 3}), len(a)
(True, 64)
>>> a == payload_digest({"w": torch.tensor([1.0, 1.0 + 2**-23]), "step": 3})
False
>>> payload_digest([1, 2]) == payload_digest((1, 2))  # types count too
False
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch


def payload_digest(value: Any) -> str:
    """Hex SHA-256 of ``value`` (nested dicts, lists, tuples, tensors and plain values)."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        _feed_tensor(digest, value)
    elif isinstance(value, Mapping):
        digest.update(b"{%d" % len(value))
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(b"[%d" % len(value) if isinstance(value, list) else b"(%d" % len(value))
        for item in value:
            _feed(digest, item)
    else:  # None, bool, int, float (repr round-trips exactly), str, bytes, dtypes, devices
        text = repr(value).encode()
        digest.update(b"%s:%d:" % (type(value).__name__.encode(), len(text)) + text)


def _feed_tensor(digest: Any, tensor: torch.Tensor) -> None:
    tensor = tensor.detach()
    header = f"T{tensor.dtype}{tuple(tensor.shape)}{tensor.layout}"
    if tensor.is_quantized:  # the integer codes plus the per-tensor scale and zero point
        if tensor.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            header += f"{tensor.q_scale()!r}{tensor.q_zero_point()}"
        else:
            header += f"{tensor.q_per_channel_scales().tolist()}"
            header += f"{tensor.q_per_channel_zero_points().tolist()}"
        tensor = tensor.int_repr()
    elif tensor.layout != torch.strided:  # sparse: digest of the dense values
        tensor = tensor.to_dense()
    digest.update(header.encode())
    if tensor.device.type == "meta":  # no data to cover
        return
    flat = tensor.resolve_conj().resolve_neg().cpu().contiguous().reshape(-1)  # (numel,)
    digest.update(flat.view(torch.uint8).numpy())
