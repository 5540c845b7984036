"""The sensor monitor: one drift detector stream per sensor of a plant, fed from CSV, stdin or
MQTT, with alerts, dead letters and exactly-once restarts (``python -m adaptive monitor``)."""

from __future__ import annotations

from adaptive.monitor.monitor import SensorMonitor

__all__ = ["SensorMonitor"]
