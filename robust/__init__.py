"""robust: adversarial training for PyTorch (attacks, training methods, robust evaluation)."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("robust-adaptive")
except _metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

from robust.atta import ATTA, IndexedDataset
from robust.autoattack import AutoAttack, autoattack
from robust.curriculum import Curriculum
from robust.early_stop import EarlyStop
from robust.evaluate import (
    accuracy_vs_eps,
    autoattack_accuracy,
    clean_accuracy,
    plot_accuracy_vs_eps,
    robust_accuracy,
)
from robust.fast_at import FastAT
from robust.fgsm import FGSM, fgsm
from robust.free_at import FreeAT
from robust.guard import OverfitGuard, ThresholdMonitor
from robust.models import CNN28, MLP, SmallCNN, build_model
from robust.n_fgsm import NFGSM
from robust.normalize import Normalize
from robust.pgd import PGD, pgd
from robust.pgd_at import PGDAT
from robust.schedule import EpsWarmup
from robust.torchattacks_adapter import TorchattacksAdapter
from robust.trades import TRADES
from robust.trades_attack import TRADESAttack, trades_attack

__all__ = [
    "ATTA",
    "AutoAttack",
    "CNN28",
    "Curriculum",
    "EarlyStop",
    "EpsWarmup",
    "FGSM",
    "FastAT",
    "FreeAT",
    "IndexedDataset",
    "MLP",
    "NFGSM",
    "Normalize",
    "OverfitGuard",
    "PGD",
    "PGDAT",
    "SmallCNN",
    "TRADES",
    "TRADESAttack",
    "ThresholdMonitor",
    "TorchattacksAdapter",
    "accuracy_vs_eps",
    "autoattack",
    "autoattack_accuracy",
    "build_model",
    "clean_accuracy",
    "fgsm",
    "pgd",
    "plot_accuracy_vs_eps",
    "robust_accuracy",
    "trades_attack",
]
