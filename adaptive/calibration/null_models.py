"""Synthetic streams for calibrating and evaluating drift detectors.

Two kinds of generators:

- *null* (in-control) values for many streams at once, shape (S, T), from a Gaussian or
  Bernoulli model or by a sieve bootstrap from a reference sample (i.i.d. resampling when the
  reference shows no serial correlation, AR residuals resampled otherwise): what
  :func:`adaptive.calibrate` simulates false alarms on;
- single streams with known change points (abrupt, or gradual as ``(start, end)`` pairs):
  a Gaussian mean shift and a Bernoulli error-rate shift, for :mod:`adaptive.evaluate`.

Change points use the convention of :mod:`adaptive.evaluate`: an abrupt change at ``t`` means
values from index ``t`` on follow the new regime; a gradual change ``(start, end)`` moves the
level linearly from the old value (at ``start``) to the new one (reached at ``end``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adaptive._checks import check_int
from adaptive.drift._drivers import kernel

MODELS = ("gaussian", "bernoulli")
_MODEL_KEYS = {"gaussian": ("loc", "scale"), "bernoulli": ("p",)}
_MODEL_DEFAULTS = {"gaussian": {"loc": 0.0, "scale": 1.0}, "bernoulli": {"p": 0.2}}


def check_model(model: str, model_params: dict[str, Any] | None) -> dict[str, float]:
    """Validate a null model and fill in its defaults; return the full parameter dict."""
    if model not in MODELS:
        raise ValueError(f"model={model!r} must be one of {MODELS}")
    params = dict(_MODEL_DEFAULTS[model])
    for key, value in (model_params or {}).items():
        if key not in _MODEL_KEYS[model]:
            raise ValueError(
                f"model_params key {key!r} is not a parameter of model {model!r}; "
                f"allowed: {_MODEL_KEYS[model]}"
            )
        params[key] = float(value)
    if model == "gaussian":
        if not np.isfinite(params["loc"]):
            raise ValueError(f"model_params['loc']={params['loc']!r} must be finite")
        if not (np.isfinite(params["scale"]) and params["scale"] > 0):
            raise ValueError(f"model_params['scale']={params['scale']!r} must be finite and > 0")
    elif not 0.0 <= params["p"] <= 1.0:
        raise ValueError(f"model_params['p']={params['p']!r} must be in [0, 1]")
    return params


def check_reference(reference: Any, min_size: int = 30) -> np.ndarray:
    """Validate a reference sample of in-control data: 1-D, finite, at least ``min_size``."""
    try:
        ref = np.asarray(reference, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"reference must be a numeric 1-D sample: {err}") from None
    if ref.ndim != 1:
        raise ValueError(f"reference must be 1-D, got shape {ref.shape}")
    if ref.size < min_size:
        raise ValueError(
            f"reference has {ref.size} values; at least {min_size} are needed to bootstrap from"
        )
    if not np.isfinite(ref).all():
        bad = int(np.flatnonzero(~np.isfinite(ref))[0])
        raise ValueError(f"reference must be finite, got {ref[bad]} at index {bad}")
    return ref


_MAX_AR_ORDER = 10
_BURN_IN = 200  # values an AR stream runs before it is used (the start-up transient fades)


def ar_order(reference: np.ndarray) -> tuple[int, np.ndarray]:
    """The AR order of a reference by BIC (Yule-Walker, Levinson-Durbin) and its coefficients.

    Orders 0 .. min(10, n // 10) are compared; order 0 (no autocorrelation) unless a longer
    model lowers ``n log(innovation variance) + p log(n)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> e = rng.normal(size=3000)
    >>> ar_order(e)[0]
    0
    >>> x = np.zeros(3000)
    >>> for t in range(1, 3000):
    ...     x[t] = 0.5 * x[t - 1] + e[t]
    >>> p, phi = ar_order(x)
    >>> p, round(float(phi[0]), 2)
    (1, 0.5)
    """
    n = reference.size
    x = reference - reference.mean()
    max_p = min(_MAX_AR_ORDER, n // 10)
    acov = np.array([x[: n - k] @ x[k:] / n for k in range(max_p + 1)])  # (max_p + 1,)
    if not acov[0] > 0:
        return 0, np.zeros(0)
    best, best_phi, phi, var = n * math.log(acov[0]), np.zeros(0), np.zeros(0), acov[0]
    best_p = 0
    for p in range(1, max_p + 1):  # Levinson-Durbin: phi of order p from order p - 1
        k = (acov[p] - phi @ acov[1:p][::-1]) / var
        phi = np.concatenate([phi - k * phi[::-1], [k]])
        var *= 1.0 - k * k
        if not var > 0:
            break
        bic = n * math.log(var) + p * math.log(n)
        if bic < best:
            best, best_phi, best_p = bic, phi.copy(), p
    return best_p, best_phi


@kernel
def _ar_paths(phi, mean, innovations, burn, out):
    """out (S, T) <- mean + AR(phi) driven by innovations (S, burn + T), after burn values."""
    p = phi.shape[0]
    n_streams, n_total = innovations.shape
    hist = np.zeros(p)
    for s in range(n_streams):
        hist[:] = 0.0  # hist[i]: the centred value i + 1 steps back
        for t in range(n_total):
            v = innovations[s, t]
            for i in range(p):
                v += phi[i] * hist[i]
            for i in range(p - 1, 0, -1):
                hist[i] = hist[i - 1]
            hist[0] = v
            if t >= burn:
                out[s, t - burn] = mean + v


_TAIL_Q = 0.02  # a tail: the values beyond the 2% / 98% quantiles of the reference
_MIN_EXCEED = 20  # fewer values than this in a tail: resample it as it is


def gpd_tail(exceedances: np.ndarray) -> tuple[float, float] | None:
    """(shape xi, scale) of a generalised Pareto fit to positive exceedances, when the tail is
    heavy (0 < xi < 1), else None (probability weighted moments, Hosking & Wallis 1987).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).pareto(3.0, 20_000)  # Lomax(3): GPD, xi = scale = 1/3
    >>> xi, scale = gpd_tail(y)
    >>> round(xi, 2), round(scale, 2)
    (0.33, 0.33)
    """
    y = np.sort(exceedances)
    n = y.size
    if n < _MIN_EXCEED:
        return None
    a0 = float(y.mean())
    a1 = float(np.mean((1.0 - (np.arange(1, n + 1) - 0.35) / n) * y))  # E[y (1 - F(y))]
    d = a0 - 2.0 * a1
    if not d > 0:
        return None
    xi, scale = 2.0 - a0 / d, 2.0 * a0 * a1 / d
    return (xi, scale) if 0.0 < xi < 1.0 and scale > 0 else None


def resample(sample: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Draws with replacement from sample; a heavy tail is extended beyond the sample.

    A finite sample has a largest value, a heavy-tailed process has none: at a target ARL0
    near the sample size the rare values beyond it decide the false alarms of a chart. Each
    tail (beyond the 2% / 98% quantiles, when it holds at least 20 values) whose generalised
    Pareto fit is heavy (:func:`gpd_tail`) is redrawn from that fit; light tails are resampled
    as they are.
    """
    out = sample[rng.integers(0, sample.size, size=size)]
    if sample.size * _TAIL_Q < _MIN_EXCEED:
        return out
    for sign in (1.0, -1.0):
        s = sign * sample
        u = float(np.quantile(s, 1.0 - _TAIL_Q))
        fit = gpd_tail(s[s > u] - u)
        hit = sign * out > u
        if fit is None or not hit.any():
            continue
        xi, scale = fit
        v = rng.random(int(hit.sum()))
        out[hit] = sign * (u + scale / xi * (v ** -xi - 1.0))
    return out


def markov_rates(reference: np.ndarray) -> tuple[float, float] | None:
    """P(1 | 0), P(1 | 1) of a 0/1 reference when a two-state Markov chain beats i.i.d. draws
    by BIC (one more parameter), else None.

    Examples
    --------
    >>> import numpy as np
    >>> markov_rates(np.array([0.0, 1.0] * 50)) is not None  # strictly alternating
    True
    >>> markov_rates((np.random.default_rng(0).random(2000) < 0.3).astype(float)) is None
    True
    """
    a, b = reference[:-1], reference[1:]
    n = b.size
    counts = np.array([[np.sum((a == i) & (b == j)) for j in (0, 1)] for i in (0, 1)])  # (2, 2)

    def loglik(table: np.ndarray) -> float:
        tot = table.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(table > 0, table * np.log(table / tot), 0.0)
        return float(terms.sum())

    markov = loglik(counts)
    iid = loglik(counts.sum(axis=0))
    if not (-2 * markov + 2 * math.log(n) < -2 * iid + math.log(n)) or counts.sum(1).min() == 0:
        return None
    return counts[0, 1] / counts[0].sum(), counts[1, 1] / counts[1].sum()


def _binary_bootstrap(ref: np.ndarray, rng: np.random.Generator,
                      shape: tuple[int, int]) -> np.ndarray:
    """0/1 null values: i.i.d. from the reference, or its fitted two-state Markov chain."""
    rates = markov_rates(ref)
    if rates is None:
        return ref[rng.integers(0, ref.size, size=shape)]
    p01, p11 = rates
    u = rng.random((shape[0], shape[1] + _BURN_IN))
    out = np.empty(shape)
    _markov_paths(p01, p11, u, _BURN_IN, out)
    return out


@kernel
def _markov_paths(p01, p11, u, burn, out):
    """out (S, T) <- a 0/1 chain with P(1 | 0) = p01, P(1 | 1) = p11, after burn steps."""
    for s in range(u.shape[0]):
        x = 0.0
        for t in range(u.shape[1]):
            x = 1.0 if u[s, t] < (p11 if x == 1.0 else p01) else 0.0
            if t >= burn:
                out[s, t - burn] = x


def null_values(
    n_streams: int,
    n_steps: int,
    rng: np.random.Generator,
    *,
    model: str = "gaussian",
    model_params: dict[str, Any] | None = None,
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """In-control values for ``n_streams`` independent streams, shape (S, T), float64.

    With a ``reference`` sample, values are drawn from it by a sieve bootstrap: the reference's
    autoregressive order is chosen by BIC (:func:`ar_order`); at order 0 values are drawn i.i.d.
    from it with replacement (the plain bootstrap), otherwise its centred AR residuals are
    drawn i.i.d. and run through the fitted AR recursion, so serial correlation in the
    reference (which shortens the run lengths of CUSUM-type sums) is kept in the null streams,
    and so are heavy tails (extended beyond the reference by :func:`resample`). A 0/1 reference
    stays 0/1: i.i.d. draws, or its fitted two-state
    Markov chain when that fits better by BIC (:func:`markov_rates`). Without a reference,
    from the model: ``"gaussian"`` (``loc``, ``scale``) or ``"bernoulli"`` (``p``, values
    0.0/1.0).

    Examples
    --------
    >>> import numpy as np
    >>> null_values(2, 4, np.random.default_rng(0), model="bernoulli", model_params={"p": 0.5})
    array([[0., 1., 1., 1.],
           [0., 0., 0., 0.]])
    """
    shape = (int(n_streams), int(n_steps))
    if reference is not None:
        ref = check_reference(reference)
        if np.isin(ref, (0.0, 1.0)).all():
            return _binary_bootstrap(ref, rng, shape)
        p, phi = ar_order(ref)
        if p == 0:
            return resample(ref, rng, shape)
        mean = float(ref.mean())
        x = ref - mean
        resid = x[p:] - np.stack([x[p - i - 1: ref.size - i - 1] for i in range(p)], 1) @ phi
        resid -= resid.mean()
        innovations = resample(resid, rng, (shape[0], shape[1] + _BURN_IN))
        out = np.empty(shape)
        _ar_paths(phi, mean, innovations, _BURN_IN, out)
        return out
    params = check_model(model, model_params)
    if model == "gaussian":
        out = rng.standard_normal(shape)  # (S, T)
        out *= params["scale"]
        out += params["loc"]
        return out
    return (rng.random(shape) < params["p"]).astype(np.float64)


def _levels(n_samples: int, changes: Any, levels: Any, name: str) -> np.ndarray:
    """The (T,) level of each sample: piecewise constant, linear ramps over gradual changes."""
    from adaptive.calibration.evaluation import normalize_changes

    spans = normalize_changes(changes, n_samples)  # (C, 2) start, end
    lv = np.asarray(levels, dtype=np.float64)
    if lv.ndim != 1 or lv.size != spans.shape[0] + 1:
        raise ValueError(
            f"{name} must have one entry per segment ({spans.shape[0] + 1} for "
            f"{spans.shape[0]} changes), got shape {lv.shape}"
        )
    if not np.isfinite(lv).all():
        raise ValueError(f"{name} must be finite, got {lv}")
    t = np.arange(n_samples, dtype=np.float64)
    out = np.full(n_samples, lv[0])
    for i, (start, end) in enumerate(spans):
        # fraction of the way from level i to level i+1: 0 before start, 1 from end on
        frac = np.clip((t - start + 1.0) / (end - start + 1.0), 0.0, 1.0)
        out += frac * (lv[i + 1] - lv[i])
    return out


def _check_n(n_samples: int) -> int:
    check_int("n_samples", n_samples, 1)
    return int(n_samples)


def gaussian_shift(
    n_samples: int, changes: Any, means: Any, *, std: float = 1.0, seed: int | None = None
) -> np.ndarray:
    """A Gaussian stream (T,) whose mean moves to ``means[i + 1]`` at change ``i``.

    Examples
    --------
    >>> x = gaussian_shift(6, [3], [0.0, 10.0], std=0.1, seed=0)
    >>> np.round(x, 1)
    array([ 0. , -0. ,  0.1, 10. ,  9.9, 10. ])
    """
    n = _check_n(n_samples)
    if not (np.isfinite(std) and std > 0):
        raise ValueError(f"std={std!r} must be finite and > 0")
    mu = _levels(n, changes, means, "means")  # (T,)
    return mu + std * np.random.default_rng(seed).standard_normal(n)


def bernoulli_shift(
    n_samples: int, changes: Any, rates: Any, *, seed: int | None = None
) -> np.ndarray:
    """A 0/1 stream (T,), e.g. a classifier's errors, whose rate moves to ``rates[i + 1]``.

    Examples
    --------
    >>> bernoulli_shift(8, [4], [0.0, 1.0], seed=0)
    array([0., 0., 0., 0., 1., 1., 1., 1.])
    """
    n = _check_n(n_samples)
    p = _levels(n, changes, rates, "rates")  # (T,)
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(f"rates must be in [0, 1], got {rates}")
    return (np.random.default_rng(seed).random(n) < p).astype(np.float64)
