"""``compile=True``: the update step under torch.compile, with a clean fallback to eager.

Compiling on this CPU takes about a minute, so the CPU tests replace ``torch.compile`` with
stand-ins that fail (at compile time, or on the first call) and check that the attack falls back
to the eager step with a warning and the same result. The compiled-vs-eager comparison itself
runs on CUDA (marked ``gpu``).
"""

from __future__ import annotations

import importlib

import pytest
import torch

from robust import pgd

pgd_module = importlib.import_module("robust.pgd")


def _setup():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 2, 0])
    return model, x, y


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.setattr(pgd_module, "_COMPILED", {})


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_compile_unavailable_falls_back(monkeypatch, norm):
    def no_compile(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", no_compile)
    model, x, y = _setup()
    ref = pgd(model, x, y, eps=0.1, norm=norm, generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="torch.compile unavailable"):
        out = pgd(model, x, y, eps=0.1, norm=norm, compile=True,
                  generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, ref)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_compiled_step_failing_on_first_call_falls_back(monkeypatch, norm):
    calls = []

    def broken_compile(fn, **kwargs):
        def compiled(*args):
            calls.append(1)
            args[0].add_(123.0)  # a partial write before failing must be undone
            raise RuntimeError("inductor: no C++ compiler")

        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    model, x, y = _setup()
    ref = pgd(model, x, y, eps=0.1, norm=norm, generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="torch.compile failed"):
        out = pgd(model, x, y, eps=0.1, norm=norm, compile=True,
                  generator=torch.Generator().manual_seed(0))
    assert calls == [1]  # tried once, then eager for good
    assert torch.equal(out, ref)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_compiled_step_matches_eager_cuda(norm):
    model, x, y = _setup()
    model, x, y = model.cuda(), x.cuda(), y.cuda()
    ref = pgd(model, x, y, eps=0.1, norm=norm,
              generator=torch.Generator(device="cuda").manual_seed(0))
    out = pgd(model, x, y, eps=0.1, norm=norm, compile=True,
              generator=torch.Generator(device="cuda").manual_seed(0))
    assert (out - ref).abs().max().item() <= 1e-6
