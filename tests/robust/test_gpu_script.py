"""benchmarks/gpu.sh runs end to end on the CPU (GPU_DRY_RUN=1, tiny sizes): it cannot rot.

The GPU machine is lent rarely and for 15 minutes, so the script must work the first time there;
this dry run exercises every step (the GPU tests collect and skip, the GPU benchmarks run at a
tiny size on the CPU, the summaries and the packed results are written).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_script_dry_run(tmp_path, fashion_mnist_root):
    pytest.importorskip("torchattacks")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not an xdist
    env.update(GPU_DRY_RUN="1", OUT=str(out), PYTHON=sys.executable,     # worker's pytest
               OMP_NUM_THREADS="1", ROBUST_BENCH_CPU_THREADS="1")
    res = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1500)
    log = (out / "log.txt").read_text() if (out / "log.txt").exists() else ""
    assert res.returncode == 0, res.stdout + res.stderr + log[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["gpu_results.tgz", "log.txt",
                                                      "summary_robust.md"]
    assert "gpu-tests: exit 0" in log and "bench: exit 0" in log
    with tarfile.open(out / "gpu_results.tgz") as tar:
        names = {Path(n).name for n in tar.getnames()}
    assert {"raw_robust.json", "summary_robust.json", "attacks_bench.json",
            "training_bench.json"} <= names
    summary = (out / "summary_robust.md").read_text()
    for group in ("pgd10-gpu-resnet18-fp32", "at-pgd10-gpu-resnet18", "at-pgd10-gpu-fmnist-epoch"):
        assert group in summary
