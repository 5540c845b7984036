"""Hypothesis properties of the threat-model kernels in ``robust.threat``.

- projection lands in the ball and the domain, is idempotent, and leaves points already inside
  untouched (L-inf exactly, L2 up to rounding);
- random starts lie inside the ball and are reproducible from a generator;
- the single-clamp L-inf projection equals torchattacks' two-step clamp;
- L2 normalisation gives unit-norm rows (or zero rows for a zero gradient).
"""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from robust.threat import (
    domain_bounds,
    l2_normalise,
    linf_box,
    per_sample,
    project_,
    random_start,
)


@st.composite
def setups(draw):
    shape = draw(st.sampled_from([(1, 4), (3, 5), (2, 2, 3), (4, 2, 2, 2)]))
    seed = draw(st.integers(0, 2**16))
    norm = draw(st.sampled_from(["linf", "l2"]))
    per = draw(st.booleans())
    scale = draw(st.floats(0.0, 2.0))
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    eps = torch.rand(shape[0], generator=g, dtype=torch.float64) * 0.5 if per else 0.25
    far = x + scale * torch.randn(shape, generator=g, dtype=torch.float64)  # anywhere
    return x, per_sample(eps, "eps", x), norm, far, g


def _dist(d, norm):
    flat = d.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


def _eps_rows(eps, n):
    return torch.as_tensor(eps, dtype=torch.float64).reshape(-1).expand(n)


@given(setups())
def test_projection_lands_in_ball_and_domain_and_is_idempotent(setup):
    x, eps, norm, far, _ = setup
    lo, hi = domain_bounds(0.0, 1.0, x)
    box = linf_box(x, eps, lo, hi) if norm == "linf" else (None, None)
    p = project_(far.clone(), x, eps, norm, lo, hi, *box)
    assert (_dist(p - x, norm) <= _eps_rows(eps, x.shape[0]) + 1e-12).all()
    assert (p >= 0).all() and (p <= 1).all()
    again = project_(p.clone(), x, eps, norm, lo, hi, *box)
    assert torch.allclose(again, p, atol=1e-12, rtol=0)


@given(setups())
def test_points_inside_are_unchanged(setup):
    x, eps, norm, _, g = setup
    lo, hi = domain_bounds(0.0, 1.0, x)
    inside = project_(x + 0.5 * random_start(x, eps, norm, g), x, eps, norm, lo, hi)
    box = linf_box(x, eps, lo, hi) if norm == "linf" else (None, None)
    out = project_(inside.clone(), x, eps, norm, lo, hi, *box)
    assert torch.allclose(out, inside, atol=1e-12, rtol=0)


@given(setups())
def test_linf_single_clamp_equals_torchattacks_two_step_clamp(setup):
    x, eps, _, far, _ = setup
    lo, hi = domain_bounds(0.0, 1.0, x)
    ours = project_(far.clone(), x, eps, "linf", lo, hi, *linf_box(x, eps, lo, hi))
    theirs = torch.clamp(x + torch.clamp(far - x, -eps, eps), 0, 1)  # torchattacks' PGD order
    assert torch.allclose(ours, theirs, atol=1e-12, rtol=0)


@given(setups())
def test_random_start_inside_ball_and_reproducible(setup):
    x, eps, norm, _, _ = setup
    a = random_start(x, eps, norm, torch.Generator().manual_seed(7))
    b = random_start(x, eps, norm, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == x.dtype
    assert (_dist(a, norm) <= _eps_rows(eps, x.shape[0]) + 1e-12).all()


@given(st.integers(1, 5), st.integers(1, 6), st.integers(0, 2**16), st.booleans())
def test_l2_normalise_unit_rows(n, d, seed, zero_row):
    g = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if zero_row:
        g[0] = 0
    norms = l2_normalise(g.clone()).norm(dim=1)
    expected = torch.ones(n, dtype=torch.float64)
    if zero_row:
        expected[0] = 0
    assert torch.allclose(norms, expected, atol=1e-8)


def test_per_channel_domain_bounds_broadcast():
    x = torch.rand(2, 3, 4, 4) * 2 - 1  # in [-1, 1]
    lo, hi = domain_bounds(torch.full((3, 1, 1), -1.0), torch.full((3, 1, 1), 1.0), x)
    assert lo.shape == (1, 3, 1, 1) and hi.shape == (1, 3, 1, 1)
