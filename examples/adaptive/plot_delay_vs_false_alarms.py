"""
Detection delay against false alarms
====================================

Every detector trades speed for false alarms through one parameter: a higher threshold means
fewer false alarms and later detections. This example measures the trade-off of four detectors
on the same data, with one fleet per detector whose streams run different values of that
parameter (a :class:`adaptive.Fleet` takes per-stream parameters):

- false alarms per 1,000 readings on in-control data, N(0, 1);
- the mean delay to detect a mean shift of one standard deviation (1,000 readings of N(0, 1),
  then N(1, 1)), counted from the change to the first alarm after it, over the streams with no
  alarm in the 100 readings before the change (a detector that has just alarmed restarts, and
  CUSUM and EWMA would then re-estimate their in-control level).

CUSUM and EWMA are given the in-control mean and standard deviation (0 and 1), as in the
textbook charts; PageHinkley and ADWIN estimate what they need from the stream.

A curve further down and to the left is better. :func:`adaptive.calibrate` picks the point of a
curve that meets a target false-alarm rate (an ARL0, the mean run length between false alarms,
is 1,000 over the rate per 1,000 readings).
"""

# %%
# Streams, detectors and their parameter grids
# --------------------------------------------
import matplotlib.pyplot as plt
import numpy as np

from adaptive import ADWIN, CUSUM, EWMA, Fleet, PageHinkley

REPS = 60  # streams per parameter value
T_NULL, T_SHIFT, CHANGE = 10_000, 2_000, 1_000
DETECTORS = {  # label: (template, parameter, values from sensitive to conservative)
    "PageHinkley (threshold)": (PageHinkley(), "threshold", np.geomspace(10, 160, 7)),
    "CUSUM, k = 0.5 (h)": (CUSUM(k=0.5, mu0=0.0, sigma=1.0), "h", np.geomspace(3.0, 12, 7)),
    "EWMA, lambda = 0.2 (L)": (EWMA(lambda_=0.2, mu0=0.0, sigma=1.0), "L",
                               np.linspace(2.5, 4.0, 7)),
    "ADWIN (delta)": (ADWIN(), "delta", np.geomspace(0.9, 0.002, 7)),
}
rng = np.random.default_rng(0)


def measure(template, param, values):
    """False alarms per 1000 and mean delay for each value; REPS streams per value."""
    per_stream = np.repeat(values, REPS)  # (S,)
    s = per_stream.size
    null = rng.normal(0, 1, (T_NULL, s))  # (T, S) in-control readings
    false_alarms = Fleet(template, s, **{param: per_stream}).update(null).drift  # (T, S)
    shifted = rng.normal(0, 1, (T_SHIFT, s))
    shifted[CHANGE:] += 1.0
    mask = Fleet(template, s, **{param: per_stream}).update(shifted).drift  # (T, S)
    quiet = ~mask[CHANGE - 100 : CHANGE].any(axis=0)  # (S,) no alarm just before the change
    alarms = mask[CHANGE:]
    detected = alarms.any(axis=0)  # (S,)
    delay = np.where(detected & quiet, alarms.argmax(axis=0), np.nan)  # first alarm after
    rate = 1000 * false_alarms.sum(axis=0) / T_NULL  # (S,)
    by_value = lambda a: np.nanmean(a.reshape(len(values), REPS), axis=1)  # noqa: E731
    return by_value(rate), by_value(delay), by_value(detected.astype(float))


results = {label: measure(*spec) for label, spec in DETECTORS.items()}
for label, (rate, delay, found) in results.items():
    print(label)
    for v, r, d, f in zip(DETECTORS[label][2], rate, delay, found):
        print(f"  {DETECTORS[label][1]} = {v:<8.4g} false alarms / 1000: {r:7.3f}   "
              f"mean delay: {d:6.1f}   detected: {f:.0%}")

# %%
# The trade-off
# -------------
# A setting without a single false alarm in the 600,000 in-control readings it read is drawn at
# that resolution (an open marker): its true rate is below it.
floor = 1000 / (T_NULL * REPS)
fig, ax = plt.subplots(figsize=(7, 4.5))
for i, (label, (rate, delay, _)) in enumerate(results.items()):
    ax.plot(np.maximum(rate, floor), delay, color=f"C{i}", label=label)
    seen = rate > 0
    ax.plot(rate[seen], delay[seen], "o", color=f"C{i}")
    ax.plot(np.full((~seen).sum(), floor), delay[~seen], "o", mfc="none", color=f"C{i}")
ax.set_xscale("log")
ax.set_xlabel("false alarms per 1,000 in-control readings (log)")
ax.set_ylabel("mean delay to detect a 1-sd shift (readings)")
ax.grid(alpha=0.3, which="both")
ax.legend()
fig.tight_layout()
plt.show()
