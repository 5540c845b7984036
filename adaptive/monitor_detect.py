"""How :class:`adaptive.SensorMonitor` turns known sensors' readings into alerts.

A micro-batch goes through one fleet kernel call (``Fleet.update_events`` for events in arrival
order, ``Fleet.update`` for a wide block whose columns are the fleet's streams). Only the
streams that alarmed are then replayed from a snapshot, cut after each alarm, to read the
detector's main statistic at that reading; the other streams are independent and already final.
With ``calibrate_first`` a sensor's first readings fill a reference buffer instead, and once it
is full :func:`calibrate_sensor` gives the sensor's stream its own parameters.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from adaptive.base import Detector

_STAT_NAMES = ("statistic", "estimation", "p_value")
_CALIBRATE_KEYS = {"n_streams", "max_steps", "param", "tol", "level"}


def _main_statistic(det: Detector) -> float | None:
    for name in _STAT_NAMES:
        if hasattr(type(det), name):
            v = float(getattr(det, name))
            return v if np.isfinite(v) else None
    return None


def calibrate_sensor(detector: Detector, reference: np.ndarray, arl0: float, *, seed: int = 0,
                     **options: Any) -> dict[str, Any]:
    """Per-stream parameters that give ``detector`` an ARL0 of ``arl0`` on ``reference``.

    :func:`adaptive.calibrate` simulates the detector on bootstrap resamples of the reference
    readings and picks its threshold parameter; ``seed`` makes it reproducible (the monitor
    derives it from the sensor name, so a replay after a restart calibrates identically).
    """
    from adaptive.calibrate import calibrate

    result = calibrate(detector, target_arl0=arl0, reference=reference, seed=seed, **options)
    return {result.param: result.value}


def _check_calibrate_options(options: dict[str, Any]) -> None:
    """ValueError unless ``options`` are keyword arguments the per-sensor calibration takes."""
    bad = set(options) - _CALIBRATE_KEYS
    if bad:
        raise ValueError(f"calibrate_options {sorted(bad)} unknown; allowed: "
                         f"{sorted(_CALIBRATE_KEYS)}")
    for key in ("n_streams", "max_steps"):
        v = options.get(key, 1)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"calibrate_options[{key!r}]={v!r} must be an integer >= 1")


def _alert(sensor: str, kind: str, timestamp: Any, offset: int, index: int, value: float,
           detector: str, statistic: float | None) -> dict[str, Any]:
    """One alert; ``id`` (sensor, kind, source offset) is the same in a replay."""
    return {
        "id": f"{sensor}:{kind}:{offset}",
        "sensor": sensor,
        "timestamp": timestamp,
        "offset": offset,
        "index": index,
        "value": value,
        "kind": kind,
        "detector": detector,
        "statistic": statistic,
    }


class _Detection:
    """The detection methods of :class:`adaptive.SensorMonitor` (a mixin over its state)."""

    def _detect_dense(self, col_idx: np.ndarray, vals: np.ndarray, ts: list, offsets: Any,
                      cols: list[str]) -> list[dict[str, Any]]:
        """Fast path of a wide block whose columns are the fleet's streams 0..S-1 in order:
        one dense kernel call, no flattening. Same alerts as the event path."""
        fin = np.isfinite(vals)  # (T, S)
        n_fin = fin.sum(axis=0)  # (S,) readings per column
        self.stats["readings"] += int(n_fin.sum())
        before = self._counts.copy()
        self._counts[col_idx] += n_fin
        fleet = self._fleet
        snap = fleet._state.copy()  # (S, F)
        codes = fleet.update(vals, output="pairs")
        if not (codes.drift.size or codes.warning.size):
            return []
        kinds = {(int(t), int(c)): "drift" for t, c in codes.drift}
        kinds.update({(int(t), int(c)): "warning" for t, c in codes.warning})
        pos = sorted(kinds)  # (t, c) in arrival order
        astreams = np.unique([c for _, c in pos])  # (A,) stream = column here
        # the alarming columns as events, in arrival order
        sub = vals[:, astreams]  # (T, A)
        ev = np.flatnonzero(np.isfinite(sub).ravel())
        st_ev = astreams[ev % astreams.size]
        x_ev = sub.ravel()[ev]
        rows_ev = ev // astreams.size
        where = {(int(r), int(c)): j for j, (r, c) in enumerate(zip(rows_ev, st_ev))}
        stats = self._statistics_at(snap, astreams, st_ev, x_ev, [where[key] for key in pos])
        alerts = []
        name = type(self.detector).__name__
        offs = np.asarray(offsets, dtype=np.int64)
        for (t, c), stat in zip(pos, stats):
            index = int(before[col_idx[c]] + np.count_nonzero(fin[: t + 1, c]) - 1)
            alerts.append(_alert(cols[c], kinds[(t, c)], ts[t], int(offs[t]), index,
                                 float(vals[t, c]), name, stat))
        self.stats["drift"] += len(codes.drift)
        self.stats["warning"] += len(codes.warning)
        return alerts

    def _detect(self, sidx: np.ndarray, vals: np.ndarray, ts: Any, offs: np.ndarray,
                names: Any) -> list[dict[str, Any]]:
        """Known sensors' readings (K,) -> alerts; the calibration phase comes first."""
        n_ev = sidx.shape[0]
        self.stats["readings"] += n_ev
        if n_ev == 0:
            return []
        before = self._counts.copy()
        self._counts += np.bincount(sidx, minlength=self._counts.shape[0])
        stream = self._stream_of[sidx]
        if (stream < 0).any():
            det_ev = self._calibration(sidx, vals, stream)
            stream = self._stream_of[sidx[det_ev]]
        else:
            det_ev = None
        x = vals if det_ev is None else vals[det_ev]
        fleet = self._fleet
        snap = fleet._state.copy()  # (S, F): to read the statistics at each alarm
        alarms = fleet.update_events(stream, x)
        if not (alarms.drift.size or alarms.warning.size):
            return []
        kinds = dict.fromkeys(alarms.drift.tolist(), "drift")
        kinds.update(dict.fromkeys(alarms.warning.tolist(), "warning"))
        pos = np.array(sorted(kinds), dtype=np.int64)  # alarm positions among detection events
        astreams = np.unique(stream[pos])
        sel = np.flatnonzero(np.isin(stream, astreams))  # their events, in order
        stats = self._statistics_at(snap, astreams, stream[sel], x[sel],
                                    np.searchsorted(sel, pos).tolist())
        # each reading's index among its sensor's readings: counts before + rank in the batch
        first = det_ev[pos] if det_ev is not None else pos
        asens = np.unique(sidx[first])
        on = np.flatnonzero(np.isin(sidx, asens))  # the alarming sensors' readings, in order
        s_on = sidx[on]
        alerts = []
        name = type(self.detector).__name__
        for k, stat in zip(pos.tolist(), stats):
            e = k if det_ev is None else int(det_ev[k])  # position in the batch
            index = int(before[sidx[e]] + np.count_nonzero(
                s_on[: np.searchsorted(on, e) + 1] == sidx[e]) - 1)
            alerts.append(_alert(names[e], kinds[k], ts[e], int(offs[e]), index, float(vals[e]),
                                 name, stat))
        self.stats["drift"] += len(alarms.drift)
        self.stats["warning"] += len(alarms.warning)
        return alerts

    def _statistics_at(self, snap: np.ndarray, astreams: np.ndarray, stream_ev: np.ndarray,
                       x_ev: np.ndarray, cuts: list[int]) -> list[float | None]:
        """Replay the alarming streams ``astreams`` from the snapshot ``snap`` (S, F) over their
        events (``stream_ev``, ``x_ev``), cut after each alarm (``cuts``: increasing positions
        in those events), and read the main statistic there; the fleet ends as it was."""
        fleet = self._fleet
        fleet._state[astreams] = snap[astreams]
        stats = []
        lo = 0
        for j in cuts:
            fleet.update_events(stream_ev[lo:j + 1], x_ev[lo:j + 1])
            stats.append(_main_statistic(self._probe(int(stream_ev[j]))))
            lo = j + 1
        fleet.update_events(stream_ev[lo:], x_ev[lo:])
        return stats

    def _probe(self, s: int) -> Detector:
        """A detector viewing stream s's state row (its statistics read that row)."""
        probe = self._probes.get(s)
        if probe is None:
            probe = self._probes[s] = self._fleet.stream(s)
        probe._row = self._fleet._state[s]
        return probe

    def _calibration(self, sidx: np.ndarray, vals: np.ndarray, stream: np.ndarray) -> np.ndarray:
        """Feed reference readings to the calibration buffers; return the detection events."""
        n = self.calibrate_first
        cal = np.flatnonzero(stream < 0)
        s_cal = sidx[cal]
        order = np.argsort(s_cal, kind="stable")
        ss = s_cal[order]
        starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
        rank = np.empty_like(order)
        rank[order] = np.arange(ss.size) - np.repeat(starts, np.diff(np.r_[starts, ss.size]))
        have = np.array([len(self._calib[int(s)]) for s in s_cal], dtype=np.int64)
        take = rank < n - have
        done = []
        for s in np.unique(s_cal):
            buf = self._calib[int(s)]
            buf.extend(vals[cal[take & (s_cal == s)]].tolist())
            if len(buf) >= n:
                done.append(int(s))
        for s in done:  # calibrate, then the sensor's stream joins the fleet
            try:
                params = calibrate_sensor(self.detector, np.asarray(self._calib.pop(s)),
                                          self.arl0, seed=zlib.crc32(self._names[s].encode()),
                                          **self.calibrate_options)
            except (ValueError, ArithmeticError):  # e.g. a constant reference: no bracket
                params = {}  # the sensor keeps the detector's own parameters, and it is said
                self.stats["calibration_failed"] += 1
            else:
                self.stats["calibrated"] += 1
            self._stream_of[s] = self._fleet.n_streams
            self._fleet.add_streams(1, **params)
        det = np.ones(sidx.shape[0], dtype=bool)
        det[cal[take]] = False
        det &= self._stream_of[sidx] >= 0
        return np.flatnonzero(det)
