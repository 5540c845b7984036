"""Bayesian online change point detection (Adams & MacKay, 2007) with a Gaussian model.

The detector keeps the posterior of the *run length* r_t, the number of values since the last
change, given all values so far. Each segment is Gaussian with unknown mean and precision
under a Normal-Gamma prior (m0 = 0, kappa0, alpha0, beta0 on standardised values), so a run
of length r predicts the next value with a Student-t of 2 alpha_r degrees of freedom, location
mu_r and squared scale beta_r (kappa_r + 1) / (alpha_r kappa_r), where kappa_r = kappa0 + r,
alpha_r = alpha0 + r / 2 and mu_r, beta_r are the conjugate updates. With a constant hazard
H = 1 / lambda_ (a change before each value with probability H), one value updates the
posterior by

    P(r_t = r + 1) ∝ P(r_{t-1} = r) pred_r(x_t) (1 - H)        (the run grows)
    P(r_t = 0)     ∝ sum_r P(r_{t-1} = r) pred_r(x_t) H         (a change after x_t)

**Bounded memory.** Run lengths above ``max_run`` are dropped (their mass is renormalised
away), so the state row has a fixed size: a run older than ``max_run`` values is treated as
``max_run`` values long (the model forgets what came before). The prediction of every run
length is computed in log space, so no value underflows the posterior.

**Alarm rule.** A drift is signalled when the posterior odds that the current run began within
the last ``window`` values exceed ``threshold``:

    P(1 <= r_t <= window) / P(r_t > window) > threshold,

evaluated once more than ``window`` values have been absorbed since the (re)start. Why this
rule and not a drop of the MAP run length: the odds are a calibratable statistic (the
in-control run length grows monotonically with ``threshold``, which :func:`adaptive.calibrate`
needs), they weigh all the evidence rather than one argmax that flips between neighbouring run
lengths, and the window bounds how stale a change may be when it is reported. After an alarm,
``change_lag`` says how many values before the alarming one the new run began (the most
probable run length within the window, minus one), so ``t - change_lag`` estimates the change
point itself. ``P(r_t = 0)`` is not used: it always equals H.

**Units.** ``mu0`` and ``sigma`` (raw units) standardise the values; when not given they are
estimated robustly (median and 1.4826 MAD, the standard deviation if the MAD is 0) from the
first ``warm_start`` values after each (re)start, which are kept in the state row and then
replayed through the model, so they are monitored too (an alarm at the end of the warm-up can
point back into it). Like River's detectors, the detector restarts on the update after a drift.

References
----------
R. P. Adams, D. J. C. MacKay. Bayesian online changepoint detection. arXiv:0710.3742, 2007.
K. P. Murphy. Conjugate Bayesian analysis of the Gaussian distribution, 2007 (the Normal-Gamma
predictive).
"""

from __future__ import annotations

import math

import numpy as np
from river import base as river_base

from adaptive._checks import check_int, check_number
from adaptive.drift._drivers import kernel
from adaptive.drift._robust import buffer_warm_up, robust_location_scale
from adaptive.drift.base import (
    DRIFT,
    DRIFT_FLAG,
    NONE,
    Detector,
    Slot,
    Threshold,
    none_if_nan,
)

# state slots (0, 1: the flags)
N = 2  # values since the (re)start, warm-up included
T_RUN = 3  # values absorbed by the run-length posterior since the (re)start
MU_HAT = 4  # the mean used to standardise (nan while estimated)
SIGMA_HAT = 5  # the standard deviation used to standardise (nan while estimated)
ODDS = 6  # posterior odds of a change within the window, after the last update
CHANGE_LAG = 7  # at an alarm: values between the estimated change and the alarm (else nan)
MAP_RUN = 8  # most probable run length after the last update
Z_MAX = 1e100  # bound of a standardised value (see _standardise)
ODDS_MAX = 1e300  # the odds when no mass is left on old runs (a certain change)
BUF = 9  # the warm-up buffer (warm_start slots), then the three run-length arrays:
# PROB (max_run + 1): P(r_t = r); MEAN and BETA (max_run + 1): mu_r and beta_r of each run
# param slots
P_LAMBDA, P_THRESHOLD, P_WINDOW, P_MAX_RUN, P_WARM_START = 0, 1, 2, 3, 4  # _param_names order
P_MU0, P_SIGMA = 5, 6  # nan: estimate
P_KAPPA0, P_ALPHA0, P_BETA0 = 7, 8, 9
P_LOGC = 10  # (max_run + 1) Student-t log-normalisers lgamma(a + 1/2) - lgamma(a) - log(2 a pi)/2


@kernel
def _offsets(p):
    """Start slots of the PROB, MEAN and BETA arrays in the state row."""
    prob = BUF + int(p[P_WARM_START])
    n = int(p[P_MAX_RUN]) + 1
    return prob, prob + n, prob + 2 * n


@kernel
def _restart_posterior(st, p):
    """All mass on run length 0, with the prior's statistics."""
    prob, mean, beta = _offsets(p)
    st[prob] = 1.0
    st[mean] = 0.0
    st[beta] = p[P_BETA0]
    st[T_RUN] = 0.0


@kernel
def _init(st, p):
    st[:] = 0.0
    st[MU_HAT] = p[P_MU0]
    st[SIGMA_HAT] = p[P_SIGMA]
    st[CHANGE_LAG] = np.nan
    _restart_posterior(st, p)


@kernel
def _absorb(st, z, p):
    """One Adams-MacKay update with the standardised value z; True on an alarm."""
    prob, mean, beta = _offsets(p)
    r_max = int(p[P_MAX_RUN])
    h = 1.0 / p[P_LAMBDA]  # the hazard
    live = min(int(st[T_RUN]), r_max) + 1  # run lengths 0 .. live - 1 hold mass
    top = -np.inf
    for r in range(live):  # log P(r) + log pred_r(z), kept in the PROB slots
        kappa = p[P_KAPPA0] + r
        alpha = p[P_ALPHA0] + 0.5 * r
        b = st[beta + r]
        d = z - st[mean + r]
        lw = (p[P_LOGC + r] - 0.5 * math.log(b * (kappa + 1.0) / (alpha * kappa))
              - (alpha + 0.5) * math.log1p(d * d * kappa / (2.0 * b * (kappa + 1.0))))
        w = st[prob + r]
        lw = lw + math.log(w) if w > 0.0 else -np.inf
        st[prob + r] = lw
        top = max(top, lw)
    total = 0.0
    for r in range(live - 1, -1, -1):  # shift up: run r becomes run r + 1 (r_max drops out)
        g = math.exp(st[prob + r] - top)
        total += g
        if r < r_max:
            kappa = p[P_KAPPA0] + r
            d = z - st[mean + r]
            st[prob + r + 1] = g * (1.0 - h)
            st[beta + r + 1] = st[beta + r] + kappa * d * d / (2.0 * (kappa + 1.0))
            st[mean + r + 1] = (kappa * st[mean + r] + z) / (kappa + 1.0)
    st[prob] = total * h
    st[mean] = 0.0
    st[beta] = p[P_BETA0]
    st[T_RUN] += 1.0
    live = min(int(st[T_RUN]), r_max) + 1
    norm = 0.0
    for r in range(live):
        norm += st[prob + r]
    window = int(p[P_WINDOW])
    recent, old, best, best_r, map_p, map_r = 0.0, 0.0, -1.0, 0, -1.0, 0
    for r in range(live):
        q = st[prob + r] / norm
        st[prob + r] = q
        if q > map_p:
            map_p, map_r = q, r
        if 1 <= r <= window:
            recent += q
            if q > best:
                best, best_r = q, r
        elif r > window:
            old += q
    st[MAP_RUN] = map_r
    if st[T_RUN] <= window:
        st[ODDS] = 0.0
        return False
    st[ODDS] = min(recent / old, ODDS_MAX) if old > 0.0 else ODDS_MAX  # finite state
    if st[ODDS] > p[P_THRESHOLD]:
        st[CHANGE_LAG] = best_r - 1.0
        return True
    return False


@kernel
def _standardise(x, mu, sigma):
    """(x - mu) / sigma clipped to +-Z_MAX: beyond it a change is certain anyway, and the
    squares the posterior sums (up to max_run of them) stay finite for every accepted x."""
    d = x - mu
    if sigma > 0.0:
        z = d / sigma
    elif d == 0.0:
        z = 0.0
    else:  # a constant warm-up (sigma 0): any departure is a certain change
        z = math.copysign(Z_MAX, d)
    return max(-Z_MAX, min(Z_MAX, z))


@kernel
def _step(st, x, p):
    if st[DRIFT_FLAG] != 0.0:
        _init(st, p)
    st[N] += 1.0
    phase = buffer_warm_up(st, x, p, N, BUF, MU_HAT, SIGMA_HAT, P_WARM_START, P_MU0, P_SIGMA)
    if phase < 0:
        return NONE
    if phase > 0:  # the warm-up is complete: replay it through the model
        warm = int(p[P_WARM_START])
        for j in range(warm):
            if _absorb(st, _standardise(st[BUF + j], st[MU_HAT], st[SIGMA_HAT]), p):
                st[CHANGE_LAG] += warm - 1 - j
                st[DRIFT_FLAG] = 1.0
                return DRIFT
        return NONE
    if _absorb(st, _standardise(x, st[MU_HAT], st[SIGMA_HAT]), p):
        st[DRIFT_FLAG] = 1.0
        return DRIFT
    return NONE


def student_t_log_normalisers(alpha0: float, max_run: int) -> np.ndarray:
    """lgamma(a + 1/2) - lgamma(a) - log(2 a pi) / 2 for a = alpha0 + r / 2, r = 0..max_run."""
    a = alpha0 + 0.5 * np.arange(max_run + 1)
    lg = np.vectorize(math.lgamma)
    return lg(a + 0.5) - lg(a) - 0.5 * np.log(2.0 * a * math.pi)


def _reference_posterior_step(prob, mean, beta, z, h, prior, r_max):
    """Vectorised Adams-MacKay update of (prob, mean, beta), each of shape (R,)."""
    kappa0, alpha0, beta0 = prior
    r = np.arange(prob.size)
    kappa, alpha = kappa0 + r, alpha0 + 0.5 * r
    lg = np.vectorize(math.lgamma)
    scale2 = beta * (kappa + 1.0) / (alpha * kappa)  # Student-t squared scale, 2 alpha dof
    logpred = (lg(alpha + 0.5) - lg(alpha) - 0.5 * np.log(2.0 * alpha * math.pi * scale2)
               - (alpha + 0.5) * np.log1p((z - mean) ** 2 / (2.0 * alpha * scale2)))
    with np.errstate(divide="ignore"):
        lw = np.log(prob) + logpred
    g = np.exp(lw - lw.max())
    keep = min(prob.size, r_max)  # runs that may still grow
    new = np.concatenate([[h * g.sum()], (1.0 - h) * g[:keep]])
    new_mean = np.concatenate([[0.0], ((kappa * mean + z) / (kappa + 1.0))[:keep]])
    new_beta = np.concatenate([[beta0], (beta + kappa * (z - mean) ** 2
                                         / (2.0 * (kappa + 1.0)))[:keep]])
    return new / new.sum(), new_mean, new_beta


def reference_alarms(values: np.ndarray, **params) -> tuple[list[int], list[int]]:
    """Plain-numpy BOCPD over a 1-D array: (alarm indices, change lags); the kernel's oracle.

    Written independently of the kernel (whole-array operations, no state row), with the same
    semantics: robust warm-up, its replay, the odds rule, a restart after each alarm.
    """
    d = BOCPD(**params)  # validated parameters and defaults
    h, w, r_max, warm = 1.0 / d.lambda_, d.window, d.max_run, d.warm_start
    prior = (d.kappa0, d.alpha0, d.beta0)
    alarms, lags = [], []
    start = 0
    while start < len(values):
        if d.mu0 is not None and d.sigma is not None:
            mu, sigma, first = d.mu0, d.sigma, start
        else:
            buf = np.asarray(values[start:start + warm], dtype=np.float64)
            if buf.size < warm:
                break
            med, scale = robust_location_scale(buf)
            mu = med if d.mu0 is None else d.mu0
            sigma = scale if d.sigma is None else d.sigma
            first = start
        prob, mean, beta = np.ones(1), np.zeros(1), np.full(1, d.beta0)
        n_seen, alarm = 0, None
        for t in range(first, len(values)):
            d_t = values[t] - mu
            z = d_t / sigma if sigma > 0 else (0.0 if d_t == 0 else math.copysign(Z_MAX, d_t))
            z = min(Z_MAX, max(-Z_MAX, z))
            prob, mean, beta = _reference_posterior_step(prob, mean, beta, z, h, prior, r_max)
            n_seen += 1
            old = prob[w + 1:].sum()
            odds = (prob[1:w + 1].sum() / old if old > 0 else np.inf) if n_seen > w else 0.0
            if odds > d.threshold:
                alarm = (t, int(np.argmax(prob[1:w + 1])))  # lag from the alarming value
                break
        if alarm is None:
            break
        t_alarm = max(alarm[0], start + warm - 1) if d.mu0 is None or d.sigma is None else alarm[0]
        alarms.append(t_alarm)
        lags.append(alarm[1] + (t_alarm - alarm[0]))
        start = t_alarm + 1
    return alarms, lags


class BOCPD(Detector, river_base.DriftDetector):
    """Bayesian online change point detection: Gaussian segments, constant hazard.

    Parameters
    ----------
    lambda_
        Expected run length between changes, > 1: the hazard is ``1 / lambda_``.
    threshold
        Posterior odds of a change within the last ``window`` values above which a drift is
        signalled, > 0 (10 means a posterior probability above 10/11).
    window
        How recent a change must be to count, in values (>= 1, < ``max_run``).
    max_run
        Largest run length kept (memory and time per update grow linearly with it).
    warm_start
        Values used to estimate ``mu0`` / ``sigma`` when not given (>= 3; then replayed).
    mu0, sigma
        Mean and standard deviation used to standardise the values (raw units); ``None``
        estimates them (median and MAD) from the warm-up after each (re)start.
    kappa0, alpha0, beta0
        Normal-Gamma prior of a segment's mean and precision on standardised values (the
        prior mean is 0): pseudo-counts of the mean, shape and rate of the precision.
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Notes
    -----
    The defaults were chosen on synthetic streams and on TCPD's quality-control series (never
    on the series the TCPD benchmark reports): see ``benchmarks/tcpd``. The state row holds
    ``9 + warm_start + 3 (max_run + 1)`` floats; an update costs O(max_run).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.concatenate([rng.normal(10.0, 2.0, 150), rng.normal(16.0, 2.0, 150)])
    >>> det = BOCPD()
    >>> for t, v in enumerate(x):
    ...     det.update(v)
    ...     if det.drift_detected:
    ...         print(t, t - det.change_lag)  # alarm, and the estimated change point
    153 150
    """

    _step = _step
    _init = _init
    _param_names = ("lambda_", "threshold", "window", "max_run", "warm_start", "mu0", "sigma",
                    "kappa0", "alpha0", "beta0")
    _fleet_params = ("lambda_", "threshold", "mu0", "sigma")
    _threshold = Threshold("threshold", 1, 2.0)
    _statistic = "statistic"

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"lambda_": 50.0, "threshold": 3.0, "window": 8, "max_run": 20, "warm_start": 5}
        yield {"mu0": 0.0, "sigma": 1.0, "max_run": 16, "window": 10}

    def __init__(
        self,
        lambda_: float = 3000.0,
        threshold: float = 30.0,
        window: int = 40,
        max_run: int = 300,
        warm_start: int = 5,
        mu0: float | None = None,
        sigma: float | None = None,
        kappa0: float = 1.0,
        alpha0: float = 1.0,
        beta0: float = 1.0,
        *,
        nan_policy: str = "raise",
    ):
        self.lambda_ = lambda_
        self.threshold = threshold
        self.window = window
        self.max_run = max_run
        self.warm_start = warm_start
        self.mu0 = mu0
        self.sigma = sigma
        self.kappa0 = kappa0
        self.alpha0 = alpha0
        self.beta0 = beta0
        self.nan_policy = nan_policy
        check_number("lambda_", lambda_, 1)
        check_number("threshold", threshold, 0)
        check_int("max_run", max_run, 2, 100_000)
        check_int("window", window, 1, max_run - 1)
        check_int("warm_start", warm_start, 3, 100_000)
        check_number("mu0", mu0, optional=True)
        check_number("sigma", sigma, 0, optional=True)
        for name in ("kappa0", "alpha0", "beta0"):
            check_number(name, getattr(self, name), 0)
        self._check_nan_policy()
        self._reset()

    def _state_size(self) -> int:
        return BUF + self.warm_start + 3 * (self.max_run + 1)

    def _param_row(self) -> np.ndarray:
        return np.concatenate([super()._param_row(),
                               student_t_log_normalisers(self.alpha0, self.max_run)])

    mu0_ = Slot(MU_HAT, none_if_nan, "The location used to standardise (None while it is being "
                                     "estimated).")
    sigma_ = Slot(SIGMA_HAT, none_if_nan, "The scale used to standardise (None while it is being "
                                          "estimated).")

    statistic = Slot(ODDS, float, "Posterior odds of a change within the last ``window`` values (0 "
                                  "before any).")

    run_length = Slot(MAP_RUN, int, "The most probable run length after the last update.")

    @property
    def change_lag(self) -> int | None:
        """After an alarm: how many values before the alarming one the change began."""
        lag = none_if_nan(self._row[CHANGE_LAG])
        return None if lag is None or not self.drift_detected else int(lag)

    @property
    def run_length_distribution(self) -> np.ndarray:
        """P(r_t = r) for r = 0 .. min(values absorbed, max_run) (empty during the warm-up)."""
        prob = BUF + self.warm_start
        n = min(int(self._row[T_RUN]), self.max_run) + 1 if self._row[T_RUN] > 0 else 0
        return self._row[prob:prob + n].copy()
