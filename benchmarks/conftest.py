"""Benchmark fixtures: the device to run on and the versions/hardware recorded with every run."""

from __future__ import annotations

import os
import platform

import pytest
import torch


def bench_device() -> torch.device:
    """CUDA when present (unless ROBUST_BENCH_FORCE_DEVICE says otherwise), else the CPU."""
    forced = os.environ.get("ROBUST_BENCH_FORCE_DEVICE")
    if forced:
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(scope="session")
def device() -> torch.device:
    return bench_device()


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["torch"] = torch.__version__
    machine_info["python"] = platform.python_version()
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["cuda_device"] = (
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    )
    for name in ("numpy", "numba", "river", "torchattacks"):
        try:
            machine_info[name] = __import__(name).__version__
        except ImportError:
            machine_info[name] = None
