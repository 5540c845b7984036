"""Field-by-field checks of a saved :class:`~adaptive.SensorMonitor` state before anything of
it is used: types, lengths that must agree (sensor names, streams, counts, fleet rows),
indices in range, and detector rows that are finite wherever a fresh row is (the slots that
start as NaN mean "not yet" and may hold anything). A state that fails is refused with a
ValueError naming the field; the monitor keeps its own state and the file is left untouched.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adaptive.drift import Fleet


def _is_int(v: Any, low: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _int_list(state: dict, key: str, n: int | None, low: int) -> list[int]:
    v = state.get(key)
    if not isinstance(v, list) or not all(_is_int(x, low) for x in v):
        raise ValueError(f"{key!r} must be a list of integers >= {low}, got {str(v)[:80]}")
    if n is not None and len(v) != n:
        raise ValueError(f"{key!r} has {len(v)} entries for {n} sensors")
    return v


def _counts(state: dict, key: str) -> None:
    v = state.get(key)
    if not isinstance(v, dict) or not all(
            isinstance(k, str) and _is_int(x) for k, x in v.items()):
        raise ValueError(f"{key!r} must map names to counts >= 0, got {str(v)[:80]}")


def check_table(state: dict, monitor: Any) -> list[int]:
    """names, stream_of, counts, calib; returns stream_of."""
    names = state.get("names")
    if not isinstance(names, list) or not all(isinstance(s, str) and s for s in names):
        raise ValueError(f"'names' must be a list of sensor names, got {str(names)[:80]}")
    if len(set(names)) != len(names):
        raise ValueError("'names' repeats a sensor")
    n = len(names)
    stream_of = _int_list(state, "stream_of", n, -1)
    _int_list(state, "counts", n, 0)
    calib = state.get("calib")
    if not isinstance(calib, dict):
        raise ValueError(f"'calib' must map sensor indices to readings, got {str(calib)[:80]}")
    want = {str(i) for i, s in enumerate(stream_of) if s < 0}
    if set(calib) != want:
        raise ValueError(f"'calib' has buffers for sensors {sorted(calib)}, but the sensors "
                         f"still calibrating are {sorted(want)}")
    limit = monitor.calibrate_first or 0
    for k, buf in calib.items():
        if not isinstance(buf, list) or len(buf) >= limit or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                for x in buf):
            raise ValueError(f"'calib'[{k!r}] must be fewer than {limit} finite readings")
    return stream_of


def check_fleet(fleet_state: dict, stream_of: list[int], monitor: Any) -> None:
    """Stream indices against the fleet's rows, and the rows' values."""
    st, params = fleet_state["state"], fleet_state["stream_params"]
    n_streams = st.shape[0] if st.ndim == 2 else -1
    streams = sorted(s for s in stream_of if s >= 0)
    if streams != list(range(n_streams)):
        raise ValueError(f"'stream_of' {stream_of[:20]} does not give each of the fleet's "
                         f"{n_streams} streams exactly one sensor")
    fresh = Fleet(monitor.detector.clone({"nan_policy": "skip"}), 1).state_dict(as_arrays=True)
    for key, arr in (("state", st), ("stream_params", params)):
        ref = fresh[key]
        if arr.ndim != 2 or arr.shape[1] != ref.shape[1]:
            raise ValueError(f"fleet {key!r} has shape {arr.shape}, rows of {ref.shape[1]} "
                             "expected")
        free = ~np.isfinite(ref[0])  # (F,) slots that start non-finite ("not yet")
        bad = ~np.isfinite(arr) & ~free
        if bad.any():
            s, f = np.argwhere(bad)[0]
            raise ValueError(f"fleet {key!r} of stream {s} holds {arr[s, f]} in slot {f}, "
                             "which is always finite")
    skipped = fleet_state["n_skipped"]
    if skipped.shape != (n_streams,) or (skipped < 0).any():
        raise ValueError("fleet 'n_skipped' must be one count >= 0 per stream")


def check_position(position: Any) -> None:
    if not isinstance(position, dict) or not all(
            _is_int(position.get(k)) for k in ("byte", "row")):
        raise ValueError(f"'position' must hold integers byte >= 0 and row >= 0, got "
                         f"{str(position)[:80]}")
    seen = position.get("last_seen", {})
    if not isinstance(seen, dict) or not all(
            isinstance(v, (int, float)) and math.isfinite(v) for v in seen.values()):
        raise ValueError("'position'['last_seen'] must map sensors to finite keys")
    unacked = position.get("unacked", [])
    if not isinstance(unacked, list) or not all(
            isinstance(r, list) and len(r) == 2 and all(_is_int(x, 1) for x in r)
            for r in unacked):
        raise ValueError("'position'['unacked'] must be a list of [first, last] message ids")


def check_files(files: Any) -> None:
    if not isinstance(files, dict) or not isinstance(files.get("alerts"), list) or not all(
            _is_int(v) for v in files["alerts"]) or not _is_int(files.get("dead_letters")):
        raise ValueError(f"'files' must hold the byte lengths (>= 0) of the alert and "
                         f"dead-letter files, got {str(files)[:80]}")


def check_state(state: dict, fleet_state: dict, monitor: Any) -> None:
    """ValueError naming the first bad field of ``state`` (``fleet_state``: its fleet,
    unpacked)."""
    stream_of = check_table(state, monitor)
    check_fleet(fleet_state, stream_of, monitor)
    _counts(state, "stats")
    _counts(state, "dead_by_reason")
    check_position(state.get("position"))
    if "files" in state:
        check_files(state["files"])
