"""The transcribed tables of benchmarks/results/archive/tables.jsonl: each renders, is well formed,
and stands as a report block on the page it came from."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLES = ROOT / "benchmarks" / "results" / "archive" / "tables.jsonl"
RECORDS = [json.loads(line) for line in TABLES.read_text(encoding="utf-8").splitlines() if line.strip()]
FIELDS = {"table", "page", "section", "columns", "rows", "source", "made_by", "machine", "raw_kept"}


@pytest.fixture(scope="module")
def archive(load_benchmark):
    return load_benchmark("archive")


def test_the_file_holds_tables_with_unique_names():
    names = [r["table"] for r in RECORDS]
    assert names and len(set(names)) == len(names)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["table"])
def test_a_line_is_well_formed(record):
    assert FIELDS <= set(record), FIELDS - set(record)
    assert record["table"].startswith("archive-") and re.fullmatch(r"[\w-]+", record["table"])
    assert record["raw_kept"] is False
    page, commit = record["source"].split(" at ")
    assert page == record["page"] and (ROOT / page).is_file()
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    assert all(isinstance(c, str) for c in record["columns"])
    for row in record["rows"]:
        assert len(row) == len(record["columns"]) and all(isinstance(c, str) for c in row)
    assert len(record.get("align", record["columns"])) == len(record["columns"])


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["table"])
def test_a_line_renders_as_its_page_printed_it(record, archive):
    text = archive.REPORT_TABLES[record["table"]]()
    assert text == archive.transcribed_table(record) and text.endswith("\n")
    lines = text.splitlines()
    width = len(record["columns"])
    for line in lines[: 2 + len(record["rows"])]:
        assert line.startswith("|") and line.endswith("|") and line.count("|") == width + 1
    assert lines[0] == "|" + "".join(f" {c} |" if c else " |" for c in record["columns"])
    assert lines[2 + len(record["rows"])] == ""
    assert lines[-1].startswith(f"Measured by an earlier version ({record['page']} at {record['source'][-40:][:8]}) on ")
    assert lines[-1].endswith("raw results not kept, transcribed in benchmarks/results/archive/tables.jsonl.")


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["table"])
def test_each_table_is_a_block_of_its_page(record, archive):
    page = (ROOT / record["page"]).read_text(encoding="utf-8")
    match = re.search(rf"<!-- report: {re.escape(record['table'])} -->\n(.*?)<!-- /report -->", page, re.S)
    assert match, f"{record['page']} has no block {record['table']!r}"
    assert match.group(1) == archive.transcribed_table(record)


def test_a_row_of_another_width_is_refused(archive):
    record = {**RECORDS[0], "rows": [RECORDS[0]["columns"][:-1]]}
    with pytest.raises(ValueError, match="not as wide as the header"):
        archive.transcribed_table(record)


def test_a_name_given_twice_is_refused(archive, tmp_path):
    path = tmp_path / "tables.jsonl"
    path.write_text("".join(json.dumps(RECORDS[0]) + "\n" for _ in range(2)))
    with pytest.raises(ValueError, match="given twice"):
        archive.transcribed_tables(path)


def test_the_tables_are_named_without_importing_torch():
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import archive; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(len(archive.REPORT_TABLES))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert int(out) == len(RECORDS) + 3
