"""Fault injection for ``fit``: a training process SIGKILLed at random points, restarted each time.

Usage: python _chaos_fit.py OUT --points N --seed S   (prints one JSON summary line)

The driver imports torch and traincore once and runs no torch operation itself; every training
process is a fork of it (its own memory and file descriptors, killed by the kernel like any
other), so a restart costs milliseconds instead of a torch import. The first child trains
straight through and reports how many events of each kind every epoch has; then chaos runs
begin. Each restart resumes from ``last.pt`` when it exists (fresh otherwise) and is one kill
point: the driver draws (kind, epoch offset, position, mode) from its seeded generator, the
child stops at that event and the driver sends SIGKILL. Kinds: ``start`` (before anything),
``step`` (after an optimizer step), the checkpoint write's ``open`` (empty temp file),
``chunk`` (after a write call: a partial temp file), ``synced`` (complete, not yet renamed),
``replaced`` (renamed, directory not yet fsynced) and ``epoch`` (after the epoch's callback).
Mode ``exact`` kills the child while it waits at the event; ``timed`` lets it run on and kills
it 0-3 ms later, wherever it then is. A run that finishes is compared with the straight run
(SHA-256 of final parameters, optimizer state and history without times), its checkpoint folder
must hold nothing but ``last.pt`` (stale temp files removed), and the next run starts fresh.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401  (the first optimizer imports it: once here, not per child)

from traincore import checkpoint as checkpoint_module
from traincore import fit, read_checkpoint, seed_everything
from traincore._digest import payload_digest

if __package__:  # imported by pytest (doctest collection)
    from ._resume_script import NoisySupervised
else:  # run as a script: its folder is on sys.path
    from _resume_script import NoisySupervised

EPOCHS = 6
KINDS = ("start", "step", "open", "chunk", "synced", "replaced", "epoch")
WEIGHTS = {"start": 1, "step": 4, "open": 1, "chunk": 4, "synced": 1, "replaced": 1, "epoch": 1}
FIRST = ("step", "chunk")  # the kinds of the first two points, both before the first checkpoint
WAIT_S = 120.0  # longest a child may take to reach its kill point or finish


class Events:
    """Counts a child's events per (kind, epoch); stops at the drawn one and tells the driver."""

    def __init__(self, spec: dict | None, per_epoch: dict | None, notify: int, go: int):
        self.spec, self.per_epoch, self.notify, self.go = spec, per_epoch, notify, go
        self.epoch, self.target = 0, None
        self.seen: Counter = Counter()

    def begin(self, start_epoch: int) -> None:
        """Place the kill point once the child knows the epoch it resumes at."""
        self.epoch = start_epoch
        spec = self.spec
        if spec is None or spec["kind"] == "start" or start_epoch >= EPOCHS:
            return
        epoch = min(start_epoch + spec["offset"], EPOCHS - 1)
        count = self.per_epoch[spec["kind"]][epoch]
        self.target = (spec["kind"], epoch, 1 + int(spec["position"] * count))

    def __call__(self, kind: str) -> None:
        self.seen[kind, self.epoch] += 1
        spec = self.spec
        if spec is not None and (
            (kind == "start" and spec["kind"] == "start")
            or (kind, self.epoch, self.seen[kind, self.epoch]) == self.target
        ):
            self._stop(kind)
        if kind == "epoch":
            self.epoch += 1

    def _stop(self, kind: str) -> None:
        message = {"kill": kind, "epoch": self.epoch, "n": self.seen[kind, self.epoch]}
        os.write(self.notify, (json.dumps(message) + "\n").encode())
        os.read(self.go, 1)  # exact: killed while waiting here; timed: released, killed soon

    def counts(self) -> dict:
        return {kind: [self.seen[kind, e] for e in range(EPOCHS)] for kind in KINDS}


class CountingObjective(NoisySupervised):
    def __init__(self, events: Events):
        super().__init__()
        self.events = events

    def step(self, model, batch, updater):
        out = super().step(model, batch, updater)
        self.events("step")
        return out


def train(folder: Path, events: Events) -> dict:
    """One training process: resume from folder/ckpt/last.pt when it exists; the final state."""
    torch.set_num_threads(1)
    events("start")
    last = folder / "ckpt" / "last.pt"
    resume = last if last.exists() else None
    events.begin(0 if resume is None else read_checkpoint(resume)["epoch"] + 1)
    checkpoint_module._write_hook = events
    seed_everything(0)
    x = torch.randn(96, 8)  # (N, features)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()  # 3 classes
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16,
                                         shuffle=True)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 3)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.8)
    history = fit(model, loader, optimizer=optimizer, epochs=EPOCHS,
                  objective=CountingObjective(events), scheduler=scheduler, progress=False,
                  callbacks=[lambda epoch, metrics, model: events("epoch")],
                  checkpoint_dir=folder / "ckpt", resume=resume)
    result = {"params": model.state_dict(), "optimizer": optimizer.state_dict(),
              "history": [{k: v for k, v in row.items() if k != "time"} for row in history]}
    torch.save(result, folder / "result.pt.tmp")
    os.replace(folder / "result.pt.tmp", folder / "result.pt")
    return {"done": payload_digest(result), "counts": events.counts()}


def _child(folder: Path, spec, per_epoch, notify: int, go: int) -> None:
    code = 1
    try:
        answer = train(folder, Events(spec, per_epoch, notify, go))
        os.write(notify, (json.dumps(answer) + "\n").encode())
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _read_line(fd: int, timeout: float) -> dict | None:
    """One JSON line from the child, or None at end of file; TimeoutError when it hangs."""
    data, deadline = b"", time.monotonic() + timeout
    while not data.endswith(b"\n"):
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise TimeoutError(f"no word from the training process in {timeout:.0f} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def run_child(folder: Path, spec, per_epoch, rng: random.Random) -> tuple[str, dict]:
    """Fork one training process; ("killed", kill point) or ("done", final digest, counts)."""
    notify_r, notify_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(notify_r), os.close(go_w)
        _child(folder, spec, per_epoch, notify_w, go_r)
    os.close(notify_w), os.close(go_r)
    try:
        message = _read_line(notify_r, WAIT_S)
        if message is not None and "kill" in message:
            if spec["mode"] == "timed":
                os.write(go_w, b"g")
                time.sleep(rng.uniform(0.0, 0.003))
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and "kill" in (message or {}):
            message = _read_line(notify_r, WAIT_S)  # timed: it finished before the kill came
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(notify_r), os.close(go_w)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL and "kill" in message:
        return "killed", message
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and "done" in (message or {}):
        return "done", message
    raise RuntimeError(f"training process ended with status {status} after {message}")


def _draw(rng: random.Random, order: list[str], index: int) -> dict:
    if index < len(FIRST):  # a step of epoch 0, then the first checkpoint write: both early
        return {"kind": FIRST[index], "offset": 0, "position": rng.random(), "mode": "exact"}
    if not order:  # each kind WEIGHTS times per cycle, in a random order
        order.extend(k for k in KINDS for _ in range(WEIGHTS[k]))
        rng.shuffle(order)
    return {"kind": order.pop(), "offset": rng.choices((0, 1), (3, 2))[0],
            "position": rng.random(), "mode": rng.choices(("exact", "timed"), (7, 3))[0]}


def chaos(out: Path, points: int, seed: int) -> dict:
    rng, started = random.Random(seed), time.perf_counter()
    straight = out / "straight"
    straight.mkdir(parents=True)
    reference = run_child(straight, None, None, rng)[1]
    summary: dict = {"seed": seed, "points": 0, "kinds": Counter(), "modes": Counter(),
                     "before_first_checkpoint": 0, "temp_file_left": 0, "completed_runs": 0,
                     "mismatches": [], "leftovers": []}
    order: list[str] = []
    run = out / "chaos"

    def finished(answer: dict) -> None:
        summary["completed_runs"] += 1
        if answer["done"] != reference["done"]:
            summary["mismatches"].append(summary["points"])
        left = sorted(p.name for p in (run / "ckpt").iterdir())
        if left != ["last.pt"]:
            summary["leftovers"].append(left)

    while summary["points"] < points:
        run.mkdir(exist_ok=True)
        spec = _draw(rng, order, summary["points"])
        outcome, message = run_child(run, spec, reference["counts"], rng)
        if outcome == "done":  # the point fell after the end: compare, start a fresh run
            finished(message)
            if summary["points"] >= len(FIRST):
                order.append(spec["kind"])  # drawn again, so every cycle kills at each kind
            shutil.rmtree(run)
            continue
        summary["points"] += 1
        summary["kinds"][message["kill"]] += 1
        summary["modes"][spec["mode"]] += 1
        summary["before_first_checkpoint"] += not (run / "ckpt" / "last.pt").exists()
        summary["temp_file_left"] += any((run / "ckpt").glob(".last.pt.*.tmp"))
    run.mkdir(exist_ok=True)
    finished(run_child(run, None, None, rng)[1])  # the last run, resumed to its end
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--points", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    print(json.dumps(chaos(args.out, args.points, args.seed)), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
