"""Contract, oracle (River) and property tests of SensorMonitor and the CSV parsers."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive import CUSUM, PageHinkley, SensorMonitor
from adaptive.monitor.alerts import DeadLetters, JSONLSink
from adaptive.monitor.sources import CSVSource, parse_long, parse_wide, shard_of


def _plant(seed=0, n=3000, sensors=("a", "b", "c", "d"), shifted=("b",), at=1500, size=3.0):
    """Interleaved readings (K,) with a mean shift in the `shifted` sensors from reading `at`."""
    rng = np.random.default_rng(seed)
    names = [sensors[i] for i in rng.integers(0, len(sensors), n * len(sensors))]
    vals = rng.normal(0.0, 1.0, len(names))
    seen = dict.fromkeys(sensors, 0)
    for k, s in enumerate(names):
        if s in shifted and seen[s] >= at:
            vals[k] += size
        seen[s] += 1
    return names, vals


def _key(alerts):
    return [(a["sensor"], a["kind"], a["offset"], a["index"], a["statistic"]) for a in alerts]


def test_dynamic_sensors_join_and_alert_only_on_shifted():
    names, vals = _plant()
    mon = SensorMonitor(PageHinkley(threshold=200.0))
    alerts = mon.update_many(names, vals)
    assert mon.sensor_names == list(dict.fromkeys(names))
    assert {a["sensor"] for a in alerts} == {"b"}
    first = min(a["index"] for a in alerts)
    assert 1500 <= first < 1500 + 200  # delay in readings of that sensor
    for a in alerts:
        assert set(a) >= {"sensor", "timestamp", "detector", "statistic", "kind", "offset"}
        assert a["detector"] == "PageHinkley" and a["statistic"] > 200.0


def test_fixed_sensor_list_rejects_unknown_to_dead_letters(tmp_path):
    dl = DeadLetters(str(tmp_path / "dl.jsonl"))
    mon = SensorMonitor(PageHinkley(), sensors=["a", "b"], dead_letters=dl)
    mon.update_many(["a", "zz", "b", "zz", "a"], [1.0, 2.0, 3.0, 4.0, 5.0])
    dl.close()
    recs = [json.loads(line) for line in open(tmp_path / "dl.jsonl")]
    assert [(r["reason"], r["sensor"], r["offset"]) for r in recs] == [
        ("unknown_sensor", "zz", 1), ("unknown_sensor", "zz", 3)]
    assert mon.sensor_names == ["a", "b"]
    assert mon.summary()["readings"] == 3 and mon.summary()["dead_letters"] == 2


def test_non_finite_and_non_numeric_values_are_dead_letters():
    mon = SensorMonitor(PageHinkley())
    mon.update_many(["a", "a", "a", "a"], [1.0, float("nan"), "x", 2.0])
    s = mon.summary()
    assert s["readings"] == 2 and s["dead_by_reason"] == {"non_finite": 1, "non_numeric": 1}


@settings(max_examples=15)
@given(cuts=st.lists(st.integers(0, 8000), max_size=12), seed=st.integers(0, 3))
def test_micro_batches_equal_one_big_batch(cuts, seed):
    names, vals = _plant(seed=seed, n=2000, shifted=("a", "c"), at=1000)
    ref = SensorMonitor(PageHinkley(threshold=60.0)).update_many(names, vals)
    mon = SensorMonitor(PageHinkley(threshold=60.0))
    bounds = sorted({0, len(vals), *[c for c in cuts if c < len(vals)]})
    got = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        got += mon.update_many(names[lo:hi], vals[lo:hi], offsets=np.arange(lo, hi))
    assert _key(got) == _key(ref) and len(ref) > 0


def test_one_at_a_time_equals_batch():
    names, vals = _plant(n=600, shifted=("d",), at=300)
    ref = SensorMonitor(CUSUM()).update_many(names, vals)
    mon = SensorMonitor(CUSUM())
    got = []
    for k, (s, v) in enumerate(zip(names, vals)):
        got += mon.update(s, v, offset=k)
    assert _key(got) == _key(ref) and len(ref) > 0


def test_river_oracle_per_sensor():
    drift = pytest.importorskip("river.drift")
    names, vals = _plant(seed=3, n=2500, shifted=("a", "d"), at=1200)
    alerts = SensorMonitor(PageHinkley(threshold=40.0)).update_many(names, vals)
    expected = []
    rivers = {s: drift.PageHinkley(threshold=40.0) for s in set(names)}
    counts = dict.fromkeys(rivers, 0)
    for k, (s, v) in enumerate(zip(names, vals)):
        rivers[s].update(v)
        if rivers[s].drift_detected:
            expected.append((s, k, counts[s]))
        counts[s] += 1
    assert [(a["sensor"], a["offset"], a["index"]) for a in alerts] == expected


def test_wide_block_equals_events():
    rng = np.random.default_rng(1)
    block = rng.normal(size=(800, 5))  # (T, C)
    block[400:, 2] += 3.0
    block[10, 1] = np.nan  # a dead cell (the parser made it a dead letter)
    cols = list("vwxyz")
    wide = SensorMonitor(PageHinkley(threshold=50.0)).update_wide(
        cols, block, [str(t) for t in range(800)], np.arange(800))
    fin = np.isfinite(block).ravel()
    names = [cols[c] for c in np.tile(np.arange(5), 800)[fin]]
    offs = np.repeat(np.arange(800), 5)[fin]
    ev = SensorMonitor(PageHinkley(threshold=50.0)).update_many(names, block.ravel()[fin],
                                                                 offsets=offs)
    assert _key(wide) == _key(ev) and any(a["sensor"] == "x" for a in wide)


def test_state_round_trip_continues_exactly(tmp_path):
    names, vals = _plant(seed=5, shifted=("a", "b"), at=1000)
    ref = SensorMonitor(PageHinkley(threshold=60.0)).update_many(names, vals)
    m1 = SensorMonitor(PageHinkley(threshold=60.0))
    half = len(vals) // 2
    got = m1.update_many(names[:half], vals[:half])
    state = json.loads(json.dumps(m1.state_dict()))
    m2 = SensorMonitor(PageHinkley(threshold=60.0))
    m2.load_state_dict(state)
    got += m2.update_many(names[half:], vals[half:], offsets=np.arange(half, len(vals)))
    assert _key(got) == _key(ref)
    m3 = pickle.loads(pickle.dumps(m2))
    assert m3.summary() == m2.summary()
    with pytest.raises(ValueError, match="configuration"):
        SensorMonitor(PageHinkley(threshold=61.0)).load_state_dict(state)


def test_calibration_sets_thresholds_and_false_alarm_rate():
    arl0, n_ref, n_null, sensors = 400, 400, 6000, [f"s{i}" for i in range(6)]
    rng = np.random.default_rng(7)
    scales = {s: 0.5 + i for i, s in enumerate(sensors)}  # very different noise levels
    mon = SensorMonitor(PageHinkley(), calibrate_first=n_ref, arl0=arl0,
                        calibrate_options={"n_streams": 60})
    names = [sensors[i] for i in rng.integers(0, len(sensors), len(sensors) * (n_ref + n_null))]
    vals = np.array([rng.normal(0.0, scales[s]) for s in names])
    alerts = mon.update_many(names, vals)
    thr = {s: mon.stream(s).threshold for s in sensors}
    assert len(set(thr.values())) == len(sensors)
    assert thr["s5"] > 3 * thr["s0"]  # noisier sensors get higher thresholds
    assert min(a["index"] for a in alerts) >= n_ref  # reference readings are not monitored
    monitored = len(vals) - n_ref * len(sensors)
    rate = len(alerts) / monitored  # alarms per reading, target 1 / arl0
    assert 0.4 / arl0 < rate < 2.5 / arl0, (len(alerts), monitored)


def test_shard_keeps_own_sensors():
    names = [f"m{i}" for i in range(40)] * 5
    kept = set()
    for i in range(3):
        mon = SensorMonitor(PageHinkley(), shard=(i, 3))
        mon.update_many(names, np.zeros(len(names)))
        assert all(shard_of(s, 3) == i for s in mon.sensor_names)
        assert mon.summary()["other_shard"] == 5 * (40 - len(mon.sensor_names))
        kept |= set(mon.sensor_names)
    assert kept == set(names)


@pytest.mark.parametrize("kw, match", [
    ({"sensors": "abc"}, "sensors"),
    ({"sensors": ["a", "a"]}, "repeated"),
    ({"calibrate_first": 1, "arl0": 100}, "calibrate_first"),
    ({"calibrate_first": 100}, "arl0"),
    ({"calibrate_first": 100, "arl0": 0.5}, "arl0"),
    ({"checkpoint_every": 0}, "checkpoint_every"),
    ({"shard": (3, 3)}, "shard"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        SensorMonitor(PageHinkley(), **kw)
    with pytest.raises(TypeError, match="detector"):
        SensorMonitor("PageHinkley")


def test_parsers_name_bad_records():
    ts, vals, dead = parse_wide(["0,1,2,3", "1,1,,3", "2,1,2", "3,nan,2,x"], ["a", "b", "c"], 0)
    assert ts == ["0", "1", "2", "3"]
    assert [(d["reason"], d["offset"], d.get("sensor")) for d in sorted(
        dead, key=lambda d: (d["offset"], d.get("sensor") or ""))] == [
        ("missing_value", 1, "b"), ("wrong_field_count", 2, None),
        ("non_finite", 3, "a"), ("non_numeric", 3, "c")]
    assert np.isfinite(vals).sum() == 3 + 2 + 0 + 1
    s, v, t, o, dead = parse_long(["0,a,1", "1,,2", "2,b,inf", "3,c,4"], (0, 1, 2), 0)
    assert s == ["a", "c"] and v.tolist() == [1.0, 4.0] and o.tolist() == [0, 3]
    assert sorted(d["reason"] for d in dead) == ["missing_sensor", "non_finite"]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1,
                max_size=40))
def test_csv_parse_is_exact(xs):
    text = "timestamp,sensor,value\n" + "".join(f"{k},s,{x!r}\n" for k, x in enumerate(xs))
    src = CSVSource("-", stream=io.BytesIO(text.encode()), chunk_bytes=64)
    got = np.concatenate([b.values for b in src.batches()])
    assert got.tolist() == xs  # np.fromstring rounds exactly like float()


def test_csv_last_line_without_newline_and_blank_lines():
    text = b"timestamp,a\n0,1\n\n2,3"  # a blank row (a dead letter) and no final newline
    for chunk in (1, 3, 1 << 20):
        src = CSVSource("-", stream=io.BytesIO(text), chunk_bytes=chunk, max_rows=1)
        bs = list(src.batches())
        assert [v for b in bs for v in b.values[np.isfinite(b.values)].tolist()] == [1.0, 3.0]
        assert sum(b.n_records for b in bs) == 3
        assert (bs[-1].position["byte"], bs[-1].position["row"]) == (len(text), 3)
        assert [d["reason"] for b in bs for d in b.dead] == ["wrong_field_count"]


def test_csv_resume_from_position():
    text = "timestamp,a,b\n" + "".join(f"{t},{t},{-t}\n" for t in range(50))
    src = CSVSource("-", stream=io.BytesIO(text.encode()), max_rows=7)
    batches = list(src.batches())
    mid = batches[3].position
    src2 = CSVSource("-", stream=io.BytesIO(text.encode()), max_rows=7)
    src2.seek(mid)  # a pipe: skips rows
    rest = np.concatenate([b.values for b in src2.batches()])
    assert rest[0].tolist() == [mid["row"], -mid["row"]] and len(rest) == 50 - mid["row"]


def test_sinks_truncate_to_checkpoint(tmp_path):
    sink = JSONLSink(str(tmp_path / "a.jsonl"))
    sink.write([{"x": 1}])
    n = sink.commit()
    sink.write([{"x": 2}])
    sink.truncate(n)
    with pytest.raises(ValueError, match="fewer"):
        sink.truncate(n + 100)
    sink.close()
    assert (tmp_path / "a.jsonl").read_text() == '{"x": 1}\n'


_TOKENS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: f"{x:.4f}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.12e}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.17g}"),
    st.integers(-10**25, 10**25).map(str),
    st.sampled_from(["", " 1.5 ", "nan", "-inf", "abc", "1.2.3", "1e", "+.5", "-0", "007",
                     "0.000000000000000000000123", "1_000", "1e400", "-.e1"]),
)


@given(st.lists(st.lists(_TOKENS, min_size=3, max_size=3), min_size=1, max_size=8),
       st.booleans())
def test_compiled_wide_parser_equals_python_parser(rows, short_row):
    lines = [f"{t}," + ",".join(r) for t, r in enumerate(rows)]
    if short_row:
        lines.append(f"{len(rows)},1.0")  # a row with a missing field
    from adaptive.monitor.sources import parse_wide_bytes

    cols = ["a", "b", "c"]
    ts1, v1, d1 = parse_wide(lines, cols, 0)
    ts2, v2, d2 = parse_wide_bytes("\n".join(lines).encode(), cols, 0)
    assert ts1 == ts2
    np.testing.assert_array_equal(v1, v2)  # bit-exact, NaN where dead
    assert d1 == d2  # same dead letters, in the same order, with the same raw text
    for r, row in enumerate(rows):  # and both equal Python's float() on every good cell
        for c, tok in enumerate(row):
            try:
                x = float(tok)
            except ValueError:
                continue
            if "_" in tok:  # Python-only syntax: a dead letter here
                assert np.isnan(v2[r, c])
            elif np.isfinite(x):
                assert v2[r, c] == x


def test_calibration_failure_is_counted_not_fatal():
    mon = SensorMonitor(PageHinkley(), calibrate_first=100, arl0=500,
                        calibrate_options={"n_streams": 20})
    rng = np.random.default_rng(0)
    mon.update_many(["flat"] * 300 + ["noisy"] * 300, np.r_[np.ones(300), rng.normal(size=300)])
    s = mon.summary()
    assert (s["calibrated"], s["calibration_failed"]) == (1, 1)
    assert mon.stream("flat").threshold == PageHinkley().threshold  # the detector's own value
    with pytest.raises(ValueError, match="n_streams"):
        SensorMonitor(PageHinkley(), calibrate_first=10, arl0=50,
                      calibrate_options={"n_streams": 0})


def test_scanner_reference_mode_equals_compiled(tmp_path):
    """The compiled CSV scanner run as plain Python (NUMBA_DISABLE_JIT=1) gives the same bits."""
    import os
    import subprocess
    import sys

    from adaptive.monitor.sources import parse_wide_bytes

    rng = np.random.default_rng(4)
    toks = ["1.5", "-0.25", "", "abc", "nan", "1e-7", "123456789.123456789", " 7 ", "+.5"]
    rows = [f"{t}," + ",".join(rng.choice(toks, 3)) for t in range(40)] + ["40,1", "41,2,3,4,5"]
    data = "\n".join(rows).encode()
    (tmp_path / "d.csv").write_bytes(data)
    code = ("import json, sys\nfrom adaptive.monitor.sources import parse_wide_bytes\n"
            "ts, v, dead = parse_wide_bytes(open(sys.argv[1], 'rb').read(), ['a','b','c'], 0)\n"
            "print(json.dumps([ts, [x.hex() for x in v.ravel().tolist()], dead]))\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": root}
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "d.csv")], env=env,
                       capture_output=True, text=True, timeout=120, cwd=root)
    assert r.returncode == 0, r.stderr
    ts, v, dead = parse_wide_bytes(data, ["a", "b", "c"], 0)
    assert json.loads(r.stdout) == [ts, [x.hex() for x in v.ravel().tolist()], dead]


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "", "long-name-7", "é"]), _TOKENS),
                min_size=1, max_size=12), st.booleans())
def test_compiled_long_parser_equals_python_parser(rows, bad_row):
    from adaptive.monitor.sources import parse_long_bytes

    lines = [f"{t},{s},{v}" for t, (s, v) in enumerate(rows)]
    if bad_row:
        lines.insert(len(lines) // 2, "x,y")
    s1, v1, t1, o1, d1 = parse_long(lines, (0, 1, 2), 5)
    names, codes, v2, t2, o2, d2 = parse_long_bytes("\n".join(lines).encode(), (0, 1, 2), 5)
    assert s1 == [names[c] for c in codes] and t1 == [t2[k] for k in range(len(codes))]
    np.testing.assert_array_equal(v1, v2)
    assert o1.tolist() == o2.tolist()
    key = lambda d: (d["offset"], d["reason"], d.get("sensor"), d["raw"])  # noqa: E731
    assert sorted(map(key, d1)) == sorted(map(key, d2))


@given(st.lists(st.lists(_TOKENS, min_size=3, max_size=3), min_size=1, max_size=40),
       st.integers(2, 5))
@settings(max_examples=40, deadline=None)
def test_wide_parser_split_over_threads_equals_one_pass(rows, n_parts):
    """The block cut at row boundaries into parts parsed on threads equals the one-pass scan
    (timestamps, values bit for bit, dead letters)."""
    import adaptive.monitor.sources.csv_wide as cw

    data = "\n".join(f"{t}," + ",".join(r) for t, r in enumerate(rows)).encode()
    one = cw.parse_wide_bytes(data, ["a", "b", "c"], 7)
    saved = cw.PARALLEL_CELLS, cw.default_threads
    cw.PARALLEL_CELLS, cw.default_threads = 1, lambda: n_parts
    try:
        split = cw.parse_wide_bytes(data, ["a", "b", "c"], 7)
    finally:
        cw.PARALLEL_CELLS, cw.default_threads = saved
    assert one[0] == split[0] and one[2] == split[2]
    np.testing.assert_array_equal(one[1], split[1])


@given(st.lists(st.tuples(st.text(min_size=1, max_size=300), st.binary(max_size=20_000),
                          st.sampled_from([0, 1])), min_size=1, max_size=6),
       st.integers(0, 200))
@settings(max_examples=60, deadline=None)
def test_mqtt_packet_scanner_cuts_publishes_and_leaves_a_partial_one(msgs, cut_back):
    """Packets of any length (1- to 3-byte remaining lengths) are cut where they end; a packet
    cut short at the end of the buffer is left for the next read."""
    import struct

    from adaptive.monitor.sources import mqtt_wire

    packets = []
    for topic, payload, qos in msgs:
        body = mqtt_wire._string(topic) + (struct.pack("!H", 7) if qos else b"") + payload
        packets.append(mqtt_wire._packet(0x30 | (qos << 1), body))
    data = b"".join(packets)
    cut = max(0, len(data) - cut_back)
    pkts, used = mqtt_wire.scan(data[:cut])
    ends = np.cumsum([len(p) for p in packets])
    whole = int(np.searchsorted(ends, cut, side="right"))
    assert len(pkts) == whole and used == (int(ends[whole - 1]) if whole else 0)
    for row, (topic, payload, qos) in zip(pkts.tolist(), msgs):
        assert row[0] == 3 and (row[1] >> 1) & 3 == qos
        assert data[row[4]:row[5]].decode() == topic
        assert data[row[5] + 2 * qos:row[3]] == payload
