"""robust: adversarial training for PyTorch (attacks, training methods, robust evaluation)."""

# --- attacks (issue 3): threat models and attack kernels ---
from robust.fgsm import FGSM, fgsm
from robust.pgd import PGD, pgd
from robust.torchattacks_adapter import TorchattacksAdapter
from robust.trades_attack import TRADESAttack, trades_attack

# --- training methods: add exports below this line ---

__all__ = [
    "FGSM",
    "PGD",
    "TRADESAttack",
    "TorchattacksAdapter",
    "fgsm",
    "pgd",
    "trades_attack",
]
