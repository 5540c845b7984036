"""Atomic, resumable checkpoints: model, optimizer, scheduler, updater, objective, RNG states.

A checkpoint is written to a temporary file in the target directory, flushed and fsynced, then
renamed over the target with ``os.replace`` and the directory fsynced: a crash or a failed write
leaves the previous checkpoint intact. It is read back with ``torch.load(weights_only=True)``,
so every entry is a tensor or a plain Python value (RNG states included), and loading a
checkpoint never runs code from the file.

Examples
--------
>>> import tempfile, pathlib, torch
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Linear(2, 1)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "last.pt"
>>> save_checkpoint(path, model=model, epoch=0, step=10, history=[{"epoch": 0, "loss": 0.5}])
>>> twin = torch.nn.Linear(2, 1)
>>> state = load_checkpoint(path, model=twin, restore_rng=False)
>>> torch.equal(twin.weight, model.weight), state["epoch"], state["step"], state["history"]
(True, 0, 10, [{'epoch': 0, 'loss': 0.5}])
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from traincore.distributed import rank, unwrap

FORMAT = "traincore-checkpoint"
_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupt or not a traincore checkpoint."""


def rng_state() -> dict[str, Any]:
    """This process's RNG states as tensors and plain Python values (``weights_only``-safe)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],  # internal: 625 ints < 2**32
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                  float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states saved by :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:  # a different machine: restore the devices both have
            for index, cuda_state in enumerate(cuda_states[: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(cuda_state, index)


def _check_path(path: Any, name: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    updater: Any = None,
    objective: Any = None,
    epoch: int,
    step: int,
    history: list[dict[str, Any]],
    extra: Any = None,
    rng: dict[str, Any] | list[dict[str, Any]] | None = None,
) -> None:
    """Write a checkpoint atomically (temp file, flush + fsync, ``os.replace``, directory fsync).

    Parameters
    ----------
    path
        Target file; its directory must exist.
    model
        Saved unwrapped (a DDP wrapper's ``.module``), so the file loads into a plain model.
    optimizer, scheduler, updater, objective
        Saved through their ``state_dict()`` when given.
    epoch, step
        Index of the last completed epoch (0-based) and the number of optimizer updates so far.
    history
        The per-epoch metric dicts so far.
    extra
        Any nested dicts/lists/tuples of tensors, numbers, strings, bools and None.
    rng
        RNG states to store; default this process's :func:`rng_state`. :func:`traincore.fit`
        passes a list with one entry per rank in distributed runs.
    """
    target = _check_path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"path={str(target)!r}: directory {str(target.parent)!r} does not exist"
        )
    for name, value in (("epoch", epoch), ("step", step)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}={value!r} must be a non-negative int")
    payload = {
        "format": FORMAT,
        "version": _VERSION,
        "model": unwrap(model).state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "updater": None if updater is None else updater.state_dict(),
        "objective": None if objective is None else objective.state_dict(),
        "epoch": epoch,
        "step": step,
        "history": [dict(row) for row in history],
        "extra": extra,
        "rng": rng_state() if rng is None else rng,
        "torch_version": str(torch.__version__),
    }
    _atomic_save(payload, target)


def _atomic_save(payload: dict[str, Any], target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    # makes the rename itself durable; directories cannot be opened for fsync on Windows
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint file without restoring anything.

    Raises :class:`FileNotFoundError` for a missing file and :class:`CheckpointError` naming
    the file when it is truncated, corrupt, or not a traincore checkpoint.
    """
    source = _check_path(path)
    if not source.is_file():
        raise FileNotFoundError(f"checkpoint {str(source)!r} does not exist or is not a file")
    try:
        state = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as err:  # zip, unpickling and EOF errors all mean the same to the user
        raise CheckpointError(
            f"checkpoint {str(source)!r} cannot be read with weights_only=True (truncated, "
            f"corrupt, or holding objects other than tensors and plain values): "
            f"{type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(source)!r} is not a {FORMAT} file")
    if state.get("version") != _VERSION:
        raise CheckpointError(
            f"checkpoint {str(source)!r} has version {state.get('version')!r}, "
            f"this traincore reads version {_VERSION}"
        )
    return state


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    updater: Any = None,
    objective: Any = None,
    restore_rng: bool = True,
    map_location: Any = "cpu",
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote into the objects given; return the contents.

    Parameters
    ----------
    path
        The checkpoint file.
    model, optimizer, scheduler, updater, objective
        Each given object gets ``load_state_dict`` of its saved state (a model may be a DDP
        wrapper). Asking to restore an object the checkpoint does not hold is an error.
    restore_rng
        Restore the python, numpy, torch and CUDA RNG states (this rank's, in a distributed
        checkpoint written with one state per rank).
    map_location
        Passed to ``torch.load``; tensors are then moved by each ``load_state_dict``.

    Returns
    -------
    dict
        The whole checkpoint: ``epoch``, ``step``, ``history``, ``extra``, the state dicts.
    """
    state = read_checkpoint(path, map_location=map_location)
    targets = {
        "model": None if model is None else unwrap(model),
        "optimizer": optimizer,
        "scheduler": scheduler,
        "updater": updater,
        "objective": objective,
    }
    for key, target in targets.items():
        if target is None:
            continue
        if state[key] is None:
            raise CheckpointError(f"checkpoint {str(path)!r} holds no {key} state to restore")
        target.load_state_dict(state[key])
    if restore_rng:
        rng = state["rng"]
        set_rng_state(rng[min(rank(), len(rng) - 1)] if isinstance(rng, list) else rng)
    return state
