"""The record splitter and number scanner shared by the CSV parsers
(:mod:`~adaptive.monitor.sources.csv_wide`, :mod:`~adaptive.monitor.sources.csv_long`).

CSV is RFC 4180 as Python's ``csv`` module reads it: fields separated by commas, records by
LF, CRLF or a bare CR; a field that starts with a double quote runs to the closing quote (a
doubled quote inside is one quote, commas and line breaks are data). Parsing is chunked: bytes
are read in blocks (``chunk_bytes``) and cut after the last complete record. A block without a
double quote and without a bare CR (nearly every block of a machine-written file) is scanned
by a compiled kernel (``_scan_wide`` / ``_scan_long``): numbers in the usual decimal forms are
converted exactly (Clinger's fast path, the same double as ``float``), any other token goes to
the sources' number grammar (:func:`~adaptive.monitor.sources.batch._float_or_none`) and, if
that refuses it, to the dead letters. Long CSVs get their sensor names hashed in the kernel
(FNV-1a, collisions checked byte by byte), so a block becomes U distinct names and (K,) codes.
Other blocks are cut into records by ``_record_ends`` (the ``csv`` module's quote states) and
read by the plain parsers ``parse_wide``/``parse_long``, which are also the reference the tests
compare the kernels against; with ``NUMBA_DISABLE_JIT=1`` the kernels run as Python too.
"""

from __future__ import annotations

import numpy as np

from adaptive.drift._drivers import kernel

_POW10 = np.array([10.0**k for k in range(23)])  # exact in float64 up to 1e22
_OK, _SLOW, _EMPTY = 0, 1, 2  # status of a cell: parsed, to parse with float(), empty


@kernel
def _number_at(buf, a, b, pow10):
    """The field starting at buf[a], up to the next comma or ``b`` -> (value, status, index of
    that comma or ``b``). The common shape ``[-]digits[.digits]`` (up to 18 digits) is read by
    a short loop here; any other field by :func:`_number_general`, which gives the same value
    for that shape too."""
    i = a
    neg = i < b and buf[i] == 45
    if neg:
        i += 1
    m = np.int64(0)
    start = i
    # the digit loop twice (integer part, fraction) on purpose: as a called kernel it cost 20%
    while i < b:
        d = np.int64(buf[i]) - 48
        if d < 0 or d > 9:
            break
        m = m * 10 + d
        i += 1
    n_int = i - start
    n_frac = 0
    if i < b and buf[i] == 46:  # '.'
        i += 1
        f0 = i
        while i < b:
            d = np.int64(buf[i]) - 48
            if d < 0 or d > 9:
                break
            m = m * 10 + d
            i += 1
        n_frac = i - f0
    if (i == b or buf[i] == 44) and n_int > 0 and n_int + n_frac <= 18 and \
            m < 9007199254740992:  # m < 2**53 and 10**n_frac exact: one rounding (Clinger)
        v = float(m) / pow10[n_frac]
        return (-v if neg else v), _OK, i
    return _number_general(buf, a, b, pow10)


@kernel
def _number_general(buf, a, b, pow10):
    """:func:`_number_at` for any field. Exact (Clinger's fast path): a mantissa below 2**53
    times or divided by an exact power of ten <= 1e22 is one correctly rounded operation, as
    strtod's result. Blanks (space, tab) around the number are allowed (a CR is the caller's
    to trim); anything else (nan, inf, 19+ digits, big exponents, junk) is _SLOW, for the
    number grammar in Python."""
    while a < b and (buf[a] == 32 or buf[a] == 9):
        a += 1
    if a == b or buf[a] == 44:
        return np.nan, _EMPTY, a
    neg = False
    c = buf[a]
    if c == 45 or c == 43:  # '-' or '+'
        neg = c == 45
        a += 1
    m = 0
    nd = 0  # significant digits kept in m
    e = 0  # decimal exponent so far (minus the digits after the point)
    seen = False
    dot = False
    ok = True
    while a < b:
        d = np.int64(buf[a]) - 48  # int64: numpy's uint8 arithmetic would wrap (reference)
        if 0 <= d <= 9:
            seen = True
            if m != 0 or d != 0:
                if nd >= 18:
                    ok = False
                m = m * 10 + d
                nd += 1
            if dot:
                e -= 1
        elif d == -2 and not dot:  # '.'
            dot = True
        else:
            break
        a += 1
    if a < b and (buf[a] == 101 or buf[a] == 69):  # 'e' / 'E'
        a += 1
        eneg = False
        if a < b and (buf[a] == 45 or buf[a] == 43):
            eneg = buf[a] == 45
            a += 1
        digits = 0
        x = 0
        while a < b and 48 <= buf[a] <= 57:
            if x < 100000:
                x = x * 10 + (np.int64(buf[a]) - 48)
            digits += 1
            a += 1
        ok = ok and digits > 0
        e += -x if eneg else x
    while a < b and (buf[a] == 32 or buf[a] == 9):
        a += 1
    if a < b and buf[a] != 44:  # not a number after all: on to the end of the field
        while a < b and buf[a] != 44:
            a += 1
        return np.nan, _SLOW, a
    if not (ok and seen):
        return np.nan, _SLOW, a
    if m == 0:
        v = 0.0
    elif m >= 9007199254740992 or e > 22 or e < -22:
        return np.nan, _SLOW, a
    elif e >= 0:
        v = float(m) * pow10[e]
    else:
        v = float(m) / pow10[-e]
    return (-v if neg else v), _OK, a


@kernel
def _parse_token(buf, a, b, pow10):
    """Token buf[a:b] (no comma inside it counts) -> (value, status) by :func:`_number_at`."""
    v, st, end = _number_at(buf, a, b, pow10)
    if st == _OK and end != b:
        return np.nan, _SLOW
    return v, st


@kernel
def _split_line(buf, i, spans):
    """Fields of the line starting at ``buf[i]``: ``spans[f] = (start, end)`` for the first
    ``len(spans)`` fields, a trailing CR left in place (the callers trim it by their rules).
    Returns (index after the line's newline, number of fields). The last line of ``buf`` needs
    no final newline: it ends at ``len(buf)``, and the returned index is then ``len(buf) + 1``.
    """
    n = buf.shape[0]
    keep = spans.shape[0]
    field = 0
    while True:
        start = i
        while i < n and buf[i] != 44 and buf[i] != 10:  # ',' or '\n'
            i += 1
        if field < keep:
            spans[field, 0] = start
            spans[field, 1] = i
        field += 1
        if i >= n or buf[i] == 10:
            return i + 1, field
        i += 1


# -- the block scanners: every kernel that calls the number scanner lives in this file, because
# numba's on-disk cache of a kernel is checked against its own file only (a kernel in another
# file would keep calling a stale copy of _number_at after an edit here)

@kernel
def _scan_wide(buf, n_cols, pow10, vals, status, ts_span, n_fields):
    """Rows 'ts,v1,..,vC' of buf (uint8, LF-separated, no final LF) -> vals/status (T, C),
    ts_span (T, 2), n_fields (T,) the number of fields each row had. One pass: each cell is
    parsed as it is reached."""
    n = buf.shape[0]
    i = 0
    for r in range(vals.shape[0]):
        e = i
        while e < n and buf[e] != 10:
            e += 1
        nxt = e + 1
        if e > i and buf[e - 1] == 13:  # CRLF
            e -= 1
        j = i
        while j < e and buf[j] != 44:
            j += 1
        ts_span[r, 0] = i
        ts_span[r, 1] = j
        c = 0
        while j < e:  # j: at a comma
            v, st, j = _number_at(buf, j + 1, e, pow10)
            if c < n_cols:
                vals[r, c] = v
                status[r, c] = st
            c += 1
        n_fields[r] = c + 1
        i = nxt


@kernel
def _scan_long(buf, it, isn, iv, pow10, vals, status, spans, hashes, n_fields):
    """Rows of 3 fields -> spans (T, 3, 2) of (timestamp, sensor, value) in file order of
    it/isn/iv, vals/status (T,), FNV-1a 64-bit hashes of the sensor names (T,), n_fields (T,)."""
    n = buf.shape[0]
    line = 0
    i = 0
    while i <= n:  # i == n starts the last line (no final newline; it may end with a comma)
        # spans by file position; it/isn/iv pick them below
        i, n_f = _split_line(buf, i, spans[line])
        n_fields[line] = n_f
        if n_f <= 3:  # the field that ends the line loses its CR
            a, b = spans[line, n_f - 1, 0], spans[line, n_f - 1, 1]
            if b > a and buf[b - 1] == 13:
                spans[line, n_f - 1, 1] = b - 1
        line += 1
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
def _payload_numbers(buf, starts, ends, pow10, vals, status, first):
    """Each payload buf[starts[k]:ends[k]] -> (vals[k], status[k]) by the number kernel, and
    first[k] its first byte after blanks (123 '{' or 91 '[' mark JSON)."""
    for k in range(starts.shape[0]):
        a, b = starts[k], ends[k]
        while a < b and (buf[a] == 32 or buf[a] == 9):
            a += 1
        first[k] = buf[a] if a < b else 0
        v, st = _parse_token(buf, a, b, pow10)
        vals[k] = v
        status[k] = st


# states of the record splitter, after the csv module's parser
_FIELD, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED = 0, 1, 2, 3


@kernel
def _record_ends(buf, ends):
    """Ends of the complete records of ``buf`` (which starts at a record's start): ``ends[k]``
    is the index just after record k's line break (LF, CRLF or a bare CR outside quotes), for
    at most ``len(ends)`` records. Returns how many were found; a CR as the last byte is left
    for the next block (it may be the first half of a CRLF). Quotes open a field only at its
    start; after a closing quote the field goes on unquoted, as the csv module reads it."""
    n = buf.shape[0]
    k = 0
    state = _FIELD
    i = 0
    while i < n and k < ends.shape[0]:
        c = buf[i]
        if state == _QUOTED:
            if c == 34:
                state = _QUOTE_IN_QUOTED
            i += 1
            continue
        if c == 10 or c == 13:  # a line break outside quotes ends the record
            if c == 13:
                if i + 1 == n:
                    return k
                if buf[i + 1] == 10:
                    i += 1
            ends[k] = i + 1
            k += 1
            state = _FIELD
        elif c == 44:
            state = _FIELD
        elif state == _FIELD:
            state = _QUOTED if c == 34 else _UNQUOTED
        elif state == _QUOTE_IN_QUOTED:
            state = _QUOTED if c == 34 else _UNQUOTED
        i += 1
    return k


def record_ends(data: bytes, eof: bool, limit: int | None = None) -> np.ndarray:
    """Ends (R,) of the records of ``data`` (the first ``limit`` of them); at ``eof`` the rest
    is one more record (when it is not empty), ending at ``len(data)``.

    Examples
    --------
    >>> record_ends(b'a,"x\\ny"\\r\\nb\\rc', eof=False).tolist()
    [9, 11]
    >>> record_ends(b'a,"x\\ny"\\r\\nb\\rc', eof=True).tolist()
    [9, 11, 12]
    """
    n = limit if limit is not None else data.count(b"\n") + data.count(b"\r") + 1
    ends = np.empty(n, dtype=np.int64)
    k = _record_ends(np.frombuffer(data, dtype=np.uint8), ends)
    ends = ends[:k]
    last = int(ends[-1]) if k else 0
    if eof and last < len(data) and k < n:
        ends = np.append(ends, len(data))
    return ends


@kernel
def _newlines(buf, cut, out):
    k = 0
    for i in range(cut):
        if buf[i] == 10:
            out[k] = i + 1
            k += 1
    return k


def line_ends(data: bytes, cut: int) -> np.ndarray:
    """Ends (R,) of the lines of ``data[:cut]`` (just after each LF), the last one ``cut`` even
    without an LF (the unterminated last line at EOF).

    Examples
    --------
    >>> line_ends(b"a\\nbc\\nd", 5).tolist(), line_ends(b"a\\nbc\\nd", 6).tolist()
    ([2, 5], [2, 5, 6])
    """
    out = np.empty(data.count(b"\n", 0, cut) + 1, dtype=np.int64)
    k = _newlines(np.frombuffer(data, dtype=np.uint8), cut, out)
    if cut and (k == 0 or out[k - 1] != cut):
        out[k] = cut
        k += 1
    return out[:k]


def plain_block(data: bytes) -> bool:
    """True when ``data`` holds no double quote and no bare CR: its records are its lines and
    the compiled scanners read it."""
    if b'"' in data:
        return False
    return b"\r" not in data or data.count(b"\r") == data.count(b"\r\n")


def record_texts(data: bytes, ends: np.ndarray) -> list[str]:
    """The records of ``data`` (cut at ``ends``) as text, without their line breaks."""
    out, start = [], 0
    for end in ends.tolist():
        rec = data[start:end]
        if rec.endswith(b"\n"):
            rec = rec[:-2] if rec.endswith(b"\r\n") else rec[:-1]
        elif rec.endswith(b"\r"):
            rec = rec[:-1]
        out.append(rec.decode("utf-8", "replace"))
        start = end
    return out


def _line_at(data: bytes, start: int) -> str:
    """The text of the line of ``data`` that starts at byte ``start``, without its CR/LF."""
    end = data.find(b"\n", start)
    return data[start: end if end >= 0 else len(data)].decode("utf-8", "replace").rstrip("\r")
