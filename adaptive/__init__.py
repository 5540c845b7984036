"""adaptive: drift detection on streams (River's API, vectorised over many streams, calibrated
false-alarm rates) and online adaptation of PyTorch models."""

from adaptive.base import Alarms, Detector, Fleet
from adaptive.page_hinkley import PageHinkley

# --- detectors (issue 5): add imports below, one line each ---
# isort: split
from adaptive.adwin import ADWIN
from adaptive.cusum import CUSUM
from adaptive.ddm import DDM
from adaptive.eddm import EDDM
from adaptive.ewma import EWMA
from adaptive.fhddm import FHDDM
from adaptive.hddm_a import HDDM_A, HDDMA
from adaptive.hddm_w import HDDM_W, HDDMW
from adaptive.kswin import KSWIN

# --- calibration / evaluation (issue 5) ---
# isort: split
from adaptive.calibrate import ArlEstimate, CalibrationResult, calibrate, estimate_arl0
from adaptive.evaluate import Report, evaluate_alarms, evaluate_detector, pool_reports

# --- sensor monitor (issue 7) ---
# isort: split
from adaptive.monitor import SensorMonitor

# isort: split
# torch-free, so imported eagerly (the module is prequential_eval: a module named like the
# function would shadow it on the package once imported by its path)
from adaptive.prequential_eval import PrequentialResult, prequential

# --- online learning (issue 6) and the torch fleet need torch, so they are imported on
# first use (PEP 562); a user who only wants detectors never imports torch ---
_LAZY = {
    "OnlineLearner": "adaptive.online",
    "Policy": "adaptive.policy",
    "TorchFleet": "adaptive.torch_fleet",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'adaptive' has no attribute {name!r}")

__all__ = [
    "ADWIN",
    "Alarms",
    "ArlEstimate",
    "CUSUM",
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
    "OnlineLearner",
    "PageHinkley",
    "Policy",
    "PrequentialResult",
    "Report",
    "SensorMonitor",
    "TorchFleet",
    "calibrate",
    "estimate_arl0",
    "evaluate_alarms",
    "evaluate_detector",
    "pool_reports",
    "prequential",
]
