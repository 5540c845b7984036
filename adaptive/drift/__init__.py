"""Drift detectors with River's API and semantics, one compiled kernel each, and fleets.

``DETECTORS`` maps the name of every public detector class to the class: the one registry
the command line, the test suites and the calibration read. A new detector is its own file
plus one line in the export list below.
"""

from __future__ import annotations

from adaptive.drift.adwin import ADWIN
from adaptive.drift.base import Alarms, Detector, Threshold
from adaptive.drift.bocpd import BOCPD
from adaptive.drift.cusum import CUSUM
from adaptive.drift.ddm import DDM
from adaptive.drift.eddm import EDDM
from adaptive.drift.ewma import EWMA
from adaptive.drift.fhddm import FHDDM
from adaptive.drift.fleet import Fleet
from adaptive.drift.hddm_a import HDDM_A, HDDMA
from adaptive.drift.hddm_w import HDDM_W, HDDMW
from adaptive.drift.kswin import KSWIN
from adaptive.drift.mean_scale import MeanScaleCUSUM
from adaptive.drift.page_hinkley import PageHinkley
from adaptive.drift.scale_cusum import ScaleCUSUM
from adaptive.drift.scale_free import ScaleFree

__all__ = [
    "ADWIN",
    "Alarms",
    "BOCPD",
    "CUSUM",
    "DDM",
    "DETECTORS",
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
    "PageHinkley",
    "ScaleCUSUM",
    "ScaleFree",
    "Threshold",
]

# name -> class, each class once under its own name (HDDM_A/HDDM_W are aliases of HDDMA/HDDMW)
DETECTORS: dict[str, type[Detector]] = {
    obj.__name__: obj for obj in (globals()[n] for n in __all__ if n != "DETECTORS")
    if isinstance(obj, type) and issubclass(obj, Detector) and obj is not Detector
}
