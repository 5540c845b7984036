"""DESIGN's import boundaries: robust and adaptive are siblings on traincore, and each user pays
only for what they use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_detector_users_never_import_torch():
    loaded = _loaded_after("import adaptive; adaptive.PageHinkley().update(1.0)")
    assert "torch" not in loaded
    assert "robust" not in loaded


def test_adversarial_training_users_never_import_numba_river_or_adaptive():
    loaded = _loaded_after("import robust, traincore")
    assert {"numba", "river", "adaptive"}.isdisjoint(loaded)


@pytest.mark.parametrize("package", ["traincore", "robust", "adaptive"])
def test_public_names_are_exported(package):
    module = __import__(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    assert list(module.__all__) == sorted(module.__all__, key=str)


@pytest.mark.parametrize("package", ["traincore", "robust", "adaptive"])
def test_version_is_the_one_in_pyproject(package):
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    root = Path(__file__).resolve().parents[1]
    with open(root / "pyproject.toml", "rb") as f:
        want = tomllib.load(f)["project"]["version"]
    assert __import__(package).__version__ == want
