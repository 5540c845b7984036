"""adaptive: drift detection on streams (River's API, vectorised over many streams, calibrated
false-alarm rates) and online adaptation of PyTorch models."""

from adaptive.base import Alarms, Detector, Fleet
from adaptive.page_hinkley import PageHinkley

# --- detectors (issue 5): add imports below, one line each ---
from adaptive.adwin import ADWIN
from adaptive.kswin import KSWIN

# --- calibration / evaluation (issue 5) ---

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
    "Detector",
    "Fleet",
    "KSWIN",
    "OnlineLearner",
    "PageHinkley",
    "Policy",
    "PrequentialResult",
    "SensorMonitor",
    "prequential",
]
