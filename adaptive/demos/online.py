"""`make demo`, online section: a simulated production line with injected drifts, learned online
by the same PyTorch model with and without drift-triggered adaptation.

The stream (:func:`adaptive.demos.plant.simulate_plant`) has a sensor calibration drift at 1/3
and a raw-material change of the quality rule at 2/3. Every learner predicts each mini-batch of
parts, then learns it (prequential, test-then-train). ``static``: no adaptation. ``default``:
the learner's default adaptation (a one-sided detector on the 0/1 error starts a race; a
candidate model replaces the current one only when it is better on the same parts).
``default+bn``: the default plus a label-free feature monitor (Page-Hinkley per sensor) that
triggers a BatchNorm refresh.
"""

from __future__ import annotations

import pathlib

import numpy as np
import torch

# -- hyperparameters ------------------------------------------------------------------------
N = 12_000  # parts
SEED = 0
BATCH = 32  # parts per predict/learn mini-batch
HIDDEN = 64
LR = 2e-3  # Adam
POST = 2000  # parts after each change scored as "post-drift"
WINDOW = 500  # rolling-accuracy window of the plot


def _model(d: int) -> torch.nn.Module:
    torch.manual_seed(SEED)
    return torch.nn.Sequential(torch.nn.BatchNorm1d(d), torch.nn.Linear(d, HIDDEN),
                               torch.nn.ReLU(), torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
                               torch.nn.Linear(HIDDEN, 2))


def _learners(d: int) -> dict:
    from adaptive import Fleet, OnlineLearner, PageHinkley
    from adaptive.online.policies import BNRefresh, Race

    out = {}
    m = _model(d)
    out["static"] = OnlineLearner(m, torch.optim.Adam(m.parameters(), lr=LR), detector=None,
                                  policies=())
    m = _model(d)
    out["default"] = OnlineLearner(m, torch.optim.Adam(m.parameters(), lr=LR))
    m = _model(d)
    out["default+bn"] = OnlineLearner(
        m, torch.optim.Adam(m.parameters(), lr=LR),
        # per-sensor Page-Hinkley; delta ~ half a sensor's std tolerates the slow process wander
        feature_monitor=Fleet(PageHinkley(threshold=400.0, delta=1.0), d), memory=512,
        policies=[Race(seed=SEED), BNRefresh(n_inputs=256, sources=("features",))])
    return out


def run_demo(out_dir: str | pathlib.Path) -> str:
    """Run the comparison, write ``online_adaptation.{png,json}`` to ``out_dir``; return the
    comparison table (Markdown)."""
    from adaptive import prequential
    from adaptive.demos.plant import simulate_plant

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small model: one thread is fastest, restored below
    try:
        plant = simulate_plant(N, seed=SEED)
        results = {}
        for name, learner in _learners(plant.X.shape[1]).items():
            results[name] = prequential(learner, (plant.X, plant.y), window=WINDOW,
                                        changes=plant.changes, post_drift_window=POST,
                                        batch_size=BATCH, out_dir=out, name=f"online_{name}")
    finally:
        torch.set_num_threads(threads)
    _plot(results, plant, out / "online_adaptation.png")
    rows = ["| learner | accuracy | " + " | ".join(
        f"post-{k} ({POST})" for k in plant.kinds) + " | drifts detected (loss / features) "
        "| samples/s |", "|---|---|" + "---|" * len(plant.kinds) + "---|---|"]
    for name, r in results.items():
        post = " | ".join(f"{p:.3f}" for p in r.post_drift)
        rows.append(f"| {name} | {r.score:.3f} | {post} | {len(r.drifts)} / "
                    f"{len(r.feature_drifts)} | {r.throughput:,.0f} |")
    table = "\n".join(rows)
    (out / "online_adaptation.md").write_text(
        f"Simulated plant, {N} parts, changes {dict(zip(plant.changes, plant.kinds))}\n\n"
        + table + "\n")
    return table


def _plot(results: dict, plant, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    for name, r in results.items():
        ax.plot(np.arange(r.n), r.rolling, lw=1.2, label=f"{name} (rolling {WINDOW})")
        if r.drifts:
            ax.plot(r.drifts, np.interp(r.drifts, np.arange(r.n), r.rolling), "rv", ms=5,
                    label=f"{name}: detected drift")
    for c, k in zip(plant.changes, plant.kinds):
        ax.axvline(c, color="k", lw=1)
        ax.text(c, ax.get_ylim()[0], f" {k}", va="bottom", fontsize=8)
    ax.set_xlabel("part")
    ax.set_ylabel("prequential accuracy")
    ax.set_title("Online learning on a simulated production line")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
