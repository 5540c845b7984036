"""traincore: the shared training core of robust-adaptive (precision, update step, fit, checkpoints,
seeding, distributed helpers)."""

from traincore.objective import Objective, StepOutput, Supervised, split_batch
from traincore.precision import PRECISIONS, Precision, PrecisionNotSupportedError
from traincore.updater import Updater

# --- traincore helper: add fit/checkpoint/distributed/seed exports below this line ---

__all__ = [
    "PRECISIONS",
    "Objective",
    "Precision",
    "PrecisionNotSupportedError",
    "StepOutput",
    "Supervised",
    "Updater",
    "split_batch",
]
