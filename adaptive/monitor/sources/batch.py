"""The record every source of :class:`adaptive.SensorMonitor` yields, its dead letters, and the
number grammar every source shares.

A :class:`Batch` is a block of readings already parsed to float64, the records that could not
be parsed (dead letters, with the reason and the raw text) and the position to resume from once
the batch is processed. The CSV parsers (:mod:`~adaptive.monitor.sources.csv_wide`,
:mod:`~adaptive.monitor.sources.csv_long`) and the sources
(:mod:`~adaptive.monitor.sources.csv_source`, :mod:`~adaptive.monitor.sources.mqtt`) build
them; :mod:`adaptive.monitor.sources` re-exports :class:`Batch`.
"""

from __future__ import annotations

import math
import re
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


# A number as the sources accept it: optional blanks (space, tab), a sign, decimal digits with
# an optional point and exponent, or inf/infinity/nan (non-finite: dead letters of their own).
# Python's float() also takes "1_000", other Unicode digits and whitespace: not data here.
_NUMBER = re.compile(r"[ \t]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                     r"|inf|infinity|nan)[ \t]*", re.IGNORECASE)


def _float_or_none(tok: str) -> float | None:
    """``tok`` as a float if it is a number by the sources' grammar (see ``_NUMBER``), else
    None.

    Examples
    --------
    >>> _float_or_none(" 2.5e3 "), _float_or_none("1_000"), _float_or_none("nan")
    (2500.0, None, nan)
    """
    return float(tok) if _NUMBER.fullmatch(tok) else None


def _cell_fate(tok: str, max_abs: float) -> tuple[float | None, str | None]:
    """A cell's text -> (value, None) for a reading, or (None, dead-letter reason)."""
    if not tok.strip(" \t"):
        return None, "missing_value"
    v = _float_or_none(tok)
    if v is None:
        return None, "non_numeric"
    if not math.isfinite(v):
        return None, "non_finite"
    if abs(v) > max_abs:
        return None, "overflow"
    return v, None


def _dead(reason: str, raw: str, offset: int, sensor: str | None = None) -> dict:
    """A dead letter: why, the raw text, the source offset and the sensor when known."""
    rec = {"reason": reason, "raw": raw, "offset": offset}
    if sensor is not None:
        rec["sensor"] = sensor
    return rec
