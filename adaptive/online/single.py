"""The single-sample lane of :class:`~adaptive.OnlineLearner`: ``predict_one`` / ``learn_one``
of a River-style dict with a few microseconds of Python around the model's step.

Once the first sample has fixed the feature names, a dict is converted once: its values in
feature order, one float64 array, the scaler, one float32 tensor. ``predict_one`` keeps that
conversion and the forward activations; a ``learn_one`` of the same dict right after it
(River's ``progressive_val_score`` calls exactly this pair) reuses both, provided the dict's
values, the weights (their tensor version counter) and the scaler have not changed since.

The lane serves only what it serves identically to the generic path: anything else (first
sight, an ``id``, a label delay, declared features, a feature monitor, the generic model step,
a value that is not a finite real number, a label the generic path would reject) takes the
generic path, which also raises the errors. ``tests/adaptive/test_online_fast.py`` checks that
both paths give the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_REAL = {float, int, bool}


class SingleLane:
    """Conversion cache and the fast ``predict_one`` / ``learn_one`` of one learner."""

    def __init__(self, learner: Any):
        self.learner = learner
        self._x: dict | None = None  # the dict last predicted
        self._cache: Any = None  # None, or (values, t (1, F), a (1, F), acts, version)
        self._targets: list[torch.Tensor] = []  # (1,) class-index tensors, made once

    def _usable(self) -> bool:
        ln = self.learner
        spec = ln._inputs
        return (ln._stepper.fast is not None and ln._stepper._plain() and spec.dtype == "dict"
                and spec.names is not None and spec.features is None and ln.delay == 0
                and ln.feature_monitor is None
                and (ln.task == "regression" or ln._n_outputs is not None))

    def _version(self) -> tuple[int, int, int]:
        """Changes whenever the weights (through the flat buffer or a parameter itself) or the
        scaler change."""
        ln = self.learner
        buf = ln._stepper.fast.buf
        return (buf.flat._version, sum(p._version for p in buf.params),
                -1 if ln._scaler is None else ln._scaler.n)

    def _convert(self, x: Any) -> tuple[list, torch.Tensor, np.ndarray] | None:
        """The values, the model input t (1, F) and the scaler's row a (1, F) float64 of the
        dict ``x``, or None to take the generic path."""
        names = self.learner._inputs.names
        if type(x) is not dict or len(x) != len(names):
            return None
        try:
            vals = [x[k] for k in names]
        except KeyError:
            return None
        if not set(map(type, vals)) <= _REAL:
            return None
        a32 = np.array(vals, dtype=np.float32)  # the generic path's float32 tensor, as numpy
        if not np.isfinite(a32).all():
            return None
        a = a32.astype(np.float64)[None]  # (1, F)
        sc = self.learner._scaler
        z = a32[None] if sc is None else sc.transform_array(a).astype(np.float32)
        return vals, torch.from_numpy(z), a

    def forward(self, x: Any) -> torch.Tensor | None:
        """The output (1, C) for ``predict_one(x)``, or None to take the generic path."""
        self._x = None
        if not self._usable():
            return None
        conv = self._convert(x)
        if conv is None:
            return None
        vals, t, a = conv
        out, acts = self.learner._stepper.forward(t)
        self._x, self._cache = x, (vals, t, a, acts, self._version())
        return out

    def learn(self, x: Any, y: Any) -> bool:
        """``learn_one(x, y)`` on the lane; False (nothing changed) to take the generic path."""
        ln = self.learner
        if not self._usable():
            return False
        yt = self._target(y)
        if yt is None:
            return False
        cached, self._x = x is self._x, None
        if cached and self._cache[4] == self._version() and \
                [x[k] for k in ln._inputs.names] == self._cache[0]:
            _, t, a, acts, _ = self._cache
        else:
            conv = self._convert(x)
            if conv is None:
                return False
            (_, t, a), acts = conv, None
        ln._arrive(t)
        if ln._scaler is not None:
            ln._scaler.update_array(a)
        ln._train(t, yt, acts)
        return True

    def _target(self, y: Any) -> torch.Tensor | None:
        """(1,) target tensor of ``y``, or None when the generic path must judge it."""
        ln = self.learner
        if ln.task == "regression":
            if type(y) not in _REAL or not np.isfinite(y):
                return None
            return torch.from_numpy(np.array([y], dtype=np.float32))
        if ln._class_index is not None:
            i = ln._class_index.get(y) if type(y) in _REAL or type(y) is str else None
        else:
            i = int(y) if type(y) in (int, bool) else None
        if i is None or not 0 <= i < ln._n_outputs:
            return None
        if len(self._targets) != ln._n_outputs:
            self._targets = [torch.tensor([c]) for c in range(ln._n_outputs)]
        return self._targets[i]
