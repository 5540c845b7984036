"""Seeded test streams of the detector oracle tests (test_adwin, test_kswin)."""

from __future__ import annotations

import numpy as np

KINDS = ("gaussian", "bernoulli", "change_points", "repeated", "scaled")


def make_stream(kind: str, seed: int, n: int, period: tuple[int, int] = (100, 800)) -> np.ndarray:
    """(n,) float64 stream of one of ``KINDS``; ``period``: the range the segment length of the
    piecewise kinds (bernoulli, change_points) is drawn from."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    if kind == "gaussian":
        return rng.normal(rng.uniform(-5, 5), rng.uniform(0.1, 10), n)
    if kind == "bernoulli":
        p = np.where((t // rng.integers(*period)) % 2 == 1, 0.8, 0.2)
        return (rng.random(n) < p).astype(np.float64)
    if kind == "change_points":
        means = rng.normal(0.0, 3.0, 8)
        return rng.normal(means[(t // rng.integers(*period)) % 8], 1.0)
    if kind == "scaled":  # extreme magnitudes: rounding must still follow River's order
        # up to (below) max_abs_input = 1e100: larger values are refused, not passed on
        scale, offset = 10.0 ** rng.integers(-300, 100, size=2)
        return offset * rng.choice([-1, 1]) + scale * rng.normal((t // 700) % 2 * 3.0, 1.0)
    # long runs of repeated values (ties, zero variance inside buckets)
    return np.repeat(rng.integers(-3, 4, n // 20 + 1), 20)[:n].astype(np.float64)
