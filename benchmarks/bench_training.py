"""PGD-10 adversarial training, ours (:class:`robust.PGDAT` through :func:`traincore.fit`) vs the
loops users write today: torchattacks' ``PGD`` in a hand-written loop, and ART's
``AdversarialTrainerMadryPGD`` (when ``adversarial-robustness-toolbox`` is installed).

Workloads (seeded; one timed call = a whole training run from the same initial weights):

- ``at-pgd10-cpu-digits``: CPU, scikit-learn digits (1347 training images 1x8x8 in [0, 1]),
  :class:`robust.SmallCNN`, SGD lr 0.05 momentum 0.9, batch 64, ``EPOCHS`` epochs, L-inf
  eps 0.2, alpha 2.5 * eps / 10 (ART: ``eps_step`` = the same alpha), random start. Each
  implementation's PGD-20 accuracy on the 450 test images (our evaluator, same attack for all)
  goes to ``extra_info["pgd20_acc"]`` and ``benchmarks/results/training_bench.json``.
- ``at-pgd10-gpu-resnet18``: CUDA, CIFAR ResNet-18 (``_models.ResNet18``), one epoch of 10
  batches of 512 random 3x32x32 images; ours under bf16 with channels_last vs the torchattacks
  loop in fp32 (target: ours / theirs <= 0.5).
- ``at-pgd10-vs-clean-gpu-resnet18``: the same PGD-AT epoch vs 11 (= steps + 1) clean epochs of
  the same model at the same precision (impl ``clean-x11``; target: ours <= 1.1x).

The GPU workloads run when CUDA is available, or at a tiny size (ResNet-18: one batch of 4; one
unwarmed round) when ``ROBUST_BENCH_FORCE_DEVICE`` names a device, so the code is exercised on a
CPU-only machine.
CPU runs use ``ROBUST_BENCH_CPU_THREADS`` intra-op threads (default 1).

Run: ``.venv/bin/python -m pytest benchmarks/bench_training.py -o addopts="" -p no:cacheprovider
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
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from robust import PGD, PGDAT, SmallCNN, clean_accuracy, robust_accuracy
from robust.data import load_digits_split
from traincore import Supervised, fit

torchattacks = pytest.importorskip("torchattacks")

RESULTS = Path(os.environ.get("ROBUST_BENCH_RESULTS", Path(__file__).parent / "results"))
EPOCHS = 2  # per timed call on the CPU workload
EPS, STEPS, BATCH, LR = 0.2, 10, 64, 0.05
CPU_ROUNDS = 2
GPU_ROUNDS = 3
_quality: dict[str, dict] = {}


pytestmark = pytest.mark.usefixtures("cpu_threads")  # benchmarks/conftest.py


def _record(group: str, impl: str, info: dict) -> None:
    _quality.setdefault(group, {})[impl] = info
    RESULTS.mkdir(exist_ok=True)
    meta = {"torch": torch.__version__, "torchattacks": torchattacks.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch_threads": torch.get_num_threads(), "epochs_cpu": EPOCHS}
    (RESULTS / "training_bench.json").write_text(
        json.dumps({"meta": meta, "workloads": _quality}, indent=2, sort_keys=True))


# --- CPU: digits ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    train, test = load_digits_split()
    torch.manual_seed(0)
    init = SmallCNN().state_dict()
    return train.tensors, test.tensors, init


def _fresh(init):
    model = SmallCNN()
    model.load_state_dict(init)
    return model, torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)


def _ours_cpu(train, init):
    torch.manual_seed(1)
    model, opt = _fresh(init)
    loader = DataLoader(TensorDataset(*train), batch_size=BATCH, shuffle=True)
    fit(model, loader, optimizer=opt, epochs=EPOCHS, objective=PGDAT(eps=EPS, steps=STEPS),
        progress=False)
    return model


def _torchattacks_loop(model, opt, loader, epochs, *, eps=EPS, alpha=None, device=None):
    """The loop users write today with torchattacks (fp32); alpha defaults to 2.5 eps / steps."""
    alpha = 2.5 * eps / STEPS if alpha is None else alpha
    atk = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=STEPS, random_start=True)
    for _ in range(epochs):
        for x, y in loader:
            if device is not None:
                x, y = x.to(device), y.to(device)
            x_adv = atk(x, y)  # torchattacks switches the model to eval and back
            model.train()
            loss = F.cross_entropy(model(x_adv), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def _torchattacks_cpu(train, init):
    torch.manual_seed(1)
    model, opt = _fresh(init)
    loader = DataLoader(TensorDataset(*train), batch_size=BATCH, shuffle=True)
    return _torchattacks_loop(model, opt, loader, EPOCHS)


def _art_cpu(train, init):
    from art.defences.trainer import AdversarialTrainerMadryPGD
    from art.estimators.classification import PyTorchClassifier

    torch.manual_seed(1)
    model, opt = _fresh(init)
    clf = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 8, 8),
                            nb_classes=10, optimizer=opt, clip_values=(0.0, 1.0),
                            device_type="cpu")
    trainer = AdversarialTrainerMadryPGD(clf, nb_epochs=EPOCHS, batch_size=BATCH, eps=EPS,
                                         eps_step=2.5 * EPS / STEPS, max_iter=STEPS,
                                         num_random_init=1)
    x, y = train
    trainer.fit(x.numpy(), y.numpy())
    return model


CPU_IMPLS = {"ours": _ours_cpu, "torchattacks": _torchattacks_cpu, "art": _art_cpu}


@pytest.mark.parametrize("impl", sorted(CPU_IMPLS))
def test_at_pgd10_cpu_digits(benchmark, digits, impl):
    if impl == "art" and importlib.util.find_spec("art") is None:
        pytest.skip("pip install adversarial-robustness-toolbox for the ART peer")
    train, test, init = digits
    benchmark.group = "at-pgd10-cpu-digits"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["items"] = EPOCHS * len(train[1])  # training images per call
    model = benchmark.pedantic(lambda: CPU_IMPLS[impl](train, init), rounds=CPU_ROUNDS,
                               warmup_rounds=1)
    model.eval()
    info = {"clean_acc": clean_accuracy(model, test),
            "pgd20_acc": robust_accuracy(model, test, PGD(eps=EPS, steps=20)),
            "epochs": EPOCHS}
    benchmark.extra_info.update(info)
    _record("at-pgd10-cpu-digits", impl, info)


# --- GPU: ResNet-18 ---------------------------------------------------------------------------


def _gpu_device():
    forced = os.environ.get("ROBUST_BENCH_FORCE_DEVICE")
    if forced:
        return torch.device(forced), True
    if torch.cuda.is_available():
        return torch.device("cuda"), False
    pytest.skip("no CUDA device (set ROBUST_BENCH_FORCE_DEVICE=cpu for a tiny dry run)")


def _resnet18():
    spec = importlib.util.spec_from_file_location("_bench_models",
                                                  Path(__file__).with_name("_models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ResNet18


@pytest.fixture(scope="module")
def gpu_workload():
    device, tiny = _gpu_device()
    n_batches, batch = (1, 4) if tiny else (10, 512)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n_batches * batch, 3, 32, 32, generator=g).to(device)  # (N, 3, 32, 32)
    y = torch.randint(0, 10, (n_batches * batch,), generator=g).to(device)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(y), batch)]
    torch.manual_seed(0)
    init = _resnet18()().state_dict()
    return device, batches, init, tiny


def _gpu_model(init, device, channels_last):
    model = _resnet18()().to(device)
    model.load_state_dict(init)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def _timed(device, fn):
    def run():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return run


def _rounds(tiny, gpu_rounds=GPU_ROUNDS):
    """pedantic's rounds: one unwarmed round at the tiny size (a dry run only has to finish)."""
    return dict(rounds=1, warmup_rounds=0) if tiny else dict(rounds=gpu_rounds, warmup_rounds=1)


def _cl(batches):
    return [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["ours", "torchattacks"])
def test_at_pgd10_gpu_resnet18(benchmark, gpu_workload, impl):
    device, batches, init, tiny = gpu_workload
    eps = 8 / 255
    if impl == "ours":
        model, opt = _gpu_model(init, device, channels_last=True)
        data = _cl(batches)

        def fn():
            fit(model, data, optimizer=opt, epochs=1, precision="bf16", progress=False,
                objective=PGDAT(eps=eps, alpha=2 / 255, steps=STEPS), device=device)
    else:
        model, opt = _gpu_model(init, device, channels_last=False)

        def fn():
            _torchattacks_loop(model, opt, batches, 1, eps=eps, alpha=2 / 255)

    benchmark.group = "at-pgd10-gpu-resnet18"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["items"] = sum(len(y) for _, y in batches)
    benchmark.extra_info["precision"] = "bf16+channels_last" if impl == "ours" else "fp32"
    benchmark.pedantic(_timed(device, fn), **_rounds(tiny))
    _record("at-pgd10-gpu-resnet18", impl, dict(benchmark.extra_info))


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["ours", "clean-x11"])
def test_at_pgd10_vs_clean_gpu_resnet18(benchmark, gpu_workload, impl):
    device, batches, init, tiny = gpu_workload
    model, opt = _gpu_model(init, device, channels_last=True)
    data = _cl(batches)
    if impl == "ours":
        objective, epochs = PGDAT(eps=8 / 255, alpha=2 / 255, steps=STEPS), 1
    else:
        objective, epochs = Supervised(), STEPS + 1

    def fn():
        fit(model, data, optimizer=opt, epochs=epochs, precision="bf16", progress=False,
            objective=objective, device=device)

    benchmark.group = "at-pgd10-vs-clean-gpu-resnet18"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["items"] = sum(len(y) for _, y in batches)
    benchmark.pedantic(_timed(device, fn), **_rounds(tiny))
    _record("at-pgd10-vs-clean-gpu-resnet18", impl, dict(benchmark.extra_info))


# --- GPU: Fashion-MNIST full training set, one PGD-10 AT epoch --------------------------------


@pytest.fixture(scope="module")
def fmnist_workload():
    """All 60k Fashion-MNIST training images resident on the device, batch 128 (469 batches);
    tiny (2 batches) on a forced device. Skips without the dataset (scripts/
    install_fashion_mnist.sh, or ROBUST_FASHION_MNIST_DIR: gpu.sh points it at .whl/)."""
    from robust import CNN28
    from robust.fashion_mnist import find_root, load_fashion_mnist

    device, tiny = _gpu_device()
    try:
        find_root()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    train, _ = load_fashion_mnist(train_size=256 if tiny else None)
    x, y = (t.to(device) for t in train.tensors)  # (60000, 1, 28, 28), (60000,)
    batches = [(x[i:i + 128], y[i:i + 128]) for i in range(0, len(y), 128)]
    torch.manual_seed(0)
    init = CNN28().state_dict()
    return device, batches, init, tiny


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["ours", "torchattacks"])
def test_at_pgd10_gpu_fmnist_epoch(benchmark, fmnist_workload, impl):
    """One epoch of PGD-10 AT (eps 0.1, alpha 0.025, fp32) on the full training set: ours
    through fit vs the torchattacks loop, same model, weights and batches."""
    from robust import CNN28

    device, batches, init, tiny = fmnist_workload
    model = CNN28().to(device)
    model.load_state_dict(init)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    eps, alpha = 0.1, 0.025
    if impl == "ours":
        objective = PGDAT(eps=eps, alpha=alpha, steps=STEPS)

        def fn():
            fit(model, batches, optimizer=opt, epochs=1, objective=objective, progress=False,
                device=device)
    else:
        def fn():
            _torchattacks_loop(model, opt, batches, 1, eps=eps, alpha=alpha)

    benchmark.group = "at-pgd10-gpu-fmnist-epoch"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["items"] = sum(len(y) for _, y in batches)
    benchmark.pedantic(_timed(device, fn), **_rounds(tiny, gpu_rounds=2))
    model.eval()
    x_test, y_test = batches[0]
    info = {"items": benchmark.extra_info["items"], "tiny": tiny,
            "pgd10_acc_first_batch": robust_accuracy(model, (x_test, y_test),
                                                     PGD(eps=eps, steps=10))}
    benchmark.extra_info.update(info)
    _record("at-pgd10-gpu-fmnist-epoch", impl, info)
