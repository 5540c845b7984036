"""Datasets for the CLI and the demo: digits, Fashion-MNIST, or any ``module:attr``.

``digits``: the 1797 8x8 grey images of scikit-learn's ``load_digits`` (bundled with the
package, no download), scaled from 0..16 to [0, 1] as float32 tensors of shape (N, 1, 8, 8),
split 75/25 stratified by class with ``random_state=0``.

``fashion-mnist``: Zalando's 60k/10k 28x28 grey images in 10 classes, read from the original
gzip IDX files (no torchvision, no download) in ``$ROBUST_FASHION_MNIST_DIR`` or Debian's
``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``, installed by
``bash scripts/install_fashion_mnist.sh``); see :mod:`robust.fashion_mnist`.

``module:attr``: ``attr`` of the importable ``module`` is a ``torch.utils.data.Dataset``, or a
callable returning one or a ``(train, test)`` pair of them. A single dataset is split 75/25
with a seeded random permutation (seed 0).

Examples
--------
>>> train, test = load_digits_split()
>>> len(train), len(test), tuple(train[0][0].shape)
(1347, 450, (1, 8, 8))
>>> float(train.tensors[0].min()), float(train.tensors[0].max())
(0.0, 1.0)
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch.utils.data import Dataset, Subset, TensorDataset


def load_digits_split(seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """Digits as ``(train, test)`` TensorDatasets: x (N, 1, 8, 8) in [0, 1], y (N,) int64.

    Requires scikit-learn (the data ship with it).
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the digits dataset needs scikit-learn: pip install scikit-learn"
        ) from err
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
    y = torch.tensor(data.target, dtype=torch.int64)  # (1797,)
    idx_train, idx_test = train_test_split(
        range(len(y)), test_size=0.25, stratify=data.target, random_state=seed
    )
    return (TensorDataset(x[idx_train], y[idx_train]), TensorDataset(x[idx_test], y[idx_test]))


def import_dataset(spec: str) -> Any:
    """Resolve ``"module:attr"`` to the object; a clear ValueError when it does not import."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"dataset={spec!r} must be 'digits', 'fashion-mnist' or 'module:attr'")
    module_name, attr = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"dataset={spec!r}: cannot import module {module_name!r} ({err})") from err
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"dataset={spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _random_split(ds: Dataset, seed: int) -> tuple[Dataset, Dataset]:
    n = len(ds)  # type: ignore[arg-type]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    cut = int(round(0.75 * n))
    return Subset(ds, perm[:cut]), Subset(ds, perm[cut:])


def load_dataset(spec: str, seed: int = 0) -> tuple[Dataset, Dataset]:
    """``(train, test)`` datasets for ``spec``: ``"digits"``, ``"fashion-mnist"`` or
    ``"module:attr"`` (module doc)."""
    if spec == "digits":
        return load_digits_split(seed)
    if spec == "fashion-mnist":
        from robust.fashion_mnist import load_fashion_mnist

        return load_fashion_mnist()
    obj = import_dataset(spec)
    if callable(obj) and not isinstance(obj, Dataset):
        obj = obj()
    if isinstance(obj, (tuple, list)) and len(obj) == 2 \
            and all(isinstance(d, Dataset) for d in obj):
        return obj[0], obj[1]
    if isinstance(obj, Dataset):
        return _random_split(obj, seed)
    raise ValueError(f"dataset={spec!r} resolved to {type(obj).__name__}; expected a torch "
                     "Dataset, a (train, test) pair of them, or a callable returning one")
