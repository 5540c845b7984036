"""Atomic, resumable checkpoints: model, optimizer, scheduler, updater, objective, RNG states.

A checkpoint is written to a locked temporary file in the target directory, flushed and
fsynced, then renamed over the target with ``os.replace`` and the directory fsynced: a crash or
a failed write leaves the previous checkpoint intact, and the temp file a killed writer leaves
behind is removed by :func:`remove_stale_temp_files` (which :func:`traincore.fit` calls on
start). It is read back with ``torch.load(weights_only=True)``, so every entry is a tensor or a
plain Python value (RNG states included), and loading a checkpoint never runs code from the
file.

Integrity: the payload carries the SHA-256 of its contents (``sha256``, see
``traincore._digest``); :func:`read_checkpoint` recomputes it and refuses a file whose bytes
changed (:class:`CheckpointError` naming the file). :func:`load_checkpoint` checks that the
checkpoint fits every object it restores (model keys and shapes, optimizer and scheduler class,
optimizer groups and state shapes, updater state) before it copies anything: a checkpoint that
does not fit leaves them all untouched. Version 1 files (written before checksums) still load,
with a warning that their integrity cannot be verified.

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

import os
import random
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from traincore._atomic import Hook, atomic_write, remove_stale_temp_files
from traincore._digest import payload_digest
from traincore._state_checks import restore_problems
from traincore.distributed import rank, unwrap

if TYPE_CHECKING:
    from torch.optim.lr_scheduler import LRScheduler
    from torch.serialization import MAP_LOCATION

    from traincore.objective import Objective
    from traincore.updater import Updater

__all__ = ["CheckpointError", "load_checkpoint", "read_checkpoint", "remove_stale_temp_files",
           "rng_state", "save_checkpoint", "set_rng_state"]

FORMAT = "traincore-checkpoint"
_VERSION = 2  # 2: sha256 of the contents and the class names of what was saved
_READABLE = (1, 2)
_PARTS = ("model", "optimizer", "scheduler", "updater", "objective")
_write_hook: Hook | None = None  # test seam (fault injection): see traincore._atomic.atomic_write


class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupt, not a traincore checkpoint, or does not fit."""


def rng_state() -> dict[str, Any]:
    """This process's RNG states as tensors and plain Python values (``weights_only``-safe)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],  # internal: 625 ints < 2**32
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),  # type: ignore[union-attr]  # legacy=True: a tuple
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
    scheduler: LRScheduler | None = None,
    updater: Updater | None = None,
    objective: Objective | None = None,
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
    model = unwrap(model)
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "updater": updater,
             "objective": objective}
    payload = {
        "format": FORMAT,
        "version": _VERSION,
        "types": {k: None if v is None else type(v).__qualname__ for k, v in parts.items()},
        "model": model.state_dict(),
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
    _atomic_save(_sealed(payload), target)


def _sealed(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with ``sha256`` (of everything else) as its last entry."""
    body = {key: value for key, value in payload.items() if key != "sha256"}
    body["sha256"] = payload_digest(body)
    return body


def _atomic_save(payload: dict[str, Any], target: Path) -> None:
    atomic_write(target, lambda handle: torch.save(payload, handle), _write_hook)


def read_checkpoint(
    path: str | os.PathLike, *, map_location: MAP_LOCATION = "cpu"
) -> dict[str, Any]:
    """Load and validate a checkpoint file without restoring anything.

    Raises :class:`FileNotFoundError` for a missing file and :class:`CheckpointError` naming
    the file when it is truncated, corrupt (its contents do not match their checksum), or not a
    traincore checkpoint. A version 1 file (no checksum) is returned with a ``UserWarning``.
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
    version = state.get("version")
    if version not in _READABLE:
        raise CheckpointError(
            f"checkpoint {str(source)!r} has version {version!r}, this traincore reads "
            f"versions {', '.join(map(str, _READABLE))}"
        )
    _verify(state, source)
    return state


def _verify(state: dict[str, Any], source: Path) -> None:
    stored = state.get("sha256")
    if stored is None and state.get("version") == 1:
        warnings.warn(
            f"checkpoint {str(source)!r} has version 1 (written by an older traincore, no "
            "checksum): its integrity cannot be verified; the next save writes version "
            f"{_VERSION}", UserWarning, stacklevel=3,
        )
        return
    if not isinstance(stored, str):
        raise CheckpointError(f"checkpoint {str(source)!r} has no checksum (sha256): corrupt")
    try:
        found = payload_digest({key: value for key, value in state.items() if key != "sha256"})
    except Exception as err:  # a damaged structure the digest cannot walk
        raise CheckpointError(
            f"checkpoint {str(source)!r} is corrupt: its checksum cannot be computed ({err})"
        ) from err
    if found != stored:
        raise CheckpointError(
            f"checkpoint {str(source)!r} is corrupt: the checksum of its contents "
            f"(sha256 {found[:16]}...) differs from the one stored ({stored[:16]}...)"
        )


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: LRScheduler | None = None,
    updater: Updater | None = None,
    objective: Objective | None = None,
    restore_rng: bool = True,
    map_location: MAP_LOCATION = "cpu",
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote into the objects given; return the contents.

    Parameters
    ----------
    path
        The checkpoint file.
    model, optimizer, scheduler, updater, objective
        Each given object gets ``load_state_dict`` of its saved state (a model may be a DDP
        wrapper). Asking to restore an object the checkpoint does not hold is an error. All
        are checked first (model keys and shapes; optimizer and scheduler class; optimizer
        groups and state shapes; ``validate_state_dict`` of the others where they have one,
        as :class:`~traincore.Updater` does): a :class:`CheckpointError` listing what does not
        fit leaves every object untouched. The objective's own ``load_state_dict`` runs first,
        so if it refuses its state, the others are not touched either.
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
    given = (None if model is None else unwrap(model), optimizer, scheduler, updater, objective)
    targets = {key: target for key, target in zip(_PARTS, given) if target is not None}
    types = state.get("types") or {}
    for key, target in targets.items():
        if state[key] is None:
            raise CheckpointError(f"checkpoint {str(path)!r} holds no {key} state to restore")
        problems = restore_problems(key, state[key], target, types.get(key))
        if problems:
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not fit the {key} "
                f"({type(target).__name__}): {'; '.join(problems)}; nothing was restored"
            )
    for key in sorted(targets, key=lambda k: k != "objective"):  # its own load may still refuse
        targets[key].load_state_dict(state[key])
    if restore_rng:
        rng = state["rng"]
        set_rng_state(rng[min(rank(), len(rng) - 1)] if isinstance(rng, list) else rng)
    return state
