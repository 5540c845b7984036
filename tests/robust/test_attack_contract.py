"""Contract suite over every attack: bounds, no mutation, model state, determinism, shapes.

Each attack is run through the same properties with hypothesis over input shapes ((N, D),
(N, C, L), (N, C, H, W)), batch sizes including 1, float and per-sample eps, steps, seeds, the
BatchNorm mode and scalar or per-channel domain bounds.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from robust import FGSM, PGD, TorchattacksAdapter, TRADESAttack, fgsm, pgd, trades_attack
from robust._state import preserved_state

torchattacks = pytest.importorskip("torchattacks")

K = 3  # classes


# name -> (factory(eps, steps, bn_mode, generator) -> attack(model, x, y), norm, per-sample eps ok)
ATTACKS = {
    "fgsm": (lambda e, s, b, g: FGSM(eps=e, bn_mode=b, generator=g), "linf", True),
    "fgsm_rs": (lambda e, s, b, g: FGSM(eps=e, random_start=True, bn_mode=b, generator=g),
                "linf", True),
    "pgd_linf": (lambda e, s, b, g: PGD(eps=e, steps=s, bn_mode=b, generator=g), "linf", True),
    "pgd_l2": (lambda e, s, b, g: PGD(eps=e, steps=s, norm="l2", bn_mode=b, generator=g),
               "l2", True),
    "pgd_margin": (lambda e, s, b, g: PGD(eps=e, steps=s, loss="margin", bn_mode=b,
                                          generator=g), "linf", True),
    "pgd_targeted": (lambda e, s, b, g: PGD(eps=e, steps=s, targeted=True, bn_mode=b,
                                            generator=g), "linf", True),
    "pgd_restarts": (lambda e, s, b, g: PGD(eps=e, steps=s, restarts=3, norm="l2", bn_mode=b,
                                            generator=g), "l2", True),
    "trades": (lambda e, s, b, g: TRADESAttack(eps=e, alpha=0.5 * e if not isinstance(
        e, torch.Tensor) else 0.5 * e + 1e-3, steps=s, bn_mode=b, generator=g), "linf", True),
    "adapter": (lambda e, s, b, g: TorchattacksAdapter(
        torchattacks.PGD, eps=e, alpha=e / 4, steps=s, bn_mode=b), "linf", False),
}


def make_model(shape: tuple[int, ...]) -> torch.nn.Module:
    """A small BN model for inputs of ``shape`` (N, ...) (float32)."""
    if len(shape) == 2:
        body = [torch.nn.Linear(shape[1], 6), torch.nn.BatchNorm1d(6)]
        feat = 6
    elif len(shape) == 3:
        body = [torch.nn.Conv1d(shape[1], 4, 3, padding=1), torch.nn.BatchNorm1d(4)]
        feat = 4 * shape[2]
    else:
        body = [torch.nn.Conv2d(shape[1], 4, 3, padding=1), torch.nn.BatchNorm2d(4)]
        feat = 4 * shape[2] * shape[3]
    model = torch.nn.Sequential(*body, torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(feat, K))
    with torch.no_grad():  # non-trivial running statistics to notice any update
        bn = model[1]
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.9, 1.1)
        bn.num_batches_tracked.fill_(7)
    # caller state the attack must restore: train mode with one submodule in eval, a gradient
    # on one parameter, a frozen parameter
    model.train()
    model[2].eval()
    model[0].weight.grad = torch.randn_like(model[0].weight)
    model[-1].bias.requires_grad_(False)
    return model


def snapshot(model: torch.nn.Module) -> dict:
    return {
        "modes": [m.training for m in model.modules()],
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "flags": [p.requires_grad for p in model.parameters()],
    }


def assert_same_state(model: torch.nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert after["modes"] == before["modes"]
    assert after["flags"] == before["flags"]
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k
    for a, b in zip(after["grads"], before["grads"]):
        assert (a is None and b is None) or torch.equal(a, b)


SHAPES = st.sampled_from([(5,), (2, 6), (2, 3, 3)])  # sample shapes: D, (C, L), (C, H, W)


@st.composite
def cases(draw, per_sample_ok=True, domains=True):
    sample = draw(SHAPES)
    n = draw(st.integers(1, 4))
    bn_mode = draw(st.sampled_from(["eval", "train"])) if n >= 2 else "eval"
    steps = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    per_sample = per_sample_ok and draw(st.booleans())
    per_channel = domains and len(sample) >= 2 and draw(st.booleans())
    return (n, *sample), bn_mode, steps, seed, per_sample, per_channel


def build(case):
    shape, bn_mode, steps, seed, per_sample, per_channel = case
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    y = torch.randint(0, K, (shape[0],), generator=g)
    if per_channel:  # per-channel domain [lower_c, upper_c], as for a model normalising inside
        c = shape[1]
        lower = -torch.rand(c, *[1] * (len(shape) - 2), generator=g)
        upper = 1.0 + torch.rand(c, *[1] * (len(shape) - 2), generator=g)
        x = lower + (upper - lower) * x
    else:
        lower, upper = 0.0, 1.0
    eps = torch.rand(shape[0], generator=g) * 0.3 if per_sample else 0.1
    torch.manual_seed(seed)
    model = make_model(shape)
    return x, y, eps, lower, upper, model, bn_mode, steps, seed


def run(name, x, y, eps, lower, upper, model, bn_mode, steps, seed):
    factory, norm, _ = ATTACKS[name]
    if name == "adapter":
        torch.manual_seed(seed)  # torchattacks draws from the global generator
        return factory(eps, steps, bn_mode, None)(model, x, y), norm
    attack = factory(eps, steps, bn_mode, torch.Generator().manual_seed(seed))
    attack.config.update(lower=lower, upper=upper)
    return attack(model, x, y), norm


def distance(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


@pytest.mark.parametrize("name", list(ATTACKS))
@given(data=st.data())
def test_contract(name, data):
    case = data.draw(cases(per_sample_ok=ATTACKS[name][2], domains=name != "adapter"))
    x, y, eps, lower, upper, model, bn_mode, steps, seed = build(case)
    x0, y0, before = x.clone(), y.clone(), snapshot(model)

    x_adv, norm = run(name, x, y, eps, lower, upper, model, bn_mode, steps, seed)

    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and x_adv.device == x.device
    assert not x_adv.requires_grad
    eps_t = torch.as_tensor(eps).expand(x.shape[0])
    assert (distance(x_adv - x, norm) <= eps_t + 1e-6).all()
    assert (x_adv >= torch.as_tensor(lower) - 1e-6).all()
    assert (x_adv <= torch.as_tensor(upper) + 1e-6).all()
    assert torch.equal(x, x0) and torch.equal(y, y0)  # inputs not mutated
    assert_same_state(model, before)
    # same seed -> same output (also checks the state left behind changes nothing)
    again, _ = run(name, x, y, eps, lower, upper, model, bn_mode, steps, seed)
    assert torch.equal(again, x_adv)


class RaisingModel(torch.nn.Module):
    """Wraps a model and raises on the ``fail_at``-th forward (after running it)."""

    def __init__(self, inner: torch.nn.Module, fail_at: int):
        super().__init__()
        self.inner, self.fail_at, self.calls = inner, fail_at, 0

    def forward(self, x):
        self.calls += 1
        out = self.inner(x)  # BN in train mode has updated running stats by now
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return out


@pytest.mark.parametrize("name", list(ATTACKS))
@pytest.mark.parametrize("bn_mode", ["eval", "train"])
def test_state_restored_when_attack_raises(name, bn_mode):
    torch.manual_seed(0)
    x, y = torch.rand(4, 2, 6), torch.randint(0, K, (4,))
    model = RaisingModel(make_model(x.shape), fail_at=1 if name.startswith("fgsm") else 3)
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        run(name, x, y, 0.1, 0.0, 1.0, model, bn_mode, 3, 0)
    assert model.calls == model.fail_at
    assert_same_state(model, before)


@pytest.mark.parametrize("bn_mode", ["eval", "train"])
def test_bn_mode_is_used(bn_mode):
    """train mode: batch statistics (output depends on the batch); eval: running statistics."""
    seen = []
    torch.manual_seed(0)
    model = make_model((4, 5))
    model[1].register_forward_hook(lambda m, i, o: seen.append(m.training))
    pgd(model, torch.rand(4, 5), torch.zeros(4, dtype=torch.long), eps=0.1, steps=2,
        bn_mode=bn_mode)
    assert seen == [bn_mode == "train"] * 2
    assert model[1].training is True  # restored


def test_preserved_state_restores_replaced_buffer():
    model = torch.nn.BatchNorm1d(3)
    original = model.running_mean
    with preserved_state(model, "train"):
        model.running_mean = torch.full((3,), 5.0)
    assert model.running_mean is original and torch.equal(original, torch.zeros(3))


def test_float_eps_equals_per_sample_eps():
    torch.manual_seed(0)
    model = make_model((3, 2, 6))
    x, y = torch.rand(3, 2, 6), torch.randint(0, K, (3,))
    a = pgd(model, x, y, eps=0.1, generator=torch.Generator().manual_seed(1))
    b = pgd(model, x, y, eps=torch.full((3,), 0.1), generator=torch.Generator().manual_seed(1))
    assert torch.allclose(a, b, atol=1e-7)


def test_zero_eps_returns_input():
    torch.manual_seed(0)
    model = make_model((3, 5))
    x, y = torch.rand(3, 5), torch.randint(0, K, (3,))
    for attack in (fgsm, pgd):
        assert torch.equal(attack(model, x, y, eps=0.0), x)
    assert torch.equal(pgd(model, x, y, eps=0.0, alpha=0.0), x)  # eps warm-up at 0
    assert torch.equal(trades_attack(model, x, eps=0.0, alpha=0.1), x)


def test_l2_random_start_is_inside_the_ball_not_on_the_sphere():
    """One step of size ~0 from the L2 random start: radii spread as eps * U**(1/d)."""
    model = torch.nn.Linear(2, K)  # d = 2: radius**2 / eps**2 ~ U(0, 1)
    x = torch.full((4000, 2), 0.5)
    y = torch.zeros(4000, dtype=torch.long)
    x_adv = pgd(model, x, y, eps=0.2, alpha=1e-12, steps=1, norm="l2",
                generator=torch.Generator().manual_seed(0))
    r2 = ((x_adv - x).norm(dim=1) / 0.2) ** 2
    assert (r2 <= 1 + 1e-5).all()
    assert abs(r2.mean().item() - 0.5) < 0.03 and (r2 < 0.5).float().mean().item() > 0.45


def test_restarts_keep_the_worst_case_per_sample():
    """The restart result's loss is >= the single run's loss for every not-yet-fooled sample."""
    torch.manual_seed(0)
    model = make_model((8, 5)).eval()
    x, y = torch.rand(8, 5), torch.randint(0, K, (8,))
    kw = dict(eps=0.05, steps=2, generator=None)
    torch.manual_seed(3)
    single = pgd(model, x, y, **kw)
    torch.manual_seed(3)  # the first restart draws the same start as `single`
    multi = pgd(model, x, y, restarts=4, **kw)
    with torch.no_grad():
        l1 = torch.nn.functional.cross_entropy(model(single), y, reduction="none")
        l4 = torch.nn.functional.cross_entropy(model(multi), y, reduction="none")
        fooled = model(multi).argmax(1) != y
    assert (fooled | (l4 >= l1 - 1e-6)).all()


@pytest.mark.parametrize("cls,kw", [(FGSM, dict(eps=0.1)), (PGD, dict(eps=0.1, norm="l2")),
                                    (TRADESAttack, dict(eps=0.1, alpha=0.01))])
def test_classes_store_config_and_pickle(cls, kw):
    attack = cls(**kw)
    assert attack.config == kw
    clone = pickle.loads(pickle.dumps(attack))
    assert clone.config == kw and repr(clone) == repr(attack)
    with pytest.raises(TypeError, match="unknown option"):
        cls(**kw, epsilon=0.1)


def test_adapter_caches_per_model_and_pickles():
    adapter = TorchattacksAdapter(torchattacks.FGSM, eps=0.1)
    m1, m2 = torch.nn.Linear(3, K), torch.nn.Linear(3, K)
    assert adapter.attack_for(m1) is adapter.attack_for(m1)
    assert adapter.attack_for(m2) is not adapter.attack_for(m1)
    assert adapter.attack_for(m2).model is m2
    x, y = torch.rand(2, 3), torch.tensor([0, 1])
    clone = pickle.loads(pickle.dumps(adapter))
    assert torch.equal(clone(copy.deepcopy(m1), x, y), adapter(m1, x, y))
    via_lambda = TorchattacksAdapter(lambda m: torchattacks.FGSM(m, eps=0.1))
    assert torch.equal(via_lambda(m1, x, y), adapter(m1, x, y))
