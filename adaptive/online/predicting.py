"""Conversion of inputs and the prediction API of :class:`~adaptive.OnlineLearner` (a mixin).

``predict_one`` of a River-style dict takes the single-sample lane
(:mod:`adaptive.online.single`) when it can; everything else converts the input to a batch
tensor, scales it (:mod:`adaptive.online.standardize`) and runs the model's forward through
the learner's :class:`~adaptive.online.stepper.Stepper`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from adaptive.online.inputs import hold, targets, to_batch
from adaptive.online.signals import argmax_row

if TYPE_CHECKING:
    from adaptive.online.inputs import InputSpec
    from adaptive.online.single import SingleLane
    from adaptive.online.stepper import Stepper


class Predicting:
    """``predict_*`` of :class:`~adaptive.OnlineLearner`."""

    # attributes and methods of OnlineLearner that these methods use (set in its __init__)
    task: str
    classes: list | tuple | None
    device: torch.device
    nan_policy: str
    max_pending: int
    n_skipped: int
    n_expired: int
    _class_index: dict[Any, int] | None
    _n_outputs: int | None
    _inputs: InputSpec
    _lane: SingleLane
    _stepper: Stepper
    _by_id: OrderedDict
    _scale: Any  # method: (B, ...) tensor -> standardised tensor

    # -- conversion -----------------------------------------------------------------------------
    def _x(self, x: Any, many: bool) -> tuple[torch.Tensor, np.ndarray, dict]:
        """Batch tensor (B, ...) on the device, the (B,) finite mask, the first-sight record."""
        return to_batch(self._inputs, x, many=many, device=self.device,
                        nan_policy=self.nan_policy)

    def _y(self, y: Any, n: int) -> torch.Tensor:
        t = targets(y, n, task=self.task, classes=self.classes, class_index=self._class_index,  # type: ignore[arg-type]
                    n_outputs=self._n_outputs)
        return t.to(self.device)

    def _ensure_outputs(self, x: torch.Tensor) -> None:
        if self._n_outputs is None and self.task == "classification":
            out = self._forward_eval(x[:1])
            self._n_outputs = int(out.shape[1])
            if self.classes is not None and len(self.classes) != self._n_outputs:
                raise ValueError(f"classes has {len(self.classes)} labels but the model has "
                                 f"{self._n_outputs} outputs")

    def _forward_eval(self, x: torch.Tensor) -> torch.Tensor:
        return self._stepper.forward(x)[0]

    # -- prediction -----------------------------------------------------------------------------
    def _predict_out(self, x: Any, many: bool, id: Any = None):
        t, finite, first = self._x(x, many)
        self._inputs.commit(first)
        if id is not None:
            if not finite.all():
                raise ValueError(f"x for id={id!r} has non-finite features")
            self.n_expired += hold(self._by_id, id, t, self.max_pending)
        self._ensure_outputs(t)
        self.n_skipped += int((~finite).sum())
        out = self._forward_eval(self._scale(t))
        return out, finite

    def _labels(self, idx: np.ndarray) -> list:
        return [self.classes[i] if self.classes is not None else int(i) for i in idx]

    def predict_proba_many(self, X: Any) -> np.ndarray:
        """(B, C) class probabilities (rows of skipped samples are NaN)."""
        self._need_classifier("predict_proba_many")
        out, finite = self._predict_out(X, True)
        p = torch.softmax(out, 1).cpu().numpy()
        p[~finite] = np.nan
        return p

    def predict_proba_one(self, x: Any, *, id: Any = None) -> dict:
        """``{class: probability}``, River's form (empty when the sample is skipped)."""
        self._need_classifier("predict_proba_one")
        out, finite = self._predict_out(x, False, id)
        if not finite[0]:
            return {}
        p = torch.softmax(out.double(), 1)[0].tolist()  # sums to 1 in float64
        return dict(zip(self._labels(np.arange(len(p))), p))

    def predict_many(self, X: Any) -> np.ndarray:
        """(B,) predictions; with skipped samples an object array holding None for them."""
        out, finite = self._predict_out(X, True)
        if self.task == "classification":
            lab = np.array(self._labels(out.argmax(1).cpu().numpy()))
        else:
            lab = out.reshape(out.shape[0], -1).squeeze(1).cpu().numpy()
        if not finite.all():
            lab = lab.astype(object)
            lab[~finite] = None
        return lab

    def predict_one(self, x: Any, *, id: Any = None) -> Any:
        """One prediction (None when the sample is skipped); ``id`` keeps x for a later label."""
        out = self._lane.forward(x) if id is None else None
        if out is None:
            out, finite = self._predict_out(x, False, id)
            if not finite[0]:
                return None
        if self.task == "classification":
            return self._labels([argmax_row(out[0].tolist())])[0]  # type: ignore[arg-type]
        o = out[0].reshape(-1)
        return float(o[0]) if o.numel() == 1 else o.cpu().numpy()

    def _need_classifier(self, what: str) -> None:
        if self.task != "classification":
            raise TypeError(f"{what} needs task='classification', this learner does regression")
