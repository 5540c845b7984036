"""Input and label handling of :class:`~adaptive.OnlineLearner`, plus its buffers.

Inputs arrive as tensors, numpy arrays, River-style dicts (feature -> value) or pandas frames;
all become float tensors of a fixed sample shape. The first input fixes the feature order (for
dicts and frames), the sample shape and the array dtype; a later input that disagrees raises
before anything changes. With declared feature names, dict inputs may instead omit features
(imputed with the feature's running mean over the labelled samples) or carry unknown ones
(ignored), as River's models allow. Labels become class-index or regression target tensors.
The buffers: samples waiting ``delay`` later samples for training, inputs predicted with an
``id`` waiting for their label, and a ring of recent rows for the policies.
"""

from __future__ import annotations

import collections
import numbers
from typing import Any

import numpy as np
import torch


class InputSpec:
    """Remembers the sample shape, feature names and dtype seen first; converts later inputs.

    ``features`` declares the names of dict inputs (their order is the model's input order):
    missing ones are imputed, unknown ones ignored.
    """

    def __init__(self, features: list | None = None) -> None:
        self.features = features
        self.names: list[Any] | None = None  # feature order of dict / frame inputs
        self.shape: tuple[int, ...] | None = None  # shape of one sample
        self.dtype: str | None = None  # numpy dtype name of array inputs, "dict" for dicts
        n = 0 if features is None else len(features)
        self.sums = np.zeros(n)  # (F,) per declared feature: sum and count of observed values
        self.counts = np.zeros(n, dtype=np.int64)
        self.n_imputed = 0  # feature values imputed in labelled samples

    def state_dict(self) -> dict[str, Any]:
        return {"names": self.names, "shape": self.shape, "dtype": self.dtype,
                "sums": self.sums.tolist(), "counts": self.counts.tolist(),
                "n_imputed": self.n_imputed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.names = None if state["names"] is None else list(state["names"])
        self.shape = None if state["shape"] is None else tuple(state["shape"])
        self.dtype = state["dtype"]
        self.sums = np.asarray(state["sums"], dtype=np.float64)
        self.counts = np.asarray(state["counts"], dtype=np.int64)
        self.n_imputed = int(state["n_imputed"])

    # -- conversion ---------------------------------------------------------------------------
    def _declared(self, rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        """Rows (B, F) in the declared order, missing values imputed; the (B, F) present mask."""
        names = self.features
        means = self.sums / np.maximum(self.counts, 1)  # (F,) 0 before any value
        out = np.tile(means, (len(rows), 1))
        present = np.zeros(out.shape, dtype=bool)
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise TypeError(f"x: expected a dict of feature -> value, got {type(row).__name__}")
            for j, k in enumerate(names):  # type: ignore[arg-type]
                if k in row:
                    v = row[k]
                    if not isinstance(v, (numbers.Real, np.bool_)):
                        raise TypeError(f"x[{k!r}]={v!r} is not a real number")
                    out[i, j] = float(v)
                    present[i, j] = True
        return out, present

    def _dicts(self, rows: list[dict]) -> np.ndarray:
        if self.features is not None:
            out, self._present = self._declared(rows)
            return self._fix("dict", self.features, out)
        names = self.names if self.names is not None else list(rows[0].keys())
        out = np.empty((len(rows), len(names)), dtype=np.float64)
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise TypeError(f"x: expected a dict of feature -> value, got {type(row).__name__}")
            if len(row) != len(names) or any(k not in row for k in names):
                extra = sorted(map(str, set(row) - set(names)))
                missing = sorted(map(str, set(names) - set(row)))
                raise ValueError(
                    f"x: features changed mid-stream (missing {missing}, unexpected {extra}); "
                    f"the stream started with {len(names)} features {names[:10]}"
                )
            for j, k in enumerate(names):
                v = row[k]
                if not isinstance(v, (numbers.Real, np.bool_)):
                    raise TypeError(f"x[{k!r}]={v!r} is not a real number")
                out[i, j] = float(v)
        return self._fix("dict", names, out)

    def _fix(self, dtype: str, names: list[Any] | None, arr: np.ndarray) -> np.ndarray:
        shape = tuple(arr.shape[1:])
        if self.shape is None:  # first sight: fix everything (the caller commits on success)
            return arr
        if dtype != self.dtype:
            raise TypeError(
                f"x: input dtype changed mid-stream from {self.dtype} to {dtype}; "
                f"convert the inputs to {self.dtype}"
            )
        if shape != self.shape:
            raise ValueError(
                f"x: sample shape changed mid-stream from {self.shape} to {shape} "
                f"({int(np.prod(shape))} features instead of {int(np.prod(self.shape))})"
            )
        if names is not None and self.names is not None and names != self.names:
            raise ValueError(f"x: feature names changed mid-stream from {self.names} to {names}")
        return arr

    def convert(self, x: Any, *, many: bool) -> tuple[np.ndarray | torch.Tensor, dict]:
        """Return the batch (B, *shape) and what to commit on first sight (see :meth:`commit`)."""
        if many and isinstance(x, (list, tuple)) and x and isinstance(x[0], dict):
            arr, dtype = self._dicts(list(x)), "dict"
            names = self.features or (self.names if self.names is not None else list(x[0].keys()))
        elif isinstance(x, dict):
            if many:
                raise TypeError("X: a single dict is one sample; use a list of dicts for a batch")
            arr, dtype = self._dicts([x]), "dict"
            names = self.features or (self.names if self.names is not None else list(x.keys()))
        elif hasattr(x, "columns") and hasattr(x, "to_numpy"):  # pandas DataFrame
            if not many:
                raise TypeError("x: a DataFrame is a batch; use learn_many / predict_many")
            names = list(x.columns)
            if self.names is not None and set(names) == set(self.names):
                x = x[self.names]
                names = list(self.names)
            arr = np.asarray(x.to_numpy(), dtype=np.float64)
            dtype = "dict"
            arr = self._fix(dtype, names, arr)
        else:
            if isinstance(x, torch.Tensor):
                dtype = str(x.dtype).replace("torch.", "")
                arr = x.detach()  # type: ignore[assignment]
            else:
                if isinstance(x, (numbers.Real, str)) or x is None:
                    raise TypeError(f"x must be an array, a tensor or a dict, got {x!r}")
                a = np.asarray(x)
                if a.dtype.kind not in "biuf":
                    raise TypeError(f"x: dtype {a.dtype} is not numeric")
                dtype, arr = a.dtype.name, a
            names = None
            if not many:
                arr = arr[None]
            if arr.ndim < 2:
                raise ValueError(f"X must have shape (B, features...), got {tuple(arr.shape)}")
            arr = self._fix(dtype, None, arr)
        present = self.__dict__.pop("_present", None)  # the declared features' (B, F) mask
        first = {"names": names, "shape": tuple(arr.shape[1:]), "dtype": dtype,
                 "values": arr if present is not None else None, "present": present}
        return arr, first

    def commit(self, first: dict, learned: bool = False) -> None:
        """Fix the spec on first sight; for labelled samples also learn the imputation means."""
        if self.shape is None:
            self.names, self.shape, self.dtype = first["names"], first["shape"], first["dtype"]
        present = first.get("present")
        if learned and present is not None:
            values = first["values"]  # (B, F) with the present ones observed
            self.sums += np.where(present, values, 0.0).sum(axis=0)
            self.counts += present.sum(axis=0)
            self.n_imputed += int(present.size - present.sum())


def to_batch(spec: InputSpec, x: Any, *, many: bool, device: torch.device,
             nan_policy: str) -> tuple[torch.Tensor, np.ndarray, dict]:
    """Batch tensor (B, ...) on ``device``, the (B,) finite mask, the first-sight record.

    Non-finite samples raise with ``nan_policy="raise"``; with ``"skip"`` the mask marks them.
    """
    arr, first = spec.convert(x, many=many)
    t = torch.as_tensor(arr).to(device)
    if not t.is_floating_point():
        t = t.float()
    t = t.to(torch.get_default_dtype() if t.dtype == torch.float64 else t.dtype)
    finite = torch.isfinite(t.reshape(t.shape[0], -1)).all(1).cpu().numpy()
    if not finite.all() and nan_policy == "raise":
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"x: sample {i} has non-finite features; pass nan_policy='skip' "
                         "to skip such samples")
    return t, finite, first


# -- labels -----------------------------------------------------------------------------------
def targets(y: Any, n: int, *, task: str, classes: list | None, class_index: dict | None,
            n_outputs: int | None) -> torch.Tensor:
    """(n,) targets of ``y`` on the CPU: class indices (int64) or regression values.

    Class labels map through ``class_index`` (from ``classes``) or must be integers in
    ``0..n_outputs-1``; a bad label raises before anything changes.
    """
    if task == "classification":
        if class_index is not None:
            vals = [y] if n == 1 and np.ndim(_plain(y)) == 0 else list(_plain(y))
            try:
                idx = [class_index[v] for v in vals]
            except (KeyError, TypeError):
                bad = next(v for v in vals if v not in class_index)
                raise ValueError(f"y={bad!r} is not one of classes={classes}") from None
            t = torch.as_tensor(idx, dtype=torch.long)
        else:
            a = np.asarray(_plain(y)).reshape(-1)
            if a.dtype.kind not in "biu":
                raise ValueError(f"y must be integer class indices (or pass classes=), got "
                                 f"dtype {a.dtype}")
            bad = (a < 0) | (a >= (n_outputs or np.iinfo(np.int64).max))
            if bad.any():
                top = n_outputs - 1 if n_outputs else None
                raise ValueError(f"y={a[bad][0]} is outside the classes 0..{top}")
            t = torch.as_tensor(a.astype(np.int64))
    else:
        a = np.asarray(_plain(y), dtype=np.float64).reshape(n, -1)  # type: ignore[assignment]
        t = torch.as_tensor(a, dtype=torch.get_default_dtype()).squeeze(1)
    if t.shape[0] != n:
        raise ValueError(f"y has {t.shape[0]} labels for {n} samples")
    return t


def _plain(y: Any) -> Any:
    if isinstance(y, torch.Tensor):
        return y.detach().cpu().numpy()
    if hasattr(y, "to_numpy"):  # pandas Series
        return y.to_numpy()
    return y


# -- label delay --------------------------------------------------------------------------------
def hold(by_id: collections.OrderedDict, id: Any, t: torch.Tensor, max_pending: int) -> int:
    """Keep the input ``t`` (1, ...) predicted with ``id`` until its label comes; evict the
    oldest ids beyond ``max_pending`` and return how many were evicted."""
    by_id[id] = t
    by_id.move_to_end(id)
    evicted = 0
    while len(by_id) > max_pending:
        by_id.popitem(last=False)
        evicted += 1
    return evicted


def release(pending: collections.deque, x: torch.Tensor, y: torch.Tensor,
            delay: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Queue the samples (x (B, ...), y (B,)); return those that have now waited for ``delay``
    later samples, oldest first, or None."""
    for i in range(x.shape[0]):
        pending.append((x[i:i + 1], y[i:i + 1]))
    ready = [pending.popleft() for _ in range(len(pending) - delay)]
    if not ready:
        return None
    return torch.cat([r[0] for r in ready]), torch.cat([r[1] for r in ready])


class Ring:
    """A bounded ring buffer of tensors (capacity M rows); the oldest rows are overwritten."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.data: list[torch.Tensor] | None = None  # one (M, ...) tensor per field
        self.pos = 0  # next write position
        self.count = 0  # rows held (<= capacity)

    def push(self, *fields: torch.Tensor) -> None:
        n = fields[0].shape[0]
        if self.capacity == 0 or n == 0:
            return
        if self.data is None:
            self.data = [torch.zeros((self.capacity, *f.shape[1:]), dtype=f.dtype,
                                     device=f.device) for f in fields]
            # numpy views of CPU buffers: a one-row push is then a plain memory copy
            self._np = [b.numpy() if b.device.type == "cpu" else None for b in self.data]
        if n >= self.capacity:  # only the newest `capacity` rows survive
            fields = tuple(f[n - self.capacity:] for f in fields)
            n = self.capacity
        if n == 1:  # one row: a plain copy, no index tensors
            for buf, arr, f in zip(self.data, self._np, fields):
                if arr is not None and f.device.type == "cpu" and f.dtype == buf.dtype:
                    arr[self.pos] = f.detach().numpy()[0]
                else:
                    buf[self.pos] = f[0].detach()
        else:
            idx = (self.pos + torch.arange(n)) % self.capacity
            for buf, f in zip(self.data, fields):
                buf[idx.to(buf.device)] = f.detach().to(buf.dtype)
        self.pos = (self.pos + n) % self.capacity
        self.count = min(self.capacity, self.count + n)

    def get(self, last: int | None = None) -> tuple[torch.Tensor, ...] | None:
        """The held rows in arrival order (the newest ``last`` of them); None when empty."""
        if self.data is None or self.count == 0:
            return None
        k = self.count if last is None else min(int(last), self.count)
        idx = (self.pos - k + torch.arange(k)) % self.capacity
        return tuple(buf[idx.to(buf.device)] for buf in self.data)

    def clear(self) -> None:
        self.pos = 0
        self.count = 0

    def state_dict(self) -> dict[str, Any]:
        held = self.get()
        return {"capacity": self.capacity, "rows": None if held is None else list(held)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.capacity = int(state["capacity"])
        self.data, self.pos, self.count = None, 0, 0
        if state["rows"] is not None:
            self.push(*state["rows"])
