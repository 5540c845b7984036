"""Calibration of a detector's threshold for a target in-control average run length (ARL0).

ARL0 is the mean number of in-control values a detector reads, from a fresh start, up to and
including its first (false) alarm; :mod:`adaptive.arl` estimates it by simulation on null
streams (its module docstring describes the run lengths and the estimator). This module searches
the parameter value whose estimated ARL0 is the target.

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

The promise. The result's interval always contains the target: when the refined value's fresh
estimate misses it (ARL0 jumps as the value varies, a noisy fit), the search steps outward to
the closest values confidently below and above the target, then bisects between them, each
candidate on fresh streams with the full budget; if the two meet without an interval that
holds the target, :class:`CalibrationError` says so and names both. It never returns a value
whose estimate is off the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive.calibration.arl import (
    ArlEstimate,
    _check_budget,
    _check_detector,
    _estimate,
    _resolve_null,
    _simulate_grid,
)
from adaptive.drift.base import Detector, Threshold

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

_G0, _G = 9, 5  # grid sizes: bracketing round, first refinement round (then 3)
_MAX_EXTEND, _MAX_ROUNDS = 8, 5
_MAX_SETTLE = 12  # fresh-stream steps when the refined value's interval misses the target


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
        """Whether the confidence interval of the achieved ARL0 contains the target (always
        True for a result of :func:`calibrate`, which raises :class:`CalibrationError` else)."""
        return self.estimate.ci_low <= self.target_arl0 <= self.estimate.ci_high


class CalibrationError(ValueError):
    """No value with an ARL0 interval around the target was found between the closest two.

    ``below`` and ``above`` are ``(value, ArlEstimate)`` of the closest values found whose
    ARL0 is confidently below and above the target (estimated on fresh streams); ARL0 jumps
    over the target between them, or the budget cannot resolve it.
    """

    def __init__(self, message: str, below: tuple[float, ArlEstimate],
                 above: tuple[float, ArlEstimate]):
        super().__init__(message)
        self.below, self.above = below, above


def _resolve_param(detector: Detector, param: str | None) -> Threshold:
    name = type(detector).__name__
    known = type(detector)._threshold
    if param is None:
        if known is None or known.param not in detector._fleet_params:
            raise ValueError(
                f"param=None: no default threshold parameter known for {name}; pass one of "
                f"its per-stream parameters {detector._fleet_params}"
            )
        return known
    if param not in detector._get_params():
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
    if known is not None and known.param == param:
        return known
    return Threshold(param, 0, 10.0 if current < 1 else 1.5)


def _valid(detector: Detector, param: str, values: np.ndarray) -> np.ndarray:
    ok = []
    for v in values:
        try:
            detector._fresh(**{param: float(v)})
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


def _bracket(search: _Search, direction: int, factor: float,
             target_arl0: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Round 0: a geometric grid around the current value, extended until it straddles the target.

    Returns the grid (G,) sorted, its log ARL0s (G,), the index ``i`` with the target between
    ``grid[i]`` and ``grid[i + 1]``, and the direction (read off the grid when it was 0).
    """
    det, name = search.det, search.param
    log_t = math.log(target_arl0)
    x0 = float(getattr(det, name))
    grid = _valid(det, name, x0 * factor ** np.arange(-(_G0 // 2), _G0 // 2 + 1))
    if grid.size < 2:
        raise ValueError(f"{name}: fewer than 2 valid values near {x0} to start the search")
    y = search.run(grid, 1 / 32, 0)
    if direction == 0:  # unknown: read it off the grid
        direction = 1 if y[-1] >= y[0] else -1
    for ext in range(_MAX_EXTEND):
        i, _ = _straddle(grid, y, direction, log_t)
        if 0 <= i < grid.size - 1:
            return grid, y, i, direction
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
    raise ValueError(f"target_arl0={target_arl0}: no bracket found by varying {name}")


def _refine(search: _Search, grid: np.ndarray, y: np.ndarray, i: int, direction: int,
            log_t: float, tol: float) -> tuple[float, int]:
    """Refinement rounds from the bracket ``grid[i], grid[i + 1]``: (predicted log value, rounds).

    A line fitted to log ARL0 against log value (weighted least squares on every estimate near
    the target, all rounds pooled) predicts the crossing; a narrower grid around the prediction
    is simulated with a larger budget; stop once the prediction moves by less than tol (in ARL0)
    between full-budget rounds.
    """
    det, name = search.det, search.param
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
    return x_hat, rnd


def _side(est: ArlEstimate, target: float) -> int:
    """-1 if the ARL0 interval lies below the target, +1 above, 0 if it contains it."""
    return -1 if est.ci_high < target else (1 if est.ci_low > target else 0)


def _settle(name: str, x0: float, est0: ArlEstimate, target: float, direction: int,
            factor: float, fresh) -> tuple[Detector, float, ArlEstimate, int]:
    """From a value whose interval misses the target: find one whose interval holds it.

    Every candidate is estimated on fresh streams with the full budget (``fresh(value)`` ->
    (detector or None if invalid, estimate)). Keeps the closest value confidently below and
    the closest confidently above the target; steps outward (doubling, in log value) until it
    has both, then bisects between them. Raises :class:`CalibrationError` with the two closest
    values when they meet (ARL0 jumps over the target) or the steps run out.
    """
    sides: dict[int, tuple[float, ArlEstimate] | None] = {-1: None, 1: None}

    def note(x: float, est: ArlEstimate) -> None:
        s = _side(est, target)  # closest to the target: the largest -s * direction * x
        if sides[s] is None or -s * direction * x > -s * direction * sides[s][0]:  # type: ignore[index]
            sides[s] = (x, est)

    note(math.log(x0), est0)
    step = math.log(factor)
    for i in range(_MAX_SETTLE):
        lo, hi = sides[-1], sides[1]
        if lo is not None and hi is not None:
            if abs(hi[0] - lo[0]) <= 1e-9 * max(1.0, abs(lo[0])):
                break
            x = 0.5 * (lo[0] + hi[0])
        else:
            x = (lo or hi)[0] + (1 if lo is not None else -1) * direction * step  # type: ignore[index]
            step *= 2.0
        det, est = fresh(math.exp(x))
        if det is None:  # outside the parameter's valid range: no value on that side
            break
        if _side(est, target) == 0:
            return det, math.exp(x), est, i + 1
        note(x, est)

    def show(side):
        if side is None:
            return "none found"
        x, e = side
        return f"{name}={math.exp(x):.6g} (ARL0 {e.arl0:.4g}, CI {e.ci_low:.4g}-{e.ci_high:.4g})"

    raise CalibrationError(
        f"target_arl0={target:g} not reached: no {name} found whose ARL0 interval contains it "
        f"(ARL0 jumps over the target, or the budget is too small for the spread of the run "
        f"lengths). Closest below: {show(sides[-1])}; closest above: {show(sides[1])}",
        below=None if sides[-1] is None else (math.exp(sides[-1][0]), sides[-1][1]),  # type: ignore[arg-type]
        above=None if sides[1] is None else (math.exp(sides[1][0]), sides[1][1]))  # type: ignore[arg-type]


def calibrate(
    detector: Detector,
    *,
    target_arl0: float,
    param: str | None = None,
    reference: ArrayLike | None = None,
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
        The null data, as in :func:`estimate_arl0` (a reference is resampled by a sieve
        bootstrap that keeps its serial correlation and extends a heavy tail:
        :func:`~adaptive.calibration.null_models.null_values`). For heavy-tailed data give a
        reference of about 10 x ``target_arl0`` values: the promise below holds for the
        reference's null model, and a short sample says little about values rarer than it.
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
    level
        Confidence level of the reported interval.

    Returns
    -------
    CalibrationResult
        The calibrated clone, the value, and its ARL0 estimate on fresh null streams.

    Raises
    ------
    CalibrationError
        (a ValueError) No value was found whose ARL0 interval contains the target; it names
        the closest values found below and above (``.below``, ``.above``).
    ValueError
        Bad input (naming the argument), or a target the parameter cannot reach within its
        valid range (for example ``ADWIN`` on Gaussian data: ARL0 stays above about 1,000 as
        ``delta`` approaches 1).

    Examples
    --------
    >>> from adaptive import PageHinkley
    >>> res = calibrate(PageHinkley(), target_arl0=500, n_streams=40, seed=0)
    >>> res.param, round(res.value, 2)
    ('threshold', 27.37)
    >>> res.estimate.ci_low < 500 < res.estimate.ci_high
    True
    >>> res.detector.threshold == res.value
    True
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
    grid, y, i, direction = _bracket(search, direction, factor, target_arl0)
    x_hat, rnd = _refine(search, grid, y, i, direction, log_t, tol)
    value = float(math.exp(x_hat))
    final_seqs = iter(final_seq.spawn(_MAX_SETTLE + 1))

    def fresh(v: float) -> tuple[Detector | None, ArlEstimate | None]:
        if _valid(det, name, np.array([v])).size == 0:
            return None, None
        d = det._fresh(**{name: v})
        alarms = _simulate_grid(d, name, np.array([v]), null, int(n_streams), int(max_steps),
                                next(final_seqs))
        search.n_simulated += alarms.size * int(max_steps)
        return d, _estimate(alarms[0], int(max_steps), level)

    calibrated, est = fresh(value)
    if calibrated is None:
        raise ValueError(f"target_arl0={target_arl0}: the calibrated {name}={value:g} is invalid")
    if _side(est, target_arl0) != 0:  # type: ignore[arg-type]
        calibrated, value, est, extra = _settle(name, value, est, target_arl0, direction,  # type: ignore[arg-type]
                                                factor, fresh)
        rnd += extra
    return CalibrationResult(
        detector=calibrated, param=name, value=value, target_arl0=float(target_arl0),
        estimate=est, n_streams=int(n_streams), max_steps=int(max_steps),  # type: ignore[arg-type]
        n_simulated_steps=search.n_simulated, rounds=rnd + 1, history=search.history,
    )
