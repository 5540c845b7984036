"""The default adaptation of :class:`~adaptive.OnlineLearner`, and how it was chosen.

``detector="default"`` is a one-sided :class:`~adaptive.HDDM_W` (``two_sided_test=False``): it
signals when the error *increases* (a model that is learning, its error falling, never sets it
off) and has a warning level below its drift level. ``policies="default"`` is one
:class:`~adaptive.online.policies.Race`: a warning or a drift starts a candidate beside the current
model, and the candidate replaces it only when it is better on the same samples by a margin,
with the confidence the race states. A false alarm therefore costs compute, not accuracy.

How: the candidates (detectors HDDM_W / HDDM_A / DDM, forked or fresh candidates, replay,
margin) were compared on the tuning streams of ``benchmarks/online_streams.py`` only (STAGGER,
Mixed, RandomTree and Planes2D generators, seeds 100-101), never on the held-out streams of the
reported table; the table of that comparison is ``benchmarks/results/online_tuning.md``, made by
``benchmarks/online_tuning.py``.
"""

from __future__ import annotations

from typing import Any


def default_detector() -> Any:
    from adaptive.drift import HDDM_W

    return HDDM_W(two_sided_test=False)


def default_policies() -> tuple:
    from adaptive.online.policies.race import Race

    return (Race(),)
