"""``fit``: the reference training loop, readable top to bottom.

Per batch: move it to the device, ``objective.step(model, batch, updater)`` (which calls
``updater.update(loss)``), add the step's loss and predictions to a
:class:`~traincore.MetricAccumulator` on the device. Every ``log_every`` steps the host reads
the running means once (log line, progress bar). Per epoch: optional evaluation, the objective's
``on_epoch_end`` metrics, the epoch scheduler step, a history row, an atomic checkpoint, the
callbacks. Each of these is a one-line call a user's own loop can make too
(:class:`~traincore.Updater`, ``objective.step``, :func:`~traincore.evaluate`,
:func:`~traincore.save_checkpoint`).

Under ``torchrun`` (``torch.distributed`` initialised, e.g. by
:func:`~traincore.init_distributed`) the model is wrapped in DDP, a ``DataLoader`` is re-built
with a ``DistributedSampler``, the epoch metrics are all-reduced, and only rank 0 logs, shows
progress and writes checkpoints. On one process none of this happens.

Examples
--------
>>> import torch
>>> from traincore import seed_everything
>>> _ = seed_everything(0)
>>> x = torch.randn(64, 4); y = (x[:, 0] > 0).long()
>>> loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
>>> model = torch.nn.Linear(4, 2)
>>> history = fit(model, loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
...               epochs=3, progress=False)
>>> [row["epoch"] for row in history], history[-1]["train_loss"] < history[0]["train_loss"]
([0, 1, 2], True)
>>> sorted(history[0])
['epoch', 'time', 'train_acc', 'train_loss']
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, RandomSampler

from traincore import distributed as dist_utils
from traincore._atomic import remove_stale_temp_files
from traincore._state_checks import foreign_parameters
from traincore.checkpoint import load_checkpoint, rng_state, save_checkpoint
from traincore.evaluate import check_loader, evaluate, to_device
from traincore.metrics import MetricAccumulator
from traincore.objective import Objective, StepOutput, Supervised
from traincore.precision import Precision
from traincore.updater import Updater

logger = logging.getLogger("traincore")

CHECKPOINT_NAME = "last.pt"  # the file fit writes in checkpoint_dir after every epoch
Callback = Callable[[int, dict, torch.nn.Module], Any]


class History(list):
    """The per-epoch metric dicts of a run (a ``list``; JSON-serialisable).

    Each row has ``epoch`` (0-based), ``train_loss``, ``train_acc``, ``eval_loss`` and
    ``eval_acc`` (with an eval loader), ``time`` (seconds) and the objective's epoch metrics.
    """

    def column(self, key: str) -> list[Any]:
        """The values of ``key`` over the epochs (None where a row lacks it)."""
        return [row.get(key) for row in self]

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(list(self), **kwargs)


@dataclass
class _Run:
    model: torch.nn.Module  # DDP wrapper in distributed runs
    updater: Updater
    objective: Any
    loader: Iterable
    eval_loader: Iterable | None
    device: torch.device
    callbacks: tuple[Callback, ...]
    log_every: int
    progress: bool
    checkpoint: Path | None
    history: History
    start_epoch: int
    epochs: int
    main: bool  # rank 0: logs, progress, files


def fit(
    model: torch.nn.Module,
    train_loader: Iterable,
    *,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    objective: Objective | None = None,
    precision: str | Precision = "fp32",
    eval_loader: Iterable | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scheduler_interval: str = "step",
    grad_clip: float | None = None,
    callbacks: Sequence[Callback] = (),
    log_every: int = 50,
    progress: bool | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return the :class:`History`.

    Parameters
    ----------
    model, optimizer
        The module and an optimizer over its parameters (all of them or some; a parameter
        that is not the model's is a ``ValueError``).
    train_loader, eval_loader
        Re-iterable sources of batches (``DataLoader`` s); ``eval_loader`` batches are
        ``(x, y)`` and are scored with :func:`~traincore.evaluate` after every epoch.
    epochs
        Total number of epochs, counting those done before a ``resume``.
    objective
        What one step does (:class:`~traincore.Objective`); default :class:`Supervised`.
    precision, grad_clip, scheduler, scheduler_interval
        Passed to the :class:`~traincore.Updater`.
    callbacks
        Called as ``callback(epoch, metrics, model)`` after each epoch's checkpoint (``model``
        is the DDP wrapper in distributed runs, ``metrics`` a copy of the history row);
        returning ``"stop"`` ends training after that epoch (on every rank), None continues.
    log_every
        Steps between the host reads of the running metrics (log line, progress bar).
    progress
        tqdm progress bar: None shows it when stderr is a terminal, True/False force it.
    checkpoint_dir
        Directory (created if missing) where ``last.pt`` is written atomically every epoch.
        Temp files that killed writers left there are removed on start
        (:func:`~traincore.remove_stale_temp_files`; never one a live writer holds).
    resume
        Checkpoint file to continue from: restores model, optimizer, scheduler, updater,
        objective, history and RNG states, then runs the remaining epochs.
    device
        Device to train on; default the model's. Batches are moved there.
    """
    run = _prepare(
        model, train_loader, optimizer=optimizer, epochs=epochs, objective=objective,
        precision=precision, eval_loader=eval_loader, scheduler=scheduler,
        scheduler_interval=scheduler_interval, grad_clip=grad_clip, callbacks=callbacks,
        log_every=log_every, progress=progress, checkpoint_dir=checkpoint_dir, resume=resume,
        device=device,
    )
    for epoch in range(run.start_epoch, run.epochs):
        started = time.perf_counter()
        row = _train_epoch(run, epoch)
        if _finish_epoch(run, epoch, row, started):
            break
    if dist_utils.is_distributed():
        # every rank returns once rank 0's last checkpoint is on disk, so any rank may read it
        torch.distributed.barrier()
    return run.history


def _check_arguments(model, train_loader, optimizer, epochs, objective, eval_loader, callbacks,
                     log_every, progress) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    foreign = foreign_parameters(dist_utils.unwrap(model), optimizer)
    if foreign is not None:
        raise ValueError(
            f"optimizer: {foreign} is not a parameter of model; build the optimizer over "
            "model.parameters()"
        )
    check_loader(train_loader, "train_loader")
    if eval_loader is not None:
        check_loader(eval_loader, "eval_loader")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be an int >= 1")
    if objective is not None and not callable(getattr(objective, "step", None)):
        raise TypeError(
            "objective must have a step(model, batch, updater) method, "
            f"got {type(objective).__name__}"
        )
    if (
        callable(callbacks)
        or not isinstance(callbacks, Iterable)
        or isinstance(callbacks, (str, bytes))
        or not all(callable(c) for c in callbacks)
    ):
        raise TypeError(
            f"callbacks={callbacks!r} must be a sequence of callables "
            "(wrap a single callback in a list)"
        )
    if not isinstance(log_every, int) or isinstance(log_every, bool) or log_every < 1:
        raise ValueError(f"log_every={log_every!r} must be an int >= 1")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress={progress!r} must be True, False or None")


def _prepare(model, train_loader, *, optimizer, epochs, objective, precision, eval_loader,
             scheduler, scheduler_interval, grad_clip, callbacks, log_every, progress,
             checkpoint_dir, resume, device) -> _Run:
    _check_arguments(model, train_loader, optimizer, epochs, objective, eval_loader, callbacks,
                     log_every, progress)
    precision = Precision(precision)  # ValueError naming the value and the allowed set
    resume_path = None if resume is None else _existing_file(resume, "resume")
    checkpoint = None if checkpoint_dir is None else _checkpoint_file(checkpoint_dir)
    device = _resolve_device(model, device)
    model.to(device)
    distributed = dist_utils.is_distributed()
    if distributed:
        model = dist_utils.wrap_ddp(model)
        train_loader = _shard(train_loader)
    updater = Updater(model, optimizer, precision=precision, grad_clip=grad_clip,
                      scheduler=scheduler, scheduler_interval=scheduler_interval)
    objective = Supervised() if objective is None else objective
    history, start_epoch = History(), 0
    if resume_path is not None:
        state = load_checkpoint(resume_path, model=model, optimizer=optimizer,
                                scheduler=scheduler, updater=updater, objective=objective)
        history, start_epoch = History(state["history"]), state["epoch"] + 1
    main = dist_utils.is_main_process()
    if main and start_epoch >= epochs:
        logger.info("resumed after epoch %d of %d: nothing left to train", start_epoch, epochs)
    show = sys.stderr.isatty() if progress is None else progress
    return _Run(model, updater, objective, train_loader, eval_loader, device, tuple(callbacks),
                log_every, show and main, checkpoint, history, start_epoch, epochs, main)


def _existing_file(path: Any, name: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    if not Path(path).is_file() or not os.access(path, os.R_OK):
        raise FileNotFoundError(f"{name}={str(path)!r} is not a readable checkpoint file")
    return Path(path)


def _checkpoint_file(directory: Any) -> Path:
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(
            f"checkpoint_dir must be a str or os.PathLike, got {type(directory).__name__}"
        )
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"checkpoint_dir={str(directory)!r} exists and is not a directory")
    target = directory / CHECKPOINT_NAME
    if dist_utils.is_main_process():
        directory.mkdir(parents=True, exist_ok=True)
        for path in remove_stale_temp_files(target):
            logger.info("removed %s, left by a checkpoint writer that died", path)
    return target


def _resolve_device(model: torch.nn.Module, device: Any) -> torch.device:
    if device is not None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be a str, a torch.device or None, got {device!r}")
        return torch.device(device)
    param = next(model.parameters(), None)
    if param is None:
        raise ValueError("model has no parameters to train")
    if dist_utils.is_distributed() and param.device.type == "cpu":
        return dist_utils.default_device()  # cuda:LOCAL_RANK under torchrun with GPUs
    return param.device


def _shard(loader: Iterable) -> Iterable:
    """Re-build a DataLoader with a DistributedSampler (other iterables are used as given)."""
    if not isinstance(loader, DataLoader) or isinstance(loader.sampler, DistributedSampler):
        return loader
    if isinstance(loader.dataset, IterableDataset) or loader.batch_size is None:
        logger.warning("train_loader cannot be sharded by fit (iterable dataset or custom "
                       "batch sampler): every rank iterates it as given")
        return loader
    seed = dist_utils.broadcast_object(torch.initial_seed() % 2**31)  # same order on all ranks
    sampler = dist_utils.distributed_sampler(
        loader.dataset, shuffle=isinstance(loader.sampler, RandomSampler), seed=seed,
        drop_last=loader.drop_last,
    )
    return DataLoader(
        loader.dataset, batch_size=loader.batch_size, sampler=sampler,
        num_workers=loader.num_workers, collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory, drop_last=loader.drop_last, timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        persistent_workers=loader.persistent_workers,
        prefetch_factor=loader.prefetch_factor if loader.num_workers > 0 else None,
    )


def _train_epoch(run: _Run, epoch: int) -> dict[str, Any]:
    sampler = getattr(run.loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)  # type: ignore[union-attr]  # a new shuffle per epoch, the same on every rank
    run.objective.on_epoch_start(epoch)
    run.model.train()
    meter = MetricAccumulator(run.device)
    bar = _progress_bar(run, epoch)
    report = bar is not None or (run.main and logger.isEnabledFor(logging.INFO))
    for index, batch in enumerate(run.loader):
        out = run.objective.step(run.model, to_device(batch, run.device), run.updater)
        if not isinstance(out, StepOutput):
            raise TypeError(f"objective.step must return a StepOutput, got {type(out).__name__}")
        meter.update(out.loss, out.output, out.target)
        if bar is not None:
            bar.update(1)
        if report and (index + 1) % run.log_every == 0:
            _report(run, epoch, index + 1, meter.compute(), bar)  # the one host sync
    if bar is not None:
        bar.close()
    values = meter.compute(dist_utils.all_reduce_metrics(meter.totals()))
    return {"train_loss": values["loss"], "train_acc": values["acc"]}


def _progress_bar(run: _Run, epoch: int):
    if not run.progress:
        return None
    from tqdm.auto import tqdm  # imported only when a bar is shown

    total = len(run.loader) if hasattr(run.loader, "__len__") else None  # type: ignore[arg-type]
    return tqdm(total=total, desc=f"epoch {epoch + 1}/{run.epochs}", leave=False)


def _report(run: _Run, epoch: int, steps: int, values: dict, bar) -> None:
    """Running means of this rank (not all-reduced: that would need every rank to sync)."""
    text = {k: round(v, 4) for k, v in values.items() if k != "count" and v is not None}
    if bar is not None:
        bar.set_postfix(text)
    logger.info("epoch %d step %d: %s", epoch, steps, text)


def _finish_epoch(run: _Run, epoch: int, row: dict[str, Any], started: float) -> bool:
    """Evaluate, record, checkpoint, call back; True when training should stop."""
    if run.eval_loader is not None:
        scores = evaluate(run.model, run.eval_loader, precision=run.updater.precision,
                          loss_fn=getattr(run.objective, "loss_fn", None), device=run.device)
        row["eval_loss"], row["eval_acc"] = scores["loss"], scores["acc"]
    extra = run.objective.on_epoch_end(epoch, run.model, run.updater) or {}
    row.update(_plain(extra))
    run.updater.epoch_end()
    row = {"epoch": epoch, **row, "time": time.perf_counter() - started}
    run.history.append(row)
    if run.checkpoint is not None:
        _write_checkpoint(run, epoch)
    if run.main:
        logger.info("epoch %d/%d: %s", epoch + 1, run.epochs,
                    {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    return _call_back(run, epoch, row)


def _plain(metrics: Any) -> dict[str, Any]:
    """Objective metrics as JSON-ready values: tensors of one element become numbers."""
    if not isinstance(metrics, dict):
        raise TypeError(f"objective.on_epoch_end must return a dict, got {type(metrics).__name__}")
    plain = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if not isinstance(key, str) or not (value is None or isinstance(value, (int, float, str))):
            raise TypeError(
                f"objective.on_epoch_end metric {key!r}={value!r}: keys must be str and values "
                "numbers, strings, None or one-element tensors"
            )
        plain[key] = value
    return plain


def _write_checkpoint(run: _Run, epoch: int) -> None:
    rng: Any = rng_state()
    if dist_utils.is_distributed():  # every rank's RNG, so a resumed run continues exactly
        rng = [None] * dist_utils.world_size()
        torch.distributed.all_gather_object(rng, rng_state())
    if run.main:
        save_checkpoint(
            run.checkpoint, model=run.model, optimizer=run.updater.optimizer,  # type: ignore[arg-type]  # run.main implies a path
            scheduler=run.updater.scheduler, updater=run.updater, objective=run.objective,
            epoch=epoch, step=run.updater.step_count, history=run.history, rng=rng,
        )


def _call_back(run: _Run, epoch: int, row: dict[str, Any]) -> bool:
    stop = False
    for callback in run.callbacks:
        answer = callback(epoch, dict(row), run.model)
        if answer not in (None, "stop"):
            raise ValueError(f"callback {callback!r} returned {answer!r}; expected None or 'stop'")
        stop = stop or answer == "stop"
    if dist_utils.is_distributed():  # stop everywhere if any rank's callback said so
        flag = torch.tensor([float(stop)], device=run.device)
        stop = bool(dist_utils.all_reduce_metrics(flag).item() > 0)
    if stop and run.main:
        logger.info("stopped by a callback after epoch %d", epoch)
    return stop
