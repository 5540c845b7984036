"""Adaptation policies for :class:`adaptive.OnlineLearner`, one per file (see
:mod:`adaptive.policy` for the protocol)."""

from adaptive.policies.background_model import BackgroundModel
from adaptive.policies.bn_refresh import BNRefresh, refresh_batchnorm
from adaptive.policies.ewc import EWC, EWCObjective
from adaptive.policies.lr_boost import LRBoost
from adaptive.policies.reinit_output import ReinitOutput
from adaptive.policies.reset_moments import ResetMoments
from adaptive.policies.tent import TENT
from adaptive.policies.window_retrain import WindowRetrain

__all__ = [
    "BNRefresh",
    "BackgroundModel",
    "EWC",
    "EWCObjective",
    "LRBoost",
    "ReinitOutput",
    "ResetMoments",
    "TENT",
    "WindowRetrain",
    "refresh_batchnorm",
]
