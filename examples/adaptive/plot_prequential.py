"""
A prequential curve with the drifts marked
==========================================

Test-then-train evaluation of an online learner on a stream whose concept changes twice: each
sample is first predicted and scored, then learned. Three learners share one network and its
initial weights: without adaptation; with the learner's default adaptation (a one-sided HDDM_W
on its errors starts a race of a candidate model, which replaces the current one only when it
is better on the same samples); and with an explicit recipe (ADWIN on the errors; on a drift,
clear the optimizer's moments, boost the learning rate and replay the newest samples). The
rolling accuracies are drawn with the true change points and the default learner's alarms.

When the race's candidate does not win (a change the network absorbs by learning on, or a
false alarm), the default learner's curve is the one without adaptation: an alarm costs compute,
not accuracy.

The stream: two Gaussian features, the label is the side of a line through the origin, and the
line turns at samples 3,000 (by 90 degrees) and 6,000 (by another 90 degrees), so what was
learned before a change is wrong after it.
"""

# %%
# The stream and the two learners
# -------------------------------
import matplotlib.pyplot as plt
import numpy as np
import torch

from adaptive import ADWIN, OnlineLearner, prequential
from adaptive.online.policies import LRBoost, ResetMoments, WindowRetrain

torch.set_num_threads(1)
N, CHANGES = 9000, [3000, 6000]
rng = np.random.default_rng(0)
X = rng.normal(size=(N, 2)).astype(np.float32)  # (N, 2)
angle = np.repeat([0.0, np.pi / 2, np.pi], [3000, 3000, 3000])  # (N,) the line's direction
y = (X[:, 0] * np.cos(angle) + X[:, 1] * np.sin(angle) > 0).astype(np.int64)  # (N,)


def make_learner(kind: str) -> OnlineLearner:
    torch.manual_seed(0)  # all start from the same weights
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    if kind == "no adaptation":
        return OnlineLearner(model, optimizer, detector=None, policies=())
    if kind == "default (HDDM_W + race)":
        return OnlineLearner(model, optimizer)
    return OnlineLearner(model, optimizer, detector=ADWIN(), signal="error",
                         policies=[ResetMoments(), LRBoost(factor=5.0, half_life=300),
                                   WindowRetrain(window=128, epochs=2)])


results = {}
for name in ("no adaptation", "default (HDDM_W + race)", "ADWIN + reset, boost, replay"):
    results[name] = prequential(make_learner(name), (X, y), window=300, changes=CHANGES,
                                post_drift_window=1000, batch_size=8)
    r = results[name]
    after = ", ".join(f"{s:.3f}" for s in r.post_drift)
    print(f"{name:>28}: accuracy {r.score:.3f}; first 1000 after each change: {after}; "
          f"detector alarms at {r.drifts}")

# %%
# The curves
# ----------
# Rolling accuracy over the last 300 samples. Grey lines: the true changes; crosses: where the
# default learner's detector signalled a drift.
fig, ax = plt.subplots(figsize=(8, 4))
for name, r in results.items():
    ax.plot(np.arange(r.n), r.rolling, label=name)
for c in CHANGES:
    ax.axvline(c, color="grey", linestyle=":")
drifts = results["default (HDDM_W + race)"].drifts
ax.plot(drifts, np.full(len(drifts), 0.42), "x", color="C1", markersize=9, label="drift alarm")
ax.set_xlabel("sample")
ax.set_ylabel("rolling accuracy (300 samples)")
ax.set_ylim(0.4, 1.01)
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
