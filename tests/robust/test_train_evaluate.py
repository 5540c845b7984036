"""robust.evaluate (clean/robust accuracy, AutoAttack, accuracy-vs-eps), robust.data, models."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from robust import (
    PGD,
    SmallCNN,
    accuracy_vs_eps,
    autoattack_accuracy,
    build_model,
    clean_accuracy,
    robust_accuracy,
)
from robust.data import import_dataset, load_dataset, load_digits_split


def _problem(n=40, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    with torch.no_grad():  # centre the logits on inputs in [0, 1]: all classes predicted
        model[1].bias.copy_(-0.5 * model[1].weight.sum(1))
    x = torch.rand(n, 1, 4, 4)
    y = model(x).argmax(1).detach()
    y[:5] = (y[:5] + 1) % 3  # five wrong labels: clean accuracy 35/40
    return model, x, y


def test_clean_accuracy_matches_manual_count_for_every_data_form():
    model, x, y = _problem()
    expected = float((model(x).argmax(1) == y).float().mean())
    assert expected == pytest.approx(35 / 40)
    ds = TensorDataset(x, y)
    for data in ((x, y), ds, DataLoader(ds, batch_size=7)):
        assert clean_accuracy(model, data, batch_size=9) == pytest.approx(expected)


def test_robust_accuracy_is_the_worst_case_per_sample():
    model, x, y = _problem()
    pred = model(x).argmax(1).detach()

    def replace_rows(lo, hi):
        """An 'attack' that swaps rows lo..hi-1 for an input predicted as another class."""
        def attack(m, xb, yb):
            out = xb.clone()
            for i in range(lo, hi):
                out[i] = x[(pred != yb[i]).nonzero()[0, 0]]
            return out
        return attack

    def identity(m, xb, yb):
        return xb.clone()

    correct = (pred == y).float()
    assert robust_accuracy(model, (x, y), identity, batch_size=40) == pytest.approx(35 / 40)
    first = robust_accuracy(model, (x, y), replace_rows(0, 20), batch_size=40)
    assert first == pytest.approx(float(correct[20:].sum()) / 40)
    both = robust_accuracy(model, (x, y), [replace_rows(0, 20), replace_rows(20, 40)],
                           batch_size=40)
    assert both == 0.0  # every sample is fooled by one of the two
    # PGD with restarts is at least as strong as one run, and never above clean accuracy
    r1 = robust_accuracy(model, (x, y), PGD(eps=0.1, steps=5, restarts=1))
    r3 = robust_accuracy(model, (x, y), PGD(eps=0.1, steps=5, restarts=3))
    assert r3 <= 35 / 40 and r1 <= 35 / 40
    assert robust_accuracy(model, (x, y), eps=0.1, steps=5) <= 35 / 40


def test_evaluation_restores_model_mode_and_uses_eval_mode():
    torch.manual_seed(0)
    model = SmallCNN(width=4)
    model.train()
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    before = model.features[1].running_mean.clone()
    robust_accuracy(model, (x, y), PGD(eps=0.1, steps=2))
    clean_accuracy(model, (x, y))
    assert model.training
    assert torch.equal(before, model.features[1].running_mean)  # no BN update in evaluation


def test_autoattack_accuracy_against_torchattacks_directly():
    """On [0, 1] images ours is torchattacks' AutoAttack (4 classes: its DLR loss needs 4)."""
    torchattacks = pytest.importorskip("torchattacks")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4))
    x = torch.rand(16, 1, 4, 4)
    y = model(x).argmax(1).detach()
    ours = autoattack_accuracy(model, (x, y), eps=0.3, n_classes=4, seed=0)
    aa = torchattacks.AutoAttack(model, norm="Linf", eps=0.3, version="standard", n_classes=4,
                                 seed=0)
    x_adv = aa(x, y)
    with torch.no_grad():
        theirs = float(((model(x_adv).argmax(1) == y) & (model(x).argmax(1) == y)).float().mean())
    assert ours == pytest.approx(theirs)
    assert ours < clean_accuracy(model, (x, y))


def test_autoattack_with_too_few_classes_says_why():
    pytest.importorskip("torchattacks")
    model, x, y = _problem(n=4)
    with pytest.raises(ValueError, match=">= 4 classes"):
        autoattack_accuracy(model, (x, y), eps=0.1)
    with pytest.raises(ValueError, match="n_classes=10"):
        autoattack_accuracy(model, (x, y), eps=0.1, n_classes=10)


def test_autoattack_without_torchattacks_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchattacks", None)
    model, x, y = _problem(n=4)
    with pytest.raises(ImportError, match="pip install torchattacks"):
        autoattack_accuracy(model, (x, y), eps=0.1)


def test_accuracy_vs_eps_writes_json_and_png(tmp_path):
    model, x, y = _problem()
    res = accuracy_vs_eps({"a": model}, (x, y), [0.0, 0.05, 0.3], steps=3,
                          json_path=tmp_path / "c.json", png_path=tmp_path / "c.png")
    accs = res["curves"]["a"]
    assert accs[0] == pytest.approx(clean_accuracy(model, (x, y)))
    assert accs[0] >= accs[1] >= accs[2]
    assert json.loads((tmp_path / "c.json").read_text())["eps"] == [0.0, 0.05, 0.3]
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_without_matplotlib_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    model, x, y = _problem(n=4)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        accuracy_vs_eps(model, (x, y), [0.0], png_path=tmp_path / "c.png")


@pytest.mark.parametrize("call, exc, words", [
    (lambda m, d: robust_accuracy(m, d), ValueError, "eps"),
    (lambda m, d: robust_accuracy(m, d, attack=3), TypeError, "attack"),
    (lambda m, d: clean_accuracy(m, d, batch_size=0), ValueError, "batch_size"),
    (lambda m, d: clean_accuracy(m, iter([d])), TypeError, "data"),
    (lambda m, d: clean_accuracy(m, (d[0], d[1][:3])), ValueError, "rows"),
    (lambda m, d: accuracy_vs_eps(m, d, [-0.1]), ValueError, "eps_list"),
    (lambda m, d: autoattack_accuracy(m, d, eps=0.1, norm="L1"), ValueError, "norm"),
    (lambda m, d: autoattack_accuracy(m, d, eps=-1.0), ValueError, "eps"),
])
def test_evaluate_bad_input(call, exc, words):
    model, x, y = _problem(n=4)
    with pytest.raises(exc, match=words):
        call(model, (x, y))


def test_digits_split_is_stratified_scaled_and_seeded():
    train, test = load_digits_split()
    xt, yt = train.tensors
    xs, ys = test.tensors
    assert xt.shape == (1347, 1, 8, 8) and xs.shape == (450, 1, 8, 8)
    assert xt.dtype == torch.float32 and 0.0 <= float(xt.min()) and float(xt.max()) == 1.0
    share_train = torch.bincount(yt, minlength=10) / len(yt)
    share_test = torch.bincount(ys, minlength=10) / len(ys)
    assert (share_train - share_test).abs().max() < 0.01  # stratified
    again, _ = load_digits_split()
    assert torch.equal(again.tensors[0], xt)


def make_pair():
    """A (train, test) pair for the module:attr test below."""
    return TensorDataset(torch.rand(6, 2), torch.zeros(6)), TensorDataset(torch.rand(2, 2),
                                                                        torch.zeros(2))


SINGLE = TensorDataset(torch.rand(8, 2), torch.zeros(8))


def test_module_attr_datasets(monkeypatch):
    monkeypatch.setitem(sys.modules, "robust_test_data", sys.modules[__name__])
    train, test = load_dataset("robust_test_data:make_pair")
    assert (len(train), len(test)) == (6, 2)
    train, test = load_dataset("robust_test_data:SINGLE")
    assert (len(train), len(test)) == (6, 2)  # a seeded 75/25 split
    assert import_dataset("robust_test_data:SINGLE") is SINGLE
    for spec, words in (("nosuchmodule_xyz:data", "cannot import"),
                        ("robust_test_data:missing", "no attribute"),
                        ("no_colon", "module:attr"),
                        ("robust_test_data:EPS_NOT_A_DATASET", "no attribute")):
        with pytest.raises(ValueError, match=words):
            load_dataset(spec)


def test_build_model_and_bad_name():
    assert tuple(build_model("cnn")(torch.rand(2, 1, 8, 8)).shape) == (2, 10)
    assert tuple(build_model("mlp", in_shape=(3, 4, 4), num_classes=5)(
        torch.rand(2, 3, 4, 4)).shape) == (2, 5)
    with pytest.raises(ValueError, match="model='resnet'"):
        build_model("resnet")
