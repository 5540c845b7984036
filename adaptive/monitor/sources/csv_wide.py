"""Wide CSV (``timestamp,<sensor>,<sensor>,...``): the compiled block parser and its plain
reference.

:func:`parse_wide_bytes` scans raw bytes without quotes with the compiled kernel
``_scan_wide``; :func:`parse_wide` reads records through Python's ``csv`` module (quoted
fields, line breaks inside quotes) and is the reference the tests compare the kernel against.
An empty, non-numeric or non-finite cell, or one beyond ``max_abs`` (``overflow``), is a dead
letter of that one reading, with the cell's text as ``raw``; a record with the wrong number of
fields is one dead letter as a whole, with the record's text.
"""

from __future__ import annotations

import csv
import math

import numpy as np

from adaptive.drift._soa import default_threads, pool
from adaptive.monitor.sources.batch import _cell_fate, _dead
from adaptive.monitor.sources.csv_scan import _OK, _POW10, _line_at, _scan_wide

PARALLEL_CELLS = 1 << 14  # cells per part below which a second thread costs more than it saves


def parse_wide_bytes(data: bytes, columns: list[str], first_offset: int,
                     max_abs: float = math.inf, n_rows: int | None = None):
    """Like :func:`parse_wide`, on the raw bytes of records without quotes or bare CRs, joined
    by LF or CRLF (none at the end), with the compiled scanner; ``n_rows``: their number, if
    the caller knows it.

    Examples
    --------
    >>> ts, vals, dead = parse_wide_bytes(b"0,1.5,2\\n1,x,3", ["a", "b"], 0)
    >>> ts, vals.tolist(), dead[0]["reason"], dead[0]["sensor"]
    (['0', '1'], [[1.5, 2.0], [nan, 3.0]], 'non_numeric', 'a')
    """
    n_cols = len(columns)
    if n_rows is None:
        n_rows = data.count(b"\n") + 1  # data holds no final newline: b"" is one blank row
    vals = np.empty((n_rows, n_cols))  # (T, C): the kernel fills every cell of a whole row
    status = np.empty((n_rows, n_cols), dtype=np.int8)
    ts_span = np.zeros((n_rows, 2), dtype=np.int64)
    n_fields = np.zeros(n_rows, dtype=np.int64)
    _scan_parts(data, n_cols, vals, status, ts_span, n_fields)
    ts = [data[a:b].decode("utf-8", "replace") for a, b in ts_span.tolist()]
    wrong = n_fields != n_cols + 1
    letters = [(int(r), -1, _dead("wrong_field_count", _line_at(data, int(ts_span[r, 0])),
                                  first_offset + int(r))) for r in np.flatnonzero(wrong)]
    vals[wrong] = np.nan
    status[wrong] = _OK
    odd = status != _OK  # cells the kernel left to the number grammar
    if math.isfinite(max_abs):
        odd |= np.abs(vals) > max_abs
    for r, c in np.argwhere(odd).tolist():
        tok = _cell_text(data, int(ts_span[r, 0]), c)
        v, reason = _cell_fate(tok, max_abs)
        vals[r, c] = np.nan if v is None else v
        if reason is not None:
            letters.append((r, c, _dead(reason, tok, first_offset + r, columns[c])))
    letters.sort(key=lambda x: x[:2])
    return ts, vals, [d for _, _, d in letters]


def _scan_parts(data: bytes, n_cols: int, vals: np.ndarray, status: np.ndarray,
                ts_span: np.ndarray, n_fields: np.ndarray) -> None:
    """``_scan_wide`` over ``data``, cut at row boundaries into one part per core for big
    blocks (the kernel releases the GIL; each row is parsed by the same code either way)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    n_parts = min(default_threads(), vals.size // PARALLEL_CELLS)
    if n_parts < 2:
        _scan_wide(buf, n_cols, _POW10, vals, status, ts_span, n_fields)
        return
    cuts, rows = [0], [0]
    for k in range(1, n_parts):
        pos = data.find(b"\n", max(cuts[-1], len(data) * k // n_parts))
        if pos < 0:
            break
        cuts.append(pos + 1)
        rows.append(rows[-1] + data.count(b"\n", cuts[-2], pos + 1))
    cuts.append(len(data))
    rows.append(vals.shape[0])
    jobs = [pool().submit(_scan_wide, buf[b0:b1], n_cols, _POW10, vals[r0:r1], status[r0:r1],
                          ts_span[r0:r1], n_fields[r0:r1])
            for b0, b1, r0, r1 in zip(cuts, cuts[1:], rows, rows[1:])]
    for job in jobs:
        job.result()
    for b0, r0, r1 in zip(cuts, rows, rows[1:]):
        ts_span[r0:r1] += b0


def _cell_text(data: bytes, row_start: int, c: int) -> str:
    """Cell c (after the timestamp) of the row starting at ``row_start``, as written."""
    end = data.find(b"\n", row_start)
    row = data[row_start: end if end >= 0 else len(data)]
    if row.endswith(b"\r"):
        row = row[:-1]
    return row.split(b",")[c + 1].decode("utf-8", "replace")


def parse_wide(lines: list[str], columns: list[str], first_offset: int,
               max_abs: float = math.inf):
    """Records ``timestamp,v1,...,vC`` (their texts, quotes as written) -> (timestamps (T,),
    values (T, C), dead letters).

    Examples
    --------
    >>> ts, vals, dead = parse_wide(['0,1.5,"2"', '"1,5",x,3'], ["a", "b"], 0)
    >>> ts, vals.tolist(), [(d["reason"], d["raw"], d["sensor"]) for d in dead]
    (['0', '1,5'], [[1.5, 2.0], [nan, 3.0]], [('non_numeric', 'x', 'a')])
    """
    n_cols = len(columns)
    vals = np.full((len(lines), n_cols), np.nan)  # (T, C)
    ts: list[str] = []
    dead: list[dict] = []
    for i, (line, fields) in enumerate(zip(lines, csv.reader(lines))):
        off = first_offset + i
        ts.append(fields[0] if fields else "")
        if len(fields) != n_cols + 1:
            dead.append(_dead("wrong_field_count", line, off))
            continue
        for c, tok in enumerate(fields[1:]):
            v, reason = _cell_fate(tok, max_abs)
            if reason is None:
                vals[i, c] = v
            else:
                dead.append(_dead(reason, tok, off, columns[c]))
    return ts, vals, dead
