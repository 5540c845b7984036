"""A fleet of PageHinkley, CUSUM or EWMA streams as torch tensors (CPU or CUDA).

The numba :class:`~adaptive.base.Fleet` walks streams one by one. Where a detector's step is a
fixed sequence of elementwise operations with no data-dependent structure (PageHinkley, CUSUM,
EWMA: no windows, no buckets), the same recurrence can run on all S streams at once as (S,)
tensor operations, one time step after another, so the state can live on a GPU next to the
model whose per-sample losses it watches (no host transfer per batch). Branches become
``torch.where``; every arithmetic operation is the numba kernel's, in the same order, so in
float64 the alarms and states equal :class:`Fleet`'s exactly (tested on CPU).

On a CPU the numba :class:`Fleet` is faster (each time step costs ~20 tensor-op launches);
this class pays off with many streams on a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from adaptive.base import DRIFT, WARNING, Alarms, Detector, Fleet
from adaptive.cusum import CUSUM
from adaptive.ewma import EWMA
from adaptive.page_hinkley import PageHinkley


def _sqrt(v: torch.Tensor) -> torch.Tensor:
    """Correctly rounded square root, as numba's (IEEE) sqrt.

    torch's CPU kernel for float64 is not correctly rounded (its vectorised sqrt can be one ulp
    off), so on the CPU the root is taken by NumPy; CUDA's double sqrt is IEEE round-to-nearest.
    """
    if v.device.type == "cpu":
        return torch.from_numpy(np.sqrt(v.numpy()))
    return torch.sqrt(v)


def _pos(v: torch.Tensor) -> torch.Tensor:
    """max(0.0, v) with Python's semantics (0.0 unless v > 0), as the numba kernel computes."""
    return torch.where(v > 0.0, v, torch.zeros_like(v))


def _ph_step(st, x, p):
    """PageHinkley on all streams: st (S, 8), x (S,), p (S, 5) -> new st, codes (S,)."""
    n = st[:, 2] + 1.0
    mean = st[:, 3] + (1.0 / n) * (x - st[:, 3])
    dev = x - mean
    s_inc = p[:, 3] * st[:, 4] + dev - p[:, 1]
    s_dec = p[:, 3] * st[:, 5] + dev + p[:, 1]
    min_inc = torch.where(s_inc < st[:, 6], s_inc, st[:, 6])
    max_dec = torch.where(s_dec > st[:, 7], s_dec, st[:, 7])
    up = s_inc - min_inc > p[:, 2]
    down = max_dec - s_dec > p[:, 2]
    mode = p[:, 4]
    drift = torch.where(mode == 0.0, up, torch.where(mode == 1.0, down, up | down))
    drift = drift & (n >= p[:, 0])
    new = torch.stack([drift.to(st.dtype), st[:, 1], n, mean, s_inc, s_dec, min_inc, max_dec], 1)
    return new, drift.to(torch.int8) * DRIFT


def _warm_up(st, x, p, mu_col, sigma_col):
    """The charts' Welford warm-up: (warm mask, updated mean/M2, mu0/sigma in use)."""
    n = st[:, 2] + 1.0
    estimating = torch.isnan(p[:, 2]) | torch.isnan(p[:, 3])
    warm = (n <= p[:, 4]) & estimating
    mean_old = st[:, 7]
    mean = mean_old + (x - mean_old) / n
    m2 = st[:, 8] + (x - mean_old) * (x - mean)
    end = warm & (n >= p[:, 4])
    mu = torch.where(end & torch.isnan(p[:, 2]), mean, st[:, mu_col])
    sigma = torch.where(end & torch.isnan(p[:, 3]), _sqrt(m2 / (n - 1.0)), st[:, sigma_col])
    return n, warm, end, torch.where(warm, mean, st[:, 7]), torch.where(warm, m2, st[:, 8]), \
        mu, sigma


def _cusum_step(st, x, p):
    """CUSUM on all streams: st (S, 9), x (S,), p (S, 6) -> new st, codes (S,)."""
    n, warm, _, mean, m2, mu, sigma = _warm_up(st, x, p, 5, 6)
    d = x - st[:, 5]
    inf = torch.full_like(d, float("inf"))
    z = torch.where(st[:, 6] > 0.0, d / st[:, 6],
                    torch.where(d == 0.0, torch.zeros_like(d), torch.copysign(inf, d)))
    sp = _pos(st[:, 3] + z - p[:, 0])
    sn = _pos(st[:, 4] - z - p[:, 0])
    up, down = sp > p[:, 1], sn > p[:, 1]
    mode = p[:, 5]
    drift = torch.where(mode == 0.0, up, torch.where(mode == 1.0, down, up | down)) & ~warm
    new = torch.stack([drift.to(st.dtype), st[:, 1], n, torch.where(warm, st[:, 3], sp),
                       torch.where(warm, st[:, 4], sn), mu, sigma, mean, m2], 1)
    return new, drift.to(torch.int8) * DRIFT


def _ewma_step(st, x, p):
    """EWMA chart on all streams: st (S, 10), x (S,), p (S, 6) -> new st, codes (S,)."""
    n, warm, end, mean, m2, mu, sigma = _warm_up(st, x, p, 5, 6)
    lam = p[:, 0]
    t = st[:, 3] + 1.0
    z = lam * x + (1.0 - lam) * st[:, 4]
    f = st[:, 9] * ((1.0 - lam) * (1.0 - lam))
    width = st[:, 6] * _sqrt(lam / (2.0 - lam) * (1.0 - f))
    dev = torch.abs(z - st[:, 5])
    drift = (dev > p[:, 1] * width) & ~warm
    warn = ~drift & (dev > p[:, 5] * width) & ~warm  # nan warning_L: never
    z_new = torch.where(warm, torch.where(end, mu, st[:, 4]), z)
    new = torch.stack([drift.to(st.dtype), torch.where(warm, st[:, 1], warn.to(st.dtype)), n,
                       torch.where(warm, st[:, 3], t), z_new, mu, sigma, mean, m2,
                       torch.where(warm, st[:, 9], f)], 1)
    codes = drift.to(torch.int8) * DRIFT + warn.to(torch.int8) * WARNING
    return new, codes


_STEPS = {PageHinkley: _ph_step, CUSUM: _cusum_step, EWMA: _ewma_step}


class TorchFleet:
    """S streams of a PageHinkley, CUSUM or EWMA detector as torch tensors.

    Parameters
    ----------
    detector
        A configured PageHinkley, CUSUM or EWMA (a template; never updated itself).
    n_streams
        Number of streams S.
    device
        Where the state lives (default: the CPU).
    **params
        Per-stream parameters, as for :class:`~adaptive.base.Fleet`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from adaptive import CUSUM
    >>> values = np.random.default_rng(0).normal(0.0, 1.0, size=(400, 3))  # (T, S)
    >>> values[200:, 2] += 2.0
    >>> fleet = TorchFleet(CUSUM(mu0=0.0, sigma=1.0), 3)
    >>> drift, _ = fleet.update(torch.from_numpy(values))
    >>> pairs = torch.nonzero(drift)  # (t, s) pairs
    >>> pairs[:3].tolist(), len(pairs)
    ([[203, 2], [207, 2], [210, 2]], 54)
    """

    def __init__(self, detector: Detector, n_streams: int, /, *,
                 device: torch.device | str | None = None, **params: Any):
        if type(detector) not in _STEPS:
            raise TypeError(
                f"detector must be one of {[c.__name__ for c in _STEPS]}, "
                f"got {type(detector).__name__}"
            )
        self._from_fleet(Fleet(detector, n_streams, **params), device)

    def _from_fleet(self, fleet: Fleet, device) -> None:
        self.detector = fleet.detector
        self._step = _STEPS[type(self.detector)]
        dev = torch.device("cpu") if device is None else torch.device(device)
        self.state = torch.as_tensor(fleet._state, dtype=torch.float64, device=dev).clone()
        self.params = torch.as_tensor(fleet._params, dtype=torch.float64, device=dev).clone()
        fresh = fleet._state.copy()
        fleet.reset()
        self._fresh = torch.as_tensor(fleet._state, dtype=torch.float64, device=dev).clone()
        fleet._state = fresh
        self.n_skipped = torch.as_tensor(fleet.n_skipped, device=dev).clone()

    @classmethod
    def from_fleet(cls, fleet: Fleet, device: torch.device | str | None = None) -> TorchFleet:
        """A TorchFleet holding a copy of a numba Fleet's streams (state and parameters)."""
        if type(fleet.detector) not in _STEPS:
            raise TypeError(f"no torch step for {type(fleet.detector).__name__}")
        self = cls.__new__(cls)
        self._from_fleet(fleet, device)
        return self

    def to_fleet(self) -> Fleet:
        """A numba Fleet holding a copy of these streams (state and parameters)."""
        fleet = Fleet(self.detector, 0)
        fleet._state = self.state.cpu().numpy().copy()
        fleet._params = self.params.cpu().numpy().copy()
        fleet.n_skipped = self.n_skipped.cpu().numpy().astype(np.int64)
        return fleet

    @property
    def n_streams(self) -> int:
        return self.state.shape[0]

    @property
    def drift_detected(self) -> torch.Tensor:
        """(S,) bool: streams whose last update signalled a drift."""
        return self.state[:, 0] != 0.0

    @property
    def warning_detected(self) -> torch.Tensor:
        """(S,) bool: streams whose last update signalled a warning."""
        return self.state[:, 1] != 0.0

    @torch.no_grad()
    def update(self, values: torch.Tensor) -> Alarms:
        """Feed one step (S,) or T steps (T, S); returns boolean masks shaped like ``values``.

        Non-finite values raise ``ValueError`` (one host sync per call), or are skipped and
        counted with the detector's ``nan_policy="skip"``.
        """
        v = torch.as_tensor(values, dtype=torch.float64, device=self.state.device)
        single = v.ndim == 1
        v2 = v[None, :] if single else v
        if v2.ndim != 2 or v2.shape[1] != self.n_streams:
            raise ValueError(f"values must have shape ({self.n_streams},) or "
                             f"(T, {self.n_streams}), got {tuple(v.shape)}")
        finite = torch.isfinite(v2)  # (T, S)
        if self.detector.nan_policy != "skip" and not bool(finite.all()):
            raise ValueError("values contain non-finite entries; pass nan_policy='skip' to the "
                             "detector to ignore them")
        codes = torch.zeros(v2.shape, dtype=torch.int8, device=v2.device)  # (T, S)
        st = self.state
        for t in range(v2.shape[0]):
            reset = (st[:, 0] != 0.0)[:, None]  # River's reset on the update after a drift
            st_in = torch.where(reset, self._fresh, st)
            new, code = self._step(st_in, v2[t], self.params)
            ok = finite[t]
            st = torch.where(ok[:, None], new, st)
            codes[t] = torch.where(ok, code, torch.zeros_like(code))
        self.state = st
        self.n_skipped += (~finite).sum(dim=0).to(self.n_skipped.dtype)
        if single:
            codes = codes[0]
        return Alarms(codes == DRIFT, codes == WARNING)
