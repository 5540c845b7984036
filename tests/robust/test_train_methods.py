"""Training objectives of robust: contract, learning on a tiny problem, Free-AT state, bad input."""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from robust import (
    MLP,
    NFGSM,
    PGD,
    PGDAT,
    TRADES,
    EpsWarmup,
    FastAT,
    FreeAT,
    SmallCNN,
    clean_accuracy,
    robust_accuracy,
)
from robust.data import load_digits_split
from traincore import PrecisionNotSupportedError, Supervised, Updater, fit, seed_everything

EPS = 0.15



@pytest.fixture(scope="module")
def digits():
    """600 training and 200 test digits, (N, 1, 8, 8) in [0, 1]."""
    train, test = load_digits_split()
    xt, yt = train.tensors
    xs, ys = test.tensors
    return (xt[:600], yt[:600]), (xs[:200], ys[:200])


def _train(objective, data, epochs=6, seed=0):
    seed_everything(seed)
    model = MLP(64, 10, hidden=64)
    loader = DataLoader(TensorDataset(*data), batch_size=50, shuffle=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fit(model, loader, optimizer=opt, epochs=epochs, objective=objective, progress=False)
    return model


METHODS = {
    "pgd_at": lambda: PGDAT(eps=EPS, steps=5),
    "fast_at": lambda: FastAT(eps=EPS),
    "n_fgsm": lambda: NFGSM(eps=EPS),
    "free_at": lambda: FreeAT(eps=EPS, m=3),
    "trades": lambda: TRADES(eps=EPS, steps=5, beta=6.0),
}


@pytest.fixture(scope="module")
def clean_robust_acc(digits):
    train, test = digits
    model = _train(Supervised(), train)
    assert clean_accuracy(model, test) > 0.85  # the tiny problem is learnable
    return robust_accuracy(model, test, PGD(eps=EPS, steps=10))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_improves_robust_accuracy_over_clean_training(name, digits, clean_robust_acc):
    train, test = digits
    objective = METHODS[name]()
    epochs = FreeAT.epochs_for(12, 3) if name == "free_at" else 6
    model = _train(objective, train, epochs=epochs)
    robust = robust_accuracy(model, test, PGD(eps=EPS, steps=10))
    assert robust >= clean_robust_acc + 0.15, (name, robust, clean_robust_acc)
    assert clean_accuracy(model, test) > 0.3  # still learned the task (chance: 0.1)


def _cnn_step(objective, *, train_mode=True, precision="fp32", channels_last=False, seed=0):
    torch.manual_seed(seed)
    model = SmallCNN(width=4)
    model.train(train_mode)
    x = torch.rand(16, 1, 8, 8)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (16,))
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.05), precision=precision)
    out = objective.step(model, (x, y), updater)
    return model, updater, out


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("train_mode", [True, False])
def test_step_contract_mode_and_batchnorm_updates(name, train_mode):
    objective = METHODS[name]()
    model, updater, out = _cnn_step(objective, train_mode=train_mode)
    assert model.training is train_mode  # the attack restores the mode it found
    replays = 3 if name == "free_at" else 1
    assert updater.step_count == replays
    assert out.loss.dim() == 0 and not out.loss.requires_grad and torch.isfinite(out.loss)
    assert out.output.shape == (16, 10) and out.target.shape == (16,)
    bn = model.features[1]
    # bn_mode="eval": the attack's passes leave the running statistics alone; only the training
    # forward (one per update) counts a batch, and only in train mode
    assert int(bn.num_batches_tracked) == (replays if train_mode else 0)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_step_under_reduced_precision_and_channels_last(name, precision):
    try:
        model, updater, out = _cnn_step(METHODS[name](), precision=precision, channels_last=True)
    except PrecisionNotSupportedError:
        pytest.skip(f"{precision} not supported on this CPU")
    assert torch.isfinite(out.loss)
    assert updater.step_count >= 1


def test_pgd_at_clean_weight_mixes_losses():
    # clean_weight=1 trains on clean inputs only: the same update as Supervised
    a, _, out_a = _cnn_step(PGDAT(eps=EPS, steps=2, clean_weight=1.0), seed=3)
    torch.manual_seed(3)
    b = SmallCNN(width=4)
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    b.train()
    # PGDAT forwards [x_adv, x] as one batch: BatchNorm sees both, so compare without BN
    a2 = SmallCNN(width=4, batch_norm=False)
    b2 = SmallCNN(width=4, batch_norm=False)
    b2.load_state_dict(a2.state_dict())
    ua = Updater(a2, torch.optim.SGD(a2.parameters(), lr=0.05))
    ub = Updater(b2, torch.optim.SGD(b2.parameters(), lr=0.05))
    PGDAT(eps=EPS, steps=2, clean_weight=1.0).step(a2, (x, y), ua)
    Supervised().step(b2, (x, y), ub)
    for pa, pb in zip(a2.parameters(), b2.parameters()):
        torch.testing.assert_close(pa, pb)
    assert out_a.output.shape == (16, 10)


def test_n_fgsm_is_not_clipped_to_the_eps_ball_unless_asked():
    torch.manual_seed(0)
    model = MLP(64, 10, hidden=16)
    x, y = torch.full((64, 1, 8, 8), 0.5), torch.randint(0, 10, (64,))
    d = NFGSM(eps=0.05).perturb(model, x, y) - x
    assert d.abs().max() > 0.05 + 1e-3  # beyond eps: noise 2 eps + step eps
    assert d.abs().max() <= 3 * 0.05 + 1e-6
    d_clip = NFGSM(eps=0.05, clip=1.0).perturb(model, x, y) - x
    assert d_clip.abs().max() <= 0.05 + 1e-6


def test_fast_at_fallback_is_n_fgsm_and_n_fgsm_fallback_is_pgd2():
    nf = FastAT(eps=0.3).fallback()
    assert isinstance(nf, NFGSM) and nf.eps == 0.3
    p2 = nf.fallback()
    assert isinstance(p2, PGDAT) and p2.steps == 2 and p2.eps == 0.3


# --- Free-AT --------------------------------------------------------------------------------------


def test_free_at_perturbation_step_uses_the_single_backward():
    torch.manual_seed(0)
    model = MLP(64, 10, hidden=16)
    x, y = torch.rand(8, 1, 8, 8) * 0.5 + 0.25, torch.randint(0, 10, (8,))
    # oracle: the input gradient of the first replay's loss (delta = 0) before the update
    xg = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(xg), y).backward()
    expected = 0.1 * xg.grad.sign()
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
    free = FreeAT(eps=0.1, m=1)
    free.step(model, (x, y), updater)
    assert updater.step_count == 1
    torch.testing.assert_close(free.state_dict()["delta"], expected)


def test_free_at_carries_and_resizes_the_perturbation():
    torch.manual_seed(0)
    model = MLP(64, 10, hidden=16)
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
    free = FreeAT(eps=0.1, m=2)
    free.step(model, (torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))), updater)
    first = free.state_dict()["delta"].clone()
    free.step(model, (torch.rand(3, 1, 8, 8), torch.randint(0, 10, (3,))), updater)
    carried = free.state_dict()["delta"]
    assert carried.shape == (8, 1, 8, 8)  # a smaller batch updates the first rows only
    torch.testing.assert_close(carried[3:], first[3:])
    assert not torch.equal(carried[:3], first[:3])
    free.step(model, (torch.rand(10, 1, 8, 8), torch.randint(0, 10, (10,))), updater)
    assert free.state_dict()["delta"].shape == (10, 1, 8, 8)  # zero-padded to a larger batch
    assert updater.step_count == 6


def _free_run(steps, state=None, seed=0):
    torch.manual_seed(seed)
    batches = [(torch.rand(6 - (i % 2), 1, 8, 8), torch.randint(0, 10, (6 - (i % 2),)))
               for i in range(4)]
    model = MLP(64, 10, hidden=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    updater = Updater(model, opt)
    free = FreeAT(eps=0.1, m=2)
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        updater.load_state_dict(state["updater"])
        free.load_state_dict(state["free"])
        start = state["i"]
    for i in range(start, steps):
        free.step(model, batches[i], updater)
    return model, opt, updater, free


def test_free_at_state_survives_checkpoint_resume_exactly():
    full_model, _, _, full_free = _free_run(4)
    model, opt, updater, free = _free_run(2)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "updater": updater.state_dict(), "free": free.state_dict(), "i": 2}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    resumed_model, _, _, resumed_free = _free_run(4, state=state)
    for a, b in zip(full_model.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(full_free.state_dict()["delta"], resumed_free.state_dict()["delta"])


@settings(max_examples=15)
@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=5), eps=st.floats(0.01, 0.5),
       m=st.integers(1, 3))
def test_free_at_delta_stays_in_ball_and_domain(sizes, eps, m):
    torch.manual_seed(0)
    model = MLP(4, 3, hidden=4)
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
    free = FreeAT(eps=eps, m=m)
    for n in sizes:
        x = torch.rand(n, 1, 2, 2)
        free.step(model, (x, torch.randint(0, 3, (n,))), updater)
        d = free.state_dict()["delta"]
        assert d.abs().max() <= eps + 1e-6
        assert ((x + d[:n]) >= -1e-6).all() and ((x + d[:n]) <= 1 + 1e-6).all()
    assert updater.step_count == m * len(sizes)


# --- epsilon warm-up ------------------------------------------------------------------------------


def test_eps_warmup_values_per_epoch_and_per_step():
    warm = EpsWarmup(PGDAT(eps=0.3, steps=2, alpha=0.1), epochs=3)
    scales = []
    for e in range(5):
        warm.on_epoch_start(e)
        scales.append(warm.objective.eps_scale)
    assert scales == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0, 1.0])
    warm.on_epoch_start(0)
    assert warm.objective.current_eps() == pytest.approx(0.1)
    assert warm.objective.current_alpha(1.0) == pytest.approx(0.1 / 3)  # alpha scaled too
    step = EpsWarmup(FastAT(eps=0.2), epochs=2, steps_per_epoch=2)
    assert [step.scale_at(0, t) for t in range(5)] == pytest.approx([0.25, 0.5, 0.75, 1, 1])


@given(epochs=st.integers(1, 20), epoch=st.integers(0, 40))
def test_eps_warmup_is_a_monotone_linear_ramp(epochs, epoch):
    warm = EpsWarmup(FastAT(eps=0.2), epochs=epochs)
    s, s_next = warm.scale_at(epoch), warm.scale_at(epoch + 1)
    assert 0 < s <= s_next <= 1
    assert s == pytest.approx(min(1.0, (epoch + 1) / epochs))
    assert (s == 1.0) == (epoch >= epochs - 1)


def test_eps_warmup_state_round_trip_and_step_through():
    warm = EpsWarmup(FreeAT(eps=0.2, m=1), epochs=4, steps_per_epoch=2)
    model = MLP(4, 3, hidden=4)
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.1))
    warm.on_epoch_start(0)
    for _ in range(3):
        warm.step(model, (torch.rand(5, 1, 2, 2), torch.randint(0, 3, (5,))), updater)
    assert warm.objective.eps_scale == pytest.approx(3 / 8)
    state = warm.state_dict()
    other = EpsWarmup(FreeAT(eps=0.2, m=1), epochs=4, steps_per_epoch=2)
    other.load_state_dict(state)
    assert other.state_dict()["step"] == 3
    assert torch.equal(other.objective.state_dict()["delta"], warm.objective.state_dict()["delta"])


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, exc, words", [
    (lambda: PGDAT(eps=0.0), ValueError, "eps"),
    (lambda: PGDAT(eps=-0.1), ValueError, "eps"),
    (lambda: PGDAT(eps="0.1"), TypeError, "eps"),
    (lambda: PGDAT(eps=0.1, steps=0), ValueError, "steps"),
    (lambda: PGDAT(eps=0.1, clean_weight=1.5), ValueError, "clean_weight"),
    (lambda: PGDAT(eps=0.1, norm="l1"), ValueError, "norm"),
    (lambda: PGDAT(eps=0.1, bn_mode="frozen"), ValueError, "bn_mode"),
    (lambda: FastAT(eps=0.1, alpha=0.0), ValueError, "alpha"),
    (lambda: NFGSM(eps=0.1, noise=-1.0), ValueError, "noise"),
    (lambda: FreeAT(eps=0.1, m=0), ValueError, "m=0"),
    (lambda: FreeAT(eps=torch.full((4,), 0.1)), TypeError, "eps"),
    (lambda: TRADES(eps=0.1, beta=-1.0), ValueError, "beta"),
    (lambda: TRADES(eps=float("nan")), ValueError, "eps"),
    (lambda: EpsWarmup(Supervised(), epochs=2), TypeError, "eps_scale"),
    (lambda: EpsWarmup(FastAT(eps=0.1), epochs=0), ValueError, "epochs"),
])
def test_bad_input_names_the_parameter(make, exc, words):
    with pytest.raises(exc, match=words):
        make()


def test_per_sample_eps_tensor_is_accepted():
    eps = torch.linspace(0.05, 0.2, 16)
    for obj in (PGDAT(eps=eps, steps=2), FastAT(eps=eps), NFGSM(eps=eps), TRADES(eps=eps, steps=2)):
        _, _, out = _cnn_step(obj)
        assert torch.isfinite(out.loss)


def test_pgd_at_step_matches_a_torchattacks_training_loop():
    """Oracle: one PGDAT step equals the loop users write with torchattacks' PGD (no random
    start, so both attacks are deterministic; BatchNorm in eval mode during both attacks)."""
    torchattacks = pytest.importorskip("torchattacks")
    torch.manual_seed(0)
    ours = SmallCNN(width=4).train()
    theirs = SmallCNN(width=4).train()
    theirs.load_state_dict(ours.state_dict())
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    updater = Updater(ours, torch.optim.SGD(ours.parameters(), lr=0.1))
    PGDAT(eps=0.1, alpha=0.025, steps=5, random_start=False).step(ours, (x, y), updater)
    opt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    x_adv = torchattacks.PGD(theirs, eps=0.1, alpha=0.025, steps=5, random_start=False)(x, y)
    theirs.train()
    loss = torch.nn.functional.cross_entropy(theirs(x_adv), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    for (k, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=k)
