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
from adaptive.torch_fleet import TorchFleet

# --- calibration / evaluation (issue 5) ---
# isort: split
from adaptive.calibrate import ArlEstimate, CalibrationResult, calibrate, estimate_arl0
from adaptive.evaluate import Report, evaluate_alarms, evaluate_detector, pool_reports

# isort: split

# --- online learning (issue 6) ---
from adaptive.online import OnlineLearner
from adaptive.policy import Policy
from adaptive.prequential import PrequentialResult, prequential

# --- sensor monitor (issue 7) ---
# isort: split
from adaptive.monitor import SensorMonitor

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
