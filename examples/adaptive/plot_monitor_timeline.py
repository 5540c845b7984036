"""
A sensor monitor's timeline
===========================

The sensor monitor watches every sensor of a plant with its own detector stream. This example
writes six sensors of a line as a wide CSV (each with its own level and noise; a few malformed
cells included): the oven temperature steps up by one standard deviation at reading 2,500 and
the spindle vibration starts a slow ramp at reading 3,500. It then runs the command-line
monitor on the file exactly as a user would::

    python -m adaptive monitor --source plant.csv --detector PageHinkley \\
        --calibrate-first 500 --arl0 20000 --alerts alerts.jsonl --state state.json \\
        --dead-letters dead.jsonl

Each sensor's threshold is calibrated on its own first 500 readings to a mean run length of
20,000 readings between false alarms, so over the 27,000 monitored in-control readings here
about one false alarm is expected. Malformed cells go to the dead-letter file. The timeline
draws each sensor's readings with its alerts.

The readings here are independent from one reading to the next. Real sensors are often serially
correlated (a slowly wandering process): the calibration then needs a reference long enough to
show that wandering, or the alarms come sooner than the target (see the sensor monitor guide).
"""

# %%
# A plant, as a CSV file
# ----------------------
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

T = 5000
rng = np.random.default_rng(0)
sensors = {  # name: (level, noise standard deviation)
    "oven_temp": (180.0, 2.0), "belt_speed": (1.2, 0.05), "press_force": (35.0, 1.5),
    "humidity": (41.0, 3.0), "spindle_vib": (0.8, 0.1), "coolant_flow": (12.0, 0.4),
}
X = np.stack([rng.normal(m, s, T) for m, s in sensors.values()], axis=1)  # (T, S)
X[2500:, 0] += 2.0  # oven: +1 sd from reading 2,500
X[3500:, 4] += np.linspace(0.0, 0.3, T - 3500)  # spindle: a ramp to +3 sd
names = list(sensors)

work = Path(tempfile.mkdtemp(prefix="monitor-example-"))
rows = [f"{t}," + ",".join(f"{v:.4f}" for v in row) for t, row in enumerate(X)]
rows[1200] = rows[1200].replace(rows[1200].split(",")[3], "n/a")  # a malformed cell
(work / "plant.csv").write_text("timestamp," + ",".join(names) + "\n" + "\n".join(rows) + "\n")

# %%
# The monitor, from the command line
# ----------------------------------
cmd = [sys.executable, "-m", "adaptive", "monitor", "--source", str(work / "plant.csv"),
       "--detector", "PageHinkley", "--calibrate-first", "500", "--arl0", "20000",
       "--alerts", str(work / "alerts.jsonl"), "--state", str(work / "state.json"),
       "--dead-letters", str(work / "dead.jsonl")]
done = subprocess.run(cmd, capture_output=True, text=True, check=True)
print(done.stdout + done.stderr)
alerts = [json.loads(line) for line in (work / "alerts.jsonl").read_text().splitlines()]
dead = (work / "dead.jsonl").read_text().splitlines()
print(f"{len(alerts)} alerts, {len(dead)} dead letter(s); first alert:")
print(json.dumps(alerts[0], indent=1) if alerts else "none")

# %%
# The timeline
# ------------
# One panel per sensor, x the sensor's reading index (the alerts' ``index`` field). The shaded
# span is the calibration phase (not monitored); the dotted lines are the true changes.
fig, axes = plt.subplots(len(names), 1, figsize=(8, 8), sharex=True)
for s, (ax, name) in enumerate(zip(axes, names)):
    ax.plot(X[:, s], linewidth=0.4, color="C0")
    ax.axvspan(0, 500, color="grey", alpha=0.15)
    hits = [a["index"] for a in alerts if a["sensor"] == name]
    ax.plot(hits, X[hits, s], "v", color="C3", markersize=8)
    ax.set_ylabel(name, rotation=0, ha="right", va="center")
    ax.set_yticks([])
axes[0].axvline(2500, color="grey", linestyle=":")
axes[4].axvline(3500, color="grey", linestyle=":")
axes[-1].set_xlabel("reading index (grey: calibration; dotted: the change; triangles: alerts)")
fig.tight_layout()
plt.show()
