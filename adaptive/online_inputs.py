"""Input and label handling of :class:`~adaptive.OnlineLearner`, plus its bounded ring buffer.

Inputs arrive as tensors, numpy arrays, River-style dicts (feature -> value) or pandas frames;
all become float tensors of a fixed sample shape. The first input fixes the feature order (for
dicts and frames), the sample shape and the array dtype; a later input that disagrees raises
before anything changes.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch


class InputSpec:
    """Remembers the sample shape, feature names and dtype seen first; converts later inputs."""

    def __init__(self) -> None:
        self.names: list[Any] | None = None  # feature order of dict / frame inputs
        self.shape: tuple[int, ...] | None = None  # shape of one sample
        self.dtype: str | None = None  # numpy dtype name of array inputs, "dict" for dicts

    def state_dict(self) -> dict[str, Any]:
        return {"names": self.names, "shape": self.shape, "dtype": self.dtype}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.names = None if state["names"] is None else list(state["names"])
        self.shape = None if state["shape"] is None else tuple(state["shape"])
        self.dtype = state["dtype"]

    # -- conversion ---------------------------------------------------------------------------
    def _dicts(self, rows: list[dict]) -> np.ndarray:
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
            arr, names, dtype = self._dicts(list(x)), None, "dict"
            names = self.names if self.names is not None else list(x[0].keys())
        elif isinstance(x, dict):
            if many:
                raise TypeError("X: a single dict is one sample; use a list of dicts for a batch")
            arr, dtype = self._dicts([x]), "dict"
            names = self.names if self.names is not None else list(x.keys())
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
                arr = x.detach()
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
        first = {"names": names, "shape": tuple(arr.shape[1:]), "dtype": dtype}
        return arr, first

    def commit(self, first: dict) -> None:
        if self.shape is None:
            self.names, self.shape, self.dtype = first["names"], first["shape"], first["dtype"]


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
        if n >= self.capacity:  # only the newest `capacity` rows survive
            fields = tuple(f[n - self.capacity:] for f in fields)
            n = self.capacity
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
