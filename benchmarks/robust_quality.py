"""Quality and cost of the robust training methods on digits or Fashion-MNIST (not a pytest suite).

Setups (the flat blocks ``DATASETS`` and ``METHODS`` below):

- ``digits``: scikit-learn's 8x8 digits ([0, 1], stratified 75/25 split, seed 0; 1347 train,
  450 test), :class:`robust.SmallCNN`, 30 epochs, batch 64, one-cycle LR (cosine, peak 0.1),
  L-inf eps = 0.2, AutoAttack on the first 100 test images.
- ``fashion-mnist`` (the CPU subset): Fashion-MNIST from Debian's ``dataset-fashion-mnist``
  (``bash scripts/install_fashion_mnist.sh``), a seeded random 10,000 of the 60,000 training
  images and 1,000 of the 10,000 test images, :class:`robust.CNN28` (207k parameters), 8 epochs,
  batch 128, the cyclic LR of Wong et al. 2020 for every method (linear 0 -> 0.1 over the first
  40% of the updates, linear back to 0; momentum not cycled), L-inf eps = 0.1, AutoAttack on
  the first 100 test images. ``--full`` uses all 60k/10k (the GPU setting). Sizing: on this
  shared 2-core machine (load ~11, every job under nice) a process gets ~1/5 to 1/9 of a core;
  one seed of the default methods is ~1 h of CPU (PGD-AT ~6 min, AutoAttack ~2-3 min per robust
  model), so the 3 seeds run as 3 background processes in a few hours of CPU.

Common: SGD (momentum 0.9, Nesterov, weight decay 5e-4); every method trains through
:func:`traincore.fit` except ``pgd_at_torchattacks``, the same PGD-10 recipe (same init, data
order, optimiser and schedule) in the loop users write with torchattacks' ``PGD``; Free-AT
(m = 4) runs ceil(epochs / 4) passes (the same number of updates). Fast-AT and N-FGSM run under
:class:`robust.OverfitGuard` (PGD-10 accuracy on the first 256 training images after every
epoch; the guard's log is kept in the JSON). Time = process CPU time of training on ONE thread
(the machine is shared; wall time is kept too), ratio to PGD-AT of the same seed. Evaluation:
clean and PGD-50 x 2 restarts on every test image, AutoAttack standard (APGD-CE, APGD-T, FAB-T,
Square; :func:`robust.autoattack_accuracy`, domain [0, 1]) on the first ``--aa-n``.

Every run is appended to ``<out>_runs.jsonl`` (so several invocations, e.g. seeds in parallel
processes, add up); ``<out>.{json,md}`` are rebuilt from all runs of the same setup after each.

Usage: ``python benchmarks/robust_quality.py --dataset fashion-mnist --seeds 0 1 2 [--only ...]``
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from robust import (
    ATTA,
    NFGSM,
    PGD,
    PGDAT,
    TRADES,
    Curriculum,
    EarlyStop,
    FastAT,
    FreeAT,
    IndexedDataset,
    OverfitGuard,
    autoattack_accuracy,
    build_model,
    clean_accuracy,
    robust_accuracy,
)
from traincore import Supervised, fit, seed_everything

# --- hyperparameters -----------------------------------------------------------------------------
DATASETS = {
    "digits": dict(eps=0.2, epochs=30, batch=64, lr=0.1, schedule="onecycle", model="cnn",
                   train_size=None, test_size=None, aa_n=100, guard_n=200,
                   out="benchmarks/results/robust_quality_digits"),
    "fashion-mnist": dict(eps=0.1, epochs=8, batch=128, lr=0.1, schedule="cyclic",
                          model="cnn28", train_size=10000, test_size=1000, aa_n=100,
                          guard_n=256, out="benchmarks/results/robust_quality_fmnist"),
}
MOMENTUM, WEIGHT_DECAY = 0.9, 5e-4
FREE_M = 4  # Free-AT replays
STEPS = 10  # PGD steps of PGD-AT and TRADES
PGD_EVAL_STEPS, PGD_EVAL_RESTARTS = 50, 2
THREADS = 1  # torch threads per run (the machine is shared)


def fat_tau(epochs: int) -> list[int]:
    """FAT's dynamic tau (Zhang et al. 2020): 0 for the first 40% of epochs, 1, then 2 in the
    last quarter (their code: 0 / 1 / 2 at epochs 0 / 50 / 90 of 120)."""
    return [0 if e < 0.4 * epochs else 1 if e < 0.75 * epochs else 2 for e in range(epochs)]


def steps_ramp(epochs: int, lo: int, hi: int) -> list[int]:
    """PGD steps rising linearly from ``lo`` to ``hi`` over the epochs (a steps curriculum)."""
    return [round(lo + (hi - lo) * e / max(1, epochs - 1)) for e in range(epochs)]


# name -> (factory(eps, epochs, guard_batch) -> objective | "torchattacks", opt-in only)
METHODS = {
    "clean": (lambda eps, ep, g: Supervised(), False),
    "pgd_at": (lambda eps, ep, g: PGDAT(eps=eps, steps=STEPS), False),
    "pgd_at_torchattacks": (lambda eps, ep, g: "torchattacks", False),
    "fast_at": (lambda eps, ep, g: OverfitGuard(FastAT(eps=eps), g), False),
    "n_fgsm": (lambda eps, ep, g: OverfitGuard(NFGSM(eps=eps), g), False),
    "free_at": (lambda eps, ep, g: FreeAT(eps=eps, m=FREE_M), False),
    "trades": (lambda eps, ep, g: TRADES(eps=eps, steps=STEPS), False),
    # FAT: early-stopped PGD-10 / TRADES with FAT's dynamic tau
    "pgd_at_es": (lambda eps, ep, g: Curriculum(PGDAT(eps=eps, steps=STEPS,
                                                      early_stop=EarlyStop()),
                                                tau=fat_tau(ep)), False),
    "trades_es": (lambda eps, ep, g: Curriculum(TRADES(eps=eps, steps=STEPS,
                                                       early_stop=EarlyStop()),
                                                tau=fat_tau(ep)), False),
    # cost-cut candidates (opt-in with --only)
    "pgd3_at": (lambda eps, ep, g: PGDAT(eps=eps, steps=3), True),
    "pgd_ramp": (lambda eps, ep, g: Curriculum(PGDAT(eps=eps, steps=STEPS),
                                               steps=steps_ramp(ep, 1, STEPS)), True),
    "pgd_ramp_es": (lambda eps, ep, g: Curriculum(PGDAT(eps=eps, steps=STEPS,
                                                        early_stop=EarlyStop()),
                                                  steps=steps_ramp(ep, 1, STEPS),
                                                  tau=fat_tau(ep)), False),
    "pgd5_es": (lambda eps, ep, g: Curriculum(PGDAT(eps=eps, steps=5, early_stop=EarlyStop()),
                                              tau=fat_tau(ep)), True),
    # attack reuse across epochs (ATTA-k); num_samples is filled in by make_run
    "atta1": (lambda eps, ep, g: ATTA(eps=eps, steps=1, num_samples=1), True),
    "atta2": (lambda eps, ep, g: ATTA(eps=eps, steps=2, num_samples=1), True),
    "atta3": (lambda eps, ep, g: ATTA(eps=eps, steps=3, num_samples=1), True),
}


def load(name: str, args) -> tuple[dict, TensorDataset, TensorDataset]:
    cfg = dict(DATASETS[name])
    for key in ("epochs", "aa_n", "train_size", "test_size"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.full:
        cfg.update(train_size=None, test_size=None)
    if name == "digits":
        from robust.data import load_digits_split

        train, test = load_digits_split()
    else:
        from robust.fashion_mnist import load_fashion_mnist

        train, test = load_fashion_mnist(train_size=cfg["train_size"],
                                         test_size=cfg["test_size"])
    return cfg, train, test


def schedule(opt, cfg, total_steps: int):
    if cfg["schedule"] == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=total_steps)
    # Wong et al. 2020: linear up to the peak at 2/5 of training, linear down to 0
    return torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg["lr"], total_steps=total_steps, pct_start=0.4, anneal_strategy="linear",
        cycle_momentum=False, div_factor=1e4, final_div_factor=1.0)


def make_run(cfg, train_set, seed: int, objective):
    """Model, optimiser, loader, scheduler and pass count of one run (seeded: same for all)."""
    seed_everything(seed)
    x0 = train_set[0][0]
    model = build_model(cfg["model"], in_shape=tuple(x0.shape), num_classes=10)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=MOMENTUM,
                          weight_decay=WEIGHT_DECAY, nesterov=True)
    free = isinstance(objective, FreeAT)
    passes = FreeAT.epochs_for(cfg["epochs"], FREE_M) if free else cfg["epochs"]
    if isinstance(objective, ATTA):  # batches (x, y, index): the stored perturbations' rows
        objective.num_samples = len(train_set)
        train_set = IndexedDataset(train_set)
    loader = DataLoader(train_set, batch_size=cfg["batch"], shuffle=True)
    sched = schedule(opt, cfg, passes * len(loader) * (FREE_M if free else 1))
    return model, opt, loader, sched, passes


def torchattacks_loop(model, opt, loader, sched, passes, eps):
    """PGD-AT as users write it with torchattacks (BatchNorm in eval for the attack)."""
    import torchattacks

    atk = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / STEPS, steps=STEPS,
                           random_start=True)
    model.train()
    for _ in range(passes):
        for x, y in loader:
            x_adv = atk(x, y)  # switches the model to eval and back to train
            loss = F.cross_entropy(model(x_adv), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()


def train(cfg, train_set, seed: int, objective):
    model, opt, loader, sched, passes = make_run(cfg, train_set, seed, objective)
    start, cpu_start = time.perf_counter(), time.process_time()
    if objective == "torchattacks":
        torchattacks_loop(model, opt, loader, sched, passes, cfg["eps"])
    else:
        fit(model, loader, optimizer=opt, epochs=passes, objective=objective, scheduler=sched,
            progress=False)
    cpu = time.process_time() - cpu_start  # one thread: robust to other load on the machine
    return model.eval(), time.perf_counter() - start, cpu


def evaluate(model, test, eps: float, aa_n: int) -> dict:
    x, y = test.tensors
    pgd = PGD(eps=eps, steps=PGD_EVAL_STEPS, restarts=PGD_EVAL_RESTARTS)
    out = {"clean": clean_accuracy(model, (x, y)), "pgd50": robust_accuracy(model, (x, y), pgd)}
    if aa_n:
        t = time.process_time()
        out["aa"] = autoattack_accuracy(model, (x[:aa_n], y[:aa_n]), eps=eps, n_classes=10,
                                        seed=0)
        out["aa_cpu_s"] = time.process_time() - t
    return out


# --- report --------------------------------------------------------------------------------------
def _ms(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(runs_file: pathlib.Path, setup: dict) -> dict:
    """Per-method mean +- sd over seeds of the runs in ``runs_file`` with this exact setup."""
    latest: dict[tuple[str, int], dict] = {}
    for line in runs_file.read_text().splitlines():
        row = json.loads(line)
        if row["setup"] == json.loads(json.dumps(setup)):
            latest[(row["method"], row["seed"])] = row  # a rerun replaces the earlier one
    by_method: dict[str, dict[int, dict]] = {}
    for (name, seed), row in sorted(latest.items()):
        by_method.setdefault(name, {})[seed] = row
    ref = by_method.get("pgd_at", {})
    table = {}
    for name, rows in by_method.items():
        e = {k: _ms([r.get(k) for r in rows.values()])
             for k in ("clean", "pgd50", "aa", "train_cpu_s", "train_s", "aa_cpu_s")}
        paired = [s for s in rows if s in ref]
        e["time_vs_pgd_at"] = _ms([rows[s]["train_cpu_s"] / ref[s]["train_cpu_s"] for s in paired])
        e["aa_minus_pgd_at"] = _ms([rows[s].get("aa", 0) - ref[s].get("aa", 0) for s in paired])
        e["collapses"] = sum(any(ev.get("collapse") for ev in r.get("guard_history", []))
                             for r in rows.values())
        e["seeds"] = sorted(rows)
        table[name] = e
    return {"setup": setup, "machine": next(iter(latest.values()))["machine"] if latest else {},
            "commands": sorted({r["command"] for r in latest.values()}), "summary": table,
            "verdicts": verdicts(table), "runs": [latest[k] for k in sorted(latest)]}


def verdicts(t: dict) -> list[str]:
    """The issue's targets, checked on the means over seeds (AA in points)."""
    out = []

    def get(name, key):
        return t.get(name, {}).get(key, (None, None))[0]

    aa_ref = get("pgd_at", "aa")
    if aa_ref is None:
        return ["PGD-AT not run yet"]
    if get("pgd_at_torchattacks", "aa") is not None:
        diff = 100 * (aa_ref - get("pgd_at_torchattacks", "aa"))
        ratio = 1 / get("pgd_at_torchattacks", "time_vs_pgd_at")
        ok = abs(diff) <= 1 and ratio <= 1.0
        out.append(f"ours vs torchattacks loop: AA difference {diff:+.1f} points, time ratio "
                   f"ours/theirs {ratio:.2f} -> {'met' if ok else 'missed'} (|diff| <= 1, <= 1.0)")
    for name in ("fast_at", "n_fgsm"):
        if get(name, "aa") is not None:
            diff, ratio = 100 * get(name, "aa_minus_pgd_at"), get(name, "time_vs_pgd_at")
            col = t[name]["collapses"]
            ok = diff >= -5 and ratio <= 0.3 and col == 0
            out.append(f"{name}: AA {diff:+.1f} points vs PGD-AT at {ratio:.2f}x, {col} collapsed "
                       f"run(s) -> {'met' if ok else 'missed'} (>= -5 points, <= 0.3x, 0)")
    tried = [n for n, e in t.items() if n not in ("pgd_at", "pgd_at_torchattacks", "clean")
             and e["aa_minus_pgd_at"][0] is not None]
    for name in tried:
        diff, ratio = 100 * t[name]["aa_minus_pgd_at"][0], t[name]["time_vs_pgd_at"][0]
        if diff >= -1 and ratio <= 0.5:
            out.append(f"moonshot met by {name}: AA {diff:+.1f} points at {ratio:.2f}x")
    if not any(v.startswith("moonshot") for v in out):
        out.append("moonshot (AA within 1 point of PGD-AT at <= 0.5x): missed by every method "
                   f"of this table ({', '.join(tried) or 'none'})")
    return out


def markdown(result: dict) -> str:
    s = result["setup"]

    def pct(ms):
        return "-" if ms[0] is None else f"{100 * ms[0]:.1f} +- {100 * ms[1]:.1f}"

    def num(ms, spec=".2f"):
        return "-" if ms[0] is None else f"{format(ms[0], spec)} +- {format(ms[1], spec)}"

    lines = [
        f"# robust quality on {s['dataset']} (L-inf eps={s['eps']}, {s['epochs']} epochs, "
        f"mean +- sd over seeds)", "",
        f"{s['n_train']} training / {s['n_test']} test images, model {s['model']}, batch "
        f"{s['batch']}, {s['schedule']} LR (peak {s['lr']}). Clean and {s['pgd_eval']} on every "
        f"test image; AutoAttack (standard, domain-aware) on the first {s['aa_n']} only (another "
        f"subset: it can read higher than PGD on all; compare AA between rows). Training "
        f"time = process CPU time on {s['threads']} thread(s) (shared machine; wall time in the "
        f"JSON); ratios per seed. torch {result['machine'].get('torch')}.", "",
        "| method | seeds | clean % | PGD-50x2 % | AA % | AA - PGD-AT (points) | train CPU s "
        "| CPU time / PGD-AT | guard collapses |", "|---|---|---|---|---|---|---|---|---|"]
    for name, e in result["summary"].items():
        lines.append(f"| {name} | {len(e['seeds'])} | {pct(e['clean'])} | {pct(e['pgd50'])} | "
                     f"{pct(e['aa'])} | {pct(e['aa_minus_pgd_at'])} | "
                     f"{num(e['train_cpu_s'], '.0f')} | {num(e['time_vs_pgd_at'])} | "
                     f"{e['collapses']} |")
    lines += ["", "Targets (issue 16, on the means):", ""]
    lines += [f"- {v}" for v in result["verdicts"]]
    lines += ["", "Commands:", ""] + [f"- `{c}`" for c in result["commands"]]
    return "\n".join(lines) + "\n"


def write_report(runs_file: pathlib.Path, setup: dict, out: pathlib.Path) -> None:
    result = summarise(runs_file, setup)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    out.with_suffix(".md").write_text(markdown(result))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="override the dataset's epochs")
    ap.add_argument("--aa-n", type=int, default=None, help="test images under AutoAttack")
    ap.add_argument("--full", action="store_true", help="fashion-mnist: all 60k/10k images")
    ap.add_argument("--train-size", type=int, default=None, help="fashion-mnist: subset size")
    ap.add_argument("--test-size", type=int, default=None, help="fashion-mnist: subset size")
    ap.add_argument("--only", nargs="*", default=None, help="methods to run, in this order "
                    "(default: all except the opt-in candidates)")
    ap.add_argument("--out", default=None, help="results prefix (default: the dataset's)")
    ap.add_argument("--report-only", action="store_true",
                    help="rebuild <out>.{md,json} from <out>_runs.jsonl without training")
    args = ap.parse_args(argv)
    torch.set_num_threads(THREADS)
    cfg, train_set, test = load(args.dataset, args)
    out = pathlib.Path(args.out or cfg["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    names = (list(dict.fromkeys(args.only)) if args.only is not None  # in the order given
             else [n for n, (_, opt_in) in METHODS.items() if not opt_in])
    unknown = set(args.only or ()) - set(METHODS)
    if unknown:
        ap.error(f"unknown methods {sorted(unknown)}; known: {sorted(METHODS)}")
    guard = tuple(t[:cfg["guard_n"]] for t in train_set.tensors)  # PGD check of the guard
    setup = {k: cfg[k] for k in ("eps", "epochs", "batch", "lr", "schedule", "model",
                                 "train_size", "test_size", "aa_n")}
    setup.update(dataset=args.dataset, steps=STEPS, free_m=FREE_M, threads=THREADS,
                 pgd_eval=f"PGD-{PGD_EVAL_STEPS} x {PGD_EVAL_RESTARTS} restarts",
                 n_train=len(train_set), n_test=len(test))
    machine = {"python": platform.python_version(), "torch": torch.__version__,
               "cpu": platform.processor() or platform.machine()}
    runs_file = out.parent / f"{out.name}_runs.jsonl"
    if args.report_only:
        write_report(runs_file, setup, out)
        return 0
    for seed in args.seeds:
        for name in names:
            objective = METHODS[name][0](cfg["eps"], cfg["epochs"], guard)
            model, wall, cpu = train(cfg, train_set, seed, objective)
            row = {"method": name, "seed": seed, "setup": setup, "machine": machine,
                   "command": "python " + " ".join(sys.argv), "train_s": wall,
                   "train_cpu_s": cpu, **evaluate(model, test, cfg["eps"], cfg["aa_n"])}
            if isinstance(objective, OverfitGuard):
                row["guard_history"] = objective.history
            with runs_file.open("a") as f:
                f.write(json.dumps(row, default=str) + "\n")
            write_report(runs_file, setup, out)
            print(name, seed, {k: v for k, v in row.items()
                               if k not in ("setup", "machine", "guard_history")}, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
