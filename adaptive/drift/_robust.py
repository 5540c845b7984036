"""The robust warm-up of the scale-free detectors: location and scale from a short buffer.

BOCPD, ScaleCUSUM and MeanScaleCUSUM keep their first ``warm_start`` values after each
(re)start in the state row, estimate the location by the median and the scale by a trimmed
standard deviation around it (:func:`robust_scale`), and then replay the buffer through their
statistic, so the warm-up values are monitored too. Outliers or a change inside the warm-up
bias the unit far less than a mean and standard deviation would.
:class:`~adaptive.drift.ScaleFree` applies the same estimate to any detector.
"""

from __future__ import annotations

import math

import numpy as np

from adaptive.drift._drivers import kernel

MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): the MAD of a normal sample estimates 0.6745 sigma


TRIM = 3.0  # values farther than TRIM robust sigmas from the median leave the scale estimate
TRIM_CONSISTENCY = 0.9733369246625415  # Var(Z | |Z| <= 3) for Z ~ N(0, 1)


@kernel
def robust_scale(buf, med):
    """Scale of buf (n >= 2) around med: a 3-sigma trimmed standard deviation.

    The first guess is 1.4826 MAD (the standard deviation if the MAD is 0, 1 if that is 0); the
    root mean square deviation from the median of the values within 3 guesses of it, divided by
    its value under normality, refines it: as robust to a few outliers, and about as precise
    as the standard deviation on normal data (the MAD alone has 37% of its efficiency, too
    noisy for a spread chart started on 30 values).
    """
    n = buf.shape[0]
    if buf.max() == buf.min():
        return 1.0
    s = MAD_TO_SIGMA * np.median(np.abs(buf - med))
    if not s > 0.0:
        s = np.std(buf) * math.sqrt(n / (n - 1.0))
        if not s > 0.0:  # distinct values whose spread underflows (subnormal differences)
            return 1.0
    ss, k = 0.0, 0
    for i in range(n):
        d = buf[i] - med
        if abs(d) <= TRIM * s:
            ss += d * d
            k += 1
    return math.sqrt(ss / (k - 1.0) / TRIM_CONSISTENCY) if k > 1 and ss > 0.0 else s


def robust_location_scale(values: np.ndarray) -> tuple[float, float]:
    """The plain-numpy estimate (median, scale) of the kernels above, for references."""
    med = float(np.median(values))
    if values.max() == values.min():
        return med, 1.0
    s = MAD_TO_SIGMA * float(np.median(np.abs(values - med)))
    if not s > 0.0:
        s = float(np.std(values, ddof=1))
        if not s > 0.0:
            return med, 1.0
    d = values[np.abs(values - med) <= TRIM * s] - med
    ss = float(np.sum(d * d))
    return med, (math.sqrt(ss / (d.size - 1) / TRIM_CONSISTENCY) if d.size > 1 and ss > 0 else s)


@kernel
def buffer_warm_up(st, x, p, n_slot, buf_slot, mu_slot, sigma_slot, p_warm, p_mu0, p_sigma):
    """Keep x in the warm-up buffer (st[n_slot] already counts it).

    Returns -1 while the warm-up goes on, 0 when no warm-up is needed (mu0 and sigma given),
    and 1 when x completed it: then st[mu_slot] / st[sigma_slot] hold the estimates (or the
    given values) and the caller replays st[buf_slot:buf_slot + warm_start].
    """
    if p[p_mu0] == p[p_mu0] and p[p_sigma] == p[p_sigma]:
        return 0
    n = int(st[n_slot])
    warm = int(p[p_warm])
    if n > warm:
        return 0
    st[buf_slot + n - 1] = x
    if n < warm:
        return -1
    buf = st[buf_slot:buf_slot + warm]
    med = np.median(buf)
    st[mu_slot] = med if p[p_mu0] != p[p_mu0] else p[p_mu0]
    st[sigma_slot] = robust_scale(buf, med) if p[p_sigma] != p[p_sigma] else p[p_sigma]
    return 1


@kernel
def refine_unit(st, x, p, mu_slot, sigma_slot, acc, p_mu0, p_sigma, p_cap):
    """After the warm-up, keep refining the unit with in-control-looking values.

    A plug-in unit from a short warm-up stays wrong forever, and a sigma estimated 20% low
    sets off a spread chart within a few hundred values: the run lengths of such charts are
    heavy-tailed, with many early false alarms behind a long mean. So each value within 3
    sigma of the location (a value beyond is left out, as in :func:`robust_scale`) updates
    running Welford sums in st[acc], st[acc + 1], st[acc + 2] (count, mean, squared
    deviations; seeded with the warm-up's estimate), until ``p[p_cap]`` values are in; the
    unit in use (mu_slot, sigma_slot) follows them, unless given as parameters.
    """
    if (p[p_mu0] == p[p_mu0] and p[p_sigma] == p[p_sigma]) or st[acc] >= p[p_cap]:
        return
    if abs(x - st[mu_slot]) > TRIM * st[sigma_slot]:
        return
    n = st[acc] + 1.0
    delta = x - st[acc + 1]
    st[acc + 1] += delta / n
    st[acc + 2] += delta * (x - st[acc + 1])
    st[acc] = n
    if p[p_mu0] != p[p_mu0]:
        st[mu_slot] = st[acc + 1]
    if p[p_sigma] != p[p_sigma]:
        s = math.sqrt(st[acc + 2] / (n - 1.0) / TRIM_CONSISTENCY)
        if s > 0.0:
            st[sigma_slot] = s


@kernel
def seed_refinement(st, mu_slot, sigma_slot, acc, n):
    """Start the sums of :func:`refine_unit` at the warm-up's estimate, worth n values."""
    st[acc] = n
    st[acc + 1] = st[mu_slot]
    st[acc + 2] = st[sigma_slot] ** 2 * (n - 1.0) * TRIM_CONSISTENCY
