"""The number scanner shared by the compiled CSV parsers (:mod:`adaptive.csv_wide`,
:mod:`adaptive.csv_long`).

Parsing is chunked: bytes are read in blocks (``chunk_bytes``), split at the last newline, and
scanned by a compiled kernel per block (``_scan_wide`` / ``_scan_long``): numbers in the usual
decimal forms are converted exactly (Clinger's fast path, the same double as ``float``), any
other token (``nan``, ``inf``, 19+ digits, junk) goes to ``float()`` and, if that fails, to the
dead letters. Long CSVs get their sensor names hashed in the kernel (FNV-1a, collisions
checked byte by byte), so a block becomes U distinct names and (K,) codes. The plain-Python
parsers ``parse_wide``/``parse_long`` (used for quoted CSV) are the reference the tests
compare the kernels against; with ``NUMBA_DISABLE_JIT=1`` the kernels run as Python too.
"""

from __future__ import annotations

import numpy as np

from adaptive.drift._drivers import kernel

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


def _fast_floats(text: str, n: int) -> np.ndarray | None:
    """Parse ``n`` comma-separated numbers, or None when the text is not exactly that."""
    if n == 0:
        return np.zeros(0)
    try:
        arr = np.fromstring(text, sep=",")  # C strtod; ValueError (numpy >= 2) on a bad token
    except (ValueError, DeprecationWarning):
        return None
    return arr if arr.size == n else None


def _line_at(data: bytes, start: int) -> str:
    """The text of the line of ``data`` that starts at byte ``start``, without its CR/LF."""
    end = data.find(b"\n", start)
    return data[start: end if end >= 0 else len(data)].decode("utf-8", "replace").rstrip("\r")
