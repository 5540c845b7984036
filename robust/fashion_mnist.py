"""Fashion-MNIST from its original gzip IDX files, without torchvision or a download.

H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
Learning Algorithms", arXiv:1708.07747 (MIT licence). 60,000 training and 10,000 test images,
28x28 grey levels, 10 classes (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt,
Sneaker, Bag, Ankle boot).

The four files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``) are looked for in ``root``, else
in ``$ROBUST_FASHION_MNIST_DIR``, else in Debian's ``/usr/share/datasets/fashion-mnist``
(``apt-get install dataset-fashion-mnist``, or ``bash scripts/install_fashion_mnist.sh``).
Images become float32 tensors ``(N, 1, 28, 28)`` in [0, 1] (``/ 255``), labels int64 ``(N,)``.
Each file's IDX header (magic number, dimensions) and size are checked, and labels must lie in
0..9; a damaged file raises ``ValueError`` naming it.

Examples
--------
Once installed: ``train, test = load_fashion_mnist(train_size=20000, test_size=2000)``. The IDX
reader on a tiny file:

>>> import gzip, pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.gz"
>>> _ = path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9])))
>>> read_idx(path, ndim=1, count=3)
array([7, 0, 9], dtype=uint8)
>>> read_idx(path, ndim=1, count=4)
Traceback (most recent call last):
...
ValueError: ...labels.gz: IDX dimensions [3] and 3 data bytes do not describe 4 items
"""

from __future__ import annotations

import gzip
import os
import pathlib

import numpy as np
import torch
from torch.utils.data import TensorDataset

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "ROBUST_FASHION_MNIST_DIR"
INSTALL_HINT = ("install it with `bash scripts/install_fashion_mnist.sh` (root, apt-get: Debian's "
                f"dataset-fashion-mnist) or set {ENV_VAR} to a folder holding the four .gz files")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000),
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")
# per-channel statistics of the 60k training images in [0, 1] (checked by a test)
MEAN, STD = (0.2860,), (0.3530,)


def find_root(root: str | os.PathLike | None = None) -> pathlib.Path:
    """The folder holding the four files; FileNotFoundError with the install command if none."""
    candidates = [root] if root is not None else [os.environ.get(ENV_VAR), DEBIAN_DIR]
    names = [n for pair in FILES.values() for n in pair[:2]]
    for c in candidates:
        if c and all((pathlib.Path(c) / n).is_file() for n in names):
            return pathlib.Path(c)
    where = ", ".join(str(c) for c in candidates if c)
    raise FileNotFoundError(f"Fashion-MNIST not found (looked in {where}); {INSTALL_HINT}")


def read_idx(path: pathlib.Path, ndim: int, count: int) -> np.ndarray:
    """An unsigned-byte IDX array of ``ndim`` dimensions and ``count`` items from a .gz file."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable gzip file ({err})") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != 0x0800 + ndim:  # 0x08: unsigned byte, then the number of dimensions
        raise ValueError(f"{path}: IDX magic {magic:#010x}, expected {0x0800 + ndim:#010x} "
                         f"(unsigned bytes, {ndim} dimension(s))")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if dims[0] != count or len(raw) != header + int(np.prod(dims)):
        raise ValueError(f"{path}: IDX dimensions {dims} and {len(raw) - header} data bytes do "
                         f"not describe {count} items")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _split(root: pathlib.Path, which: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels, count = FILES[which]
    y = read_idx(root / labels, 1, count)  # (count,) uint8; first: small, fails fast
    if int(y.max()) > 9:
        raise ValueError(f"{root / labels}: labels up to {int(y.max())}, expected 0..9")
    x = read_idx(root / images, 3, count)  # (count, 28, 28) uint8
    if x.shape[1:] != (28, 28):
        raise ValueError(f"{root / images}: images of {x.shape[1:]}, expected 28x28")
    xt = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)  # (count, 1, 28, 28)
    return xt, torch.from_numpy(y.astype(np.int64))


def _subset(x: torch.Tensor, y: torch.Tensor, size: int | None, seed: int, name: str):
    if size is None:
        return x, y
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= len(y):
        raise ValueError(f"{name}={size!r} must be an int in [1, {len(y)}] or None")
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:size]
    idx, _ = idx.sort()  # keep the file order inside the subset
    return x[idx], y[idx]


def load_fashion_mnist(
    root: str | os.PathLike | None = None, *, train_size: int | None = None,
    test_size: int | None = None, seed: int = 0,
) -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` TensorDatasets; ``train_size``/``test_size`` take a seeded random subset.

    Parameters
    ----------
    root
        Folder of the four .gz files (default: ``$ROBUST_FASHION_MNIST_DIR``, then Debian's).
    train_size, test_size
        None for the full 60k / 10k, else that many images drawn without replacement by a
        permutation seeded with ``seed`` (the same subset on every machine).
    """
    folder = find_root(root)
    x, y = _subset(*_split(folder, "train"), train_size, seed, "train_size")
    xt, yt = _subset(*_split(folder, "test"), test_size, seed, "test_size")
    return TensorDataset(x, y), TensorDataset(xt, yt)
