"""Two-sided CUSUM chart for a change of spread (Page, 1954, on the log-likelihood ratio).

On standardised values ``z = (x - mu0) / sigma`` the log-likelihood ratio of N(0, ratio^2)
against N(0, 1) for one value is ``a z^2 - b`` with ``a = (1 - 1/ratio^2) / 2`` and
``b = log(ratio)``; the chart accumulates it for an increase of the standard deviation by
``ratio`` and for a decrease by ``1 / ratio``:

    U = max(0, U + a_up z^2 - b_up)          D = max(0, D + a_dn z^2 - b_dn)

and signals a drift when ``U > h`` or ``D > h``. Because both sums are in log-likelihood units
(as is :class:`MeanScaleCUSUM`'s mean part), one decision interval ``h`` serves both
directions; by Wald's approximation the in-control run length grows like ``exp(h)``. For
N(0, 1) data and ``ratio = 1.5`` (known mu0 and sigma), the simulated ARL0 of each one-sided
sum is about 2,700 (up) and 1,500 (down) at ``h = 5``, 54,000 and 32,000 at ``h = 8``.

``mu0`` and ``sigma`` are given, or estimated robustly from the first ``warm_start`` values
after each (re)start, replayed, and refined on later in-control values
(:mod:`adaptive.drift._robust`). After an alarm ``change_lag`` is the number of values between
the estimated change (where the alarming sum last left 0) and the alarm. The recurrence is
:class:`MeanScaleCUSUM`'s (one kernel) with its mean sums switched off (``shift = 0``).

References
----------
E. S. Page. Continuous inspection schemes. Biometrika 41(1/2), 100-115, 1954.
D. M. Hawkins, D. H. Olwell. Cumulative Sum Charts and Charting for Quality Improvement,
Springer, 1998, ch. 6 (CUSUMs for scale).
"""

from __future__ import annotations

from adaptive.drift.mean_scale import MeanScaleCUSUM, spread_llr

__all__ = ["ScaleCUSUM", "spread_llr"]


class ScaleCUSUM(MeanScaleCUSUM):
    """Two-sided CUSUM chart for a change of the standard deviation (scale-free by default).

    Parameters
    ----------
    ratio
        The change of standard deviation to detect, > 1: up by ``ratio`` or down by
        ``1 / ratio``.
    h
        Decision interval, in log-likelihood units, > 0.
    warm_start
        Values used to estimate ``mu0`` / ``sigma`` when not given (>= 3; then replayed).
    mu0, sigma
        In-control mean and standard deviation (raw units); ``None`` estimates them (median,
        MAD) from the warm-up after each (re)start.
    refine
        In-control values after the warm-up that keep refining the estimates (0: frozen).
    nan_policy
        ``"raise"`` (default) or ``"skip"`` (ignore non-finite values and count them).

    Notes
    -----
    The defaults ``h = 6``, ``warm_start = 50``, ``refine = 2000`` give an in-control ARL0 of
    about 2,300 on Gaussian data (2,244-2,403: ``estimate_arl0(ScaleCUSUM(), n_streams=50,
    max_steps=200_000, seed=0)``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(4)
    >>> x = np.concatenate([rng.normal(5.0, 1.0, 400), rng.normal(5.0, 2.0, 200)])
    >>> det = ScaleCUSUM()
    >>> for t, v in enumerate(x):
    ...     det.update(v)
    ...     if det.drift_detected:  # alarm, kind, estimated change point
    ...         print(t, det.change_kind, t - det.change_lag)
    400 spread up 365
    """

    _fleet_params = ("h", "ratio", "mu0", "sigma")

    @classmethod
    def _unit_test_params(cls):
        """Non-default configurations for the test suites (River's convention)."""
        yield {"h": 3.0, "warm_start": 10}
        yield {"mu0": 0.0, "sigma": 1.0, "ratio": 2.0, "h": 4.0}

    def __init__(self, ratio: float = 1.5, h: float = 6.0, warm_start: int = 50,
                 mu0: float | None = None, sigma: float | None = None, refine: int = 2000, *,
                 nan_policy: str = "raise"):
        self.shift = 0.0  # the mean sums of the shared kernel stay at 0
        self._setup(ratio, h, warm_start, mu0, sigma, refine, nan_policy)

    @property
    def change_kind(self) -> str | None:
        """After an alarm: "spread up" or "spread down"."""
        return super().change_kind
