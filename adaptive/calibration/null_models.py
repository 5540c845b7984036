"""Synthetic streams for calibrating and evaluating drift detectors.

Two kinds of generators:

- *null* (in-control) values for many streams at once, shape (S, T), from a Gaussian or
  Bernoulli model or by bootstrap (i.i.d. resampling with replacement) from a reference sample:
  what :func:`adaptive.calibrate` simulates false alarms on;
- single streams with known change points (abrupt, or gradual as ``(start, end)`` pairs):
  a Gaussian mean shift and a Bernoulli error-rate shift, for :mod:`adaptive.evaluate`.

Change points use the convention of :mod:`adaptive.evaluate`: an abrupt change at ``t`` means
values from index ``t`` on follow the new regime; a gradual change ``(start, end)`` moves the
level linearly from the old value (at ``start``) to the new one (reached at ``end``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adaptive._checks import check_int

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

    With a ``reference`` sample, values are drawn i.i.d. from it with replacement (bootstrap);
    otherwise from the model: ``"gaussian"`` (``loc``, ``scale``) or ``"bernoulli"`` (``p``,
    values 0.0/1.0).

    Examples
    --------
    >>> import numpy as np
    >>> null_values(2, 4, np.random.default_rng(0), model="bernoulli", model_params={"p": 0.5})
    array([[1., 0., 0., 0.],
           [1., 1., 1., 1.]])
    """
    shape = (int(n_streams), int(n_steps))
    if reference is not None:
        ref = check_reference(reference)
        return ref[rng.integers(0, ref.size, size=shape)]
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
