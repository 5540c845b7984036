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


@pytest.fixture(scope="module")
def cpu_threads():
    """Intra-op threads for a module's CPU timings: ``ROBUST_BENCH_CPU_THREADS``, 1 by default.

    On a shared 2-core machine two OpenMP threads per process oversubscribe the cores and the
    timings swing by 5x; one thread gives stable same-run ratios.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("ROBUST_BENCH_CPU_THREADS", "1")))
    yield
    torch.set_num_threads(n)


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
