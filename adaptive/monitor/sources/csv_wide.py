"""Wide CSV (``timestamp,<sensor>,<sensor>,...``): the compiled block parser and its plain
reference.

:func:`parse_wide_bytes` scans raw bytes with the compiled kernel ``_scan_wide``;
:func:`parse_wide` parses decoded lines in plain Python (numpy's ``fromstring`` with a
cell-by-cell fallback) and is the reference the tests compare the kernel against. An empty or
non-numeric cell is a dead letter of that one reading; a row with the wrong number of fields is
one dead letter as a whole.
"""

from __future__ import annotations

import numpy as np

from adaptive.drift._drivers import kernel
from adaptive.monitor.sources.batch import _dead, _float_or_none
from adaptive.monitor.sources.csv_scan import (
    _EMPTY,
    _OK,
    _POW10,
    _fast_floats,
    _line_at,
    _parse_token,
    _split_line,
)


@kernel
def _scan_wide(buf, n_cols, pow10, vals, status, ts_span, n_fields):
    """Rows 'ts,v1,..,vC' of buf (uint8, complete lines) -> vals/status (T, C), ts_span (T, 2),
    n_fields (T,) the number of fields each row had."""
    n = buf.shape[0]
    fields = np.zeros((n_cols + 1, 2), dtype=np.int64)  # (C + 1, 2) spans of one row
    line = 0
    i = 0
    while i <= n:  # i == n starts the last line (no final newline; it may end with a comma)
        i, n_f = _split_line(buf, i, fields)
        n_fields[line] = n_f
        start, end = fields[0, 0], fields[0, 1]
        if end > start and buf[end - 1] == 13:
            end -= 1
        ts_span[line, 0] = start
        ts_span[line, 1] = end
        for c in range(min(n_f - 1, n_cols)):
            v, st = _parse_token(buf, fields[c + 1, 0], fields[c + 1, 1], pow10)
            vals[line, c] = v
            status[line, c] = st
        line += 1


def parse_wide_bytes(data: bytes, columns: list[str], first_offset: int):
    """Like :func:`parse_wide`, on raw bytes of lines joined by newlines (none at the end),
    with the compiled scanner.

    Examples
    --------
    >>> ts, vals, dead = parse_wide_bytes(b"0,1.5,2\\n1,x,3", ["a", "b"], 0)
    >>> ts, vals.tolist(), dead[0]["reason"], dead[0]["sensor"]
    (['0', '1'], [[1.5, 2.0], [nan, 3.0]], 'non_numeric', 'a')
    """
    n_cols = len(columns)
    buf = np.frombuffer(data, dtype=np.uint8)
    n_rows = data.count(b"\n") + 1  # data holds no final newline: b"" is one blank row
    vals = np.full((n_rows, n_cols), np.nan)  # (T, C)
    status = np.full((n_rows, n_cols), _EMPTY, dtype=np.int8)
    ts_span = np.zeros((n_rows, 2), dtype=np.int64)
    n_fields = np.zeros(n_rows, dtype=np.int64)
    _scan_wide(buf, n_cols, _POW10, vals, status, ts_span, n_fields)
    ts = [data[a:b].decode("utf-8", "replace") for a, b in ts_span.tolist()]
    dead: list[dict] = []
    wrong = np.flatnonzero(n_fields != n_cols + 1)
    for r in wrong:  # the whole row is one dead letter
        vals[r] = np.nan
        status[r] = _OK
        dead.append(_dead("wrong_field_count", _line_at(data, int(ts_span[r, 0])),
                          first_offset + int(r)))
    if (status != _OK).any():
        for r, c in np.argwhere(status != _OK):
            off = first_offset + int(r)
            if status[r, c] == _EMPTY:
                dead.append(_dead("missing_value", "", off, columns[c]))
                continue
            tok = _cell_text(data, ts_span[r, 0], c)
            v = _float_or_none(tok)
            if v is None:
                dead.append(_dead("non_numeric", tok, off, columns[c]))
            else:
                vals[r, c] = v
    bad = ~np.isfinite(vals)
    if bad.any():
        done = {(d["offset"], d.get("sensor")) for d in dead}
        wrong_rows = {first_offset + int(r) for r in wrong}
        for r, c in np.argwhere(bad):
            off = first_offset + int(r)
            if off in wrong_rows or (off, columns[c]) in done:
                continue
            dead.append(_dead("non_finite", _cell_text(data, ts_span[r, 0], c), off, columns[c]))
    if dead:
        dead.sort(key=lambda d: d["offset"])
    return ts, vals, dead


def _cell_text(data: bytes, row_start: int, c: int) -> str:
    end = data.find(b"\n", int(row_start))
    row = data[int(row_start): end if end >= 0 else len(data)]
    return row.split(b",")[c + 1].decode("utf-8", "replace").strip()



def parse_wide(lines: list[str], columns: list[str], first_offset: int):
    """Rows ``timestamp,v1,...,vC`` -> (timestamps (T,), values (T, C), dead letters).

    Examples
    --------
    >>> ts, vals, dead = parse_wide(["0,1.5,2", "1,x,3"], ["a", "b"], 0)
    >>> ts, vals.tolist(), dead[0]["reason"], dead[0]["sensor"]
    (['0', '1'], [[1.5, 2.0], [nan, 3.0]], 'non_numeric', 'a')
    """
    n_cols = len(columns)
    ts: list[str] = []
    bodies: list[str] = []
    for line in lines:
        t, _, body = line.partition(",")
        ts.append(t)
        bodies.append(body)
    ok_shape = all(b.count(",") == n_cols - 1 for b in bodies)
    vals = _fast_floats(",".join(bodies), len(lines) * n_cols) if ok_shape else None
    dead: list[dict] = []
    if vals is not None:
        vals = vals.reshape(len(lines), n_cols)  # (T, C)
    else:  # slow path: row by row, cell by cell, to name every bad cell
        vals = np.full((len(lines), n_cols), np.nan)
        for i, (line, body) in enumerate(zip(lines, bodies)):
            toks = body.split(",") if body or n_cols == 1 else []
            off = first_offset + i
            if len(toks) != n_cols:
                dead.append(_dead("wrong_field_count", line, off))
                continue
            row = _fast_floats(body, n_cols)
            if row is not None:
                vals[i] = row
                continue
            for c, tok in enumerate(toks):
                v = _float_or_none(tok)
                if v is None:
                    reason = "missing_value" if not tok.strip() else "non_numeric"
                    dead.append(_dead(reason, tok, off, columns[c]))
                else:
                    vals[i, c] = v
    bad = ~np.isfinite(vals)
    if bad.any():  # NaN/inf given literally in the file (cells already dead are NaN too)
        known = {(d["offset"], d.get("sensor")) for d in dead}
        wrong_rows = {d["offset"] for d in dead if "sensor" not in d}
        for i, c in np.argwhere(bad):
            off = first_offset + int(i)
            if off in wrong_rows or (off, columns[c]) in known:
                continue
            dead.append(_dead("non_finite", repr(float(vals[i, c])), off, columns[c]))
    return ts, vals, dead
