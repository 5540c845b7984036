"""CSV source of :class:`adaptive.SensorMonitor`: a wide or long CSV file, or stdin.

CSV is RFC 4180 as Python's ``csv`` module reads it (see
:mod:`~adaptive.monitor.sources.csv_scan`); a UTF-8 byte order mark before the header is
skipped. The file is read in blocks of ``chunk_bytes``, cut after the last complete record; a
block without quotes or bare CRs goes to the compiled scanner of its format
(:func:`~adaptive.monitor.sources.csv_wide.parse_wide_bytes`,
:func:`~adaptive.monitor.sources.csv_long.parse_long_bytes`), any other block to the plain
parsers through the ``csv`` module. Offsets count records (a quoted field may span lines).

A position is ``{"byte", "row", "tail"}``: the byte offset of the next record, the records
before it, and a CRC-32 of up to 4 KiB just before it. A file resumes at the byte offset, a pipe
by skipping the rows already processed; either way the tail must match, so a state is never
resumed on another file (or on a stream that does not replay the same bytes).
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import zlib
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from adaptive.monitor.sources.batch import Batch
from adaptive.monitor.sources.csv_long import parse_long, parse_long_bytes
from adaptive.monitor.sources.csv_scan import line_ends, plain_block, record_ends, record_texts
from adaptive.monitor.sources.csv_wide import parse_wide, parse_wide_bytes

TS_NAMES = ("timestamp", "time", "ts", "datetime", "date")
_TAIL = 4096  # bytes before a position whose CRC the position carries
_BOM = b"\xef\xbb\xbf"


def header_columns(text: str, path: str, format: str) -> tuple[str, list[str], tuple]:
    """A header record -> (format, wide sensor columns, long column order); ValueError naming
    what is wrong (no timestamp column, an empty or repeated sensor column, a long header
    without sensor/value)."""
    cols = [c.strip() for c in next(csv.reader([text]), [])]
    if not cols or cols == [""]:
        raise ValueError(f"source {path!r} has no CSV header line")
    low = [c.lower() for c in cols]
    is_long = len(cols) == 3 and "sensor" in low and "value" in low
    fmt = ("long" if is_long else "wide") if format == "auto" else format
    has_ts = [c in TS_NAMES for c in low]
    if fmt == "long":
        if not is_long or not any(has_ts):
            raise ValueError(f"source {path!r}: a long CSV needs the header columns timestamp "
                             f"(or {'/'.join(TS_NAMES[1:])}), sensor, value; got {cols}")
        return fmt, [], (has_ts.index(True), low.index("sensor"), low.index("value"))
    if not has_ts[0]:
        raise ValueError(f"source {path!r}: a wide CSV starts with a timestamp column (one of "
                         f"{', '.join(TS_NAMES)}); got {cols}")
    sensors = cols[1:]
    if not sensors:
        raise ValueError(f"source {path!r}: a wide CSV needs sensor columns after "
                         f"{cols[0]!r}")
    if "" in sensors:
        raise ValueError(f"source {path!r}: sensor column {sensors.index('') + 2} of the header "
                         "has no name")
    seen: set[str] = set()
    for c in sensors:
        if c in seen:
            raise ValueError(f"source {path!r}: sensor column {c!r} appears twice in the header")
        seen.add(c)
    return fmt, sensors, ()


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
        At most this many records per batch (so that checkpoints can fall between batches).
    stream
        A binary stream to read instead of opening ``path`` (tests, pipes).

    Examples
    --------
    >>> import io
    >>> src = CSVSource("-", stream=io.BytesIO(b"timestamp,a,b\\n0,1,2\\n1,3,oops\\n"))
    >>> b = next(src.batches())
    >>> src.format, b.values.tolist(), b.position["row"], [d["reason"] for d in b.dead]
    ('wide', [[1.0, 2.0], [3.0, nan]], 2, ['non_numeric'])
    """

    def __init__(self, path: str, *, format: str = "auto", chunk_bytes: int = 1 << 22,
                 max_rows: int | None = None, stream: IO[bytes] | None = None):
        if format not in ("auto", "wide", "long"):
            raise ValueError(f"format={format!r} must be 'auto', 'wide' or 'long'")
        if not isinstance(chunk_bytes, int) or chunk_bytes < 1:
            raise ValueError(f"chunk_bytes={chunk_bytes!r} must be an integer >= 1")
        if max_rows is not None and (not isinstance(max_rows, int) or max_rows < 1):
            raise ValueError(f"max_rows={max_rows!r} must be None or an integer >= 1")
        self.path = path
        self.chunk_bytes = chunk_bytes
        self.max_rows = max_rows
        self.max_abs = math.inf  # readings beyond: overflow dead letters (the monitor sets it)
        self.seekable = stream is None and path != "-"
        if stream is not None:
            self._f = stream
        elif path == "-":
            import sys

            self._f = sys.stdin.buffer
        else:
            if os.path.isdir(path):
                raise ValueError(f"cannot read --source {path!r}: it is a directory")
            try:
                self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
            except OSError as err:
                raise ValueError(f"cannot read --source {path!r}: {err.strerror}") from None
        self._rest = b""  # bytes read past the last record handed out
        self._eof = False
        try:
            self._read_header(format)
        except BaseException:
            self.close()
            raise
        self._pos = self._header_bytes  # byte offset of the next unread record
        self._row = 0
        self._tail = self._header_tail  # up to _TAIL bytes before _pos

    def _read_header(self, format: str) -> None:
        buf = b""
        while True:
            ends = record_ends(buf, self._eof, limit=1)
            if len(ends) or self._eof:
                break
            data = self._read()
            self._eof = not data
            buf += data
        n = int(ends[0]) if len(ends) else 0
        self._header_bytes, self._rest = n, buf[n:]
        self._header_tail = buf[max(0, n - _TAIL):n]
        head = buf[:n]
        if head.startswith(_BOM):
            head = head[len(_BOM):]
        text = record_texts(head, np.array([len(head)]))[0] if head else ""
        self.format, self.columns, self._order = header_columns(text, self.path, format)
        self._header_digest = hashlib.sha256(buf[:n]).hexdigest()[:32]

    @property
    def identity(self) -> dict[str, Any]:
        """What a state saved on this source is bound to (see :mod:`adaptive.monitor.state`)."""
        path = os.path.abspath(self.path) if self.seekable else "-"
        return {"kind": "csv", "path": path, "format": self.format,
                "header": self._header_digest}

    @property
    def position(self) -> dict[str, Any]:
        """Where the next batch starts (after the header before the first one)."""
        return {"byte": self._pos, "row": self._row, "tail": zlib.crc32(self._tail)}

    def close(self) -> None:
        if self.seekable and hasattr(self, "_f"):
            self._f.close()

    def seek(self, position: dict) -> None:
        """Resume at a position returned in a :class:`Batch`; ValueError when it does not lie
        in this source (beyond its end, inside its header, or after other bytes)."""
        byte, row, tail = (position.get(k) for k in ("byte", "row", "tail"))
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                   for v in (byte, row, tail)) or byte < self._header_bytes:  # type: ignore[operator]
            raise ValueError(f"position {position!r} is not a position in {self.path!r} "
                             f"(byte >= {self._header_bytes}, row >= 0, tail a CRC-32)")
        if self.seekable:
            size = os.fstat(self._f.fileno()).st_size
            lo = max(0, byte - _TAIL)  # type: ignore[operator]
            self._f.seek(lo)
            before = self._f.read(byte - lo) if size >= byte else b""  # type: ignore[operator]
            self._rest, self._eof = b"", False
        else:
            size, before = self._skip(row)  # type: ignore[arg-type]
        whole = size >= byte if self.seekable else size == byte  # type: ignore[operator]
        if not whole or zlib.crc32(before) != tail:
            raise ValueError(f"source {self.path!r} is not the input this state was saved from: "
                             f"its bytes before offset {byte} differ (or it is shorter); use "
                             "--reset-state to start over")
        self._pos, self._row, self._tail = byte, row, before  # type: ignore[assignment]

    def _skip(self, rows: int) -> tuple[int, bytes]:
        """A pipe: read past ``rows`` records; returns (the byte offset reached, or -1 when
        the stream ended first; the _TAIL bytes before it). The rest stays in ``_rest``."""
        pos, buf, tail, skipped = self._header_bytes, self._rest, self._header_tail, 0
        while skipped < rows:
            ends = record_ends(buf, self._eof, limit=rows - skipped)
            take = min(len(ends), rows - skipped)
            if take:
                cut = int(ends[take - 1])
                tail = (tail + buf[:cut])[-_TAIL:]
                pos, buf, skipped = pos + cut, buf[cut:], skipped + take
            elif self._eof:
                break
            else:
                data = self._read()
                self._eof = not data
                buf += data
        self._rest = buf
        return (pos if skipped == rows else -1), tail

    def _read(self) -> bytes:
        read1 = getattr(self._f, "read1", None)  # what a pipe has now, not a full block
        return read1(self.chunk_bytes) if read1 is not None else self._f.read(self.chunk_bytes)

    def batches(self) -> Iterator[Batch]:
        """Yield batches until EOF (a last record without its line break is a record too)."""
        buf, self._rest = self._rest, b""
        while True:
            # what was read and not handed out yet goes first (a pipe may deliver no more)
            plain = plain_block(buf if self._eof or not buf.endswith(b"\r") else buf[:-1])
            if plain:
                cut = len(buf) if self._eof else buf.rfind(b"\n") + 1
                ends = line_ends(buf, cut)
            else:
                ends = record_ends(buf, self._eof)
                cut = int(ends[-1]) if len(ends) else 0
            if cut:
                yield from self._pieces(buf[:cut], ends, plain)
                buf = buf[cut:]
            if self._eof and not buf:
                return
            data = self._read()
            self._eof = not data
            buf += data

    def _pieces(self, block: bytes, ends: np.ndarray, plain: bool) -> Iterator[Batch]:
        step = self.max_rows or max(ends.size, 1)
        lo = 0
        for i in range(0, ends.size, step):
            hi = int(ends[min(i + step, ends.size) - 1])
            piece = block[lo:hi]
            n = min(i + step, ends.size) - i
            yield (self._parse_plain(piece, n) if plain
                   else self._parse_records(piece, ends[i:i + step] - lo))
            lo = hi

    def _advance(self, piece: bytes, n_records: int) -> dict[str, Any]:
        self._row += n_records
        self._pos += len(piece)
        self._tail = (self._tail + piece[-_TAIL:])[-_TAIL:]
        return self.position

    def _parse_plain(self, piece: bytes, n: int) -> Batch:
        """``n`` whole records without quotes or bare CRs: the compiled scanners."""
        data = piece[:-1] if piece.endswith(b"\n") else piece
        first = self._row
        if self.format == "long":
            names, codes, vals, ts, offs, dead = parse_long_bytes(data, self._order, first,
                                                                  self.max_abs)
            return Batch("coded", names, vals, ts, offs, dead, self._advance(piece, n), n,
                         codes=codes)
        ts, vals, dead = parse_wide_bytes(data, self.columns, first, self.max_abs, n_rows=n)
        return Batch("wide", self.columns, vals, ts,
                     np.arange(first, first + n, dtype=np.int64), dead,
                     self._advance(piece, n), n)

    def _parse_records(self, piece: bytes, ends: np.ndarray) -> Batch:
        """Whole records of any RFC 4180 form: the plain parsers through the csv module."""
        records = record_texts(piece, ends)
        first = self._row
        n = len(records)
        if self.format == "long":
            sensors, vals, ts, offsets, dead = parse_long(records, self._order, first,
                                                          self.max_abs)
            return Batch("events", sensors, vals, ts, offsets, dead, self._advance(piece, n), n)
        ts, vals, dead = parse_wide(records, self.columns, first, self.max_abs)
        return Batch("wide", self.columns, vals, ts,
                     np.arange(first, first + n, dtype=np.int64), dead,
                     self._advance(piece, n), n)
