"""A fleet of PageHinkley, CUSUM or EWMA streams as torch tensors (CPU or CUDA).

The numba :class:`~adaptive.Fleet` walks streams one by one. Where a detector's step is a
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

from adaptive.drift import _welford as W
from adaptive.drift import cusum as C
from adaptive.drift import ewma as E
from adaptive.drift import page_hinkley as PH
from adaptive.drift._drivers import limit
from adaptive.drift.base import DRIFT, DRIFT_FLAG, WARNING, WARNING_FLAG, Alarms, Detector
from adaptive.drift.cusum import CUSUM
from adaptive.drift.ewma import EWMA
from adaptive.drift.fleet import Fleet
from adaptive.drift.page_hinkley import PageHinkley


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


def _mode_drift(mode: torch.Tensor, up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """The drift of a chart with a mode slot (0 "up", 1 "down", 2 "both")."""
    return torch.where(mode == 0.0, up, torch.where(mode == 1.0, down, up | down))


def _ph_step(st, x, p):
    """PageHinkley on all streams: st (S, F), x (S,), p (S, P) -> new st, codes (S,)."""
    new = st.clone()
    n = new[:, PH.N] = st[:, PH.N] + 1.0
    mean = new[:, PH.MEAN] = st[:, PH.MEAN] + (1.0 / n) * (x - st[:, PH.MEAN])
    dev = x - mean
    s_inc = new[:, PH.SUM_INC] = p[:, PH.P_ALPHA] * st[:, PH.SUM_INC] + dev - p[:, PH.P_DELTA]
    s_dec = new[:, PH.SUM_DEC] = p[:, PH.P_ALPHA] * st[:, PH.SUM_DEC] + dev + p[:, PH.P_DELTA]
    min_inc = new[:, PH.MIN_INC] = torch.where(s_inc < st[:, PH.MIN_INC], s_inc,
                                               st[:, PH.MIN_INC])
    max_dec = new[:, PH.MAX_DEC] = torch.where(s_dec > st[:, PH.MAX_DEC], s_dec,
                                               st[:, PH.MAX_DEC])
    up = s_inc - min_inc > p[:, PH.P_THRESHOLD]
    down = max_dec - s_dec > p[:, PH.P_THRESHOLD]
    drift = _mode_drift(p[:, PH.P_MODE], up, down) & (n >= p[:, PH.P_MIN_INSTANCES])
    new[:, DRIFT_FLAG] = drift.to(st.dtype)
    return new, drift.to(torch.int8) * DRIFT


def _warm_up(new, st, x, p):
    """The charts' Welford warm-up (see adaptive.drift._welford) on all streams, into ``new``;
    returns the (S,) masks of streams in their warm-up and of those ending it."""
    n = new[:, W.N] = st[:, W.N] + 1.0
    estimating = torch.isnan(p[:, W.P_MU0]) | torch.isnan(p[:, W.P_SIGMA])
    warm = (n <= p[:, W.P_WARM_START]) & estimating
    mean_old = st[:, W.WARM_MEAN]
    mean = mean_old + (x - mean_old) / n
    m2 = st[:, W.WARM_M2] + (x - mean_old) * (x - mean)
    end = warm & (n >= p[:, W.P_WARM_START])
    new[:, W.MU0] = torch.where(end & torch.isnan(p[:, W.P_MU0]), mean, st[:, W.MU0])
    new[:, W.SIGMA] = torch.where(end & torch.isnan(p[:, W.P_SIGMA]), _sqrt(m2 / (n - 1.0)),
                                  st[:, W.SIGMA])
    new[:, W.WARM_MEAN] = torch.where(warm, mean, mean_old)
    new[:, W.WARM_M2] = torch.where(warm, m2, st[:, W.WARM_M2])
    return warm, end


def _cusum_step(st, x, p):
    """CUSUM on all streams: st (S, F), x (S,), p (S, P) -> new st, codes (S,)."""
    new = st.clone()
    warm, _ = _warm_up(new, st, x, p)
    d = x - st[:, C.MU0]
    limit = torch.full_like(d, C.LIMIT)  # |z| and the sums are capped as in the numba kernel
    z = torch.where(st[:, C.SIGMA] > 0.0, d / st[:, C.SIGMA],
                    torch.where(d == 0.0, torch.zeros_like(d), torch.where(d > 0.0, limit, -limit)))
    z = torch.where(z <= C.LIMIT, z, limit)
    z = torch.where(z >= -C.LIMIT, z, -limit)
    sp = _pos(st[:, C.S_POS] + z - p[:, C.P_K])
    sn = _pos(st[:, C.S_NEG] - z - p[:, C.P_K])
    sp = torch.where(sp < C.LIMIT, sp, limit)
    sn = torch.where(sn < C.LIMIT, sn, limit)
    drift = _mode_drift(p[:, C.P_MODE], sp > p[:, C.P_H], sn > p[:, C.P_H]) & ~warm
    new[:, C.S_POS] = torch.where(warm, st[:, C.S_POS], sp)
    new[:, C.S_NEG] = torch.where(warm, st[:, C.S_NEG], sn)
    new[:, DRIFT_FLAG] = drift.to(st.dtype)
    return new, drift.to(torch.int8) * DRIFT


def _ewma_step(st, x, p):
    """EWMA chart on all streams: st (S, F), x (S,), p (S, P) -> new st, codes (S,)."""
    new = st.clone()
    warm, end = _warm_up(new, st, x, p)
    lam = p[:, E.P_LAMBDA]
    z = lam * x + (1.0 - lam) * st[:, E.Z]
    f = st[:, E.DECAY] * ((1.0 - lam) * (1.0 - lam))
    width = st[:, E.SIGMA] * _sqrt(lam / (2.0 - lam) * (1.0 - f))
    dev = torch.abs(z - st[:, E.MU0])
    drift = (dev > p[:, E.P_L] * width) & ~warm
    warn = ~drift & (dev > p[:, E.P_WARNING_L] * width) & ~warm  # nan warning_L: never
    new[:, E.T] = torch.where(warm, st[:, E.T], st[:, E.T] + 1.0)
    new[:, E.Z] = torch.where(warm, torch.where(end, new[:, E.MU0], st[:, E.Z]), z)
    new[:, E.DECAY] = torch.where(warm, st[:, E.DECAY], f)
    new[:, DRIFT_FLAG] = drift.to(st.dtype)
    new[:, WARNING_FLAG] = torch.where(warm, st[:, WARNING_FLAG], warn.to(st.dtype))
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
        Per-stream parameters, as for :class:`~adaptive.Fleet`.

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
        return self.state[:, DRIFT_FLAG] != 0.0

    @property
    def warning_detected(self) -> torch.Tensor:
        """(S,) bool: streams whose last update signalled a warning."""
        return self.state[:, WARNING_FLAG] != 0.0

    @torch.no_grad()
    def update(self, values: torch.Tensor) -> Alarms:
        """Feed one step (S,) or T steps (T, S); returns boolean masks shaped like ``values``.

        Non-finite values and values above the detector's ``max_abs_input`` raise
        ``ValueError`` (one host sync per call), or are skipped and counted with the detector's
        ``nan_policy="skip"``.
        """
        v = torch.as_tensor(values, dtype=torch.float64, device=self.state.device)
        single = v.ndim == 1
        v2 = v[None, :] if single else v
        if v2.ndim != 2 or v2.shape[1] != self.n_streams:
            raise ValueError(f"values must have shape ({self.n_streams},) or "
                             f"(T, {self.n_streams}), got {tuple(v.shape)}")
        bound = limit(self.detector.max_abs_input)
        finite = (v2 <= bound) & (v2 >= -bound)  # (T, S): accepted (False for nan, inf, huge)
        if self.detector.nan_policy != "skip" and not bool(finite.all()):
            raise ValueError(
                "values contain non-finite entries or entries above max_abs_input="
                f"{self.detector.max_abs_input!r} in absolute value; pass nan_policy='skip' to "
                "the detector to skip them")
        codes = torch.zeros(v2.shape, dtype=torch.int8, device=v2.device)  # (T, S)
        st = self.state
        for t in range(v2.shape[0]):
            reset = (st[:, DRIFT_FLAG] != 0.0)[:, None]  # River's reset on the update after a drift
            st_in = torch.where(reset, self._fresh, st)
            new, code = self._step(st_in, v2[t], self.params)
            ok = finite[t]
            st = torch.where(ok[:, None], new, st)
            codes[t] = torch.where(ok, code, torch.zeros_like(code))
        self.state = st
        self.n_skipped += (~finite).sum(dim=0).to(self.n_skipped.dtype)
        if single:
            codes = codes[0]
        return Alarms(codes == DRIFT, codes == WARNING)  # type: ignore[arg-type]
