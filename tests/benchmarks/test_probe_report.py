"""The probe benchmark's docs tables: pure Markdown from result lines, and the committed lines behind them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "probe.md"


@pytest.fixture(scope="module")
def script(load_benchmark):
    return load_benchmark("probe")


def row(label, t, erasure, change, **extra):
    return {"label": label, "t": t, "erasure": erasure, "erasure_in_lesions": erasure + 0.01, "erasure_std": 0.05,
            "change_mae": change, "change_psnr": None if change == 0 else 30.0, **extra}


def test_per_step_table_merges_equal_steps(script):
    records = [row("blur", 0, 0.0, 0.0), row("blur", 30, 0.4, 0.02), row("blur", 60, 0.6, 0.04),
               row("median", 0, 0.0, 0.0), row("median", 30, 0.7, 0.03), row("median", 60, 0.7, 0.03),
               row("resize@8", 60, 0.3, 0.01), row("resize@8", 0, 0.3, 0.01)]
    text = script.markdown_steps(records)
    assert text.endswith("|\n") and text == script.markdown_steps(records)
    lines = text.splitlines()
    assert lines[0].startswith("| dissolver | t | lesion erasure (overall) ± spread |")
    assert lines[2] == "| blur | 0 | 0.000 ± 0.050 | 0.010 | 0.0000 | inf |"
    assert lines[3] == "| blur | 30 | 0.400 ± 0.050 | 0.410 | 0.0200 | 30.0 |"
    assert lines[6] == "| median | 30–60 | 0.700 ± 0.050 | 0.710 | 0.0300 | 30.0 |"
    assert lines[7] == "| resize@8 | any | 0.300 ± 0.050 | 0.310 | 0.0100 | 30.0 |"
    assert len(lines) == 8


def test_equal_change_table_interpolates_continuous_curves_only(script):
    records = [row("a", 0, 0.0, 0.0), row("a", 30, 0.4, 0.02), row("a", 60, 0.6, 0.04),
               row("fixed", 0, 0.0, 0.0), row("fixed", 30, 0.5, 0.03), row("fixed", 60, 0.5, 0.03)]
    lines = script.markdown_equal_change(records, (0.01, 0.03, 0.05)).splitlines()
    assert lines[0] == "| dissolver | change 0.010 | change 0.030 | change 0.050 |"
    assert lines[2:] == ["| a | 0.200 | 0.500 | - |"]  # 'fixed' is one point: no curve


def test_size_tables(script):
    def cond(sigma, opacity, label, t, erasure, change):
        return row(label, t, erasure, change, lesion_sigma=sigma, lesion_opacity=opacity)

    records = [cond([1.5, 2.5], [0.6, 0.9], "d", t, e, c) for t, e, c in ((0, 0.1, 0.02), (30, 0.2, 0.03), (60, 0.3, 0.04))]
    records += [cond([0.3, 0.45], [0.6, 0.9], "d", t, e, c) for t, e, c in ((0, 0.5, 0.02), (30, 0.6, 0.03), (60, 0.7, 0.04))]
    lines = script.markdown_sizes(records, [("d", (0,)), ("d", (30, 60))]).splitlines()
    assert lines[0] == "| lesion σ (px) | opacity | d, t = 0 | d, t = 30 / 60 |"
    assert lines[2:] == ["| 0.3–0.45 | 0.6–0.9 | 0.500 | 0.600 / 0.700 |", "| 1.5–2.5 | 0.6–0.9 | 0.100 | 0.200 / 0.300 |"]
    lines = script.markdown_sizes_equal_change(records, ["d"], 0.035).splitlines()
    assert lines[2:] == ["| 0.3–0.45 | 0.6–0.9 | 0.650 |", "| 1.5–2.5 | 0.6–0.9 | 0.250 |"]
    lines = script.markdown_changes(records, ["d"], (0, 30)).splitlines()
    assert lines[2:] == ["| d | 0.0200 | 0.0300 |"]


def test_every_report_table_prints_from_committed_lines(script):
    for name, make in script.REPORT_TABLES.items():
        text = make()
        assert text.endswith("\n") and text.startswith("| ") and text == make(), name
    for path in sorted(script.PROBE_RESULTS.glob("*.jsonl")):
        for record in script.read_lines(path):
            assert record["precision"] == "fp32" and record["seed"] == 0, path
            for key in ("command", "commit", "version", "device", "threads", "written", "seconds"):
                assert key in record, (path, key)


def test_the_page_shows_every_table(script):
    names = set(re.findall(r"<!-- report: ([\w-]+) -->", DOCS.read_text(encoding="utf-8")))
    assert set(script.REPORT_TABLES) <= names


def test_report_prints_markdown(script, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    for record in (row("a", 0, 0.0, 0.0), row("a", 30, 0.4, 0.02), row("a", 60, 0.6, 0.04)):
        script.append_line(out, record)
    script.main(["--out", str(out), "--report", "--markdown", "--changes", "0.01"])
    text = capsys.readouterr().out
    assert text == script.markdown_steps(script.read_lines(out)) + "\n" + "| dissolver | change 0.010 |\n| --- | --- |\n| a | 0.200 |\n"
