"""A training script for the resume test: run straight, kill itself after an epoch, or resume.

Usage: python _resume_script.py OUT_DIR [--kill-after EPOCH] [--resume] [--epochs N]

Writes OUT_DIR/result.pt (final parameters and history) when training finishes. Dropout, a
shuffling DataLoader, an LR scheduler, SGD momentum and an objective drawing from python's
`random` and numpy's legacy generator make every restored state matter.
"""

from __future__ import annotations

import argparse
import os
import random
import signal

import numpy as np
import torch
import torch.nn.functional as F

from traincore import Objective, StepOutput, fit, seed_everything


class NoisySupervised(Objective):
    """Cross-entropy on inputs plus noise whose size comes from `random` and numpy."""

    def __init__(self):
        self.steps = 0  # objective state that must survive a resume

    def step(self, model, batch, updater):
        x, y = batch
        scale = 0.05 * random.random() + float(np.random.rand()) * 0.05
        x = x + scale * torch.randn_like(x)
        logits = model(x)  # (N, 3)
        loss = F.cross_entropy(logits, y)
        updater.update(loss)
        self.steps += 1
        return StepOutput(loss.detach(), logits.detach(), y)

    def on_epoch_end(self, epoch, model, updater):
        return {"objective_steps": self.steps}

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--kill-after", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seed_everything(0)
    x = torch.randn(192, 8)  # (N, features)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()  # 3 classes
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True
    )
    eval_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 3)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.8)

    def kill(epoch, metrics, model):
        if epoch == args.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    checkpoint = os.path.join(args.out, "ckpt")
    history = fit(
        model, loader, optimizer=optimizer, epochs=args.epochs, objective=NoisySupervised(),
        eval_loader=eval_loader, scheduler=scheduler, callbacks=[kill], progress=False,
        checkpoint_dir=checkpoint,
        resume=os.path.join(checkpoint, "last.pt") if args.resume else None,
    )
    torch.save({"params": model.state_dict(), "history": list(history)},
               os.path.join(args.out, "result.pt"))


if __name__ == "__main__":
    main()
