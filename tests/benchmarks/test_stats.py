"""benchmarks/stats.py on cases computed by hand."""

from __future__ import annotations

import dataclasses
import doctest
import math

import pytest
from scipy import stats as scipy_stats

T_975_2 = 4.302652729911275  # t_{0.975} with 2 degrees of freedom
A, B = [0.80, 0.75, 0.90], [0.70, 0.72, 0.85]  # differences 0.10, 0.03, 0.05


@pytest.fixture(scope="module")
def script(load_benchmark):
    return load_benchmark("stats")


def test_the_docstring_examples_run(script):
    result = doctest.testmod(script)
    assert result.attempted >= 10 and result.failed == 0


def test_paired_difference_by_hand(script):
    d = script.paired_difference(A, B)
    std = math.sqrt((0.04**2 + 0.03**2 + 0.01**2) / 2)  # deviations from the mean 0.06
    assert std == pytest.approx(math.sqrt(0.0013))
    assert (d.n, d.wins, d.losses, d.ties) == (3, 3, 0, 0)
    assert d.mean == pytest.approx(0.06) and d.std == pytest.approx(std)
    assert d.t == pytest.approx(0.06 / (std / math.sqrt(3)))
    assert d.ci_low == pytest.approx(0.06 - T_975_2 * std / math.sqrt(3))
    assert d.ci_high == pytest.approx(0.06 + T_975_2 * std / math.sqrt(3))
    assert d.p == pytest.approx(scipy_stats.ttest_rel(A, B).pvalue)
    assert d.p == pytest.approx(2 * scipy_stats.t.sf(d.t, 2)) and 0.10 < d.p < 0.11
    assert d.confidence == 0.95
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.mean = 0.0


def test_summary_difference_equals_the_test_on_the_values(script):
    d, s = script.paired_difference(A, B), script.summary_difference(0.06, math.sqrt(0.0013), 3)
    assert (s["t"], s["p"], s["ci_low"], s["ci_high"]) == pytest.approx((d.t, d.p, d.ci_low, d.ci_high))
    assert script.summary_difference(0.0, 0.0, 3)["p"] == 1.0 and script.summary_difference(-0.1, 0.0, 3)["p"] == 0.0
    with pytest.raises(ValueError, match="at least 2 pairs"):
        script.summary_difference(0.1, 0.1, 1)
    with pytest.raises(ValueError, match="std >= 0"):
        script.summary_difference(0.1, -0.1, 3)


def test_paired_difference_other_confidence(script):
    d = script.paired_difference(A, B, confidence=0.90)
    half = 2.919985580355516 * math.sqrt(0.0013) / math.sqrt(3)  # t_{0.95} with 2 degrees of freedom
    assert (d.ci_low, d.ci_high) == pytest.approx((0.06 - half, 0.06 + half))


def test_wins_losses_ties(script):
    d = script.paired_difference([1, 2, 3, 4], [0, 2, 4, 4])  # differences 1, 0, -1, 0
    assert (d.wins, d.losses, d.ties) == (1, 1, 2)
    assert d.mean == 0 and d.t == 0 and d.p == pytest.approx(1.0)


def test_identical_differences(script):
    up = script.paired_difference([1, 2, 3], [0, 1, 2])
    assert up.std == 0 and up.t == math.inf and up.p == 0.0 and up.ci_low == up.ci_high == 1.0
    down = script.paired_difference([0, 1, 2], [1, 2, 3])
    assert down.t == -math.inf and down.p == 0.0 and down.mean == -1.0
    same = script.paired_difference([1, 2, 3], [1, 2, 3])
    assert math.isnan(same.t) and same.p == 1.0 and same.ties == 3


def test_holm(script):
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> running max 0.06
    assert script.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert script.holm([0.6, 0.7]) == [1.0, 1.0]  # 1.2 capped at 1, then the running max
    assert script.holm([0.3]) == [0.3] and script.holm([]) == []


def test_benjamini_hochberg(script):
    # sorted: 0.005 * 4/1 = 0.02, 0.01 * 4/2 = 0.02, 0.03 * 4/3 = 0.04, 0.04 * 4/4 = 0.04
    assert script.benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # 0.01 * 3 = 0.03, 0.02 * 3/2 = 0.03, 0.025 * 3/3 = 0.025 -> running min from the largest: all 0.025
    assert script.benjamini_hochberg([0.02, 0.025, 0.01]) == pytest.approx([0.025, 0.025, 0.025])
    assert script.benjamini_hochberg([]) == []


def test_compare_corrects_over_the_family(script):
    rows = script.compare({"A - B": (A, B), "A - A": (A, A), "B - A": (B, A)})
    assert [r["name"] for r in rows] == ["A - B", "A - A", "B - A"]
    p = scipy_stats.ttest_rel(A, B).pvalue
    # raw p: p, 1, p -> sorted p * 3, p * 2, 1 * 1
    assert [r["p_holm"] for r in rows] == pytest.approx([3 * p, 1.0, 3 * p])
    assert rows[0]["mean"] == pytest.approx(0.06) and rows[2]["mean"] == pytest.approx(-0.06)
    fields = {f.name for f in dataclasses.fields(script.PairedDifference)}
    assert set(rows[0]) == fields | {"name", "p_holm"}


def test_verdict(script):
    row = {"n": 8, "mean": 0.03, "p_holm": 0.01}
    assert script.verdict(row) == "better"
    assert script.verdict(row, better="DIA gains") == "DIA gains"
    assert script.verdict({**row, "mean": -0.03}) == "worse"
    assert script.verdict({**row, "mean": -0.03}, worse="DIA loses") == "DIA loses"
    assert script.verdict({**row, "p_holm": 0.05}) == "not shown at n = 8"  # not below alpha
    assert script.verdict({**row, "p_holm": 0.03}, alpha=0.01) == "not shown at n = 8"


def test_correlation(script):
    # ranks are the values: both 1 - 6 * (0 + 1 + 1 + 0) / (4 * 15) = 0.8
    x, y = [1, 2, 3, 4], [1, 3, 2, 4]
    t = 0.8 * math.sqrt(2) / math.sqrt(1 - 0.8**2)
    for method in ("pearson", "spearman"):
        r, p = script.correlation(x, y, method)
        assert r == pytest.approx(0.8) and p == pytest.approx(2 * scipy_stats.t.sf(t, 2))
    assert script.correlation([1, 2, 3], [1, 4, 9], "spearman")[0] == pytest.approx(1.0)
    assert script.correlation([1, 2, 3], [1, 4, 9])[0] < 1.0


def test_simpsons_paradox(script):
    # within each stratum y rises with x, but stratum b lies right of and below stratum a
    x = [0, 1, 2, 10, 11, 12]
    y = [10, 11, 12.5, 0, 1, 2.5]
    result = script.stratified_correlation(x, y, ["a", "a", "a", "b", "b", "b"])
    assert result["coefficient"] < -0.8 and result["n"] == 6
    assert result["coefficient"] == pytest.approx(scipy_stats.pearsonr(x, y).statistic)
    assert list(result["strata"]) == ["a", "b"]
    for stratum in result["strata"].values():
        assert stratum["coefficient"] > 0.9 and stratum["n"] == 3 and stratum["note"] is None


def test_undefined_strata_get_nan_and_a_note(script):
    result = script.stratified_correlation([1, 2, 3, 4, 5, 6, 7], [1, 2, 4, 5, 5, 5, 9],
                                           [1, 1, 1, 2, 2, 2, 3], method="spearman")
    assert result["strata"][1]["coefficient"] == pytest.approx(1.0)
    assert math.isnan(result["strata"][2]["coefficient"]) and result["strata"][2]["note"] == "y is constant"
    third = result["strata"][3]
    assert math.isnan(third["p"]) and third["n"] == 1 and third["note"] == "fewer than 3 points (1)"


def test_format_contrasts(script):
    lines = script.format_contrasts(script.compare({"A - B": (A, B)})).splitlines()
    assert lines[0] == "| contrast | n | mean difference | 95 % CI | p | p (Holm) | wins / losses | reading |"
    assert lines[1] == "| --- | --- | --- | --- | --- | --- | --- | --- |"
    assert lines[2] == "| A - B | 3 | +0.060 | [-0.030, +0.150] | 0.102 | 0.102 | 3 / 0 | not shown at n = 3 |"
    row = {"name": "DIA - CSI", "n": 8, "mean": -0.0123, "ci_low": -0.02, "ci_high": -0.0046, "p": 0.0004,
           "p_holm": 0.0012, "wins": 1, "losses": 6, "ties": 1, "confidence": 0.9}
    lines = script.format_contrasts([row], digits=2).splitlines()
    assert "| 90 % CI |" in lines[0]
    assert lines[2] == "| DIA - CSI | 8 | -0.01 | [-0.02, -0.00] | <0.001 | 0.00120 | 1 / 6 (1 tied) | worse |"


@pytest.mark.parametrize("call, message", [
    (lambda s: s.paired_difference([1, 2, 3], [1, 2]), r"a and b differ in length \(3 vs 2\)"),
    (lambda s: s.paired_difference([1], [0]), r"need at least 2 pairs, got 1"),
    (lambda s: s.paired_difference([1, math.nan], [0, 1]), r"a contains NaN"),
    (lambda s: s.paired_difference([1, 2], [0, math.inf]), r"b contains NaN or infinity"),
    (lambda s: s.paired_difference([1, 2], [0, 1], confidence=95), r"confidence must lie in \(0, 1\)"),
    (lambda s: s.holm([0.1, math.nan]), r"p-values contain NaN"),
    (lambda s: s.holm([0.1, 1.2]), r"p-values must lie in \[0, 1\], got 1.2"),
    (lambda s: s.benjamini_hochberg([-0.1]), r"p-values must lie in \[0, 1\], got -0.1"),
    (lambda s: s.compare({}), r"no contrasts given"),
    (lambda s: s.compare({"ok": ([1, 2], [0, 0]), "bad": ([1, 2], [0])}),
     r"contrast 'bad': a and b differ in length"),
    (lambda s: s.correlation([1, 2, 3], [1, 2, 3], method="kendall"), r"unknown method 'kendall'"),
    (lambda s: s.correlation([1, 2, 3], [1, 2]), r"x and y differ in length"),
    (lambda s: s.correlation([1, 2], [1, 2]), r"fewer than 3 points \(2\)"),
    (lambda s: s.correlation([1, 1, 1], [1, 2, 3]), r"correlation undefined: x is constant"),
    (lambda s: s.stratified_correlation([1, 2, 3], [1, 2, 3], ["a", "b"]), r"x and strata differ in length"),
    (lambda s: s.stratified_correlation([1, 2, 3], [1, 2, 3], "aab", method="r2"), r"unknown method 'r2'"),
])
def test_bad_input_names_the_problem(script, call, message):
    with pytest.raises(ValueError, match=message):
        call(script)
