"""The warm-up shared by the control charts (CUSUM, EWMA): in-control mean and spread.

A chart whose ``mu0`` or ``sigma`` is not given estimates it from its first ``warm_start``
values after each (re)start, by Welford's recurrence. The slots below are the same in every
chart that uses this kernel (and in :class:`~adaptive.TorchFleet`'s tensor version).
"""

from __future__ import annotations

import math

from adaptive.drift._drivers import kernel
from adaptive.drift._soa import lane_kernel, put

# state slots (after the two flags)
N = 2  # values since the (re)start, warm-up included
MU0 = 5  # in-control mean in use (nan while estimated)
SIGMA = 6  # in-control standard deviation in use (nan while estimated)
WARM_MEAN = 7  # warm-up running mean
WARM_M2 = 8  # warm-up sum of squared deviations from the running mean
# param slots
P_MU0 = 2  # nan: estimate
P_SIGMA = 3  # nan: estimate
P_WARM_START = 4


@kernel
def estimating(p):
    """Whether the chart estimates mu0 or sigma (a warm-up phase exists)."""
    return p[P_MU0] != p[P_MU0] or p[P_SIGMA] != p[P_SIGMA]


@kernel
def warm_up(st, x, p):
    """Welford update with x (st[N] already counts it); fixes mu0/sigma at the end.

    Returns True when this value ended the warm-up.
    """
    n = st[N]
    mean_old = st[WARM_MEAN]
    st[WARM_MEAN] += (x - mean_old) / n
    st[WARM_M2] += (x - mean_old) * (x - st[WARM_MEAN])
    if n < p[P_WARM_START]:
        return False
    if p[P_MU0] != p[P_MU0]:
        st[MU0] = st[WARM_MEAN]
    if p[P_SIGMA] != p[P_SIGMA]:
        st[SIGMA] = math.sqrt(st[WARM_M2] / (n - 1.0))
    return True


@lane_kernel
def warm_up_lane(L, P, x, i, keep, estimate):  # noqa: E741
    """:func:`warm_up` on lane i of a fleet block, without branches; stores N and the warm-up
    slots (unless ``keep``: the lane falls back to the row kernel).

    ``estimate`` is a constant of the calling lane kernel: False when every stream's mu0 and
    sigma are given (no warm-up: its divisions and root are compiled away). Returns (warming,
    end, mu0): whether x belongs to the warm-up, whether it ends it, and the in-control mean in
    use from now on.
    """
    n = L[N, i] + 1.0
    put(L, N, i, keep, n)
    if not estimate:
        return False, False, L[MU0, i]
    mu_est = P[P_MU0, i] != P[P_MU0, i]
    sigma_est = P[P_SIGMA, i] != P[P_SIGMA, i]
    warming = (n <= P[P_WARM_START, i]) & (mu_est | sigma_est)
    mean_old = L[WARM_MEAN, i]
    mean = mean_old + (x - mean_old) / n
    m2 = L[WARM_M2, i] + (x - mean_old) * (x - mean)
    end = warming & (n >= P[P_WARM_START, i])
    mu0 = mean if (end & mu_est) else L[MU0, i]
    sigma = math.sqrt(m2 / (n - 1.0)) if (end & sigma_est) else L[SIGMA, i]
    put(L, WARM_MEAN, i, keep | (not warming), mean)
    put(L, WARM_M2, i, keep | (not warming), m2)
    put(L, MU0, i, keep, mu0)  # changed only where the warm-up ends (the chart then rests)
    put(L, SIGMA, i, keep, sigma)
    return warming, end, mu0
