"""PGD-10 throughput, ours (:func:`robust.pgd`) vs torchattacks' ``PGD``, same model and batch.

Workloads (seeded, synthetic, data resident on the device):

- ``pgd10-cpu-smallcnn``: CPU, small CNN with BatchNorm (``_models.small_cnn``) on 1x28x28,
  batch 128, L-inf eps 0.3, alpha 2.5 * eps / 10, random start. Model in eval mode.
- ``pgd10-gpu-resnet18-fp32``: CUDA, CIFAR ResNet-18 (``_models.ResNet18``) on 3x32x32, batch 512,
  eps 8/255, alpha 2/255, both fp32.
- ``pgd10-gpu-resnet18-bf16cl``: ours under bf16 autocast with channels_last model and input vs
  torchattacks fp32 (the peer has no mixed-precision path).
- ``pgd10-gpu-resnet18-bf16cl-compiled``: as above with the model under ``torch.compile`` and
  ``compile=True`` for the update step (compilation happens in the warm-up round, not timed).

The GPU workloads run only when CUDA is available, or when ``ROBUST_BENCH_FORCE_DEVICE`` names a
device (e.g. ``cpu``): then they run at a tiny size (batch 4, 8x8) so that the script itself is
exercised on a CPU-only machine. Timings are wall-clock per call with a device synchronisation
inside the timed call; on CUDA the CUDA-event time of each round is also recorded
(``extra_info["cuda_event_ms_median"]``). ``extra_info["success_rate"]`` is the fraction of the
batch misclassified after the attack (same model, same batch, for both implementations).
Quality figures also go to ``benchmarks/results/attacks_bench.json``. CPU runs use
``ROBUST_BENCH_CPU_THREADS`` intra-op threads (default 1, recorded in the JSON).

Run: ``.venv/bin/python -m pytest benchmarks/bench_attacks.py -o addopts="" -p no:cacheprovider
--benchmark-only --benchmark-json=out.json``; ratios from ``benchmarks/summarize.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
from pathlib import Path

import pytest
import torch

from robust import pgd

torchattacks = pytest.importorskip("torchattacks")

RESULTS = Path(os.environ.get("ROBUST_BENCH_RESULTS", Path(__file__).parent / "results"))
CPU_ROUNDS = 10
GPU_ROUNDS = 10
_quality: dict[str, dict] = {}


pytestmark = pytest.mark.usefixtures("cpu_threads")  # benchmarks/conftest.py


def _models():
    """benchmarks/_models.py, loaded by path (works in any pytest import mode)."""
    spec = importlib.util.spec_from_file_location("_bench_models",
                                                  Path(__file__).with_name("_models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gpu_device() -> tuple[torch.device | None, bool, str]:
    """(device, tiny, reason): CUDA at full size, a forced device at tiny size, or None."""
    forced = os.environ.get("ROBUST_BENCH_FORCE_DEVICE")
    if forced:
        return torch.device(forced), True, ""
    if torch.cuda.is_available():
        return torch.device("cuda"), False, ""
    return None, False, "no CUDA device (set ROBUST_BENCH_FORCE_DEVICE=cpu for a tiny dry run)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _success_rate(model, x_adv, y) -> float:
    with torch.no_grad():
        return (model(x_adv).argmax(1) != y).float().mean().item()


def _record(group: str, impl: str, info: dict) -> None:
    _quality.setdefault(group, {})[impl] = info
    RESULTS.mkdir(exist_ok=True)
    meta = {"torch": torch.__version__, "torchattacks": torchattacks.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch_threads": torch.get_num_threads()}
    (RESULTS / "attacks_bench.json").write_text(
        json.dumps({"meta": meta, "workloads": _quality}, indent=2, sort_keys=True))


def _run(benchmark, group, impl, fn, model, y, device, rounds, items, extra=None):
    """Time ``fn`` (returns x_adv) with a sync inside the call; record success and CUDA time."""
    events: list[float] = []

    def timed():
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn()
            end.record()
            end.synchronize()
            events.append(start.elapsed_time(end))
            return out
        out = fn()
        _sync(device)
        return out

    benchmark.group = group
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["items"] = items
    x_adv = benchmark.pedantic(timed, rounds=rounds, warmup_rounds=1)
    info = {"success_rate": _success_rate(model, x_adv, y), "items": items, **(extra or {})}
    if events:
        timed_events = sorted(events[1:])  # the first is the warm-up round
        info["cuda_event_ms_median"] = timed_events[len(timed_events) // 2]
    benchmark.extra_info.update(info)
    _record(group, impl, info)


# ----------------------------------------------------------------------------- CPU


@pytest.fixture(scope="module")
def cpu_workload():
    torch.manual_seed(0)
    model = _models().small_cnn(1, 10).eval()
    x = torch.rand(128, 1, 28, 28)  # (N, C, H, W) in [0, 1]
    y = torch.randint(0, 10, (128,))
    return model, x, y


CPU_EPS = 0.3


@pytest.mark.parametrize("impl", ["ours", "torchattacks"])
def test_pgd10_cpu_smallcnn(benchmark, cpu_workload, impl):
    model, x, y = cpu_workload
    alpha = 2.5 * CPU_EPS / 10
    if impl == "ours":
        g = torch.Generator().manual_seed(0)

        def fn():
            return pgd(model, x, y, eps=CPU_EPS, alpha=alpha, steps=10, generator=g)
    else:
        attack = torchattacks.PGD(model, eps=CPU_EPS, alpha=alpha, steps=10, random_start=True)

        def fn():
            return attack(x, y)

    _run(benchmark, "pgd10-cpu-smallcnn", impl, fn, model, y, torch.device("cpu"),
         CPU_ROUNDS, x.shape[0])


# ----------------------------------------------------------------------------- GPU (ResNet-18)


@pytest.fixture(scope="module")
def gpu_workload():
    device, tiny, reason = _gpu_device()
    if device is None:
        pytest.skip(reason)
    n, size = (4, 8) if tiny else (512, 32)
    torch.manual_seed(0)
    model = _models().ResNet18(10).to(device).eval()
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(n, 3, size, size, device=device, generator=g)  # (N, 3, H, W) in [0, 1]
    y = torch.randint(0, 10, (n,), device=device, generator=g)
    return model, x, y, device, (1 if tiny else GPU_ROUNDS)


EPS, ALPHA = 8 / 255, 2 / 255


def _peer(model, x, y):
    attack = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=10, random_start=True)
    return lambda: attack(x, y)


@pytest.mark.parametrize("impl", ["ours", "torchattacks"])
def test_pgd10_gpu_resnet18_fp32(benchmark, gpu_workload, impl):
    model, x, y, device, rounds = gpu_workload
    g = torch.Generator(device=device).manual_seed(0)
    fn = (lambda: pgd(model, x, y, eps=EPS, alpha=ALPHA, generator=g)) if impl == "ours" \
        else _peer(model, x, y)
    _run(benchmark, "pgd10-gpu-resnet18-fp32", impl, fn, model, y, device, rounds, x.shape[0])


def _bf16_channels_last(model, x, compiled):
    model_cl = model.to(memory_format=torch.channels_last)  # same module, converted in place
    x_cl = x.contiguous(memory_format=torch.channels_last)
    run_model = torch.compile(model_cl) if compiled else model_cl
    return run_model, x_cl


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("impl", ["ours", "torchattacks"])
def test_pgd10_gpu_resnet18_bf16cl(benchmark, gpu_workload, impl, compiled):
    model, x, y, device, rounds = gpu_workload
    group = "pgd10-gpu-resnet18-bf16cl" + ("-compiled" if compiled else "")
    if compiled and device.type == "cpu" and not os.environ.get("ROBUST_BENCH_COMPILE_CPU"):
        pytest.skip("torch.compile on the CPU dry run takes minutes; "
                    "set ROBUST_BENCH_COMPILE_CPU=1 to include it")
    if impl == "torchattacks":  # the peer stays fp32, contiguous, eager
        model.to(memory_format=torch.contiguous_format)
        _run(benchmark, group, impl, _peer(model, x, y), model, y, device, rounds, x.shape[0])
        return
    run_model, x_cl = _bf16_channels_last(model, x, compiled)
    g = torch.Generator(device=device).manual_seed(0)

    def fn():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return pgd(run_model, x_cl, y, eps=EPS, alpha=ALPHA, generator=g, compile=compiled)

    try:
        _run(benchmark, group, impl, fn, model, y, device, rounds, x.shape[0],
             {"precision": "bf16", "channels_last": True, "torch_compile": compiled})
    finally:
        model.to(memory_format=torch.contiguous_format)
