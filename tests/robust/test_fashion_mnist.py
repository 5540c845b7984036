"""Fashion-MNIST from Debian's gzip IDX files (issue 16 item 1): reader, subsets, damage, CLI.

Tests that need the data take the ``fashion_mnist_root`` fixture (tests/robust/conftest.py):
they skip with the install command without it, and fail in CI.
"""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
import torch

import robust.fashion_mnist as fm
from robust.cli import main


@pytest.fixture(scope="module")
def full(fashion_mnist_root):
    return fm.load_fashion_mnist()


def test_full_set_counts_classes_and_statistics(full):
    train, test = full
    (x, y), (xt, yt) = train.tensors, test.tensors
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.bincount(y).tolist() == [6000] * 10  # balanced, as published
    assert torch.bincount(yt).tolist() == [1000] * 10
    assert round(float(x.mean()), 4) == fm.MEAN[0] and round(float(x.std()), 4) == fm.STD[0]


def test_subsets_are_seeded(full):
    x, y = full[0].tensors
    a, at = fm.load_fashion_mnist(train_size=500, test_size=100)
    assert len(a) == 500 and len(at) == 100
    idx = torch.randperm(60000, generator=torch.Generator().manual_seed(0))[:500].sort().values
    assert torch.equal(a.tensors[0], x[idx]) and torch.equal(a.tensors[1], y[idx])
    b = fm._subset(x, y, 500, 1, "train_size")
    assert not torch.equal(a.tensors[0], b[0])
    assert len(torch.unique(a.tensors[1])) == 10
    with pytest.raises(ValueError, match="train_size"):
        fm._subset(x, y, 60001, 0, "train_size")


def _copy(root, tmp_path):
    """The two image files linked, the two small label files copied (to be damaged)."""
    for images, labels, _ in fm.FILES.values():
        (tmp_path / images).symlink_to(root / images)
        shutil.copy(root / labels, tmp_path / labels)
    return tmp_path


@pytest.mark.parametrize("damage, words", [
    (lambda raw: raw[:3] + b"\x03" + raw[4:], "IDX magic"),
    (lambda raw: raw[:-10], "do not describe"),
    (lambda raw: raw[:8] + bytes([12]) + raw[9:], "labels up to 12"),
])
def test_damaged_file_is_named(fashion_mnist_root, tmp_path, damage, words):
    root = _copy(fashion_mnist_root, tmp_path)
    path = root / fm.FILES["train"][1]  # read first: the damage is found at once
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(damage(raw)))
    with pytest.raises(ValueError, match=words) as err:
        fm.load_fashion_mnist(root)
    assert fm.FILES["train"][1] in str(err.value)


def test_not_gzip_is_named(fashion_mnist_root, tmp_path):
    root = _copy(fashion_mnist_root, tmp_path)
    (root / fm.FILES["train"][1]).write_bytes(b"plain bytes")
    with pytest.raises(ValueError, match="not a readable gzip"):
        fm.load_fashion_mnist(root)


def test_missing_data_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fm, "DEBIAN_DIR", str(tmp_path / "none"))
    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="install_fashion_mnist.sh"):
        fm.load_fashion_mnist()
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "fashion-mnist", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and "install_fashion_mnist.sh" in capsys.readouterr().err


def test_cli_trains_on_a_fashion_mnist_subset(fashion_mnist_root, tmp_path, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(["train", "--dataset", "fashion-mnist", "--model", "cnn28", "--method", "pgd",
                     "--steps", "2", "--early-stop", "0", "--eps", "0.1", "--epochs", "1",
                     "--train-size", "512", "--test-size", "128", "--eval-steps", "2",
                     "--eps-list", "0,0.1", "--curve-steps", "1", "--no-progress",
                     "--device", "cpu", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["final"]["clean"] > 0.3  # 10 classes: one epoch on 512 images learns some
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["in_shape"] == [1, 28, 28] and config["early_stop"] == 0
