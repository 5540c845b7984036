"""Long CSV (columns ``timestamp``, ``sensor``, ``value`` in any order, one reading per record):
the compiled block parser and its plain reference.

:func:`parse_long_bytes` scans raw bytes without quotes with the compiled kernel
``_scan_long``, which also hashes the sensor names (FNV-1a 64-bit, collisions checked byte by
byte by ``_same_names``), so a block becomes U distinct names and (K,) codes;
:func:`parse_long` reads records through Python's ``csv`` module and is the reference the tests
compare the kernel against. A bad record is one dead letter with the record's text as ``raw``:
``wrong_field_count``, ``missing_sensor``, or (with its sensor) ``missing_value``,
``non_numeric``, ``non_finite`` or ``overflow`` (beyond ``max_abs``).
"""

from __future__ import annotations

import csv
import math

import numpy as np

from adaptive.drift._drivers import kernel
from adaptive.monitor.sources.batch import _cell_fate, _dead
from adaptive.monitor.sources.csv_scan import (
    _EMPTY,
    _OK,
    _POW10,
    _line_at,
    _scan_long,
)


@kernel
def _same_names(buf, spans, isn, rows, rep):
    """True when every row's sensor bytes equal those of its hash's representative row."""
    for k in range(rows.shape[0]):
        r, q = rows[k], rep[k]
        a, b = spans[r, isn, 0], spans[r, isn, 1]
        c, d = spans[q, isn, 0], spans[q, isn, 1]
        if b - a != d - c:
            return False
        for m in range(b - a):
            if buf[a + m] != buf[c + m]:
                return False
    return True


class _Spans:
    """``view[k]``: the text of field span k of ``data`` (timestamps, decoded on demand)."""

    def __init__(self, data: bytes, spans: np.ndarray):
        self.data, self.spans = data, spans

    def __getitem__(self, k: int) -> str:
        a, b = self.spans[int(k)]
        return self.data[int(a):int(b)].decode("utf-8", "replace")



def parse_long_bytes(data: bytes, order: tuple[int, int, int], first_offset: int,
                     max_abs: float = math.inf):
    """Long records on raw bytes (no quotes, no bare CRs) with the compiled scanner.

    Returns (names (U,) in order of first appearance, codes (K,) into names, values (K,),
    timestamps (K,) decoded on access, offsets (K,), dead letters).

    Examples
    --------
    >>> names, codes, v, ts, offs, dead = parse_long_bytes(
    ...     b"0,a,1.5\\n1,b,oops\\n2,a,2\\n3,c", (0, 1, 2), 0)
    >>> names, codes.tolist(), v.tolist(), ts[1], offs.tolist(), [d["reason"] for d in dead]
    (['a'], [0, 0], [1.5, 2.0], '2', [0, 2], ['non_numeric', 'wrong_field_count'])
    """
    it, isn, iv = order
    buf = np.frombuffer(data, dtype=np.uint8)
    n_rows = data.count(b"\n") + 1  # data holds no final newline: b"" is one blank row
    vals = np.full(n_rows, np.nan)
    status = np.full(n_rows, _EMPTY, dtype=np.int8)
    spans = np.zeros((n_rows, 3, 2), dtype=np.int64)
    hashes = np.zeros(n_rows, dtype=np.uint64)
    n_fields = np.zeros(n_rows, dtype=np.int64)
    _scan_long(buf, it, isn, iv, _POW10, vals, status, spans, hashes, n_fields)
    good = n_fields == 3
    empty_name = spans[:, isn, 1] == spans[:, isn, 0]
    bad = ~good | empty_name | (status != _OK)
    if math.isfinite(max_abs):
        bad |= np.abs(vals) > max_abs
    dead: list[dict] = []
    if bad.any():
        dead = _long_dead(data, spans, order, first_offset, good, empty_name, vals, bad,
                          max_abs)
    rows = np.flatnonzero(~bad)
    names, codes = _code_names(buf, data, spans, isn, hashes, rows)
    ts = _Spans(data, spans[rows, it])
    return names, codes, vals[rows], ts, (first_offset + rows).astype(np.int64), dead


def _long_dead(data: bytes, spans: np.ndarray, order: tuple[int, int, int], first_offset: int,
               good: np.ndarray, empty_name: np.ndarray, vals: np.ndarray, bad: np.ndarray,
               max_abs: float) -> list[dict]:
    """The dead letters of the ``bad`` rows (T,) of a scanned block. A row whose value the
    kernel left to the number grammar and that is a good reading after all gets its ``vals``
    entry set and its ``bad`` flag cleared (both in place)."""
    _, isn, iv = order
    dead: list[dict] = []
    for r in np.flatnonzero(bad).tolist():
        raw = _line_at(data, int(spans[r, 0, 0]))  # every row has a first field, maybe empty
        off = first_offset + r
        if not good[r]:
            dead.append(_dead("wrong_field_count", raw, off))
            continue
        if empty_name[r]:
            dead.append(_dead("missing_sensor", raw, off))
            continue
        sensor = data[spans[r, isn, 0]: spans[r, isn, 1]].decode("utf-8", "replace")
        v, reason = _cell_fate(data[spans[r, iv, 0]: spans[r, iv, 1]].decode(
            "utf-8", "replace"), max_abs)
        if reason is None:
            vals[r] = v
            bad[r] = False
        else:
            dead.append(_dead(reason, raw, off, sensor))
    return dead


def _code_names(buf: np.ndarray, data: bytes, spans: np.ndarray, isn: int, hashes: np.ndarray,
                rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The good ``rows`` (K,) -> (names (U,) in order of first appearance, codes (K,))."""
    uniq, first, inv = np.unique(hashes[rows], return_index=True, return_inverse=True)
    order_u = np.argsort(first, kind="stable")  # names in order of first appearance
    rank = np.empty_like(order_u)
    rank[order_u] = np.arange(order_u.size)
    codes = rank[inv.reshape(-1)]
    rep_rows = rows[first]  # (U,) one row per distinct hash
    if not _same_names(buf, spans, isn, rows, rep_rows[inv.reshape(-1)]):
        raise RuntimeError("64-bit hash collision between two sensor names")  # pragma: no cover
    names = [data[spans[q, isn, 0]: spans[q, isn, 1]].decode("utf-8", "replace")
             for q in rep_rows[order_u].tolist()]
    return names, codes


def parse_long(lines: list[str], order: tuple[int, int, int], first_offset: int,
               max_abs: float = math.inf):
    """Records of 3 fields (their texts, quotes as written) -> (sensors (K,), values (K,),
    timestamps (K,), offsets (K,), dead letters). ``order`` gives the column positions of
    (timestamp, sensor, value).

    Examples
    --------
    >>> s, v, t, o, dead = parse_long(['0,a,1.5', '1,b,oops', '2,"a,1",3', '3,a'], (0, 1, 2), 10)
    >>> s, v.tolist(), o.tolist(), [d["reason"] for d in dead]
    (['a', 'a,1'], [1.5, 3.0], [10, 12], ['non_numeric', 'wrong_field_count'])
    """
    it, isn, iv = order
    sensors, vlist, ts, offs, dead = [], [], [], [], []
    for k, (line, f) in enumerate(zip(lines, csv.reader(lines))):
        off = first_offset + k
        if len(f) != 3:
            dead.append(_dead("wrong_field_count", line, off))
            continue
        if not f[isn]:
            dead.append(_dead("missing_sensor", line, off))
            continue
        v, reason = _cell_fate(f[iv], max_abs)
        if reason is not None:
            dead.append(_dead(reason, line, off, f[isn]))
            continue
        sensors.append(f[isn])
        vlist.append(v)
        ts.append(f[it])
        offs.append(off)
    return sensors, np.asarray(vlist, dtype=np.float64), ts, np.asarray(offs, np.int64), dead
