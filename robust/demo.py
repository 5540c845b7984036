"""``make demo``, robust part: clean, Fast-AT and PGD-AT on digits; PGD-AT on Fashion-MNIST.

:func:`run_demo` trains three :class:`robust.SmallCNN` models on scikit-learn's digits (L-inf
eps = 0.2, inputs in [0, 1]) for ``DEMO_EPOCHS`` epochs (fewer than the 30 of the quality
experiment in ``benchmarks/robust_quality.py``, to stay within 3 minutes on 2 CPU cores), then
reports clean accuracy, PGD-50 with 2 restarts (worst case per sample), AutoAttack standard on
the first ``AA_N`` test images (when torchattacks is installed) and the training wall time, and
writes the accuracy-vs-eps curve (``accuracy_vs_eps.{json,png}``) and ``demo.json`` to
``out_dir``.

Then, when Debian's Fashion-MNIST is installed (``make demo`` runs
``scripts/install_fashion_mnist.sh``; otherwise it says how), the normalised-input route of the
README: :class:`robust.CNN28` behind :class:`robust.Normalize` (pixels in, threat model in
pixels, eps = 0.1), trained with early-stopped PGD-10 AT on ``FM_TRAIN`` images for
``FM_EPOCHS`` epochs and evaluated on ``FM_TEST`` test images (``fashion_mnist.json``).
"""

from __future__ import annotations

import json
import pathlib
import time

import torch

# --- demo settings -------------------------------------------------------------------------
EPS = 0.2  # L-inf radius, inputs in [0, 1]
DEMO_EPOCHS = 8  # the quality setup uses 30
BATCH, LR = 64, 0.1  # SGD momentum 0.9 Nesterov, weight decay 5e-4, one-cycle LR
AA_N = 100  # test images under AutoAttack (its Square attack dominates the time)
CURVE_EPS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
SEED = 0
FM_EPS, FM_TRAIN, FM_TEST, FM_EPOCHS = 0.1, 3000, 500, 3  # Fashion-MNIST: a 1-minute subset


def _train(name: str, objective, train_set, model=None, epochs: int = DEMO_EPOCHS,
           batch: int = BATCH) -> tuple[torch.nn.Module, float]:
    from torch.utils.data import DataLoader

    from robust import SmallCNN
    from traincore import fit, seed_everything

    seed_everything(SEED)
    model = SmallCNN() if model is None else model
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    loader = DataLoader(train_set, batch_size=batch, shuffle=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=epochs * len(loader))
    start = time.perf_counter()
    fit(model, loader, optimizer=opt, epochs=epochs, objective=objective, scheduler=sched,
        progress=False)
    return model, time.perf_counter() - start


def run_demo(out_dir: str | pathlib.Path) -> str:
    """Train clean / Fast-AT / PGD-AT on digits, evaluate, write the plot; return the table."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 8x8 convolutions: one thread is ~3x faster than two here
    try:
        return _run(out)
    finally:
        torch.set_num_threads(threads)


def _run(out: pathlib.Path) -> str:
    from robust import PGD, PGDAT, FastAT, accuracy_vs_eps, clean_accuracy, robust_accuracy
    from robust.data import load_digits_split
    from traincore import Supervised

    train_set, test_set = load_digits_split()
    test = test_set.tensors
    try:
        import torchattacks  # noqa: F401

        from robust import autoattack_accuracy
    except ImportError:
        autoattack_accuracy = None  # type: ignore[assignment]
    rows, models = [], {}
    for name, objective in (("clean", Supervised()), ("Fast-AT", FastAT(eps=EPS)),
                            ("PGD-AT (PGD-10)", PGDAT(eps=EPS, steps=10))):
        model, wall = _train(name, objective, train_set)
        models[name] = model
        row = {"method": name, "train_s": wall, "clean": clean_accuracy(model, test),
               "pgd50": robust_accuracy(model, test, PGD(eps=EPS, steps=50, restarts=2))}
        if autoattack_accuracy is not None:
            row["aa"] = autoattack_accuracy(model, (test[0][:AA_N], test[1][:AA_N]), eps=EPS)
        rows.append(row)
    curve = accuracy_vs_eps(models, test, CURVE_EPS, steps=10,
                            json_path=out / "accuracy_vs_eps.json",
                            png_path=out / "accuracy_vs_eps.png",
                            title=f"digits, SmallCNN, {DEMO_EPOCHS} epochs")
    (out / "demo.json").write_text(json.dumps({"rows": rows, "curve": curve}, indent=1))
    aa_head = f"AutoAttack (first {AA_N}) %" if autoattack_accuracy else "AutoAttack"  # type: ignore[truthy-function]
    lines = [
        f"digits, SmallCNN, L-inf eps={EPS}, {DEMO_EPOCHS} epochs (the 30-epoch quality setup "
        f"is benchmarks/robust_quality.py), seed {SEED}, {torch.get_num_threads()} thread(s)",
        f"| method | clean % | PGD-50 x2 restarts % | {aa_head} | train time s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        aa = f"{100 * r['aa']:.1f}" if "aa" in r else "n/a (pip install torchattacks)"  # type: ignore[operator]
        lines.append(f"| {r['method']} | {100 * r['clean']:.1f} | {100 * r['pgd50']:.1f} | {aa} | "  # type: ignore[operator]
                     f"{r['train_s']:.1f} |")
    lines.append(f"accuracy-vs-eps plot: {out / 'accuracy_vs_eps.png'}")
    return "\n".join(lines + [""] + _fashion_mnist(out))


def _fashion_mnist(out: pathlib.Path) -> list[str]:
    """Early-stopped PGD-AT of Normalize + CNN28 on a Fashion-MNIST subset (if installed)."""
    from robust import CNN28, PGD, PGDAT, EarlyStop, Normalize, clean_accuracy, robust_accuracy
    from robust.fashion_mnist import MEAN, STD, load_fashion_mnist

    try:
        train_set, test_set = load_fashion_mnist(train_size=FM_TRAIN, test_size=FM_TEST)
    except FileNotFoundError as err:
        return [f"Fashion-MNIST part skipped: {err}"]
    model = torch.nn.Sequential(Normalize(MEAN, STD), CNN28())  # pixels in [0, 1] in
    model, wall = _train("fmnist", PGDAT(eps=FM_EPS, early_stop=EarlyStop(tau=1)), train_set,  # type: ignore[assignment]
                         model=model, epochs=FM_EPOCHS, batch=128)
    test = test_set.tensors
    row = {"train_s": wall, "clean": clean_accuracy(model, test),
           "pgd20": robust_accuracy(model, test, PGD(eps=FM_EPS, steps=20))}
    (out / "fashion_mnist.json").write_text(json.dumps(row, indent=1))
    return [f"Fashion-MNIST ({FM_TRAIN} train / {FM_TEST} test images, {FM_EPOCHS} epochs), "
            f"Normalize(mean={MEAN}, std={STD}) + CNN28, early-stopped PGD-10 AT, L-inf eps="
            f"{FM_EPS} in pixel units: clean {100 * row['clean']:.1f}%, PGD-20 "
            f"{100 * row['pgd20']:.1f}%, trained in {wall:.1f} s"]
