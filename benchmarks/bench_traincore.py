"""fit() for one epoch vs the minimal hand-written loop users write, same model, data and run.

The peer ("hand-loop") is the textbook loop: ``zero_grad``, forward, loss, ``backward``,
``step``, and accuracy/loss counted with ``.item()`` on every step. ``fit`` runs the same
update through ``Updater`` and ``Supervised`` with metrics accumulated on the device, the
``traincore`` logger at INFO (one host read and log line every ``log_every`` steps) and no
progress bar. Both start from identical weights and see identical batches, so their epoch loss
and accuracy must agree: they are written next to the timings as a check that both did the
same work.

Workloads (synthetic, seeded, data resident on the device, no DataLoader workers):

- ``traincore/fit-1epoch-mlp``: 4096 samples x 64 features, MLP 64-256-256-10, batch 64
  (64 steps per epoch).
- ``traincore/fit-1epoch-cnn``: 1024 images 3x16x16, 2 conv layers + linear, batch 64
  (16 steps per epoch).

Checkpoints (what the SHA-256 of the contents, the fit checks and the locked atomic write cost):

- ``traincore/checkpoint-save``: ``save_checkpoint`` of the MLP and its SGD momentum state
  (about 2 x 1.1 M float32 values) vs the peer ``torch.save`` of the same model and optimizer
  state dicts to a path (no checksum, no fsync, not atomic).
- ``traincore/checkpoint-load``: ``load_checkpoint`` into the model and optimizer (digest
  verified, fit checked) vs ``torch.load(weights_only=True)`` + the two ``load_state_dict``.
  The CPU timer leaves out the time ``save_checkpoint`` waits for its two fsyncs.

Timer: CPU time of the process on the CPU (one torch thread), wall time on CUDA (where fit's
single sync per log interval, against the peer's two per step, is the point).

Run: ``.venv/bin/python -m pytest benchmarks/bench_traincore.py -o addopts="" -p no:cacheprovider
--benchmark-only --benchmark-json=out.json``; ratios from ``benchmarks/summarize.py``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from traincore import fit, load_checkpoint, save_checkpoint

RESULTS = Path(__file__).parent / "results"
# On the CPU the timer is this process's CPU time: torch runs on one thread here, and on a
# machine shared with other jobs wall time mostly measures their load. On CUDA, wall time.
_ON_CPU = os.environ.get(
    "ROBUST_BENCH_FORCE_DEVICE", "cuda" if torch.cuda.is_available() else "cpu"
).startswith("cpu")
pytestmark = pytest.mark.benchmark(timer=time.process_time if _ON_CPU else time.perf_counter)
ROUNDS = 30  # timed epochs per implementation
BATCH = 64
LOG_EVERY = 50  # fit's default
_quality: dict[str, dict] = {}


class TensorBatches:
    """Re-iterable shuffled mini-batches of on-device tensors (one randperm per epoch)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.x), device=self.x.device)  # (N,)
        for start in range(0, len(self.x), self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.x[index], self.y[index]


def _mlp() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )


def _cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),  # 16x8x8
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),  # 32x4x4
        torch.nn.Flatten(), torch.nn.Linear(32 * 4 * 4, 10),
    )


WORKLOADS = {
    "mlp": (_mlp, (4096, 64)),
    "cnn": (_cnn, (1024, 3, 16, 16)),
}


def _data(kind: str, device: torch.device):
    g = torch.Generator().manual_seed(0)
    shape = WORKLOADS[kind][1]
    x = torch.randn(*shape, generator=g)
    w = torch.randn(x[0].numel(), 10, generator=g)
    y = (x.flatten(1) @ w).argmax(1)  # a learnable labelling, (N,)
    return x.to(device), y.to(device)


def _setup(kind: str, device: torch.device):
    def setup():
        torch.manual_seed(1)  # same weights and shuffles for both implementations
        model = WORKLOADS[kind][0]().to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        return (model, optimizer), {}

    return setup


def hand_loop(model, optimizer, loader) -> dict:
    """What users write: per-step .item() for the running loss and accuracy."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in loader:
        optimizer.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * y.shape[0]
        correct += (out.argmax(1) == y).sum().item()
        seen += y.shape[0]
    return {"train_loss": total_loss / seen, "train_acc": correct / seen}


@pytest.fixture(scope="module", autouse=True)
def _quiet_single_thread():
    # one thread: the machine is shared, and both implementations get the same
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    logger = logging.getLogger("traincore")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)  # fit pays for its interval reads and log lines
    logger.propagate = False
    logger.addHandler(handler := logging.NullHandler())
    yield
    logger.removeHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate
    torch.set_num_threads(threads)
    _write_quality()


def _write_quality() -> None:
    if not _quality:
        return
    RESULTS.mkdir(exist_ok=True)
    report = {
        "note": "epoch-1 train loss/accuracy of fit() and of the hand loop on identical data; "
                "they must agree (same work), timings are in the pytest-benchmark JSON",
        "torch": torch.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "workloads": _quality,
    }
    (RESULTS / "traincore_fit_quality.json").write_text(json.dumps(report, indent=2))


@pytest.mark.parametrize("impl", ["ours", "hand-loop"])  # a workload's pair runs back to back
@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_fit_one_epoch(benchmark, device, kind, impl):
    x, y = _data(kind, device)
    loader = TensorBatches(x, y, BATCH)
    results = []

    def ours(model, optimizer):
        history = fit(model, loader, optimizer=optimizer, epochs=1, progress=False,
                      log_every=LOG_EVERY)
        results.append({k: history[0][k] for k in ("train_loss", "train_acc")})

    def peer(model, optimizer):
        results.append(hand_loop(model, optimizer, loader))

    benchmark.group = f"traincore/fit-1epoch-{kind}"
    benchmark.extra_info.update(impl=impl, items=len(x), device=str(device),
                                timer="process_time" if _ON_CPU else "perf_counter")
    benchmark.pedantic(ours if impl == "ours" else peer, setup=_setup(kind, device),
                       rounds=ROUNDS, warmup_rounds=1)
    first = results[0]
    assert all(r == pytest.approx(first) for r in results)  # every round the same epoch
    benchmark.extra_info.update(first)
    _quality.setdefault(kind, {})[impl] = first
    if len(_quality[kind]) == 2:  # both ran: the same work, up to float summation order
        assert _quality[kind]["ours"] == pytest.approx(_quality[kind]["hand-loop"], rel=1e-5)


def _checkpoint_parts():
    torch.manual_seed(1)
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model(torch.randn(8, 64)).square().mean().backward()
    optimizer.step()  # momentum buffers exist
    return model, optimizer


@pytest.mark.parametrize("impl", ["ours", "torch.save"])
def test_checkpoint_save(benchmark, tmp_path, impl):
    model, optimizer = _checkpoint_parts()
    path = tmp_path / "last.pt"

    def ours():
        save_checkpoint(path, model=model, optimizer=optimizer, epoch=0, step=1, history=[])

    def peer():
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)

    benchmark.group = "traincore/checkpoint-save"
    benchmark.extra_info.update(impl=impl, items=1)
    benchmark.pedantic(ours if impl == "ours" else peer, rounds=ROUNDS, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["ours", "torch.load"])
def test_checkpoint_load(benchmark, tmp_path, impl):
    model, optimizer = _checkpoint_parts()
    path = tmp_path / "last.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, epoch=0, step=1, history=[])
    twin, twin_optimizer = _checkpoint_parts()

    def ours():
        load_checkpoint(path, model=twin, optimizer=twin_optimizer, restore_rng=False)

    def peer():
        state = torch.load(path, weights_only=True)
        twin.load_state_dict(state["model"])
        twin_optimizer.load_state_dict(state["optimizer"])

    benchmark.group = "traincore/checkpoint-load"
    benchmark.extra_info.update(impl=impl, items=1)
    benchmark.pedantic(ours if impl == "ours" else peer, rounds=ROUNDS, warmup_rounds=1)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))


def paired(kind: str, pairs: int) -> dict:
    """Median of per-pair time ratios ours/hand-loop, the two run back to back in turn.

    Pairing cancels the drift of a shared machine's load, which unpaired medians do not.
    """
    import statistics

    torch.set_num_threads(1)
    device = torch.device("cpu")
    loader = TensorBatches(*_data(kind, device), BATCH)
    setup = _setup(kind, device)
    runs = {
        "ours": lambda m, o: fit(m, loader, optimizer=o, epochs=1, progress=False),
        "hand-loop": lambda m, o: hand_loop(m, o, loader),
    }
    ratios = []
    for index in range(pairs + 1):
        seconds = {}
        for impl in sorted(runs, reverse=index % 2 == 1):  # alternate who goes first
            (model, optimizer), _ = setup()
            start = time.process_time()
            runs[impl](model, optimizer)
            seconds[impl] = time.process_time() - start
        if index:  # the first pair is warm-up
            ratios.append(seconds["ours"] / seconds["hand-loop"])
    quartiles = statistics.quantiles(ratios, n=4)
    return {"workload": f"traincore/fit-1epoch-{kind}", "pairs": pairs,
            "median_ratio_ours_over_hand_loop": statistics.median(ratios),
            "q1": quartiles[0], "q3": quartiles[2], "timer": "process_time"}


if __name__ == "__main__":  # python benchmarks/bench_traincore.py [PAIRS]
    import sys

    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    rows = [paired(kind, pairs) for kind in sorted(WORKLOADS)]
    report = {"torch": torch.__version__, "python": platform.python_version(),
              "cpu_count": os.cpu_count(), "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "traincore_fit_paired.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
