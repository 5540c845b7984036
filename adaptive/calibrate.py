"""Calibration of a detector's threshold for a target in-control average run length (ARL0).

ARL0 is the mean number of in-control values a detector reads, from a fresh start, up to and
including its first (false) alarm. It is estimated by simulation on the fleet kernels: many null
streams (Gaussian, Bernoulli, or bootstrapped from a reference sample of in-control data) run at
once, for a whole grid of candidate parameter values in one pass.

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
(chi-square quantiles, Wilson-Hilferty approximation for more than 2 degrees of freedom) and the
delta-method interval for the ratio from the between-stream variance of the alarm counts (valid
when run lengths are not geometric). ``K = 0`` gives ``ARL0 = inf`` with a finite lower bound.

Search. The mean run length is monotone in the threshold parameter (increasing for thresholds
such as ``PageHinkley.threshold``, decreasing for confidence levels such as ``ADWIN.delta``).
The search first brackets the target on a geometric grid around the detector's current value
(extending the grid while it does not straddle the target) with 1/32 of the budget. Then each
refinement round fits a line to log ARL0 against log value by weighted least squares over every
estimate so far whose ARL0 lies within a factor 4 of the target (weights: alarm counts), solves
it for the target, and simulates a narrower grid around that prediction (1/8 of the budget in
the first refinement round, the full budget after); it stops when, after at least two
full-budget rounds, the prediction moves by less than ``tol`` in ARL0. Pooling all rounds in the
fit averages their noise instead of trusting the last one. All candidates of a round share the
same null values (common random numbers), so their estimates are ordered like the true ARL0s up
to small noise. The calibrated value's ARL0 is then re-estimated on fresh streams with the full
budget, and that estimate is what the result reports.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from adaptive.base import DRIFT, Detector, Fleet, kernel
from adaptive.synthetic import check_model, check_reference, null_values

# class name -> (threshold parameter, +1 if ARL0 grows with it / -1 if it shrinks,
#                factor between neighbouring values of the first grid)
_THRESHOLDS: dict[str, tuple[str, int, float]] = {
    "PageHinkley": ("threshold", 1, 1.5),
    "CUSUM": ("h", 1, 1.5),
    "EWMA": ("L", 1, 1.25),
    "ADWIN": ("delta", -1, 10.0),
    "KSWIN": ("alpha", -1, 10.0),
    "DDM": ("drift_threshold", 1, 1.25),
    "EDDM": ("beta", -1, 1.05),
    "FHDDM": ("confidence_level", -1, 10.0),
    "HDDM_A": ("drift_confidence", -1, 10.0),
    "HDDM_W": ("drift_confidence", -1, 10.0),
    "HDDMA": ("drift_confidence", -1, 10.0),  # HDDM_A / HDDM_W are aliases of these classes
    "HDDMW": ("drift_confidence", -1, 10.0),
}
_CHUNK = 1 << 22  # values generated per block (S * T), 32 MiB of float64
_G0, _G = 9, 5  # grid sizes: bracketing round, first refinement round (then 3)
_MAX_EXTEND, _MAX_ROUNDS = 8, 5


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
    for name, v, lo in (("n_streams", n_streams, 2), ("max_steps", max_steps, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name}={v!r} must be an integer >= {lo}")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must be in (0, 1)")


def estimate_arl0(
    detector: Detector,
    *,
    reference: Any = None,
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


@dataclass(frozen=True)
class CalibrationResult:
    """The outcome of :func:`calibrate`.

    ``detector`` is a clone of the input with ``param`` set to ``value``; ``estimate`` is its
    ARL0 measured on fresh null streams (not the ones the search used); ``history`` lists
    ``(round, value, arl0 estimate, n_alarms)`` of every candidate simulated.
    """

    detector: Detector
    param: str
    value: float
    target_arl0: float
    estimate: ArlEstimate
    n_streams: int
    max_steps: int
    n_simulated_steps: int
    rounds: int
    history: list[tuple[int, float, float, int]] = field(repr=False)

    @property
    def arl0(self) -> float:
        """Achieved ARL0 estimate (on fresh streams)."""
        return self.estimate.arl0

    @property
    def ci(self) -> tuple[float, float]:
        """Confidence interval of the achieved ARL0."""
        return (self.estimate.ci_low, self.estimate.ci_high)

    @property
    def on_target(self) -> bool:
        """Whether the confidence interval of the achieved ARL0 contains the target.

        False typically means ARL0 jumps over the target as the parameter varies (discrete
        statistics, e.g. KSWIN on 0/1 data); :func:`calibrate` then warns.
        """
        return self.estimate.ci_low <= self.target_arl0 <= self.estimate.ci_high


def _resolve_param(detector: Detector, param: str | None) -> tuple[str, int, float]:
    name = type(detector).__name__
    known = _THRESHOLDS.get(name)
    if param is None:
        if known is None or known[0] not in detector._fleet_params:
            raise ValueError(
                f"param=None: no default threshold parameter known for {name}; pass one of "
                f"its per-stream parameters {detector._fleet_params}"
            )
        return known
    if param not in detector._init_arg_names():
        raise ValueError(f"param={param!r} is not a parameter of {name}")
    if param not in detector._fleet_params:
        raise ValueError(
            f"param={param!r} cannot be calibrated: it cannot vary per stream of a Fleet; "
            f"per-stream parameters of {name}: {detector._fleet_params}"
        )
    current = getattr(detector, param)
    if isinstance(current, (bool, int, np.integer)) or not current > 0:
        raise ValueError(
            f"param={param!r} cannot be calibrated: the search runs in log space over positive "
            f"real values, its current value is {current!r}"
        )
    if known is not None and known[0] == param:
        return known
    return param, 0, (10.0 if current < 1 else 1.5)


def _valid(detector: Detector, param: str, values: np.ndarray) -> np.ndarray:
    ok = []
    for v in values:
        try:
            detector.clone(**{param: float(v)})
            ok.append(True)
        except (ValueError, TypeError):
            ok.append(False)
    return values[np.asarray(ok, dtype=bool)]


class _Search:
    """Candidate evaluations: log ARL0 per value, pooled over the rounds' estimates."""

    def __init__(self, detector, param, null, n_streams, max_steps, seq, target):
        self.det, self.param, self.null = detector, param, null
        self.n_streams, self.max_steps, self.seq, self.target = n_streams, max_steps, seq, target
        self.history: list[tuple[int, float, float, int]] = []
        self.points: list[tuple[float, float, int]] = []  # (log value, log ARL0, n_alarms)
        self.n_simulated = 0

    def run(self, grid: np.ndarray, frac: float, rnd: int) -> np.ndarray:
        """log ARL0 (G,) of the grid values, simulated with ``frac`` of the full budget."""
        r = max(4, int(round(self.n_streams * frac)))
        alarms = _simulate_grid(self.det, self.param, grid, self.null, r, self.max_steps,
                                self.seq.spawn(1)[0])
        self.n_simulated += alarms.size * self.max_steps
        out = np.empty(grid.size)
        for i, v in enumerate(grid):
            est = _estimate(alarms[i], self.max_steps, 0.95)
            self.history.append((rnd, float(v), est.arl0, est.n_alarms))
            # no alarm: the ARL0 exceeds the exposure; 0.5 alarms is a finite stand-in
            out[i] = math.log(est.n_steps / max(est.n_alarms, 0.5))
            self.points.append((math.log(v), out[i], est.n_alarms))
        return out

    def fit(self, log_target: float, direction: int) -> tuple[float, float] | None:
        """Predicted log value at the target and the slope d log ARL0 / d log value, or None.

        Weighted least squares over the estimates with at least 5 alarms whose ARL0 is within
        a factor 4 of the target (weights: alarm counts, the inverse variance of log ARL0 under
        Poisson counts); the 4 nearest estimates if fewer than 2 values qualify.
        """
        pts = np.array([q for q in self.points if q[2] >= 5]).reshape(-1, 3)
        if pts.shape[0] < 2:
            return None
        dist = np.abs(pts[:, 1] - log_target)
        near = pts[dist <= math.log(4.0)]
        if np.unique(near[:, 0]).size < 2:
            near = pts[np.argsort(dist)[:4]]
            if np.unique(near[:, 0]).size < 2:
                return None
        x, y, wt = near[:, 0], near[:, 1], near[:, 2]
        xm, ym = np.average(x, weights=wt), np.average(y, weights=wt)
        sxx = np.sum(wt * (x - xm) ** 2)
        slope = np.sum(wt * (x - xm) * (y - ym)) / sxx
        if slope * direction <= 0:  # noise swamped the trend: no usable prediction
            return None
        return float(xm + (log_target - ym) / slope), float(slope)


def _straddle(grid: np.ndarray, log_arl: np.ndarray, direction: int, log_target: float):
    """Index i with the target between grid[i] and grid[i+1] (monotone fit), or -1 / G-1."""
    y = direction * log_arl  # increasing in the grid order once monotone
    y = np.maximum.accumulate(y)
    below = np.flatnonzero(y < direction * log_target)
    if below.size == 0:
        return -1, y * direction
    return int(below[-1]), y * direction


def calibrate(
    detector: Detector,
    *,
    target_arl0: float,
    param: str | None = None,
    reference: Any = None,
    model: str | None = None,
    model_params: dict[str, Any] | None = None,
    n_streams: int = 200,
    max_steps: int | None = None,
    seed: int | None = None,
    tol: float = 0.05,
    level: float = 0.95,
) -> CalibrationResult:
    """Choose a detector's threshold so that its ARL0 on null data is ``target_arl0``.

    Parameters
    ----------
    detector
        The configured detector; the result holds a clone with the calibrated parameter.
    target_arl0
        Target mean number of in-control values up to a false alarm (> 1).
    param
        Parameter to calibrate; by default the detector's threshold (``PageHinkley.threshold``,
        ``CUSUM.h``, ``EWMA.L``, ``ADWIN.delta``, ``KSWIN.alpha``, ``DDM.drift_threshold``,
        ``EDDM.beta``, ``FHDDM.confidence_level``, ``HDDM_A/HDDM_W.drift_confidence``). It
        must be a positive real parameter that may vary per stream of a :class:`Fleet`.
    reference, model, model_params
        The null data, as in :func:`estimate_arl0`.
    n_streams, max_steps
        Full simulation budget per candidate value: ``n_streams`` streams of ``max_steps``
        values (default ``5 * target_arl0``), about ``n_streams * max_steps / target_arl0``
        alarms near the target, so a relative standard error of about
        ``sqrt(target_arl0 / (n_streams * max_steps))`` (3.2% by default) when run lengths are
        geometric-like; heavy-tailed run lengths (parameters estimated in a warm-up, as in
        ``CUSUM()`` without ``mu0``/``sigma``, or DDM's running minimum) need more streams, and
        the reported interval shows it. Early rounds use fewer streams.
    seed
        Seed of every simulated value (the result is reproducible).
    tol
        Relative tolerance on ARL0: refining stops when, after at least two full-budget rounds,
        the predicted value moves by less than a factor ``1 + tol`` in ARL0 (at most 5
        refinement rounds).

    Returns
    -------
    CalibrationResult
        The calibrated clone, the value, and its ARL0 estimate on fresh null streams.

    Raises
    ------
    ValueError
        Bad input (naming the argument), or a target the parameter cannot reach within its
        valid range (for example ``ADWIN`` on Gaussian data: ARL0 stays above about 1,000 as
        ``delta`` approaches 1).
    level
        Confidence level of the reported interval.

    Examples
    --------
    >>> from adaptive import PageHinkley
    >>> res = calibrate(PageHinkley(), target_arl0=500, n_streams=40, seed=0)
    >>> res.param, round(res.value, 2)
    ('threshold', 27.37)
    >>> res.estimate.ci_low < 500 < res.estimate.ci_high
    True
    >>> res.detector
    PageHinkley(min_instances=30, delta=0.005, threshold=27.3..., alpha=0.9999, mode='both', nan_policy='raise')
    """  # noqa: E501
    det = _check_detector(detector)
    if isinstance(target_arl0, bool) or not isinstance(target_arl0, (int, float, np.number)) \
            or not (math.isfinite(target_arl0) and target_arl0 > 1):
        raise ValueError(f"target_arl0={target_arl0!r} must be a finite number > 1")
    if max_steps is None:
        max_steps = int(math.ceil(5 * target_arl0))
    _check_budget(n_streams, max_steps, level)
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"tol={tol!r} must be in (0, 1)")
    name, direction, factor = _resolve_param(det, param)
    null = _resolve_null(det, reference, model, model_params)
    seq = np.random.SeedSequence(seed)
    search_seq, final_seq = seq.spawn(2)
    search = _Search(det, name, null, int(n_streams), int(max_steps), search_seq, target_arl0)
    log_t = math.log(target_arl0)
    x0 = float(getattr(det, name))

    # round 0: bracket on a geometric grid around the current value, extended while needed
    grid = _valid(det, name, x0 * factor ** np.arange(-(_G0 // 2), _G0 // 2 + 1))
    if grid.size < 2:
        raise ValueError(f"{name}: fewer than 2 valid values near {x0} to start the search")
    y = search.run(grid, 1 / 32, 0)
    if direction == 0:  # unknown: read it off the grid
        direction = 1 if y[-1] >= y[0] else -1
    for ext in range(_MAX_EXTEND):
        i, _ = _straddle(grid, y, direction, log_t)
        if 0 <= i < grid.size - 1:
            break
        # all ARL0s on one side of the target: extend the grid, faster and faster
        upward = i == grid.size - 1  # direction * log ARL0 grows with the value
        step = factor ** (2 ** (ext + 1))
        edge = grid[-1] if upward else grid[0]
        sign = 1 if upward else -1
        new = _valid(det, name, edge * step ** (np.arange(1, _G0) * sign))
        if new.size == 0:  # a bound of the valid range is near: look between it and the edge
            new = _valid(det, name, edge * step ** (np.linspace(0, 1, _G0)[1:] * sign))
        if new.size == 0:
            side = "above" if upward else "below"
            raise ValueError(
                f"target_arl0={target_arl0} is not reachable by varying {name} (no valid value "
                f"{side} {edge:g}; estimated ARL0 there: {math.exp(y[-1 if upward else 0]):.4g})"
            )
        y_new = search.run(np.sort(new), 1 / 32, 0)
        grid, y = np.concatenate([grid, np.sort(new)]), np.concatenate([y, y_new])
        order = np.argsort(grid)
        grid, y = grid[order], y[order]
    else:
        raise ValueError(f"target_arl0={target_arl0}: no bracket found by varying {name}")

    # refinement rounds: a line fitted to log ARL0 against log value (weighted least squares on
    # every estimate near the target, all rounds pooled) predicts the crossing; a narrower grid
    # around the prediction is simulated with a larger budget; stop once the prediction moves by
    # less than tol (in ARL0) between full-budget rounds
    lo, hi = math.log(grid[i]), math.log(grid[i + 1])
    w = (log_t - y[i]) / (y[i + 1] - y[i]) if y[i + 1] != y[i] else 0.5
    x_hat = lo + min(max(w, 0.0), 1.0) * (hi - lo)
    width = hi - lo
    lo_lim, hi_lim = lo - width, hi + width  # a noisy first bracket may be off by its width
    rnd = 0
    for rnd, frac in enumerate([1 / 8] + [1.0] * (_MAX_ROUNDS - 1), start=1):
        half = 0.5 * width / 3 ** (rnd - 1)
        grid = _valid(det, name, np.exp(x_hat + np.linspace(-half, half, _G if rnd == 1 else 3)))
        if grid.size == 0:
            grid = _valid(det, name, np.exp(np.array([x_hat])))
        search.run(grid, frac, rnd)
        fit = search.fit(log_t, direction)
        if fit is None:
            continue
        x_new, slope = fit
        x_new = min(max(x_new, lo_lim), hi_lim)
        moved = abs(slope * (x_new - x_hat))  # change of the predicted log ARL0
        x_hat = x_new
        if frac == 1.0 and rnd > 2 and moved <= math.log1p(tol):
            break
    value = float(math.exp(x_hat))
    if _valid(det, name, np.array([value])).size == 0:
        raise ValueError(f"target_arl0={target_arl0}: the calibrated {name}={value:g} is invalid")
    calibrated = det.clone(**{name: value})
    final = _simulate_grid(calibrated, name, np.array([value]), null, int(n_streams),
                           int(max_steps), final_seq)
    search.n_simulated += final.size * int(max_steps)
    result = CalibrationResult(
        detector=calibrated, param=name, value=value, target_arl0=float(target_arl0),
        estimate=_estimate(final[0], int(max_steps), level), n_streams=int(n_streams),
        max_steps=int(max_steps), n_simulated_steps=search.n_simulated, rounds=rnd + 1,
        history=search.history,
    )
    if not result.on_target:
        warnings.warn(
            f"calibrate: {type(det).__name__}.{name}={value:.6g} reaches ARL0 "
            f"{result.arl0:.4g} (CI {result.ci[0]:.4g}-{result.ci[1]:.4g}), not "
            f"target_arl0={target_arl0:g}: ARL0 may jump over the target as {name} varies, or "
            f"the budget is too small for this detector's run-length spread",
            RuntimeWarning, stacklevel=2,
        )
    return result
