"""Fixtures of the robust tests: one torch thread, and the Fashion-MNIST folder.

``one_thread`` (autouse): the robust tests run small tensors, where more intra-op threads only
contend for the shared cores (OpenMP oversubscription).

``fashion_mnist_root``: the dataset's folder, or a skip that says how to install it. Without the
dataset the tests that need it skip with the install command, except in CI (CI=true), where they
fail: .ci/run installs it first (scripts/install_fashion_mnist.sh).
"""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def fashion_mnist_root():
    from robust.fashion_mnist import find_root

    try:
        return find_root()
    except FileNotFoundError as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(err))
        pytest.skip(str(err))
