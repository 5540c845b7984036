"""Seed every random number generator a training run draws from, optionally deterministically.

Examples
--------
>>> import random
>>> import numpy as np
>>> import torch
>>> _ = seed_everything(7)
>>> a = (random.random(), np.random.rand(), torch.rand(()).item())
>>> _ = seed_everything(7)
>>> a == (random.random(), np.random.rand(), torch.rand(()).item())
True
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

# cuBLAS needs a fixed workspace for deterministic GEMMs on CUDA >= 10.2 (see the PyTorch
# "Reproducibility" notes); 4096 KiB x 8 buffers is the value they recommend.
_CUBLAS_WORKSPACE = ":4096:8"


def seed_everything(seed: int, *, deterministic: bool = False) -> int:
    """Seed python ``random``, numpy's legacy global generator and torch (CPU and every GPU).

    Parameters
    ----------
    seed
        An int in ``[0, 2**32 - 1]`` (numpy's legacy generator accepts no more).
    deterministic
        If True, also call ``torch.use_deterministic_algorithms(True)``, set
        ``cudnn.deterministic = True`` and ``cudnn.benchmark = False``, and set
        ``CUBLAS_WORKSPACE_CONFIG`` (unless already set). If False, these flags are left as
        they are (a later ``seed_everything(s)`` does not undo an earlier deterministic call).

    Returns
    -------
    int
        The seed, for logging.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed={seed!r} must be an int in [0, 2**32 - 1]")
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic={deterministic!r} must be a bool")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device (lazily when CUDA is not initialised)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", _CUBLAS_WORKSPACE)
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return seed
