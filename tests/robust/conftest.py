"""The Fashion-MNIST fixture: the dataset's folder, or a skip that says how to install it.

Without the dataset the tests that need it skip with the install command, except in CI
(CI=true), where they fail: .ci/run installs it first (scripts/install_fashion_mnist.sh).
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def fashion_mnist_root():
    from robust.fashion_mnist import find_root

    try:
        return find_root()
    except FileNotFoundError as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(err))
        pytest.skip(str(err))
