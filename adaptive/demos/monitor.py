"""Demo: the sensor monitor on a simulated plant (``run_demo(out_dir)``, under 30 s).

Writes ``plant.csv`` (wide: 24 sensors in their own units, 5000 time steps; three sensors drift:
a mean step of 1.5 sigma, a slow ramp to 3 sigma and a threefold spread; a few malformed
cells), runs ``python -m adaptive monitor``'s code path on it with the monitor's default
detector, :class:`~adaptive.drift.MeanScaleCUSUM` (a mean and a spread statistic per sensor,
standardised on each sensor's own first readings, one threshold for both at about one false
alarm per million readings), prints the alerts, and draws ``timeline.png``.
"""

from __future__ import annotations

import json
import os

import numpy as np


def _write_plant(path: str, seed: int = 0) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    n_steps, n_sensors = 5000, 24
    scale = rng.uniform(0.5, 3.0, n_sensors)  # each sensor has its own noise level (units)
    base = rng.uniform(10.0, 100.0, n_sensors)
    v = base + scale * rng.normal(size=(n_steps, n_sensors))  # (T, S)
    onsets = {"press-04": 3000, "oven-09": 2500, "pump-22": 3500}
    names = [f"{['press', 'oven', 'pump', 'fan'][i % 4]}-{i:02d}" for i in range(n_sensors)]
    i = names.index("press-04")
    v[3000:, i] += 1.5 * scale[i]  # step
    i = names.index("oven-09")
    v[2500:, i] += np.linspace(0.0, 3.0, n_steps - 2500) * scale[i]  # ramp
    i = names.index("pump-22")
    v[3500:, i] = base[i] + 3.0 * scale[i] * rng.normal(size=n_steps - 3500)  # variance x3
    cells = np.char.mod("%.3f", v).astype(object)
    cells[100, 5] = "ERR"  # a few malformed cells: they go to the dead letters
    cells[2000, 13] = ""
    with open(path, "w") as f:
        f.write("timestamp," + ",".join(names) + "\n")
        for t in range(n_steps):
            f.write(f"{t}," + ",".join(cells[t]) + "\n")
    return onsets


def run_demo(out_dir: str) -> str:
    """Run the demo, write its files under ``out_dir``; return a Markdown summary."""
    from adaptive.monitor.plot import plot_timeline

    os.makedirs(out_dir, exist_ok=True)
    data = os.path.join(out_dir, "plant.csv")
    alerts = os.path.join(out_dir, "alerts.jsonl")
    for p in (alerts, os.path.join(out_dir, "state.json"), os.path.join(out_dir, "dl.jsonl")):
        if os.path.exists(p):
            os.remove(p)
    onsets = _write_plant(data)
    from adaptive import MeanScaleCUSUM, SensorMonitor
    from adaptive.monitor.alerts import DeadLetters, JSONLSink
    from adaptive.monitor.sources import CSVSource

    # the library path of `python -m adaptive monitor --source plant.csv` with its defaults
    mon = SensorMonitor(MeanScaleCUSUM(), alert_sinks=[JSONLSink(alerts)],
                        dead_letters=DeadLetters(os.path.join(out_dir, "dl.jsonl")),
                        state_path=os.path.join(out_dir, "state.json"),
                        checkpoint_every=50_000)
    src = CSVSource(data, max_rows=1000)
    try:
        summary = mon.run(src, handle_signals=False)
    finally:
        mon.close()
        src.close()
    found = [json.loads(line) for line in open(alerts)]
    lines = ["| sensor | kind | reading | drift onset | statistic |", "|---|---|---|---|---|"]
    for a in found:
        onset = onsets.get(a["sensor"], "-")
        stat = "-" if a["statistic"] is None else f"{a['statistic']:.2f}"
        lines.append(f"| {a['sensor']} | {a['kind']} | {a['index']} | {onset} | {stat} |")
    table = "\n".join(lines)
    print(table)
    plot_timeline(alerts, data, os.path.join(out_dir, "timeline.png"), max_sensors=8)
    return (f"{len(found)} alerts on 24 sensors x 5000 readings (drifting: "
            f"{', '.join(onsets)}); dead letters {summary['dead_by_reason']}; "
            f"timeline.png, alerts.jsonl, dl.jsonl in {out_dir}")
