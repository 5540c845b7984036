"""TCPDBench's F1 and covering (benchmarks/tcpd/metrics.py) against hand-worked cases, properties
and, when the TCPD data folder is present, every published per-series score of a default run."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.tcpd.data import TABLE_SERIES, find_data, load_series, published_locations
from benchmarks.tcpd.data import published_scores as load_published
from benchmarks.tcpd.metrics import clean_locations, covering, f1_score

# -- hand-worked cases ---------------------------------------------------------------------------


def test_f1_hand_worked():
    # one annotator {0, 30}; prediction {0, 33, 60}: 30 is detected by 33 (|30-33| <= 5)
    # P = 2/3 (0 and 30 of the union matched), R = 2/2, F1 = 2 * (2/3) / (2/3 + 1) = 0.8
    assert f1_score({"a": [30]}, [33, 60]) == pytest.approx(0.8)
    # 36 is 6 away: only 0 is matched; P = 1/2, R = 1/2
    assert f1_score({"a": [30]}, [36]) == pytest.approx(0.5)
    # two annotators: a = {0, 30} fully found, b = {0, 30, 80} 2 of 3; union {0, 30, 80}
    # P = 2/2, R = (1 + 2/3) / 2 = 5/6, F1 = 2 * 5/6 / (1 + 5/6) = 10/11
    assert f1_score({"a": [30], "b": [30, 80]}, [31]) == pytest.approx(10 / 11)


def test_f1_one_prediction_detects_one_true_point():
    # 10 and 12 are both within 5 of 11, but 11 can detect only one of them
    # union {0, 10, 12}: 2 matched, P = 2/2; R = (2/3) (one annotator); F1 = 0.8
    assert f1_score({"a": [10, 12]}, [11]) == pytest.approx(0.8)
    # in time order 10 takes the nearest free prediction (9), leaving 14 for 12
    assert f1_score({"a": [10, 12]}, [9, 14]) == pytest.approx(1.0)


def test_covering_hand_worked():
    # truth [0,10) [10,20); prediction [0,12) [12,20): J = 10/12 and 8/10
    assert covering({"a": [10]}, [12], 20) == pytest.approx((10 * 10 / 12 + 10 * 8 / 10) / 20)
    # the mean over annotators; the no-change annotator's one segment is covered 12/20 at best
    both = covering({"a": [10], "b": []}, [12], 20)
    assert both == pytest.approx(((10 * 10 / 12 + 10 * 8 / 10) / 20 + 12 / 20) / 2)


def test_clean_locations_drops_ends_and_duplicates():
    assert clean_locations([0, 5, 5, 3, 9, 12, -1], 10) == [3, 5]


@pytest.mark.parametrize("bad", [0, -3])
def test_covering_rejects_empty_series(bad):
    with pytest.raises(ValueError, match="n_obs"):
        covering({"a": []}, [], bad)


def test_scores_reject_no_annotators():
    with pytest.raises(ValueError, match="annotator"):
        f1_score({}, [3])
    with pytest.raises(ValueError, match="annotator"):
        covering({}, [3], 10)


# -- properties ----------------------------------------------------------------------------------

_points = st.lists(st.integers(1, 98), max_size=8)


@given(st.dictionaries(st.sampled_from("abcd"), _points, min_size=1), _points)
def test_scores_are_in_unit_interval(annotations, pred):
    assert 0.0 <= f1_score(annotations, pred) <= 1.0
    assert 0.0 < covering(annotations, pred, 100) <= 1.0


@given(_points)
def test_prediction_equal_to_the_only_annotation_is_perfect(points):
    assert f1_score({"a": points}, points) == 1.0
    assert covering({"a": points}, points, 100) == pytest.approx(1.0)


@given(_points, st.integers(0, 3))
def test_a_shift_within_the_margin_keeps_f1(points, shift):
    # points at least 11 apart, so that a shift of <= 3 cannot change the matching
    spaced = sorted({10 + 11 * (p // 11) for p in points})
    assert f1_score({"a": spaced}, [p + shift for p in spaced]) == 1.0


# -- TCPDBench's published values (needs the data folder; see benchmarks/data/README.md) ------

_DATA = find_data()
needs_data = pytest.mark.skipif(_DATA is None, reason="TCPD data folder not found")
# Published F1 that depends on the iteration order of a Python set in TCPDBench's scorer: in time
# order one more true point is matched (146 by the prediction 151, at the margin).
_SET_ORDER = {("children_per_woman", "rfpop")}
_METHODS = ("amoc", "binseg", "bocpd", "bocpdms", "cpnp", "ecp", "kcpa", "pelt", "prophet",
            "rbocpdms", "rfpop", "segneigh", "wbs", "zero")


@needs_data
def test_zero_baseline_matches_every_published_value():
    pub = load_published(_DATA)
    series = load_series(_DATA)
    assert len(series) >= 25
    for s in series:
        f1, cover = f1_score(s.annotations, []), covering(s.annotations, [], s.n_obs)
        for exp in ("default", "oracle"):
            assert f1 == pytest.approx(pub[exp, "f1"][s.name]["zero"], abs=1e-12), s.name
            assert cover == pytest.approx(pub[exp, "cover"][s.name]["zero"], abs=1e-12), s.name


@needs_data
def test_every_published_default_run_is_rescored_exactly():
    pub = load_published(_DATA)
    n = 0
    for s in load_series(_DATA):
        for method in _METHODS:
            raw = published_locations(_DATA, s.name, method)
            if raw is None:
                assert pub["default", "f1"][s.name][method] is None
                continue
            loc = clean_locations(raw, s.n_obs)
            f1, cover = f1_score(s.annotations, loc), covering(s.annotations, loc, s.n_obs)
            want_f1 = pub["default", "f1"][s.name][method]
            assert cover == pytest.approx(pub["default", "cover"][s.name][method], abs=1e-12)
            if (s.name, method) in _SET_ORDER:
                assert f1 > want_f1
            else:
                assert f1 == pytest.approx(want_f1, abs=1e-12), (s.name, method)
            n += 1
    assert n >= 400


@needs_data
def test_published_table_means_are_reproduced():
    # the paper's table 3 (univariate, 32 series): zero 0.645/0.566, bocpd 0.662/0.594 (F1/cover)
    pub = load_published(_DATA)
    for method, f1, cover in (("zero", 0.645, 0.566), ("bocpd", 0.662, 0.594),
                              ("binseg", 0.698, 0.672), ("pelt", 0.674, 0.652)):
        got = [pub["default", m][s][method] for m in ("f1", "cover") for s in TABLE_SERIES]
        n = len(TABLE_SERIES)
        assert round(sum(got[:n]) / n, 3) == f1
        assert round(sum(got[n:]) / n, 3) == cover


def test_metrics_docstring_examples_run():
    import doctest

    import benchmarks.tcpd.metrics as metrics

    assert doctest.testmod(metrics).failed == 0
