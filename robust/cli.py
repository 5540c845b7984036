"""Command line: ``python -m robust train`` and ``python -m robust eval``.

``train`` fits a model with one adversarial training method and writes, under ``--out``:
``model.pt`` (the state dict), ``config.json`` (every option, to rebuild the model),
``metrics.json`` (training history and final clean / PGD accuracy), ``checkpoints/last.pt``
(traincore's resumable checkpoint; ``--resume`` continues from it) and the accuracy-vs-eps curve
(``accuracy_vs_eps.{json,png}``). ``eval`` loads such a folder and evaluates it under PGD with
restarts, optionally AutoAttack, and an accuracy-vs-eps curve.

Bad input (unknown method, eps <= 0, m < 1, beta < 0, a dataset spec that does not import, ...)
ends with a message naming the option and exit code 2.

Examples
--------
>>> parser = build_parser()
>>> args = parser.parse_args(["train", "--method", "fast", "--eps", "0.2", "--out", "o"])
>>> args.method, args.eps, args.epochs
('fast', 0.2, 10)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import pathlib
import sys
import time
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from traincore import Objective

METHODS = ("clean", "pgd", "fast", "nfgsm", "free", "trades")


class UsageError(Exception):
    """Bad options or data found before training starts; reported with exit code 2."""


def _positive_float(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{name}={text} must be a positive finite number")
        return value

    return parse


def _int_at_least(name: str, minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name}={value} must be >= {minimum}")
        return value

    return parse


def _nonnegative_float(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not (math.isfinite(value) and value >= 0):
            raise argparse.ArgumentTypeError(f"{name}={text} must be a finite number >= 0")
        return value

    return parse


def _eps_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--eps-list must be comma-separated numbers, got "
                                         f"{text!r}") from None
    if not values or any(not math.isfinite(v) or v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"--eps-list={text!r} needs finite values >= 0")
    return values


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits",
                   help="'digits' (scikit-learn's 8x8 digits, stratified 75/25 split, seed 0), "
                        "'fashion-mnist' (60k/10k 28x28 images from Debian's "
                        "dataset-fashion-mnist: bash scripts/install_fashion_mnist.sh) or "
                        "'module:attr' naming a torch Dataset, a (train, test) pair, or a "
                        "callable returning either (default: digits)")
    p.add_argument("--train-size", type=_int_at_least("--train-size", 1), default=None,
                   help="train on a seeded random subset of this many images (default: all)")
    p.add_argument("--test-size", type=_int_at_least("--test-size", 1), default=None,
                   help="evaluate on a seeded random subset of this many images (default: all)")
    p.add_argument("--eps", type=_positive_float("--eps"), default=0.2,
                   help="L-inf radius for inputs in [0, 1] (default: 0.2)")
    p.add_argument("--batch-size", type=_int_at_least("--batch-size", 1), default=64,
                   help="batch size (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--threads", type=_int_at_least("--threads", 1), default=None,
                   help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    p.add_argument("--eps-list", type=_eps_list, default=None,
                   help="comma-separated radii of the accuracy-vs-eps curve "
                        "(default: 0 to 1.5 eps in 6 steps)")
    p.add_argument("--curve-steps", type=_int_at_least("--curve-steps", 1), default=10,
                   help="PGD steps per point of the accuracy-vs-eps curve (default: 10)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m robust",
        description="Adversarial training and robust evaluation (robust-adaptive).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,eval}")

    t = sub.add_parser("train", help="train a model with an adversarial training method",
                       description="Train a model with an adversarial training method.")
    _add_common(t)
    t.add_argument("--method", choices=METHODS, default="pgd",
                   help="clean | pgd (PGD-AT) | fast (Fast-AT, FGSM-RS) | nfgsm (N-FGSM) | "
                        "free (Free-AT) | trades (TRADES) (default: pgd)")
    t.add_argument("--model", choices=("cnn", "cnn28", "mlp"), default="cnn",
                   help="architecture: cnn (SmallCNN), cnn28 (CNN28, for 28x28 images such as "
                        "fashion-mnist) or mlp (default: cnn)")
    t.add_argument("--num-classes", type=_int_at_least("--num-classes", 2), default=10,
                   help="number of classes (default: 10)")
    t.add_argument("--epochs", type=_int_at_least("--epochs", 1), default=10,
                   help="epochs (Free-AT runs ceil(epochs / m) passes; default: 10)")
    t.add_argument("--lr", type=_positive_float("--lr"), default=0.1,
                   help="peak learning rate of SGD (momentum 0.9, Nesterov; default: 0.1)")
    t.add_argument("--weight-decay", type=_nonnegative_float("--weight-decay"), default=5e-4,
                   help="SGD weight decay (default: 5e-4)")
    t.add_argument("--schedule", choices=("onecycle", "constant"), default="onecycle",
                   help="learning-rate schedule (default: onecycle)")
    t.add_argument("--alpha", type=_positive_float("--alpha"), default=None,
                   help="attack step size (default: the method's: 2.5 eps/steps PGD, 1.25 eps "
                        "Fast-AT, eps N-FGSM, eps/4 TRADES)")
    t.add_argument("--steps", type=_int_at_least("--steps", 1), default=10,
                   help="attack steps of pgd and trades (default: 10)")
    t.add_argument("--restarts", type=_int_at_least("--restarts", 1), default=1,
                   help="PGD restarts during pgd training (default: 1)")
    t.add_argument("--clean-weight", type=_nonnegative_float("--clean-weight"), default=0.0,
                   help="pgd: weight in [0, 1] of the clean loss (default: 0)")
    t.add_argument("--early-stop", type=_int_at_least("--early-stop", 0), default=None,
                   metavar="TAU",
                   help="pgd/trades: per-sample early stopping (friendly AT): a sample stops "
                        "after TAU more steps once misclassified (default: off)")
    t.add_argument("--stop-margin", type=_nonnegative_float("--stop-margin"), default=0.0,
                   help="pgd/trades with --early-stop: logit margin that counts as "
                        "misclassified (default: 0)")
    t.add_argument("--m", type=_int_at_least("--m", 1), default=4,
                   help="free: replays per batch (default: 4)")
    t.add_argument("--beta", type=_nonnegative_float("--beta"), default=6.0,
                   help="trades: weight >= 0 of the KL term (default: 6.0)")
    t.add_argument("--noise", type=_nonnegative_float("--noise"), default=2.0,
                   help="nfgsm: noise magnitude in multiples of eps (default: 2.0)")
    t.add_argument("--bn-mode", choices=("eval", "train"), default="eval",
                   help="BatchNorm mode during the attack (default: eval)")
    t.add_argument("--warmup-epochs", type=_int_at_least("--warmup-epochs", 0), default=0,
                   help="linear eps warm-up over this many epochs (default: 0, none)")
    t.add_argument("--guard", action="store_true",
                   help="catastrophic-overfitting guard: PGD-10 accuracy on 10%% of the training "
                        "set (at most 256 images, held out) after every epoch; restore + "
                        "fallback on collapse")
    t.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="training precision (default: fp32)")
    t.add_argument("--eval-steps", type=_int_at_least("--eval-steps", 1), default=20,
                   help="PGD steps of the final evaluation (default: 20)")
    t.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when stderr is a terminal)")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoints/last.pt")
    t.add_argument("--out", required=True, help="output folder (created if missing)")

    e = sub.add_parser("eval", help="evaluate a model trained by 'train'",
                       description="Evaluate a model saved by 'python -m robust train'.")
    _add_common(e)
    e.add_argument("--run", required=True,
                   help="folder written by 'train' (reads config.json and model.pt)")
    e.add_argument("--pgd-steps", type=_int_at_least("--pgd-steps", 1), default=50,
                   help="PGD steps (default: 50)")
    e.add_argument("--restarts", type=_int_at_least("--restarts", 1), default=2,
                   help="PGD restarts, worst case per sample (default: 2)")
    e.add_argument("--autoattack", action="store_true",
                   help="also run torchattacks' AutoAttack (standard); needs torchattacks")
    e.add_argument("--aa-n", type=_int_at_least("--aa-n", 1), default=None,
                   help="evaluate AutoAttack on the first N test samples (default: all)")
    e.add_argument("--out", default=None, help="output folder (default: the --run folder)")
    return parser


def _objective(args: argparse.Namespace, hold: tuple | None) -> Objective:
    from robust import NFGSM, PGDAT, TRADES, EarlyStop, EpsWarmup, FastAT, FreeAT, OverfitGuard
    from traincore import Supervised

    m = args.method
    stop = None
    if args.early_stop is not None:
        if m not in ("pgd", "trades"):
            raise UsageError(f"--early-stop applies to --method pgd or trades, not {m!r}")
        stop = EarlyStop(margin=args.stop_margin, tau=args.early_stop)
    obj: Objective
    if m == "clean":
        obj = Supervised()
    elif m == "pgd":
        obj = PGDAT(eps=args.eps, alpha=args.alpha, steps=args.steps, restarts=args.restarts,
                    clean_weight=args.clean_weight, bn_mode=args.bn_mode, early_stop=stop)
    elif m == "fast":
        obj = FastAT(eps=args.eps, alpha=args.alpha, bn_mode=args.bn_mode)
    elif m == "nfgsm":
        obj = NFGSM(eps=args.eps, alpha=args.alpha, noise=args.noise, bn_mode=args.bn_mode)
    elif m == "free":
        obj = FreeAT(eps=args.eps, m=args.m)
    else:
        obj = TRADES(eps=args.eps, alpha=args.alpha, steps=args.steps, beta=args.beta,
                     bn_mode=args.bn_mode, early_stop=stop)
    if args.warmup_epochs > 0 and m != "clean":
        obj = EpsWarmup(obj, epochs=args.warmup_epochs)
    if hold is not None:
        obj = OverfitGuard(obj, hold)
    return obj


def _stack(dataset, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(dataset) if limit is None else min(limit, len(dataset))
    xs, ys = zip(*(dataset[i] for i in range(n)))
    return torch.stack([torch.as_tensor(x) for x in xs]), torch.as_tensor(ys)


def _device(text: str | None) -> torch.device:
    """``--device``: a torch device that exists here (default: cuda when available)."""
    if text is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device={text!r} is not a torch device; use cpu, cuda, cuda:N or "
                         "mps") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"--device={text!r}: no CUDA device is available here (torch "
                             f"{torch.__version__}); use --device cpu")
        if device.index is not None and device.index >= count:
            raise UsageError(f"--device={text!r}: only {count} CUDA device(s) here "
                             f"(cuda:0 to cuda:{count - 1})")
        return device
    if device.type == "mps" and torch.backends.mps.is_available():
        return device
    raise UsageError(f"--device={text!r} is not available here; use cpu or cuda")


def _out_dir(text: str) -> pathlib.Path:
    """``--out``: an existing folder or one that can be created."""
    out = pathlib.Path(text)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out={text!r} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out={text!r}: cannot create the folder ({err.strerror})") from None
    return out


def _setup(args: argparse.Namespace):
    from robust.data import load_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        train_set, test_set = load_dataset(args.dataset, seed=0)
    except (ValueError, TypeError, ImportError, FileNotFoundError) as err:
        raise UsageError(f"--dataset: {err}") from err
    return (_limit(train_set, args.train_size, "--train-size"),
            _limit(test_set, args.test_size, "--test-size"))


def _limit(dataset, size: int | None, flag: str):
    """A seeded random subset of ``size`` items (seed 0: the same on every run)."""
    from torch.utils.data import Subset

    if size is None:
        return dataset
    if size > len(dataset):
        raise UsageError(f"{flag}={size} exceeds the {len(dataset)} items of the dataset")
    perm = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))
    return Subset(dataset, sorted(perm[:size].tolist()))


def _curve(args, model, test, out: pathlib.Path) -> dict:
    from robust import accuracy_vs_eps

    eps_list = args.eps_list or [round(args.eps * k / 4, 6) for k in range(7)]
    return accuracy_vs_eps({"model": model}, test, eps_list, steps=args.curve_steps,
                           json_path=out / "accuracy_vs_eps.json",
                           png_path=out / "accuracy_vs_eps.png",
                           title=f"{args.dataset}: accuracy vs eps")


def train(args: argparse.Namespace) -> dict:
    from torch.utils.data import DataLoader, Subset

    from robust import PGD, FreeAT, build_model, clean_accuracy, robust_accuracy
    from traincore import fit, seed_everything

    device = _device(args.device)
    out = _out_dir(args.out)
    train_set, test_set = _setup(args)
    seed_everything(args.seed)
    hold = None
    if args.guard:
        n_hold = min(256, max(1, len(train_set) // 10))
        perm = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(args.seed))
        hold = _stack(Subset(train_set, perm[:n_hold].tolist()))
        train_set = Subset(train_set, perm[n_hold:].tolist())
    if args.method == "pgd" and not 0.0 <= args.clean_weight <= 1.0:
        raise UsageError(f"--clean-weight={args.clean_weight} must be in [0, 1]")
    try:
        objective = _objective(args, hold)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from err
    x0, _ = train_set[0]
    in_shape = tuple(torch.as_tensor(x0).shape)
    model = build_model(args.model, in_shape=in_shape, num_classes=args.num_classes).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                          weight_decay=args.weight_decay)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    passes = FreeAT.epochs_for(args.epochs, args.m) if args.method == "free" else args.epochs
    updates = passes * len(loader) * (args.m if args.method == "free" else 1)
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=updates)
             if args.schedule == "onecycle" else None)
    ckpt_dir = out / "checkpoints"
    resume = ckpt_dir / "last.pt" if args.resume else None
    if resume is not None and not resume.exists():
        raise UsageError(f"--resume: no checkpoint at {resume}")
    started = time.perf_counter()
    history = fit(model, loader, optimizer=opt, epochs=passes, objective=objective,
                  precision=args.precision, scheduler=sched, progress=args.progress,
                  checkpoint_dir=ckpt_dir, resume=resume, device=device)
    wall = time.perf_counter() - started
    torch.save(model.state_dict(), out / "model.pt")
    config = {k: v for k, v in vars(args).items() if k not in ("func",)}
    config.update(in_shape=list(in_shape), passes=passes)
    (out / "config.json").write_text(json.dumps(config, indent=1))
    test = _stack(test_set)
    final = {
        "clean": clean_accuracy(model, test),
        f"pgd{args.eval_steps}": robust_accuracy(model, test,
                                                 PGD(eps=args.eps, steps=args.eval_steps)),
    }
    curve = _curve(args, model, test, out)
    metrics = {"method": args.method, "eps": args.eps, "passes": passes, "train_time_s": wall,
               "final": final, "history": [dict(r) for r in history], "curve": curve}
    if hasattr(objective, "history"):
        metrics["guard_history"] = objective.history
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str))
    return metrics


def evaluate(args: argparse.Namespace) -> dict:
    from robust import PGD, autoattack_accuracy, build_model, clean_accuracy, robust_accuracy

    device = _device(args.device)
    run = pathlib.Path(args.run)
    if not (run / "config.json").exists() or not (run / "model.pt").exists():
        raise UsageError(f"--run={args.run!r} must be a folder written by 'train' "
                         "(with config.json and model.pt)")
    out = _out_dir(args.out or args.run)
    try:
        config = json.loads((run / "config.json").read_text())
        model = build_model(config["model"], in_shape=tuple(config["in_shape"]),
                            num_classes=config["num_classes"]).to(device)
        model.load_state_dict(torch.load(run / "model.pt", map_location=device,
                                         weights_only=True))
    except (ValueError, TypeError, KeyError, RuntimeError, OSError, EOFError) as err:
        raise UsageError(f"--run={args.run!r}: cannot rebuild the trained model "
                         f"({type(err).__name__}: {err})") from None
    _, test_set = _setup(args)
    test = _stack(test_set)
    result = {
        "run": str(run), "eps": args.eps, "clean": clean_accuracy(model, test),
        f"pgd{args.pgd_steps}x{args.restarts}": robust_accuracy(
            model, test, PGD(eps=args.eps, steps=args.pgd_steps, restarts=args.restarts)),
    }
    if args.autoattack:
        n = args.aa_n or len(test[1])
        result["autoattack"] = autoattack_accuracy(model, (test[0][:n], test[1][:n]),
                                                   eps=args.eps, n_classes=config["num_classes"])
        result["autoattack_n"] = n
    result["curve"] = _curve(args, model, test, out)
    (out / "eval.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = train(args) if args.command == "train" else evaluate(args)
    except UsageError as err:
        parser.error(str(err))  # exit code 2
    summary = result["final"] if args.command == "train" else {
        k: v for k, v in result.items() if k != "curve"}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
