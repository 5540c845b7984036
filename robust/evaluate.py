"""Robust evaluation: clean accuracy, worst-case PGD accuracy, AutoAttack, accuracy-vs-eps curves.

``data`` is everywhere either a re-iterable of ``(x, y)`` batches (a ``DataLoader``), a
``Dataset`` of pairs, or a pair of tensors ``(X, Y)`` cut into batches of ``batch_size``. The
model is evaluated in eval mode and its mode is restored afterwards.

Robust accuracy is a worst case per sample: a sample counts only if it is classified correctly
clean AND under every attack (and every restart) given.

Examples
--------
>>> import torch
>>> from robust.evaluate import clean_accuracy, robust_accuracy
>>> from robust.pgd import PGD
>>> _ = torch.manual_seed(0)
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
>>> x = torch.rand(64, 1, 2, 2); y = model(x).argmax(1).detach()
>>> clean_accuracy(model, (x, y))
1.0
>>> robust_accuracy(model, (x, y), PGD(eps=0.5, steps=10)) < 1.0
True
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from traincore import unwrap

Attack = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
# what the evaluations accept: a pair of tensors (X, Y) (a tuple or list, e.g. a TensorDataset's
# .tensors), a Dataset of (x, y) pairs, or a re-iterable of (x, y) batches such as a DataLoader
Data = Sequence[torch.Tensor] | Dataset | Iterable[tuple[torch.Tensor, torch.Tensor]]


def _batches(data: Any, batch_size: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an int >= 1")
    if isinstance(data, (tuple, list)) and len(data) == 2 \
            and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"data tensors disagree: X has {x.shape[0]} rows, Y {y.shape[0]}")
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=False)
    if isinstance(data, Iterable) and not isinstance(data, Iterator):
        return data
    raise TypeError("data must be a DataLoader (re-iterable of (x, y) batches), a Dataset, or a "
                    f"pair of tensors (X, Y); got {type(data).__name__}")


@contextmanager
def _eval_mode(model: torch.nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _device(model: torch.nn.Module, device: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _correct_counts(model, data, attacks: Sequence[Attack], batch_size, device) -> tuple[int, int]:
    net = unwrap(model)
    dev = _device(net, device)
    correct = torch.zeros((), dtype=torch.int64, device=dev)  # summed on the device
    total = 0
    with _eval_mode(net):
        for x, y in _batches(data, batch_size):
            x, y = x.to(dev), y.to(dev)
            with torch.no_grad():
                ok = net(x).argmax(1) == y  # (N,) bool
            for attack in attacks:
                x_adv = attack(net, x, y)
                with torch.no_grad():
                    ok &= net(x_adv).argmax(1) == y
            correct += ok.sum()
            total += y.shape[0]
    if total == 0:
        raise ValueError("data holds no samples")
    return int(correct), total


def clean_accuracy(model: torch.nn.Module, data: Data, *, batch_size: int = 256,
                   device: torch.device | str | None = None) -> float:
    """Fraction of samples of ``data`` that ``model`` classifies correctly (eval mode)."""
    correct, total = _correct_counts(model, data, (), batch_size, device)
    return correct / total


def robust_accuracy(
    model: torch.nn.Module,
    data: Data,
    attack: Attack | Sequence[Attack] | None = None,
    *,
    eps: float | None = None,
    steps: int = 20,
    restarts: int = 1,
    norm: str = "linf",
    lower: float | torch.Tensor | None = None,
    upper: float | torch.Tensor | None = None,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> float:
    """Worst-case accuracy per sample over the clean input and every attack given.

    Parameters
    ----------
    attack
        An attack ``(model, x, y) -> x_adv`` (e.g. ``PGD(eps=0.2, steps=50, restarts=5)``), a
        sequence of them, or None for ``PGD(eps=eps, steps=steps, restarts=restarts, norm=norm,
        lower=lower, upper=upper)``.
    eps, steps, restarts, norm
        Configuration of the default PGD attack (``eps`` required when ``attack`` is None).
    lower, upper
        Input domain of the default PGD (None: [0, 1]); an explicit attack carries its own.
    """
    if attack is None:
        if eps is None:
            raise ValueError("robust_accuracy needs attack=... or eps=... (for the default PGD)")
        from robust.pgd import PGD

        attack = PGD(eps=eps, steps=steps, restarts=restarts, norm=norm,
                     lower=0.0 if lower is None else lower,
                     upper=1.0 if upper is None else upper)
    elif lower is not None or upper is not None:
        raise ValueError("lower/upper set the domain of the default PGD (attack=None); give them "
                         "to the attack itself, e.g. PGD(eps=..., lower=..., upper=...)")
    attacks = list(attack) if isinstance(attack, (list, tuple)) else [attack]
    for a in attacks:
        if not callable(a):
            raise TypeError(f"attack must be callable as attack(model, x, y), got {type(a)}")
    correct, total = _correct_counts(model, data, attacks, batch_size, device)  # type: ignore[arg-type]
    return correct / total


def autoattack_accuracy(
    model: torch.nn.Module,
    data: Data,
    *,
    eps: float | torch.Tensor,
    norm: str = "Linf",
    version: str = "standard",
    n_classes: int | None = None,
    seed: int = 0,
    lower: float | torch.Tensor = 0.0,
    upper: float | torch.Tensor = 1.0,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> float:
    """Accuracy under AutoAttack (``version="standard"``: APGD-CE, APGD-T, FAB-T, Square), worst
    case with the clean prediction, on the domain ``[lower, upper]`` and inputs of any shape
    (:func:`robust.autoattack`: the model is re-parametrised onto [0, 1]). Needs
    ``pip install torchattacks``."""
    from robust.autoattack import AutoAttack

    attack = AutoAttack(eps=eps, norm=norm, version=version, n_classes=n_classes, seed=seed,
                        lower=lower, upper=upper)
    correct, total = _correct_counts(unwrap(model), data, [attack], batch_size, device)
    return correct / total


def accuracy_vs_eps(
    model: torch.nn.Module | dict[str, torch.nn.Module],
    data: Data,
    eps_list: Sequence[float],
    *,
    steps: int = 20,
    restarts: int = 1,
    norm: str = "linf",
    lower: float | torch.Tensor = 0.0,
    upper: float | torch.Tensor = 1.0,
    batch_size: int = 256,
    json_path: str | os.PathLike | None = None,
    png_path: str | os.PathLike | None = None,
    title: str | None = None,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """PGD accuracy at every eps of ``eps_list`` (eps 0 = clean) for one model or a dict of them.

    ``lower``/``upper`` are the input domain of the attack (floats or per-channel tensors).
    Returns ``{"eps": [...], "attack": ..., "curves": {name: [accuracy, ...]}}``; writes it as
    JSON to ``json_path`` and a line plot to ``png_path`` (needs matplotlib) when given.
    """
    eps_list = [float(e) for e in eps_list]
    if not eps_list or any(not math.isfinite(e) or e < 0 for e in eps_list):
        raise ValueError(f"eps_list={eps_list!r} must be a non-empty list of finite values >= 0")
    models = model if isinstance(model, dict) else {"model": model}
    from robust.pgd import PGD

    curves = {}
    for name, net in models.items():
        curves[name] = [
            clean_accuracy(net, data, batch_size=batch_size, device=device) if e == 0 else
            robust_accuracy(net, data, PGD(eps=e, steps=steps, restarts=restarts, norm=norm,
                                           lower=lower, upper=upper),
                            batch_size=batch_size, device=device)
            for e in eps_list
        ]
    result = {"eps": eps_list, "attack": f"PGD-{steps} ({norm}, {restarts} restart(s))",
              "curves": curves}
    if json_path is not None:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=1)
    if png_path is not None:
        plot_accuracy_vs_eps(result, png_path, title=title)
    return result


def plot_accuracy_vs_eps(result: dict[str, Any], png_path: str | os.PathLike,
                         title: str | None = None) -> None:
    """Line plot of :func:`accuracy_vs_eps`'s result to ``png_path`` (matplotlib, no pyplot)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("the accuracy-vs-eps plot needs matplotlib: pip install matplotlib") \
            from err
    fig = Figure(figsize=(5, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, accs in result["curves"].items():
        ax.plot(result["eps"], [100 * a for a in accs], marker="o", label=name)
    ax.set_xlabel("eps (L-inf, inputs in [0, 1])")
    ax.set_ylabel(f"accuracy under {result['attack']} (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
