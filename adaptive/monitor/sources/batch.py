"""The record every source of :class:`adaptive.SensorMonitor` yields, and its dead letters.

A :class:`Batch` is a block of readings already parsed to float64, the records that could not
be parsed (dead letters, with the reason and the raw text) and the position to resume from once
the batch is processed. The CSV parsers (:mod:`adaptive.csv_wide`, :mod:`adaptive.csv_long`) and
the sources (:mod:`adaptive.csv_source`, :mod:`adaptive.mqtt_source`) build them; the public
entry point is :mod:`adaptive.sources`, which re-exports :class:`Batch`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Batch(NamedTuple):
    """A block of readings from a source.

    ``kind`` is ``"events"`` (``sensors``, ``values``, ``timestamps``, ``offsets`` all (K,))
    or ``"wide"`` (``sensors`` are the C column names, ``values`` (T, C) with NaN where a cell
    was a dead letter or missing, ``timestamps`` and ``offsets`` (T,)). ``offsets`` are record
    numbers of the source (0-based data rows, or message numbers). ``dead`` lists the dead
    letters (dicts with ``reason``, ``raw``, ``offset`` and ``sensor`` when known).
    ``position`` is where to resume after this batch; ``n_records`` counts source records;
    ``acks`` holds MQTT message ids to acknowledge once the batch is checkpointed;
    ``duplicates`` counts redelivered MQTT messages dropped by ``seq``/``timestamp``.
    ``kind="coded"`` (long CSV): ``sensors`` are the U distinct names and ``codes`` (K,) index
    them.
    """

    kind: str
    sensors: list
    values: np.ndarray
    timestamps: list
    offsets: np.ndarray
    dead: list
    position: dict
    n_records: int
    acks: list = []
    duplicates: int = 0
    codes: np.ndarray | None = None


def _float_or_none(tok: str) -> float | None:
    try:
        return float(tok)
    except ValueError:
        return None


def _dead(reason: str, raw: str, offset: int, sensor: str | None = None) -> dict:
    """A dead letter: why, the raw text, the source offset and the sensor when known."""
    rec = {"reason": reason, "raw": raw, "offset": offset}
    if sensor is not None:
        rec["sensor"] = sensor
    return rec
