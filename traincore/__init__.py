"""traincore: the shared training core of robust-adaptive (precision, update step, fit, checkpoints,
seeding, distributed helpers)."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("robust-adaptive")
except _metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

from traincore.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    remove_stale_temp_files,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from traincore.distributed import (
    all_reduce_metrics,
    broadcast_object,
    distributed_sampler,
    init_distributed,
    is_distributed,
    is_main_process,
    local_rank,
    rank,
    shutdown_distributed,
    unwrap,
    world_size,
    wrap_ddp,
)
from traincore.evaluate import evaluate, evaluate_accuracy
from traincore.fit import History, fit
from traincore.metrics import MetricAccumulator
from traincore.objective import Objective, StepOutput, Supervised, split_batch
from traincore.precision import PRECISIONS, Precision, PrecisionNotSupportedError
from traincore.seed import seed_everything
from traincore.updater import Updater

__all__ = [
    "CheckpointError",
    "History",
    "MetricAccumulator",
    "Objective",
    "PRECISIONS",
    "Precision",
    "PrecisionNotSupportedError",
    "StepOutput",
    "Supervised",
    "Updater",
    "all_reduce_metrics",
    "broadcast_object",
    "distributed_sampler",
    "evaluate",
    "evaluate_accuracy",
    "fit",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "load_checkpoint",
    "local_rank",
    "rank",
    "read_checkpoint",
    "remove_stale_temp_files",
    "rng_state",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
    "shutdown_distributed",
    "split_batch",
    "unwrap",
    "world_size",
    "wrap_ddp",
]
