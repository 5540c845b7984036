"""adaptive: drift detection on streams (River's API, vectorised over many streams, calibrated
false-alarm rates) and online adaptation of PyTorch models.

Four subpackages with one-way dependencies: :mod:`adaptive.drift` (detectors, fleets) <-
:mod:`adaptive.calibration` (ARL0, thresholds, evaluation) <- :mod:`adaptive.monitor` (the sensor
monitor); :mod:`adaptive.drift` <- :mod:`adaptive.online` (learners, policies). The names below
are the public API. Those that need torch (``OnlineLearner``, ``Policy``, ``TorchFleet``) or the
monitor's I/O stack (``SensorMonitor``) load on first use, so a detector user imports neither.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("robust-adaptive")
except _metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

from adaptive._lazy import lazy_getattr
from adaptive.calibration import (
    ArlEstimate,
    CalibrationError,
    CalibrationResult,
    Report,
    calibrate,
    estimate_arl0,
    evaluate_alarms,
    evaluate_detector,
    pool_reports,
)
from adaptive.drift import (
    ADWIN,
    BOCPD,
    CUSUM,
    DDM,
    EDDM,
    EWMA,
    FHDDM,
    HDDM_A,
    HDDM_W,
    HDDMA,
    HDDMW,
    KSWIN,
    Alarms,
    Detector,
    Fleet,
    MeanScaleCUSUM,
    PageHinkley,
    ScaleCUSUM,
    ScaleFree,
)
from adaptive.online.prequential_eval import PrequentialResult, prequential

_LAZY = {
    "OnlineLearner": "adaptive.online.learner",
    "Policy": "adaptive.online.policy",
    "TorchFleet": "adaptive.drift.torch_fleet",
    "SensorMonitor": "adaptive.monitor.monitor",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())

__all__ = [
    "ADWIN",
    "Alarms",
    "ArlEstimate",
    "BOCPD",
    "CUSUM",
    "CalibrationError",
    "CalibrationResult",
    "DDM",
    "Detector",
    "EDDM",
    "EWMA",
    "FHDDM",
    "Fleet",
    "HDDMA",
    "HDDMW",
    "HDDM_A",
    "HDDM_W",
    "KSWIN",
    "MeanScaleCUSUM",
    "OnlineLearner",
    "PageHinkley",
    "Policy",
    "PrequentialResult",
    "Report",
    "ScaleCUSUM",
    "ScaleFree",
    "SensorMonitor",
    "TorchFleet",
    "calibrate",
    "estimate_arl0",
    "evaluate_alarms",
    "evaluate_detector",
    "pool_reports",
    "prequential",
]
