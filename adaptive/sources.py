"""Readers of sensor readings for :class:`adaptive.SensorMonitor`: CSV files, stdin, MQTT.

Every source yields :class:`Batch` objects: a block of readings already parsed to float64, the
records that could not be parsed (dead letters, with the reason and the raw text) and the
position to resume from once the batch is processed. Nothing is lost: a record is either a
reading, a dead letter, or (MQTT) a counted duplicate of a reading already processed.

Formats
-------
wide CSV
    A header ``timestamp,<sensor>,<sensor>,...`` and one row per time step; an empty or
    non-numeric cell is a dead letter of that one reading.
long CSV
    A header with the three columns ``timestamp``, ``sensor`` and ``value`` (any order), one
    reading per row.
MQTT
    ``mqtt://host:port/<filter>``: with a filter ending in ``/#`` (``plant/#``) the sensor is the
    topic suffix and the payload a number; a payload starting with ``{`` is a JSON object with
    ``sensor`` (optional when the topic names it), ``value``, ``timestamp`` and an optional
    ``seq``; a payload starting with ``[`` is a JSON array of such objects (a batch).

Parsing is chunked: bytes are read in blocks (``chunk_bytes``), split at the last newline, and
scanned by a compiled kernel per block (``_scan_wide`` / ``_scan_long``): numbers in the usual
decimal forms are converted exactly (Clinger's fast path, the same double as ``float``), any
other token (``nan``, ``inf``, 19+ digits, junk) goes to ``float()`` and, if that fails, to the
dead letters. Long CSVs get their sensor names hashed in the kernel (FNV-1a, collisions
checked byte by byte), so a block becomes U distinct names and (K,) codes. The plain-Python
parsers ``parse_wide``/``parse_long`` (used for quoted CSV) are the reference the tests
compare the kernels against; with ``NUMBA_DISABLE_JIT=1`` the kernels run as Python too.

Sharding and MQTT shared subscriptions
--------------------------------------
``shard_of(sensor, n)`` (``zlib.crc32`` of the UTF-8 name, mod n) is stable across processes
and machines, unlike Python's salted ``hash``. N monitors started with ``--shard i/N`` on the
same CSV each keep their own sensors. On MQTT, a shared subscription (``$share/group/plant/#``)
makes the broker balance *messages* across the group, not sensors: the readings of one sensor
would be split between monitors and every detector would see a thinned, interleaved stream.
Do not use shared subscriptions for detection. Instead either (a) give each shard its own
topic filter (publishers write to ``plant/<shard>/<sensor>`` with shard = crc32(sensor) mod N,
monitor i subscribes to ``plant/i/#``), or (b) let every monitor subscribe to the whole filter
with ``--shard i/N``: each drops the other shards' readings (counted, not dead letters); this
costs N times the broker fan-out but needs no change on the publishers. Shared subscriptions
are fine for the *alert* consumers downstream.
"""

from __future__ import annotations

import csv
import io
import json
import math
import queue
import threading
import time
import zlib
from collections.abc import Iterator
from typing import IO, Any, NamedTuple
from urllib.parse import urlsplit

import numpy as np

from adaptive.base import kernel

_TS_NAMES = ("timestamp", "time", "ts", "datetime", "date")


def shard_of(sensor: str, n_shards: int) -> int:
    """Stable shard of a sensor name: ``zlib.crc32(name.encode()) % n_shards``.

    Examples
    --------
    >>> shard_of("press-07", 4), shard_of("press-07", 4)
    (0, 0)
    """
    return zlib.crc32(sensor.encode("utf-8")) % n_shards


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


def _fast_floats(text: str, n: int) -> np.ndarray | None:
    """Parse ``n`` comma-separated numbers, or None when the text is not exactly that."""
    if n == 0:
        return np.zeros(0)
    try:
        arr = np.fromstring(text, sep=",")  # C strtod; ValueError (numpy >= 2) on a bad token
    except (ValueError, DeprecationWarning):
        return None
    return arr if arr.size == n else None


def _dead(reason: str, raw: str, offset: int, sensor: str | None = None) -> dict:
    rec = {"reason": reason, "raw": raw, "offset": offset}
    if sensor is not None:
        rec["sensor"] = sensor
    return rec

# -- the compiled scanner of wide CSV blocks ---------------------------------------------------
_POW10 = np.array([10.0**k for k in range(23)])  # exact in float64 up to 1e22
_OK, _SLOW, _EMPTY = 0, 1, 2  # status of a cell: parsed, to parse with float(), empty


@kernel
def _parse_token(buf, a, b, pow10):
    """Decimal token buf[a:b] -> (value, status). Exact (Clinger's fast path): a mantissa
    below 2**53 times or divided by an exact power of ten <= 1e22 is one correctly rounded
    operation, as strtod's result; anything else (nan, inf, 20+ digits, big exponents,
    junk) returns _SLOW for Python's float()."""
    while a < b and (buf[a] == 32 or buf[a] == 9):
        a += 1
    while b > a and (buf[b - 1] == 32 or buf[b - 1] == 9 or buf[b - 1] == 13):
        b -= 1
    if a == b:
        return np.nan, _EMPTY
    neg = False
    if buf[a] == 45 or buf[a] == 43:  # '-' or '+'
        neg = buf[a] == 45
        a += 1
    m = 0
    nd = 0  # significant digits kept in m
    frac = 0  # digits after the point
    seen = False
    dot = False
    i = a
    while i < b:
        c = int(buf[i])  # a Python/int64 int: numpy's uint8 arithmetic would wrap (reference)
        if 48 <= c <= 57:
            seen = True
            if m == 0 and c == 48:
                if dot:
                    frac += 1
            else:
                if nd >= 18:
                    return np.nan, _SLOW
                m = m * 10 + (c - 48)
                nd += 1
                if dot:
                    frac += 1
        elif c == 46 and not dot:  # '.'
            dot = True
        else:
            break
        i += 1
    if not seen:
        return np.nan, _SLOW
    e = 0
    if i < b and (buf[i] == 101 or buf[i] == 69):  # 'e' / 'E'
        i += 1
        eneg = False
        if i < b and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        if i == b:
            return np.nan, _SLOW
        while i < b and 48 <= buf[i] <= 57:
            if e > 10000:
                return np.nan, _SLOW
            e = e * 10 + (int(buf[i]) - 48)
            i += 1
        if eneg:
            e = -e
    if i != b:
        return np.nan, _SLOW
    e -= frac
    if m == 0:
        v = 0.0
    elif m >= 9007199254740992 or e > 22 or e < -22:
        return np.nan, _SLOW
    elif e >= 0:
        v = float(m) * pow10[e]
    else:
        v = float(m) / pow10[-e]
    return (-v if neg else v), _OK


@kernel
def _scan_wide(buf, n_cols, pow10, vals, status, ts_span, n_fields):
    """Rows 'ts,v1,..,vC' of buf (uint8, complete lines) -> vals/status (T, C), ts_span (T, 2),
    n_fields (T,) the number of fields each row had."""
    n = buf.shape[0]
    line = 0
    field = 0
    i = 0
    while i <= n:  # i == n ends the last line (no final newline; it may end with a comma)
        start = i
        while i < n and buf[i] != 44 and buf[i] != 10:
            i += 1
        if field == 0:
            end = i
            if end > start and buf[end - 1] == 13:
                end -= 1
            ts_span[line, 0] = start
            ts_span[line, 1] = end
        elif field <= n_cols:
            v, st = _parse_token(buf, start, i, pow10)
            vals[line, field - 1] = v
            status[line, field - 1] = st
        field += 1
        if i >= n or buf[i] == 10:
            n_fields[line] = field
            line += 1
            field = 0
        i += 1


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
        a = int(ts_span[r, 0])
        b = data.find(b"\n", a)
        dead.append(_dead("wrong_field_count", data[a: b if b >= 0 else len(data)].decode(
            "utf-8", "replace").rstrip("\r"), first_offset + int(r)))
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


@kernel
def _scan_long(buf, it, isn, iv, pow10, vals, status, spans, hashes, n_fields):
    """Rows of 3 fields -> spans (T, 3, 2) of (timestamp, sensor, value) in file order of
    it/isn/iv, vals/status (T,), FNV-1a 64-bit hashes of the sensor names (T,), n_fields (T,)."""
    n = buf.shape[0]
    line = 0
    field = 0
    i = 0
    while i <= n:  # i == n ends the last line (no final newline; it may end with a comma)
        start = i
        while i < n and buf[i] != 44 and buf[i] != 10:
            i += 1
        if field < 3:
            end = i
            if (i >= n or buf[i] == 10) and end > start and buf[end - 1] == 13:
                end -= 1
            spans[line, field, 0] = start  # by file position; it/isn/iv pick them below
            spans[line, field, 1] = end
        field += 1
        if i >= n or buf[i] == 10:
            n_fields[line] = field
            line += 1
            field = 0
        i += 1
    for r in range(line):
        if n_fields[r] != 3:
            continue
        v, st = _parse_token(buf, spans[r, iv, 0], spans[r, iv, 1], pow10)
        vals[r] = v
        status[r] = st
        h = np.uint64(14695981039346656037)
        for k in range(spans[r, isn, 0], spans[r, isn, 1]):
            h = (h ^ np.uint64(buf[k])) * np.uint64(1099511628211)
        hashes[r] = h


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


def parse_long_bytes(data: bytes, order: tuple[int, int, int], first_offset: int):
    """Long rows on raw bytes with the compiled scanner.

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
    bad = ~good | empty_name | (status != _OK) | ~np.isfinite(vals)
    dead: list[dict] = []
    if bad.any():
        for r in np.flatnonzero(bad).tolist():
            line_start = int(spans[r, 0, 0])  # every row has a first field, maybe empty
            line_end = data.find(b"\n", line_start)
            raw = data[line_start: line_end if line_end >= 0 else len(data)].decode(
                "utf-8", "replace").rstrip("\r")
            off = first_offset + r
            sensor = data[spans[r, isn, 0]: spans[r, isn, 1]].decode("utf-8", "replace")
            if not good[r]:
                dead.append(_dead("wrong_field_count", raw, off))
            elif empty_name[r]:
                dead.append(_dead("missing_sensor", raw, off))
            elif status[r] == _EMPTY:
                dead.append(_dead("missing_value", raw, off, sensor))
            elif status[r] == _SLOW:
                tok = data[spans[r, iv, 0]: spans[r, iv, 1]].decode("utf-8", "replace")
                v = _float_or_none(tok)
                if v is None:
                    dead.append(_dead("non_numeric", raw, off, sensor))
                elif not math.isfinite(v):
                    dead.append(_dead("non_finite", raw, off, sensor))
                else:
                    vals[r] = v
                    bad[r] = False
            else:
                dead.append(_dead("non_finite", raw, off, sensor))
    rows = np.flatnonzero(~bad)
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
    ts = _Spans(data, spans[rows, it])
    return names, codes, vals[rows], ts, (first_offset + rows).astype(np.int64), dead


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


def parse_long(lines: list[str], order: tuple[int, int, int], first_offset: int):
    """Rows of 3 fields -> (sensors (K,), values (K,), timestamps (K,), offsets (K,), dead).

    ``order`` gives the column positions of (timestamp, sensor, value).

    Examples
    --------
    >>> s, v, t, o, dead = parse_long(["0,a,1.5", "1,b,oops", "2,a"], (0, 1, 2), 10)
    >>> s, v.tolist(), o.tolist(), [d["reason"] for d in dead]
    (['a'], [1.5], [10], ['non_numeric', 'wrong_field_count'])
    """
    it, isn, iv = order
    n = len(lines)
    if all(line.count(",") == 2 for line in lines):
        toks = ",".join(lines).split(",")
        ts, sensors, vtoks = toks[it::3], toks[isn::3], toks[iv::3]
        offsets = np.arange(first_offset, first_offset + n, dtype=np.int64)
        vals = _fast_floats(",".join(vtoks), n)
        good = None
        dead: list[dict] = []
        if vals is None:
            vals = np.full(n, np.nan)
            good = np.ones(n, dtype=bool)
            for k, tok in enumerate(vtoks):
                v = _float_or_none(tok)
                if v is None:
                    good[k] = False
                    if sensors[k]:  # a row without a sensor is a missing_sensor dead letter
                        reason = "missing_value" if not tok.strip() else "non_numeric"
                        dead.append(_dead(reason, lines[k], first_offset + k, sensors[k]))
                else:
                    vals[k] = v
        fin = np.isfinite(vals)
        bad_sensor = [k for k, s in enumerate(sensors) if not s]
        if not fin.all() or bad_sensor:
            keep = fin.copy()
            for k in np.flatnonzero(~fin):
                if (good is None or good[k]) and sensors[k]:
                    dead.append(_dead("non_finite", lines[k], first_offset + int(k), sensors[k]))
            for k in bad_sensor:
                dead.append(_dead("missing_sensor", lines[k], first_offset + k))
                keep[k] = False
            idx = np.flatnonzero(keep)
            sensors = [sensors[k] for k in idx]
            ts = [ts[k] for k in idx]
            vals, offsets = vals[idx], offsets[idx]
            dead.sort(key=lambda d: d["offset"])
        return sensors, vals, ts, offsets, dead
    # slow path: a row with the wrong number of fields somewhere in the block
    sensors, vlist, ts, offs, dead = [], [], [], [], []
    for k, line in enumerate(lines):
        f = line.split(",")
        off = first_offset + k
        if len(f) != 3:
            dead.append(_dead("wrong_field_count", line, off))
            continue
        v = _float_or_none(f[iv])
        if not f[isn]:
            dead.append(_dead("missing_sensor", line, off))
        elif v is None:
            reason = "missing_value" if not f[iv].strip() else "non_numeric"
            dead.append(_dead(reason, line, off, f[isn]))
        elif not math.isfinite(v):
            dead.append(_dead("non_finite", line, off, f[isn]))
        else:
            sensors.append(f[isn])
            vlist.append(v)
            ts.append(f[it])
            offs.append(off)
    return sensors, np.asarray(vlist, dtype=np.float64), ts, np.asarray(offs, np.int64), dead


class CSVSource:
    """Wide or long CSV from a file path, or from a binary stream such as stdin.

    Parameters
    ----------
    path
        A file path, or ``"-"`` for ``sys.stdin.buffer`` (followed until EOF).
    format
        ``"auto"`` (long when the header has exactly the columns timestamp, sensor, value),
        ``"wide"`` or ``"long"``.
    chunk_bytes
        Bytes read per block.
    max_rows
        At most this many rows per batch (so that checkpoints can fall between batches).
    stream
        A binary stream to read instead of opening ``path`` (tests, pipes).

    Examples
    --------
    >>> import io
    >>> src = CSVSource("-", stream=io.BytesIO(b"timestamp,a,b\\n0,1,2\\n1,3,oops\\n"))
    >>> b = next(src.batches())
    >>> src.format, b.values.tolist(), b.position, [d["reason"] for d in b.dead]
    ('wide', [[1.0, 2.0], [3.0, nan]], {'byte': 29, 'row': 2}, ['non_numeric'])
    """

    def __init__(
        self,
        path: str,
        *,
        format: str = "auto",
        chunk_bytes: int = 1 << 22,
        max_rows: int | None = None,
        stream: IO[bytes] | None = None,
    ):
        if format not in ("auto", "wide", "long"):
            raise ValueError(f"format={format!r} must be 'auto', 'wide' or 'long'")
        if not isinstance(chunk_bytes, int) or chunk_bytes < 1:
            raise ValueError(f"chunk_bytes={chunk_bytes!r} must be an integer >= 1")
        if max_rows is not None and (not isinstance(max_rows, int) or max_rows < 1):
            raise ValueError(f"max_rows={max_rows!r} must be None or an integer >= 1")
        self.path = path
        self.chunk_bytes = chunk_bytes
        self.max_rows = max_rows
        self.seekable = stream is None and path != "-"
        if stream is not None:
            self._f = stream
        elif path == "-":
            import sys

            self._f = sys.stdin.buffer
        else:
            try:
                self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
            except OSError as err:
                raise ValueError(f"cannot read --source {path!r}: {err.strerror}") from None
        header = self._f.readline()
        self._header_bytes = len(header)
        cols = [c.strip() for c in header.decode("utf-8", "replace").rstrip("\r\n").split(",")]
        if not header or not cols[0]:
            raise ValueError(f"source {path!r} has no CSV header line")
        low = [c.lower() for c in cols]
        is_long = len(cols) == 3 and "sensor" in low and "value" in low
        self.format = ("long" if is_long else "wide") if format == "auto" else format
        if self.format == "long":
            if not is_long or not any(c in low for c in _TS_NAMES):
                raise ValueError(
                    f"a long CSV needs the header columns timestamp, sensor, value; got {cols}"
                )
            tcol = next(i for i, c in enumerate(low) if c in _TS_NAMES)
            self._order = (tcol, low.index("sensor"), low.index("value"))
            self.columns: list[str] = []
        else:
            if len(cols) < 2:
                raise ValueError(f"a wide CSV needs a timestamp column and sensor columns: {cols}")
            self.columns = cols[1:]
        self._pos = self._header_bytes  # byte offset of the next unread data row
        self._row = 0

    def close(self) -> None:
        if self.seekable:
            self._f.close()

    def seek(self, position: dict) -> None:
        """Resume at a position returned in a :class:`Batch` (byte offset, or rows to skip)."""
        byte, row = int(position["byte"]), int(position["row"])
        if self.seekable:
            self._f.seek(byte)
            self._pos, self._row = byte, row
            return
        skipped = 0  # a pipe: skip the rows already processed
        while skipped < row:
            line = self._f.readline()
            if not line:
                break
            skipped += 1
            self._pos += len(line)
        self._row = skipped

    def _read(self) -> bytes:
        read1 = getattr(self._f, "read1", None)  # what a pipe has now, not a full block
        return read1(self.chunk_bytes) if read1 is not None else self._f.read(self.chunk_bytes)

    def batches(self) -> Iterator[Batch]:
        """Yield batches until EOF (a last line without its newline is a record too)."""
        rest = b""
        while True:
            data = self._read()
            eof = not data
            buf = rest + data
            if eof:
                if not buf:
                    return
                block, rest = buf, b""
            else:
                cut = buf.rfind(b"\n") + 1
                if cut == 0:
                    rest = buf
                    continue
                block, rest = buf[:cut], buf[cut:]
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10) + 1  # line ends
            if ends.size == 0 or ends[-1] != len(block):
                ends = np.append(ends, len(block))  # the unterminated last line at EOF
            step = self.max_rows or ends.size
            lo = 0
            for i in range(0, ends.size, step):
                hi = int(ends[min(i + step, ends.size) - 1])
                yield self._parse_block(block[lo:hi])
                lo = hi
            if eof:
                return

    def _parse_block(self, piece: bytes) -> Batch:
        """``piece``: whole lines, each with its newline except perhaps the file's last."""
        n_bytes = len(piece)
        data = piece[:-1] if piece.endswith(b"\n") else piece
        n_lines = data.count(b"\n") + 1
        if self.format == "long" and b'"' not in data:  # the compiled fast path
            first = self._row
            names, codes, vals, ts, offs, dead = parse_long_bytes(data, self._order, first)
            self._row += n_lines
            self._pos += n_bytes
            return Batch("coded", names, vals, ts, offs, dead,
                         {"byte": self._pos, "row": self._row}, n_lines, codes=codes)
        if self.format == "wide" and b'"' not in data:  # the compiled fast path
            first = self._row
            ts, vals, dead = parse_wide_bytes(data, self.columns, first)
            self._row += n_lines
            self._pos += n_bytes
            return Batch("wide", self.columns, vals, ts,
                         np.arange(first, first + n_lines, dtype=np.int64), dead,
                         {"byte": self._pos, "row": self._row}, n_lines)
        text = data.decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r", "")
        lines = text.split("\n")
        if '"' in text:  # quoted fields: let the csv module unquote, then re-join plainly
            lines = [",".join(r) for r in csv.reader(io.StringIO(text))]
        first = self._row
        # blank lines are records too (dead letters), so offsets stay row numbers
        if self.format == "wide":
            ts, vals, dead = parse_wide(lines, self.columns, first)
            offsets = np.arange(first, first + len(lines), dtype=np.int64)
            sensors = self.columns
            kind = "wide"
        else:
            sensors, vals, ts, offsets, dead = parse_long(lines, self._order, first)
            kind = "events"
        self._row += len(lines)
        self._pos += n_bytes
        return Batch(kind, sensors, vals, ts, offsets, dead,
                     {"byte": self._pos, "row": self._row}, len(lines))


def parse_mqtt_url(url: str) -> tuple[str, int, str]:
    """``mqtt://host:port/topic`` -> (host, port, topic); ValueError naming what is wrong.

    Examples
    --------
    >>> parse_mqtt_url("mqtt://127.0.0.1:1883/plant/#")
    ('127.0.0.1', 1883, 'plant/#')
    """
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"MQTT URL {url!r} must look like mqtt://host:port/topic")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ValueError(f"MQTT URL {url!r} has an invalid port") from None
    topic = parts.path.lstrip("/")
    if parts.fragment == "" and url.endswith("#"):
        topic += "#"  # urlsplit reads '#' as the start of a fragment
    elif parts.fragment:
        topic += "#" + parts.fragment
    if not topic:
        raise ValueError(f"MQTT URL {url!r} names no topic")
    return parts.hostname, port, topic


class MQTTSource:
    """Readings from an MQTT broker, QoS 1, persistent session, acknowledged after checkpoints.

    The client connects with a fixed ``client_id`` and ``clean_session=False`` and acknowledges
    a message (``manual_ack``) only once the monitor has checkpointed its effect, so after a
    crash the broker redelivers exactly the messages whose effect was lost. Messages whose
    ``seq`` (or numeric ``timestamp``) is not above the last one checkpointed for their sensor
    are redeliveries of work already saved: they are dropped and counted as duplicates.

    The broker must keep unacknowledged messages in flight and queue them while the monitor is
    away: for mosquitto set ``max_inflight_messages 0`` and ``max_queued_messages 0`` (or large).
    """

    def __init__(self, url: str, *, client_id: str = "adaptive-monitor", max_batch: int = 65536,
                 idle_exit: float | None = None, connect_timeout: float = 10.0):
        try:
            import paho.mqtt.client as mqtt
        except ImportError:  # pragma: no cover - an optional dependency
            raise ValueError("MQTT sources need paho-mqtt >= 2: pip install paho-mqtt") from None
        self.host, self.port, self.topic = parse_mqtt_url(url)
        self._prefix = self.topic[:-1] if self.topic.endswith("#") else None
        if self._prefix is not None and self._prefix.startswith("$share/"):
            self._prefix = self._prefix.split("/", 2)[2]
        self.max_batch = max_batch
        self.idle_exit = idle_exit
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._count = 0
        self._last_seen: dict[str, float] = {}
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
            manual_ack=True,
        )
        self._client.on_message = lambda c, u, m: self._q.put((m.topic, m.payload, m.mid))
        self._client.on_connect = self._on_connect
        try:
            self._client.connect(self.host, self.port, keepalive=30)
        except OSError as err:
            raise ValueError(f"cannot connect to MQTT broker {self.host}:{self.port}: {err}") \
                from None
        self._client.loop_start()
        if not self._connected.wait(connect_timeout):
            self._client.loop_stop()
            raise ValueError(f"MQTT broker {self.host}:{self.port} did not accept the connection")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe(self.topic, qos=1)
            self._connected.set()

    def seek(self, position: dict) -> None:
        """Restore the message count and per-sensor last-seen keys of a checkpoint."""
        self._count = int(position.get("row", 0))
        self._last_seen = {k: float(v) for k, v in position.get("last_seen", {}).items()}

    def stop(self) -> None:
        self._stop.set()

    def ack(self, mids: list) -> None:
        for mid in mids:
            self._client.ack(mid, 1)

    def close(self) -> None:
        self._client.disconnect()  # queued after the last PUBACKs, which the loop still sends
        self._client.loop_stop()

    def batches(self) -> Iterator[Batch]:
        idle_since = time.monotonic()
        while not self._stop.is_set():
            msgs = []
            try:
                msgs.append(self._q.get(timeout=0.1))
                while len(msgs) < self.max_batch:
                    msgs.append(self._q.get_nowait())
            except queue.Empty:
                pass
            if not msgs:
                if self.idle_exit is not None and time.monotonic() - idle_since > self.idle_exit:
                    return
                continue
            idle_since = time.monotonic()
            yield self._parse(msgs)

    def _parse(self, msgs: list) -> Batch:
        sensors, vals, ts, offs, dead, acks = [], [], [], [], [], []
        dup = 0
        for topic, payload, mid in msgs:
            acks.append(mid)
            suffix = topic[len(self._prefix):] if self._prefix is not None else topic
            text = payload.decode("utf-8", "replace").strip()
            recs = None
            if text[:1] in "{[" and text:
                try:
                    obj = json.loads(text)
                    recs = obj if isinstance(obj, list) else [obj]
                except ValueError as err:
                    dead.append(_dead("bad_json", text, self._count, suffix or None))
                    dead[-1]["error"] = str(err)
                    self._count += 1
                    continue
            else:
                recs = [{"value": text}]
            for rec in recs:
                off = self._count
                self._count += 1
                if not isinstance(rec, dict):
                    dead.append(_dead("bad_json", json.dumps(rec), off, suffix or None))
                    continue
                sensor = rec.get("sensor", suffix)
                v = rec.get("value")
                if type(v) is not float:  # the common case first; bool is not a number here
                    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                        v = None
                    else:
                        v = _float_or_none(v) if isinstance(v, str) else float(v)
                if not isinstance(sensor, str) or not sensor or v is None or not math.isfinite(v):
                    raw = text if len(recs) == 1 else json.dumps(rec)
                    if not isinstance(sensor, str) or not sensor:
                        dead.append(_dead("missing_sensor", raw, off))
                    elif "value" not in rec:
                        dead.append(_dead("missing_value", raw, off, sensor))
                    elif v is None:
                        dead.append(_dead("non_numeric", raw, off, sensor))
                    else:
                        dead.append(_dead("non_finite", raw, off, sensor))
                    continue
                key = rec.get("seq", rec.get("timestamp"))
                if isinstance(key, (int, float)) and not isinstance(key, bool):
                    if key <= self._last_seen.get(sensor, -math.inf):
                        dup += 1
                        self._count -= 1  # a redelivery is not a new record
                        continue
                    self._last_seen[sensor] = float(key)
                sensors.append(sensor)
                vals.append(v)
                ts.append(rec.get("timestamp"))
                offs.append(off)
        pos = {"byte": 0, "row": self._count, "last_seen": dict(self._last_seen)}
        return Batch("events", sensors, np.asarray(vals, dtype=np.float64), ts,
                     np.asarray(offs, dtype=np.int64), dead, pos, len(msgs), acks, dup)


def open_source(spec: str, *, format: str = "auto", max_rows: int | None = None,
                client_id: str = "adaptive-monitor", idle_exit: float | None = None) -> Any:
    """A source from a CLI spec: a CSV path, ``-`` (stdin) or an ``mqtt://`` URL."""
    if spec.startswith("mqtt://"):
        return MQTTSource(spec, client_id=client_id, max_batch=max_rows or 65536,
                          idle_exit=idle_exit)
    if "://" in spec:
        raise ValueError(f"--source {spec!r}: only file paths, '-' and mqtt:// URLs are supported")
    return CSVSource(spec, format=format, max_rows=max_rows)
