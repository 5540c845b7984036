"""CSV input of the monitor (issue 11 item 6): RFC 4180 quoting, a UTF-8 BOM in either layout,
Python-only number syntax (``1_000``) as dead letters, a header without a timestamp column
refused. A hypothesis property compares the parsed readings and dead letters with Python's
``csv`` module over generated files (quoted fields with commas, quotes and line breaks, CRLF,
bare CR, blank lines, wrong field counts, bad numbers), for any chunk size and batch size, and
across a resume from any batch boundary."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adaptive._monitor_cli import assert_one_line_error, cli, jsonl, monitor_args, summary_of

# -- fixed cases through the command line ---------------------------------------------------


def _run(tmp_path: Path, text: bytes | str, *extra: str):
    csv_path = tmp_path / "d.csv"
    if isinstance(text, str):
        text = text.encode()
    csv_path.write_bytes(text)
    res = cli(*monitor_args(tmp_path, str(csv_path), *extra))
    return res, jsonl(tmp_path / "dl.jsonl")


def test_long_csv_with_a_utf8_bom(tmp_path):
    res, dead = _run(tmp_path, b"\xef\xbb\xbftimestamp,sensor,value\n0,a,1\n1,a,x\n")
    assert res.code == 0, res.err
    assert summary_of(res.err)["readings"] == 1
    assert [(d["reason"], d["sensor"]) for d in dead] == [("non_numeric", "a")]


def test_wide_csv_with_a_utf8_bom(tmp_path):
    res, dead = _run(tmp_path, b"\xef\xbb\xbftimestamp,a\n0,1\n1,x\n")
    assert res.code == 0, res.err
    assert [(d["reason"], d["sensor"], d["raw"]) for d in dead] == [("non_numeric", "a", "x")]


@pytest.mark.parametrize("layout", ["wide", "long"])
@pytest.mark.parametrize("token", ["1_000", "1__0", "0x10", "\u0661", "1e", "٣.5"])
def test_python_only_number_syntax_is_a_dead_letter(tmp_path, layout, token):
    text = ("timestamp,a\n0,1\n1,{t}\n" if layout == "wide"
            else "timestamp,sensor,value\n0,a,1\n1,a,{t}\n").format(t=token)
    res, dead = _run(tmp_path, text)
    assert res.code == 0, res.err
    assert summary_of(res.err)["readings"] == 1
    assert [(d["reason"], d["offset"]) for d in dead] == [("non_numeric", 1)]


def test_quoted_wide_fields(tmp_path):
    res, dead = _run(tmp_path, 'timestamp,a,b\n1,"1.0","2,5"\n"2,x","3","4"\n')
    assert res.code == 0, res.err
    assert summary_of(res.err)["readings"] == 3
    assert dead == [{"reason": "non_numeric", "raw": "2,5", "offset": 0, "sensor": "b"}]


def test_quoted_long_fields_keep_their_quotes_in_the_raw_text(tmp_path):
    text = 'timestamp,sensor,value\n0,"s,1","1.5"\n1,"s,1",x\n2,"a ""b""",2\n3,"s\n2",oops\n'
    res, dead = _run(tmp_path, text)
    assert res.code == 0, res.err
    assert summary_of(res.err)["readings"] == 2
    assert dead == [
        {"reason": "non_numeric", "raw": '1,"s,1",x', "offset": 1, "sensor": "s,1"},
        {"reason": "non_numeric", "raw": '3,"s\n2",oops', "offset": 3, "sensor": "s\n2"},
    ]


def test_quoted_header_names_and_a_line_break_inside_a_cell(tmp_path):
    res, dead = _run(tmp_path, 'timestamp,"x,y",z\r\n0,"1\r\n2",3\r\n1,4,5\r\n')
    assert res.code == 0, res.err
    s = summary_of(res.err)
    assert (s["records"], s["readings"], s["sensors"]) == (2, 3, 2)
    assert [(d["sensor"], d["offset"], d["raw"]) for d in dead] == [("x,y", 0, "1\r\n2")]


@pytest.mark.parametrize("header", ["a,b,c", "sensor,value,x", "when,a"])
def test_header_without_a_timestamp_column_is_refused(tmp_path, header):
    res, _ = _run(tmp_path, header + "\n0,1,2\n")
    assert_one_line_error(res, "timestamp")


# -- the oracle: Python's csv module ----------------------------------------------------------

_NUMBER = re.compile(r"[ \t]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                     r"|inf|infinity|nan)[ \t]*", re.IGNORECASE)
_TS_NAMES = ("timestamp", "time", "ts", "datetime", "date")


def _cell(text: str, max_abs: float) -> tuple[str, float | None]:
    """A cell's fate: ("ok", value) or (dead-letter reason, None)."""
    if not text.strip(" \t"):
        return "missing_value", None
    if not _NUMBER.fullmatch(text):
        return "non_numeric", None
    v = float(text)
    if not math.isfinite(v):
        return "non_finite", None
    return ("ok", v) if abs(v) <= max_abs else ("overflow", None)


def _oracle(data: bytes, raws: list[str], max_abs: float = math.inf):
    """(format, readings, dead letters) of a file by the csv module; ``raws`` are the data
    records' texts as written (the raw text of record-level dead letters); readings beyond
    ``max_abs`` (the detector's limit) are overflow dead letters."""
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [c.strip() for c in rows[0]]
    low = [c.lower() for c in header]
    body = rows[1:]
    assert len(body) == len(raws)
    readings, dead = [], []
    if len(header) == 3 and "sensor" in low and "value" in low:
        it = next(i for i, c in enumerate(low) if c in _TS_NAMES)
        isn, iv = low.index("sensor"), low.index("value")
        for k, (f, raw) in enumerate(zip(body, raws)):
            if len(f) != 3:
                dead.append({"reason": "wrong_field_count", "raw": raw, "offset": k})
            elif not f[isn]:
                dead.append({"reason": "missing_sensor", "raw": raw, "offset": k})
            else:
                fate, v = _cell(f[iv], max_abs)
                if fate == "ok":
                    readings.append((k, f[isn], f[it], v))
                else:
                    dead.append({"reason": fate, "raw": raw, "offset": k, "sensor": f[isn]})
        return "long", readings, dead
    cols = header[1:]
    for k, (f, raw) in enumerate(zip(body, raws)):
        if len(f) != len(cols) + 1:
            dead.append({"reason": "wrong_field_count", "raw": raw, "offset": k})
            continue
        for c, name in enumerate(cols):
            fate, v = _cell(f[c + 1], max_abs)
            if fate == "ok":
                readings.append((k, name, f[0], v))
            else:
                dead.append({"reason": fate, "raw": f[c + 1], "offset": k, "sensor": name})
    return "wide", readings, dead


# -- generated files --------------------------------------------------------------------------

_NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: f"{x:.4f}"),
    st.integers(-10**20, 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:e}"),
)
_ODD = st.sampled_from([
    "", " ", "nan", "-inf", "Infinity", "+NaN", "1_000", "0x1f", "1e", ".", "+.5", "1.",
    " 2.5 ", "\t3", "abc", "\u0661", "1,5", 'say "hi"', "two\nlines", "cr\rin", "é", "1e400",
    "-0", "00012", "1.5e-320",
])
_CELLS = st.one_of(_NUMBERS, _NUMBERS, _ODD)
_NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                 max_size=6).filter(lambda s: s.strip() == s and s.strip())


def _render(draw, text: str, lenient: bool = True) -> str:
    """One field as written: quoted when it must be, sometimes when it need not be, and
    sometimes in forms the csv module reads leniently (a quote inside an unquoted field,
    text after a closing quote)."""
    must = any(ch in text for ch in ',"\n\r')
    mode = draw(st.sampled_from(["plain", "plain", "quoted", "lenient" if lenient else "plain"]))
    if must or mode == "quoted":
        return '"' + text.replace('"', '""') + '"'
    if mode == "lenient" and text and text[0] not in ' "':
        cut = draw(st.integers(0, len(text)))
        if cut < len(text) and draw(st.booleans()):
            return '"' + text[:cut] + '"' + text[cut:] if cut and '"' not in text[cut:] \
                else text
        return text[:cut] + '"' + text[cut:] if cut else text
    return text


@st.composite
def csv_files(draw):
    """(file bytes, the data records' raw texts)."""
    long = draw(st.booleans())
    ts_name = draw(st.sampled_from(["timestamp", "Time", "ts", "DATE", "datetime"]))
    if long:
        header = draw(st.permutations([ts_name, "sensor", "value"]))
        n_fields = 3
        pool = draw(st.lists(_NAMES, min_size=1, max_size=4)) + [""]
    else:
        names = draw(st.lists(_NAMES, min_size=1, max_size=4,
                              unique_by=lambda s: s.strip()))
        header = [ts_name, *names]
        n_fields = len(header)
    records = [",".join(_render(draw, h, lenient=False) for h in header)]
    for _ in range(draw(st.integers(0, 25))):
        shape = draw(st.sampled_from(["row"] * 6 + ["blank", "wrong"]))
        if shape == "blank":
            records.append("")
            continue
        n = n_fields if shape == "row" else draw(
            st.integers(1, n_fields + 2).filter(lambda m: m != n_fields))
        fields = []
        for i in range(n):
            if long and i == header.index("sensor") and shape == "row":
                fields.append(draw(st.sampled_from(pool)))
            elif (long and i == header.index(ts_name)) or (not long and i == 0):
                fields.append(draw(st.one_of(st.integers(0, 99).map(str), _NAMES)))
            else:
                fields.append(draw(_CELLS))
        records.append(",".join(_render(draw, f) for f in fields))
    terms = [draw(st.sampled_from(["\n", "\n", "\r\n", "\r"])) for _ in records]
    for k in reversed(range(len(records) - 1)):  # a bare CR before an empty line reads as CRLF
        if terms[k] == "\r" and not records[k + 1] and terms[k + 1] != "\r":
            terms[k] = "\n"
    if records[-1] and len(records) > 1 and draw(st.booleans()):
        terms[-1] = ""  # the last record without its line break
    bom = "\ufeff" if draw(st.booleans()) else ""
    text = bom + "".join(r + t for r, t in zip(records, terms))
    return text.encode("utf-8"), records[1:]


# -- the source under test -----------------------------------------------------------------------

def _csv_source(path: str, **kw):
    from adaptive.monitor.sources import CSVSource

    return CSVSource(path, **kw)


def _readings_of(batch) -> list[tuple]:
    out = []
    if batch.kind == "wide":
        vals = np.asarray(batch.values)
        for r, c in np.argwhere(np.isfinite(vals)):
            out.append((int(batch.offsets[r]), batch.sensors[c], batch.timestamps[r],
                        float(vals[r, c])))
    elif batch.kind == "coded":
        for k in range(len(batch.values)):
            out.append((int(batch.offsets[k]), batch.sensors[int(batch.codes[k])],
                        batch.timestamps[k], float(batch.values[k])))
    else:
        for k in range(len(batch.values)):
            out.append((int(batch.offsets[k]), batch.sensors[k], batch.timestamps[k],
                        float(batch.values[k])))
    return out


def _parse(path: str, chunk: int, max_rows: int | None, stop_after: int | None = None):
    src = _csv_source(path, chunk_bytes=chunk, max_rows=max_rows)
    readings, dead, position = [], [], None
    try:
        for j, b in enumerate(src.batches()):
            readings += _readings_of(b)
            dead += b.dead
            position = b.position
            if stop_after is not None and j == stop_after:
                break
        return src.format, readings, dead, position
    finally:
        src.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=csv_files(), chunk=st.sampled_from([1, 2, 3, 7, 16, 64, 1 << 20]),
       max_rows=st.sampled_from([None, 1, 2, 5]), stop=st.integers(0, 6))
def test_same_rows_and_dead_letters_as_the_csv_module(tmp_path_factory, case, chunk, max_rows,
                                                      stop):
    data, raws = case
    path = tmp_path_factory.mktemp("rfc4180") / "gen.csv"
    path.write_bytes(data)
    fmt, want_readings, want_dead = _oracle(data, raws)
    got_fmt, readings, dead, _ = _parse(str(path), chunk, max_rows)
    assert got_fmt == fmt
    assert dead == want_dead
    assert sorted(readings) == sorted(want_readings)
    # stop after batch `stop`, resume a new source from the position it returned
    _, first, dead1, position = _parse(str(path), chunk, max_rows, stop_after=stop)
    if position is not None:
        src = _csv_source(str(path), chunk_bytes=chunk, max_rows=max_rows)
        try:
            src.seek(position)
            rest = [b for b in src.batches()]
        finally:
            src.close()
        resumed = first + [r for b in rest for r in _readings_of(b)]
        assert sorted(resumed) == sorted(want_readings)
        assert dead1 + [d for b in rest for d in b.dead] == want_dead


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(case=csv_files())
def test_command_line_dead_letters_match_the_csv_module(tmp_path_factory, case):
    from adaptive import PageHinkley

    data, raws = case
    tmp = tmp_path_factory.mktemp("rfc4180cli")
    limit = getattr(PageHinkley(), "max_abs_input", math.inf)
    _, want_readings, want_dead = _oracle(data, raws, limit)
    (tmp / "gen.csv").write_bytes(data)
    res = cli(*monitor_args(tmp, str(tmp / "gen.csv"), "--batch-rows", "3"))
    assert res.code == 0, res.err
    assert jsonl(tmp / "dl.jsonl") == want_dead
    assert summary_of(res.err)["readings"] == len(want_readings)
