"""The sensor table of :class:`~adaptive.SensorMonitor`: who the sensors are and where they stand.

Each sensor has an index (the order in which it joined), a fleet stream (-1 while its
calibration buffer fills), and a count of its readings. A fixed sensor list refuses the others
(code ``UNKNOWN``); a shard keeps only the sensors it owns (code ``OTHER_SHARD``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adaptive.monitor.sources import shard_of

OTHER_SHARD, UNKNOWN = -1, -3  # codes of readings that no sensor of this monitor takes


class SensorTable:
    """Names, indices, fleet streams, reading counts and calibration buffers of the sensors.

    Parameters
    ----------
    sensors
        A fixed list of names, or None (sensors join when they first appear).
    shard
        None or (i, n): only sensors with ``shard_of(name, n) == i`` belong here.
    calibrate_first
        None, or the length of each sensor's calibration buffer.
    """

    def __init__(self, sensors: list[str] | None, shard: tuple[int, int] | None,
                 calibrate_first: int | None):
        self.sensors, self.shard, self.calibrate_first = sensors, shard, calibrate_first
        self.names: list[str] = []  # sensor index -> name
        self.index: dict[str, int] = {}  # name -> sensor index
        self.stream_of = np.zeros(0, dtype=np.int64)  # (N,) fleet stream, -1: calibrating
        self.counts = np.zeros(0, dtype=np.int64)  # (N,) readings per sensor
        self.calib: dict[int, list[float]] = {}  # sensor index -> reference readings so far
        self._foreign: set[str] = set()  # names seen that belong to another shard

    def owns(self, name: str) -> bool:
        return self.shard is None or shard_of(name, self.shard[1]) == self.shard[0]

    def initial(self) -> list[str]:
        """The fixed sensors of this shard (to join at once), or []."""
        return [] if self.sensors is None else [s for s in self.sensors if self.owns(s)]

    def join(self, names: list[str]) -> np.ndarray:
        """New sensors join; returns their indices (N_new,). Their streams are set by the
        caller (the fleet is the monitor's); with calibration they start with a buffer."""
        n0 = len(self.names)
        for i, name in enumerate(names):
            self.index[name] = n0 + i
        self.names.extend(names)
        self.counts = np.concatenate([self.counts, np.zeros(len(names), dtype=np.int64)])
        self.stream_of = np.concatenate([self.stream_of, np.full(len(names), -1, np.int64)])
        if self.calibrate_first is not None:
            for i in range(len(names)):
                self.calib[n0 + i] = []
        return np.arange(n0, n0 + len(names), dtype=np.int64)

    def ids(self, sensors: list[str]) -> tuple[np.ndarray, list[str]]:
        """Names (K,) -> sensor indices (K,) with ``OTHER_SHARD``/``UNKNOWN`` codes, and the
        names that joined now (dynamic list; the caller gives them streams)."""
        index = self.index
        sidx = np.fromiter((index.get(s, -1) for s in sensors), dtype=np.int64,
                           count=len(sensors))
        if not (sidx < 0).any():
            return sidx, []
        new: dict[str, None] = {}
        code: dict[str, int] = {}
        for k in np.flatnonzero(sidx < 0):
            name = sensors[k]
            if name in code or name in new:
                continue
            if name in self._foreign or not self.owns(name):
                self._foreign.add(name)
                code[name] = OTHER_SHARD
            elif self.sensors is not None:
                code[name] = UNKNOWN
            else:
                new[name] = None
        joined = list(new)
        if joined:
            self.join(joined)
        code.update(index)
        return np.fromiter((code[s] for s in sensors), dtype=np.int64, count=len(sensors)), joined

    def fill_calibration(self, sidx: np.ndarray, vals: np.ndarray,
                         stream: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Put the readings of calibrating sensors (``stream < 0``) into their buffers.

        Returns the mask (K,) of readings taken by a buffer and the sensors whose buffer is now
        full (their references are popped by :meth:`take_reference`).
        """
        n = self.calibrate_first
        cal = np.flatnonzero(stream < 0)
        s_cal = sidx[cal]
        order = np.argsort(s_cal, kind="stable")
        ss = s_cal[order]
        starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
        rank = np.empty_like(order)  # each reading's rank among its sensor's readings here
        rank[order] = np.arange(ss.size) - np.repeat(starts, np.diff(np.r_[starts, ss.size]))
        have = np.array([len(self.calib[int(s)]) for s in s_cal], dtype=np.int64)
        take = rank < n - have  # type: ignore[operator]
        full = []
        for s in np.unique(s_cal):
            buf = self.calib[int(s)]
            buf.extend(vals[cal[take & (s_cal == s)]].tolist())
            if len(buf) >= n:  # type: ignore[operator]
                full.append(int(s))
        taken = np.zeros(sidx.shape[0], dtype=bool)
        taken[cal[take]] = True
        return taken, full

    def take_reference(self, s: int) -> np.ndarray:
        """The full calibration buffer of sensor s (removed from the table)."""
        return np.asarray(self.calib.pop(s))

    def state_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "stream_of": self.stream_of.tolist(),
                "counts": self.counts.tolist(),
                "calib": {str(k): v for k, v in self.calib.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.names = list(state["names"])
        self.index = {n: i for i, n in enumerate(self.names)}
        self.stream_of = np.asarray(state["stream_of"], dtype=np.int64)
        self.counts = np.asarray(state["counts"], dtype=np.int64)
        self.calib = {int(k): list(v) for k, v in state["calib"].items()}
