"""robust: adversarial training for PyTorch (attacks, training methods, robust evaluation)."""

# --- attacks (issue 3): threat models and attack kernels ---
from robust.autoattack import AutoAttack, autoattack
from robust.early_stop import EarlyStop
from robust.fgsm import FGSM, fgsm
from robust.pgd import PGD, pgd
from robust.torchattacks_adapter import TorchattacksAdapter
from robust.trades_attack import TRADESAttack, trades_attack

# --- training methods: add exports below this line ---
# isort: split
from robust.atta import ATTA, IndexedDataset
from robust.curriculum import Curriculum
from robust.evaluate import (
    accuracy_vs_eps,
    autoattack_accuracy,
    clean_accuracy,
    plot_accuracy_vs_eps,
    robust_accuracy,
)
from robust.fast_at import FastAT
from robust.free_at import FreeAT
from robust.guard import OverfitGuard, ThresholdMonitor
from robust.models import CNN28, MLP, SmallCNN, build_model
from robust.n_fgsm import NFGSM
from robust.normalize import Normalize
from robust.pgd_at import PGDAT
from robust.schedule import EpsWarmup
from robust.trades import TRADES

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
