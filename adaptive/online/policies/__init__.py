"""Adaptation policies for :class:`adaptive.OnlineLearner`, one per file (see
:mod:`adaptive.policy` for the protocol)."""

from adaptive.online.policies.background_model import BackgroundModel
from adaptive.online.policies.bn_refresh import BNRefresh, refresh_batchnorm
from adaptive.online.policies.ewc import EWC, EWCObjective
from adaptive.online.policies.lr_boost import LRBoost
from adaptive.online.policies.race import Race
from adaptive.online.policies.reinit_output import ReinitOutput
from adaptive.online.policies.reset_moments import ResetMoments
from adaptive.online.policies.tent import TENT
from adaptive.online.policies.window_retrain import WindowRetrain

__all__ = [
    "BNRefresh",
    "BackgroundModel",
    "EWC",
    "EWCObjective",
    "LRBoost",
    "Race",
    "ReinitOutput",
    "ResetMoments",
    "TENT",
    "WindowRetrain",
    "refresh_batchnorm",
]
