"""
Accuracy against the attack radius
==================================

A model trained the usual way is accurate on clean inputs and loses almost all of it under
small worst-case perturbations; an adversarially trained one (PGD-AT) gives up some clean
accuracy and keeps much more of it inside the radius it was trained for. This example trains
both on scikit-learn's 8x8 digits (1,347 training and 450 test images, bundled with
scikit-learn) and draws the PGD accuracy of each as the L-inf radius ``eps`` grows.

The sizes are small so that the page builds in seconds on a CPU: a 26k-parameter CNN, 8 epochs,
PGD-5 for training and PGD-10 for the curve. ``benchmarks/robust_quality.py`` runs the full
recipe (30 epochs, PGD-50 with restarts, AutoAttack, 3 seeds).
"""

# %%
# Data and the two models
# -----------------------
# Both models start from the same weights and see the same batches; only the objective
# differs: :class:`traincore.Supervised` (the default of :func:`traincore.fit`) or
# :class:`robust.PGDAT` at ``eps = 0.2``.
import time

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader

from robust import PGDAT, SmallCNN, accuracy_vs_eps
from robust.data import load_digits_split
from traincore import fit, seed_everything

torch.set_num_threads(1)
train, test = load_digits_split()
x_test, y_test = test.tensors  # (450, 1, 8, 8) in [0, 1], (450,)


def train_model(objective=None):
    seed_everything(0)
    model = SmallCNN()
    loader = DataLoader(train, batch_size=64, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    start = time.process_time()
    fit(model, loader, optimizer=optimizer, epochs=8, objective=objective, progress=False)
    return model, time.process_time() - start


standard, t_standard = train_model()
robust_model, t_robust = train_model(PGDAT(eps=0.2, steps=5))
print(f"CPU seconds: standard {t_standard:.1f}, PGD-AT {t_robust:.1f}")

# %%
# Accuracy under PGD-10 at each radius
# ------------------------------------
# :func:`robust.accuracy_vs_eps` evaluates every model at every radius (``eps = 0`` is the
# clean accuracy) and returns the curves as plain lists.
eps_list = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
result = accuracy_vs_eps({"standard": standard, "PGD-AT (eps 0.2)": robust_model},
                         (x_test, y_test), eps_list, steps=10)
for name, curve in result["curves"].items():
    print(f"{name:>18}: " + "  ".join(f"{a:.2f}" for a in curve))

fig, ax = plt.subplots(figsize=(6, 4))
for name, curve in result["curves"].items():
    ax.plot(result["eps"], curve, marker="o", label=name)
ax.axvline(0.2, color="grey", linestyle=":", label="training radius")
ax.set_xlabel("L-inf radius eps (inputs in [0, 1])")
ax.set_ylabel(f"accuracy under {result['attack']}")
ax.set_ylim(0, 1)
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()
