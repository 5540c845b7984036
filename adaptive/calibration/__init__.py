"""Calibration and evaluation of detectors: ARL0 by simulation, threshold search, null models,
and detection metrics next to a trivial baseline."""

from __future__ import annotations

from adaptive.calibration.arl import ArlEstimate, estimate_arl0
from adaptive.calibration.evaluation import (
    Report,
    evaluate_alarms,
    evaluate_detector,
    pool_reports,
)
from adaptive.calibration.threshold_search import CalibrationError, CalibrationResult, calibrate

__all__ = [
    "ArlEstimate",
    "CalibrationError",
    "CalibrationResult",
    "Report",
    "calibrate",
    "estimate_arl0",
    "evaluate_alarms",
    "evaluate_detector",
    "pool_reports",
]
