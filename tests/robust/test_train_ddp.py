"""A PGD-AT step under DistributedDataParallel (2 processes, gloo, CPU) equals one full-batch step.

The attack runs on ``model.module`` and the update through the DDP wrapper, whose all-reduce
averages the two half-batch gradients: with no BatchNorm and no random start the result must be
the single-process step on the whole batch.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from robust import PGDAT, SmallCNN
from traincore import Updater

ROOT = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent("""
    import os, sys, torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from robust import PGDAT, SmallCNN
    from traincore import Updater, shutdown_distributed

    torch.set_num_threads(1)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = SmallCNN(width=4, batch_norm=False)
    ddp = DDP(model)
    updater = Updater(ddp, torch.optim.SGD(ddp.parameters(), lr=0.1))
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)
    half = slice(4 * rank, 4 * rank + 4)
    PGDAT(eps=0.1, steps=2, random_start=False).step(ddp, (x[half], y[half]), updater)
    torch.save({k: v.detach() for k, v in model.state_dict().items()}, sys.argv[1])
    shutdown_distributed()
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pgd_at_step_under_ddp_matches_full_batch_step(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path / f"{rank}.pt")],
                                      env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    ranks = [torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in range(2)]

    torch.manual_seed(0)
    model = SmallCNN(width=4, batch_norm=False)
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)
    PGDAT(eps=0.1, steps=2, random_start=False).step(model, (x, y), updater)
    for k, v in model.state_dict().items():
        assert torch.equal(ranks[0][k], ranks[1][k]), k  # replicas stay in sync
        torch.testing.assert_close(ranks[0][k], v, rtol=1e-5, atol=1e-6)
