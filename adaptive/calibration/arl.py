"""Estimation of a detector's in-control average run length (ARL0) by simulation.

ARL0 is the mean number of in-control values a detector reads, from a fresh start, up to and
including its first (false) alarm. It is estimated by simulation on the fleet kernels: many null
streams (Gaussian, Bernoulli, or bootstrapped from a reference sample of in-control data) run at
once, for a whole grid of candidate parameter values in one pass (:func:`adaptive.calibrate`
searches a threshold on such grids).

Which run lengths. After every drift alarm the simulation re-initialises the stream's state
(the detector's ``_init`` kernel), so every run length starts from a fresh detector and the runs
of one stream are i.i.d.: the textbook ARL0. For River's detectors this is exactly what they do
themselves (reset on the update after a drift), so counting their alarms over a long null stream
measures the same thing. A stream of ``max_steps`` values therefore yields several complete run
lengths and one right-censored one.

Estimator. With ``K`` alarms over a total exposure of ``N`` simulated values (all streams, the
censored tails included), ``ARL0 = N / K``: the maximum-likelihood estimate for censored
geometric (exponential) run lengths, and the renewal-reward ratio estimate for any run-length
distribution (its bias is of order ``ARL0 / max_steps``, small when streams are long). The
confidence interval is the union of two intervals: the exact Poisson interval for the alarm rate
(chi-square quantiles from the exact regularised incomplete gamma function, no scipy) and the
delta-method interval for the ratio from the between-stream variance of the alarm counts (valid
when run lengths are not geometric). ``K = 0`` gives ``ARL0 = inf`` with a finite lower bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive._checks import check_int, check_number
from adaptive.calibration.null_models import check_model, check_reference, null_values
from adaptive.drift._drivers import kernel
from adaptive.drift.base import DRIFT, Detector
from adaptive.drift.fleet import Fleet

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

_CHUNK = 1 << 22  # values generated per block (S * T), 32 MiB of float64


try:  # the simulation loop is compiled per process, never cached on disk: numba's cache of a
    # function taking other jitted functions as arguments can load entries whose environment
    # points to no module (AttributeError in numba.core.environment._rebuild_env)
    import numba

    _uncached_kernel = numba.njit(cache=False)
except ImportError:  # pragma: no cover - numba is a dependency
    _uncached_kernel = kernel


@_uncached_kernel
def _simulate(step, init, state, params, values, col, alarms):
    """Run S streams on a block of null values, re-initialising a stream after each drift.

    state (S, F), params (S, P), values (R, T) float64, col (S,) int64: the row of ``values``
    that stream s reads; alarms (S,) int64: drift counts, incremented in place.
    """
    n_steps = values.shape[1]
    for s in range(state.shape[0]):
        st = state[s]
        p = params[s]
        row = values[col[s]]
        for t in range(n_steps):
            if step(st, row[t], p) == DRIFT:
                alarms[s] += 1
                init(st, p)


def _gamma_p(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x): a power series below a + 1, a continued
    fraction (modified Lentz) above, both to double precision."""
    if x <= 0.0:
        return 0.0
    log_prefactor = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-16:
            n += 1.0
            term *= x / n
            total += term
        return min(1.0, total * math.exp(log_prefactor))
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return max(0.0, 1.0 - math.exp(log_prefactor) * h)


def _chi2_ppf(q: float, df: float) -> float:
    """Chi-square quantile, by bisection on the exact CDF P(df/2, x/2) (no scipy needed)."""
    if df <= 0:
        return 0.0
    lo, hi = 0.0, max(1.0, df)
    while _gamma_p(df / 2.0, hi / 2.0) < q:
        hi *= 2.0
    for _ in range(200):  # bisection to a relative width of 1e-14
        mid = 0.5 * (lo + hi)
        if _gamma_p(df / 2.0, mid / 2.0) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-14 * hi:
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class ArlEstimate:
    """ARL0 estimate from ``n_alarms`` alarms over ``n_streams`` null streams of ``max_steps``."""

    arl0: float
    ci_low: float
    ci_high: float
    level: float
    n_alarms: int
    n_streams: int
    max_steps: int

    @property
    def n_steps(self) -> int:
        """Total simulated values (the exposure)."""
        return self.n_streams * self.max_steps

    @property
    def rel_se(self) -> float:
        """Relative standard error of ``arl0`` read off the interval: the width of the log
        interval over ``2 z`` (at least the Poisson value ``1 / sqrt(n_alarms)``)."""
        if not self.n_alarms or math.isinf(self.ci_high):
            return math.inf
        z = NormalDist().inv_cdf(0.5 + self.level / 2)
        return math.log(self.ci_high / self.ci_low) / (2 * z)


def _estimate(alarms: np.ndarray, max_steps: int, level: float) -> ArlEstimate:
    """alarms (R,) counts of R streams of ``max_steps`` values each -> ARL0 and its CI."""
    r = alarms.size
    k = int(alarms.sum())
    exposure = float(r) * max_steps
    alpha = 1.0 - level
    # exact Poisson interval for the rate K / exposure
    rate_lo = _chi2_ppf(alpha / 2, 2 * k) / (2 * exposure)
    rate_hi = _chi2_ppf(1 - alpha / 2, 2 * k + 2) / (2 * exposure)
    lo, hi = 1.0 / rate_hi, (1.0 / rate_lo if rate_lo > 0 else math.inf)
    if k and r > 1:  # delta-method interval from the between-stream spread of the counts
        z = NormalDist().inv_cdf(1 - alpha / 2)
        mean = k / r
        se = float(np.std(alarms, ddof=1)) / math.sqrt(r)
        lo = min(lo, max_steps / (mean + z * se))
        hi = max(hi, max_steps / (mean - z * se) if mean > z * se else math.inf)
    arl = exposure / k if k else math.inf
    return ArlEstimate(arl, lo, hi, level, k, r, int(max_steps))


@dataclass(frozen=True)
class _Null:
    """How null values are drawn: bootstrap from ``reference`` or the model."""

    model: str
    model_params: dict[str, float]
    reference: np.ndarray | None

    def draw(self, rng: np.random.Generator, n_streams: int, n_steps: int) -> np.ndarray:
        return null_values(n_streams, n_steps, rng, model=self.model,
                           model_params=self.model_params, reference=self.reference)


def _resolve_null(detector: Detector, reference: Any, model: str | None,
                  model_params: dict[str, Any] | None) -> _Null:
    if reference is not None:
        if model is not None or model_params is not None:
            raise ValueError("give either reference or model/model_params, not both")
        ref = check_reference(reference)
        if detector._binary and not np.isin(ref, (0.0, 1.0)).all():
            raise ValueError(
                f"reference must hold only 0/1 values for the binary detector "
                f"{type(detector).__name__}"
            )
        return _Null("bootstrap", {}, ref)
    if model is None:
        model = "bernoulli" if detector._binary else "gaussian"
    params = check_model(model, model_params)
    if detector._binary and model != "bernoulli":
        raise ValueError(
            f"model={model!r}: the binary detector {type(detector).__name__} needs "
            f"model='bernoulli' or a 0/1 reference"
        )
    return _Null(model, params, None)


def _simulate_grid(detector: Detector, param: str | None, grid: np.ndarray, null: _Null,
                   n_streams: int, max_steps: int, seed: np.random.SeedSequence) -> np.ndarray:
    """Alarm counts (G, R) of G candidate values x R null streams of ``max_steps`` values.

    All candidates read the same R streams (common random numbers).
    """
    g, r = grid.size, n_streams
    per_stream = {} if param is None else {param: np.repeat(grid, r)}
    fleet = Fleet(detector, g * r, **per_stream)  # stream s = i * R + j; validates each value
    state, params = fleet._state, fleet._params  # (G*R, F), (G*R, P), run in place below
    step, init = type(detector)._step, type(detector)._init
    col = np.tile(np.arange(r, dtype=np.int64), g)  # (G*R,) row of the values block
    alarms = np.zeros(g * r, dtype=np.int64)
    rng = np.random.default_rng(seed)
    block = max(1, _CHUNK // r)  # time steps per generated block
    for t0 in range(0, max_steps, block):
        values = null.draw(rng, r, min(block, max_steps - t0))  # (R, T_block)
        _simulate(step, init, state, params, values, col, alarms)
    return alarms.reshape(g, r)


def _check_detector(detector: Any) -> Detector:
    if not isinstance(detector, Detector):
        raise TypeError(f"detector must be an adaptive Detector, got {type(detector).__name__}")
    return detector


def _check_budget(n_streams: Any, max_steps: Any, level: Any) -> None:
    check_int("n_streams", n_streams, 2)
    check_int("max_steps", max_steps, 1)
    check_number("level", level, 0, 1, high_open=True)


def estimate_arl0(
    detector: Detector,
    *,
    reference: ArrayLike | None = None,
    model: str | None = None,
    model_params: dict[str, Any] | None = None,
    n_streams: int = 200,
    max_steps: int = 10_000,
    seed: int | np.random.SeedSequence | None = None,
    level: float = 0.95,
) -> ArlEstimate:
    """Estimate a detector's ARL0 on simulated null streams (see the module docstring).

    Parameters
    ----------
    detector
        The configured detector (not updated; a fleet of clones runs).
    reference
        1-D sample of in-control data (finite, at least 30 values); null streams are drawn from
        it with replacement. Mutually exclusive with ``model``.
    model, model_params
        ``"gaussian"`` (``loc`` 0, ``scale`` 1) or ``"bernoulli"`` (``p`` 0.2); by default
        Bernoulli for binary detectors, Gaussian otherwise.
    n_streams, max_steps
        Number of simulated streams and their length.
    seed
        Seed of the null values (reproducible).
    level
        Confidence level of the interval.

    Examples
    --------
    >>> from adaptive import PageHinkley
    >>> est = estimate_arl0(PageHinkley(threshold=20.0), n_streams=20, max_steps=5000, seed=0)
    >>> est.n_alarms, round(est.arl0, 1)
    (385, 259.7)
    >>> est.ci_low < est.arl0 < est.ci_high
    True
    """
    det = _check_detector(detector)
    _check_budget(n_streams, max_steps, level)
    null = _resolve_null(det, reference, model, model_params)
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # a one-value grid: the detector's own parameters
    alarms = _simulate_grid(det, None, np.zeros(1), null, int(n_streams), int(max_steps), seq)
    return _estimate(alarms[0], int(max_steps), level)
