"""How :class:`~adaptive.SensorMonitor` turns detector alarms into alerts.

A micro-batch goes through one fleet kernel call (``Fleet.update_events`` for events in arrival
order, ``Fleet.update`` for a wide block whose columns are the fleet's streams). Only the streams
that alarmed are then replayed from a snapshot of their rows, cut after each alarm, to read the
detector's alert statistic (its ``_statistic`` property) at that reading; the other streams are
independent and already final. Each alert carries the sensor's reading index: its readings
counted before the batch plus the reading's rank among the sensor's readings in the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adaptive.drift import Detector, Fleet

_CALIBRATE_KEYS = {"n_streams", "max_steps", "param", "tol", "level"}


def calibrate_sensor(detector: Detector, reference: np.ndarray, arl0: float, *, seed: int = 0,
                     **options: Any) -> dict[str, Any]:
    """Per-stream parameters that give ``detector`` an ARL0 of ``arl0`` on ``reference``.

    :func:`adaptive.calibrate` simulates the detector on bootstrap resamples of the reference
    readings and picks its threshold parameter; ``seed`` makes it reproducible (the monitor
    derives it from the sensor name, so a replay after a restart calibrates identically).
    """
    from adaptive.calibration import calibrate

    result = calibrate(detector, target_arl0=arl0, reference=reference, seed=seed, **options)
    return {result.param: result.value}


def check_calibrate_options(options: dict[str, Any]) -> None:
    """ValueError unless ``options`` are keyword arguments the per-sensor calibration takes."""
    bad = set(options) - _CALIBRATE_KEYS
    if bad:
        raise ValueError(f"calibrate_options {sorted(bad)} unknown; allowed: "
                         f"{sorted(_CALIBRATE_KEYS)}")
    for key in ("n_streams", "max_steps"):
        v = options.get(key, 1)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"calibrate_options[{key!r}]={v!r} must be an integer >= 1")


def make_alert(sensor: str, kind: str, timestamp: Any, offset: int, index: int, value: float,
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


class AlertBuilder:
    """Runs a batch through the fleet and builds its alerts (sensor names and reading indices).

    Parameters
    ----------
    detector_name
        The detector's class name, as alerts report it.
    """

    def __init__(self, detector_name: str):
        self.detector_name = detector_name

    def dense(self, fleet: Fleet, counts_before: np.ndarray, col_idx: np.ndarray,
              vals: np.ndarray, ts: Any, offsets: Any, cols: list[str]) -> tuple[list, Any]:
        """A wide block (T, S) whose columns are the fleet's streams 0..S-1 in order: one dense
        kernel call. Returns the alerts and the alarms (for the counts)."""
        snap = fleet.rows()  # (S, F)
        codes = fleet.update(vals, output="pairs")  # (N, 2) (t, s) pairs each
        if not (codes.drift.size or codes.warning.size):
            return [], codes
        kinds = {(int(t), int(c)): "drift" for t, c in codes.drift}
        kinds.update({(int(t), int(c)): "warning" for t, c in codes.warning})
        pos = sorted(kinds)  # (t, c) in arrival order
        t_al = np.array([t for t, _ in pos])  # (N,) alarm rows
        c_al = np.array([c for _, c in pos])  # (N,) alarm columns
        astreams = np.unique(c_al)  # (A,) stream = column here
        a_al = np.searchsorted(astreams, c_al)  # (N,) alarm column among astreams
        sub = vals[:, astreams]  # (T, A): the alarming columns as events, in arrival order
        fin = np.isfinite(sub)  # (T, A)
        ev = np.flatnonzero(fin.ravel())
        rank = (np.cumsum(fin.ravel()) - 1).reshape(fin.shape)  # (T, A): event number
        stats = _statistics_at(fleet, snap, astreams, astreams[ev % astreams.size],
                               sub.ravel()[ev], rank[t_al, a_al].tolist())
        # each alarm's reading index: the sensor's readings before the block + its rank here
        index = counts_before[col_idx[c_al]] + np.cumsum(fin, axis=0)[t_al, a_al] - 1  # (N,)
        offs = np.asarray(offsets, dtype=np.int64)
        alerts = []
        for (t, c), i, stat in zip(pos, index.tolist(), stats):
            alerts.append(make_alert(cols[c], kinds[(t, c)], ts[t], int(offs[t]), int(i),
                                     float(vals[t, c]), self.detector_name, stat))
        return alerts, codes

    def events(self, fleet: Fleet, counts_before: np.ndarray, sidx: np.ndarray,
               stream: np.ndarray, x: np.ndarray, det_ev: np.ndarray | None, vals: np.ndarray,
               ts: Any, offs: np.ndarray, names: Any) -> tuple[list, Any]:
        """Readings (K,) of sensors ``sidx``; the detection events ``det_ev`` (None: all) go to
        the fleet streams ``stream`` with values ``x``. Returns the alerts and the alarms."""
        snap = fleet.rows()  # (S, F): to read the statistics at each alarm
        alarms = fleet.update_events(stream, x)
        if not (alarms.drift.size or alarms.warning.size):
            return [], alarms
        kinds = dict.fromkeys(alarms.drift.tolist(), "drift")
        kinds.update(dict.fromkeys(alarms.warning.tolist(), "warning"))
        pos = np.array(sorted(kinds), dtype=np.int64)  # alarm positions among detection events
        astreams = np.unique(stream[pos])
        sel = np.flatnonzero(np.isin(stream, astreams))  # their events, in order
        stats = _statistics_at(fleet, snap, astreams, stream[sel], x[sel],
                               np.searchsorted(sel, pos).tolist())
        first = det_ev[pos] if det_ev is not None else pos
        asens = np.unique(sidx[first])
        on = np.flatnonzero(np.isin(sidx, asens))  # the alarming sensors' readings, in order
        s_on = sidx[on]
        alerts = []
        for k, stat in zip(pos.tolist(), stats):
            e = k if det_ev is None else int(det_ev[k])  # position in the batch
            index = int(counts_before[sidx[e]] + np.count_nonzero(
                s_on[: np.searchsorted(on, e) + 1] == sidx[e]) - 1)
            alerts.append(make_alert(names[e], kinds[k], ts[e], int(offs[e]), index,
                                     float(vals[e]), self.detector_name, stat))
        return alerts, alarms


def _statistics_at(fleet: Fleet, snap: np.ndarray, astreams: np.ndarray, stream_ev: np.ndarray,
                   x_ev: np.ndarray, cuts: list[int]) -> list[float | None]:
    """Replay the alarming streams ``astreams`` from the snapshot ``snap`` (S, F) over their
    events (``stream_ev``, ``x_ev``), cut after each alarm (``cuts``: increasing positions in
    those events), and read the alert statistic there; the fleet ends as it was."""
    fleet.set_rows(astreams, snap[astreams])
    stats = []
    lo = 0
    for j in cuts:
        fleet.update_events(stream_ev[lo:j + 1], x_ev[lo:j + 1])
        stats.append(fleet.statistic(int(stream_ev[j])))
        lo = j + 1
    fleet.update_events(stream_ev[lo:], x_ev[lo:])
    return stats
