"""CSV source of :class:`adaptive.SensorMonitor`: a wide or long CSV file, or stdin.

The file is read in blocks of ``chunk_bytes``, cut at the last newline, and each block is
parsed by the compiled scanner of its format (:func:`adaptive.csv_wide.parse_wide_bytes`,
:func:`adaptive.csv_long.parse_long_bytes`); a block holding a double quote goes through the
``csv`` module and the plain parsers instead. A file resumes at a byte offset, a pipe by
skipping the rows already processed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO

import numpy as np

from adaptive.monitor.sources.batch import Batch
from adaptive.monitor.sources.csv_long import parse_long, parse_long_bytes
from adaptive.monitor.sources.csv_wide import parse_wide, parse_wide_bytes

_TS_NAMES = ("timestamp", "time", "ts", "datetime", "date")


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
        self._read_header(format)
        self._pos = self._header_bytes  # byte offset of the next unread data row
        self._row = 0

    def _read_header(self, format: str) -> None:
        """Read the header line: the format (``auto`` resolved), the long column order or the
        wide sensor columns."""
        path = self.path
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
