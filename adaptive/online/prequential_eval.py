"""Prequential (test-then-train) evaluation of an online learner, with drift-aware metrics.

Each sample (or mini-batch) is first predicted, scored, then learned. The result holds the
per-sample scores (1/0 correct for ``"accuracy"``, absolute error for ``"mae"``), from which the
rolling and cumulative curves, the score over the ``post_drift_window`` samples after each true
change point and the throughput are derived. It can be saved as JSON and plotted (matplotlib is
imported only by :meth:`PrequentialResult.plot`).

Examples
--------
>>> import numpy as np, torch
>>> from adaptive import OnlineLearner, prequential
>>> _ = torch.manual_seed(0)
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 2)).astype(np.float32)
>>> y = (X[:, 0] > 0).astype(np.int64)
>>> y[200:] = 1 - y[200:]                    # an abrupt concept change at sample 200
>>> model = torch.nn.Linear(2, 2)
>>> learner = OnlineLearner(model, torch.optim.SGD(model.parameters(), lr=0.5))
>>> res = prequential(learner, (X, y), window=100, changes=[200], post_drift_window=100,
...                   batch_size=10)
>>> res.n, len(res.post_drift)
(400, 1)
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

METRICS = ("accuracy", "mae")


@dataclasses.dataclass
class PrequentialResult:
    """Outcome of :func:`prequential`; ``scores`` is (n,) per-sample scores in stream order."""

    metric: str
    scores: np.ndarray  # (n,) 1/0 correct or absolute error
    window: int
    changes: list[int]
    post_drift_window: int
    seconds: float  # wall time of predict + learn over the stream
    drifts: list[int]  # samples at which the learner's detector signalled drift
    warnings: list[int]
    feature_drifts: list[int]
    cpu_seconds: float = float("nan")  # process CPU time (robust to a shared, loaded machine)

    @property
    def n(self) -> int:
        return int(self.scores.shape[0])

    @property
    def score(self) -> float:
        """Mean over the whole stream (accuracy or MAE)."""
        return float(self.scores.mean()) if self.n else float("nan")

    @property
    def throughput(self) -> float:
        """Samples per second, predictions and updates included."""
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    @property
    def cpu_throughput(self) -> float:
        """Samples per second of process CPU time."""
        return self.n / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")

    @property
    def cumulative(self) -> np.ndarray:
        """(n,) running mean of the scores."""
        return np.cumsum(self.scores) / np.arange(1, self.n + 1)

    @property
    def rolling(self) -> np.ndarray:
        """(n,) mean over the last ``window`` samples (fewer at the start)."""
        c = np.concatenate([[0.0], np.cumsum(self.scores)])
        idx = np.arange(1, self.n + 1)
        lo = np.maximum(idx - self.window, 0)
        return (c[idx] - c[lo]) / (idx - lo)

    @property
    def post_drift(self) -> list[float]:
        """Score over the ``post_drift_window`` samples after each true change point."""
        return [float(self.scores[c:c + self.post_drift_window].mean())
                for c in self.changes if c < self.n]

    @property
    def post_drift_score(self) -> float:
        """Mean of :attr:`post_drift` (NaN without change points)."""
        pd = self.post_drift
        return float(np.mean(pd)) if pd else float("nan")

    def summary(self) -> dict[str, Any]:
        return {"metric": self.metric, "n": self.n, "score": self.score,
                "post_drift": self.post_drift, "post_drift_score": self.post_drift_score,
                "throughput": self.throughput, "seconds": self.seconds,
                "cpu_throughput": self.cpu_throughput, "cpu_seconds": self.cpu_seconds,
                "changes": self.changes, "drifts": self.drifts, "warnings": self.warnings,
                "feature_drifts": self.feature_drifts}

    def to_json(self, path: str | pathlib.Path, points: int = 500) -> None:
        """Write the summary plus the rolling/cumulative curves at ``points`` positions."""
        idx = np.unique(np.linspace(0, max(self.n - 1, 0), points).astype(int))
        doc = {**self.summary(), "window": self.window,
               "curve": {"t": idx.tolist(), "rolling": self.rolling[idx].tolist(),
                         "cumulative": self.cumulative[idx].tolist()}}
        pathlib.Path(path).write_text(json.dumps(doc, indent=1))

    def plot(self, path: str | pathlib.Path, title: str = "", ax: Any = None) -> None:
        """Rolling and cumulative metric over time, true changes and detected drifts marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        own = ax is None
        if own:
            fig, ax = plt.subplots(figsize=(9, 3.5))
        t = np.arange(self.n)
        ax.plot(t, self.rolling, lw=1, label=f"rolling {self.metric} ({self.window})")
        ax.plot(t, self.cumulative, lw=1, ls="--", label=f"cumulative {self.metric}")
        for i, c in enumerate(self.changes):
            ax.axvline(c, color="k", lw=1, label="true change" if i == 0 else None)
        for i, d in enumerate(self.drifts):
            ax.axvline(d, color="r", lw=0.8, ls=":", label="detected drift" if i == 0 else None)
        ax.set_xlabel("sample")
        ax.set_ylabel(self.metric)
        ax.set_title(title)
        ax.legend(loc="best", fontsize=7)
        if own:
            fig.tight_layout()
            fig.savefig(path, dpi=110)
            plt.close(fig)


def _batches(stream: Any, batch_size: int) -> Iterable[tuple[Any, Any, int]]:
    """Yield (X, y, n) batches from a pair of arrays or an iterable of (x, y) samples."""
    if isinstance(stream, tuple) and len(stream) == 2 and hasattr(stream[0], "shape"):
        X, y = stream
        if len(X) != len(y):
            raise ValueError(f"stream: X has {len(X)} rows but y has {len(y)}")
        for s in range(0, len(X), batch_size):
            yield X[s:s + batch_size], y[s:s + batch_size], len(X[s:s + batch_size])
        return
    xs, ys = [], []
    for item in stream:
        x, y = item[0], item[1]
        xs.append(x)
        ys.append(y)
        if len(xs) == batch_size:
            yield xs, ys, len(xs)
            xs, ys = [], []
    if xs:
        yield xs, ys, len(xs)


def _stack(xs: Any) -> Any:
    if isinstance(xs, list) and xs and not isinstance(xs[0], dict):
        return np.stack([np.asarray(x) for x in xs])
    return xs


def prequential(
    learner: Any,
    stream: tuple[ArrayLike, ArrayLike] | Iterable[tuple[Any, Any]],
    *,
    metric: str = "accuracy",
    window: int = 1000,
    changes: list[int] | None = None,
    post_drift_window: int = 2000,
    batch_size: int = 1,
    out_dir: str | pathlib.Path | None = None,
    name: str = "prequential",
) -> PrequentialResult:
    """Test-then-train ``learner`` over ``stream``.

    Parameters
    ----------
    learner
        An :class:`~adaptive.OnlineLearner` (or anything with ``predict_one``/``learn_one``,
        and ``predict_many``/``learn_many`` when ``batch_size > 1``).
    stream
        ``(X, y)`` arrays, or an iterable of ``(x, y)`` pairs (x a dict, array or tensor).
    metric
        ``"accuracy"`` or ``"mae"``.
    window
        Length of the rolling window, in samples.
    changes
        Known change points (sample indices) for the post-drift scores.
    post_drift_window
        Samples after each change point that :attr:`PrequentialResult.post_drift` averages.
    batch_size
        1: sample by sample; > 1: predict a mini-batch, then learn it.
    out_dir
        If given, ``<name>.json`` and ``<name>.png`` are written there.
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} must be one of {METRICS}")
    for pname, v in (("window", window), ("post_drift_window", post_drift_window),
                     ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{pname}={v!r} must be an integer >= 1")
    changes = sorted(int(c) for c in (changes or []))
    if any(c < 0 for c in changes):
        raise ValueError(f"changes={changes} must be sample indices >= 0")
    scores: list[np.ndarray] = []
    n_events = len(getattr(learner, "events", []))
    start, cpu_start = time.perf_counter(), time.process_time()
    for X, y, n in _batches(stream, batch_size):
        if batch_size == 1:
            x1, y1 = (X[0], y[0])
            pred = np.array([learner.predict_one(x1)], dtype=object)
            learner.learn_one(x1, y1)
            truth = [y1]
        else:
            Xb = _stack(X)
            pred = np.asarray(learner.predict_many(Xb), dtype=object)
            learner.learn_many(Xb, np.asarray(y))
            truth = list(np.asarray(y).tolist()) if hasattr(y, "shape") else list(y)
        scores.append(_score(metric, pred, truth))
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    events = list(getattr(learner, "events", []))[n_events:]
    res = PrequentialResult(
        metric=metric, scores=np.concatenate(scores) if scores else np.zeros(0),
        window=window, changes=changes, post_drift_window=post_drift_window, seconds=seconds,
        drifts=[t for t, k, s in events if k == "drift" and s == "loss"],
        warnings=[t for t, k, s in events if k == "warning" and s == "loss"],
        feature_drifts=[t for t, k, s in events if k == "drift" and s == "features"],
        cpu_seconds=cpu_seconds,
    )
    if out_dir is not None:
        out = pathlib.Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        res.to_json(out / f"{name}.json")
        res.plot(out / f"{name}.png", title=name)
    return res


def _score(metric: str, pred: np.ndarray, truth: list) -> np.ndarray:
    if metric == "accuracy":
        return np.array([p is not None and p == t for p, t in zip(pred, truth)], dtype=np.float64)
    return np.array([abs(float(t) - float(p)) if p is not None else np.nan
                     for p, t in zip(pred, truth)], dtype=np.float64)
