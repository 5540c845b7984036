"""Helpers for data-parallel runs started by ``torchrun`` (one process per device).

Every helper is a no-op (or the one-process answer) when ``torch.distributed`` is not
initialised, so the same script runs unchanged with ``python train.py`` and with
``torchrun --nproc_per_node=N train.py``. Typical use::

    init_distributed()                       # reads RANK / WORLD_SIZE / LOCAL_RANK
    model = wrap_ddp(model)                  # DistributedDataParallel when distributed
    sampler = distributed_sampler(dataset, shuffle=True, seed=0)
    ...
    if is_main_process():
        save_checkpoint(...)

Examples
--------
>>> import torch
>>> is_distributed(), world_size(), rank(), is_main_process()
(False, 1, 0, True)
>>> model = torch.nn.Linear(2, 2)
>>> unwrap(wrap_ddp(model)) is model
True
>>> all_reduce_metrics(torch.tensor([1.0, 2.0])).tolist()
[1.0, 2.0]
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

_ENV = ("RANK", "WORLD_SIZE")
_T = TypeVar("_T")


def is_distributed() -> bool:
    """True when a default process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """Global rank of this process (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    """Rank on this machine from ``LOCAL_RANK`` (0 when unset)."""
    return _env_int("LOCAL_RANK", default=0)


def is_main_process() -> bool:
    """True on rank 0: the one process that logs and writes files."""
    return rank() == 0


def _env_int(name: str, default: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        if default is None:
            raise ValueError(f"environment variable {name} is not set")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} must be an integer") from None
    if value < 0:
        raise ValueError(f"environment variable {name}={raw!r} must be >= 0")
    return value


def init_distributed(backend: str | None = None) -> bool:
    """Initialise the default process group from the ``torchrun`` environment.

    Parameters
    ----------
    backend
        ``"gloo"``, ``"nccl"`` or None: nccl when CUDA is available, else gloo. With nccl the
        current CUDA device is set to ``LOCAL_RANK``.

    Returns
    -------
    bool
        True if this process is now part of a process group (already initialised, or
        ``RANK`` and ``WORLD_SIZE`` set); False for a plain one-process run.
    """
    if backend is not None and backend not in ("gloo", "nccl", "mpi"):
        raise ValueError(f"backend={backend!r} must be 'gloo', 'nccl', 'mpi' or None")
    if is_distributed():
        return True
    if not all(name in os.environ for name in _ENV):
        return False
    global_rank, size = _env_int("RANK"), _env_int("WORLD_SIZE")
    if size < 1 or global_rank >= size:
        raise ValueError(f"RANK={global_rank} and WORLD_SIZE={size} need 0 <= RANK < WORLD_SIZE")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend, rank=global_rank, world_size=size)
    return True


def shutdown_distributed() -> None:
    """End the process group: a barrier, then ``destroy_process_group`` (no-op on one process).

    The barrier keeps a rank from tearing the group down while a peer is still in its last
    collective; without it gloo aborted the slower rank now and then ("terminate called without
    an active exception").
    """
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()


def default_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        index = local_rank() if is_distributed() else torch.cuda.current_device()
        return torch.device("cuda", index)
    return torch.device("cpu")


def distributed_sampler(
    dataset: Dataset, shuffle: bool = True, seed: int = 0, *, drop_last: bool = False
) -> DistributedSampler | None:
    """A ``DistributedSampler`` over ``dataset`` for this rank, or None when not distributed.

    Call ``sampler.set_epoch(epoch)`` before each epoch so that shuffling changes per epoch
    (:func:`traincore.fit` does). Every rank must pass the same ``seed``.
    """
    if not is_distributed():
        return None
    return DistributedSampler(
        dataset,
        num_replicas=world_size(),
        rank=rank(),
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
    )


def all_reduce_metrics(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes, in place; returned for chaining (no-op on one process).

    Reduce *sums and counts* (as :meth:`MetricAccumulator.totals` gives them), never means.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(obj: _T, src: int = 0) -> _T:
    """``obj`` from rank ``src`` on every process (``obj`` itself on one process)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a ``DistributedDataParallel`` (or ``DataParallel``) wrapper."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    while isinstance(model, (DistributedDataParallel, torch.nn.DataParallel)):
        model = model.module
    return model


def wrap_ddp(model: torch.nn.Module, **ddp_kwargs: Any) -> torch.nn.Module:
    """Wrap ``model`` in ``DistributedDataParallel`` when distributed (else return it as is).

    A CUDA model gets ``device_ids=[its device]``; a wrapped model is returned unchanged.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not is_distributed() or isinstance(model, DistributedDataParallel):
        return model
    device = next(model.parameters()).device
    if device.type == "cuda" and "device_ids" not in ddp_kwargs:
        ddp_kwargs["device_ids"] = [device]
    return DistributedDataParallel(model, **ddp_kwargs)
