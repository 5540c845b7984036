"""Timeline plot of a monitor run: readings per sensor with the alerts marked (matplotlib, Agg).

Small multiples, one panel per sensor, alerting sensors first; x is the sensor's reading index
(the alerts' ``index`` field), so wide and long CSVs plot alike.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np


def _read_series(data_path: str) -> dict[str, np.ndarray]:
    from adaptive.monitor.sources import CSVSource

    src = CSVSource(data_path)
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    try:
        for b in src.batches():
            if b.kind == "wide":
                for c, name in enumerate(b.sensors):
                    col = b.values[:, c]
                    parts[name].append(col[np.isfinite(col)])
            else:
                names = np.asarray(b.sensors)
                for name in np.unique(names):
                    parts[str(name)].append(b.values[names == name])
    finally:
        src.close()
    return {k: np.concatenate(v) for k, v in parts.items()}


def plot_timeline(alerts_path: str, data_path: str, output: str, *,
                  max_sensors: int = 12) -> str:
    """Draw ``output`` (PNG) from an alerts JSONL file and the CSV the monitor read.

    Returns the output path. ValueError when a file cannot be read.
    """
    if not isinstance(max_sensors, int) or max_sensors < 1:
        raise ValueError(f"max_sensors={max_sensors!r} must be an integer >= 1")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alerts: dict[str, list[dict]] = defaultdict(list)
    try:
        with open(alerts_path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    a = json.loads(line)
                    alerts[a["sensor"]].append(a)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"cannot read alerts {alerts_path!r}: {err}") from None
    series = _read_series(data_path)
    order = sorted(series, key=lambda s: (s not in alerts, s))[:max_sensors]
    fig, axes = plt.subplots(len(order), 1, figsize=(10, 1.4 * len(order) + 0.6), sharex=True,
                             squeeze=False)
    for ax, name in zip(axes[:, 0], order):
        y = series[name]
        ax.plot(np.arange(y.size), y, lw=0.5, color="0.3")
        for a in alerts.get(name, []):
            color = "tab:red" if a["kind"] == "drift" else "tab:orange"
            ax.axvline(a["index"], color=color, lw=1.2)
        ax.set_ylabel(name, rotation=0, ha="right", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("reading index per sensor (red: drift alert, orange: warning)")
    n_al = sum(len(v) for v in alerts.values())
    fig.suptitle(f"{len(series)} sensors, {n_al} alerts on {len(alerts)} sensors "
                 f"(first {len(order)} panels, alerting first)", fontsize=9)
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output
