"""A training script for the torchrun test (2 processes, gloo, CPU).

Usage: torchrun --standalone --nproc_per_node=2 _ddp_script.py OUT_DIR

Each rank writes OUT_DIR/rank{r}.pt (its final parameters and history) outside the checkpoint
directory OUT_DIR/ckpt, which only rank 0 may write. Log lines go to stdout prefixed by rank.
"""

from __future__ import annotations

import logging
import os
import sys

import torch

from traincore import (
    Supervised,
    fit,
    init_distributed,
    is_distributed,
    rank,
    seed_everything,
    shutdown_distributed,
    world_size,
)


class Recording(Supervised):
    """Supervised, plus the first feature of every sample this rank trained on, per epoch."""

    def __init__(self):
        super().__init__()
        self.seen: list[list[float]] = []

    def on_epoch_start(self, epoch):
        self.seen.append([])

    def step(self, model, batch, updater):
        self.seen[-1].extend(batch[0][:, 0].tolist())
        return super().step(model, batch, updater)


def main() -> None:
    out = sys.argv[1]
    checkpoint_dir = os.path.join(out, "ckpt")
    writes = []  # paths under checkpoint_dir this process opened for writing or created

    def audit(event, args):
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            path, mode, flags = os.fsdecode(args[0]), args[1], args[2]
            writing = (mode is not None and any(c in mode for c in "wax+")) or (
                mode is None and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            if writing and os.path.abspath(path).startswith(os.path.abspath(checkpoint_dir)):
                writes.append(path)
        elif event in ("os.mkdir", "os.rename", "os.replace") and str(args[0]).startswith(
            checkpoint_dir
        ):
            writes.append(str(args[0]))

    sys.addaudithook(audit)
    assert init_distributed() and is_distributed() and world_size() == 2
    torch.set_num_threads(1)
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format=f"rank{rank()} %(name)s: %(message)s"
    )
    seed_everything(0)
    x = torch.randn(256, 8)  # (N, features), identical on both ranks (same seed)
    y = (x[:, 0] - x[:, 1] > 0).long()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True
    )
    seed_everything(1 + rank())  # different initial weights per rank: DDP must broadcast rank 0's
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    seed_everything(0)
    objective = Recording()
    history = fit(model, loader, optimizer=optimizer, epochs=3, log_every=4, progress=False,
                  checkpoint_dir=checkpoint_dir, objective=objective)
    torch.save({"params": model.state_dict(), "history": list(history), "writes": writes,
                "seen": objective.seen, "all": x[:, 0].tolist()},
               os.path.join(out, f"rank{rank()}.pt"))
    shutdown_distributed()


if __name__ == "__main__":
    main()
