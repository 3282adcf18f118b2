"""Every docs table follows from the results committed under benchmarks/results/ (benchmarks/report.py)."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"


def load_report():
    spec = importlib.util.spec_from_file_location("report_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_docs_table_is_what_the_report_prints():
    report = load_report()
    assert report.docs_blocks(), "the docs hold no report table"
    assert report.check() == []


def test_a_changed_table_is_found(tmp_path, monkeypatch):
    report = load_report()
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    page.write_text("text\n<!-- report: cache-cost -->\n| stale |\n<!-- /report -->\n<!-- report: nothing -->\nx\n<!-- /report -->\n")
    (tmp_path / "README.md").write_text("readme\n")
    monkeypatch.setattr(report, "ROOT", tmp_path)
    problems = report.check()
    assert problems == ["docs/page.md: table 'cache-cost' differs from `python benchmarks/report.py`",
                        "docs/page.md: unknown report table 'nothing'"]
    assert report.write() == [page]
    assert report.TABLES["cache-cost"]() in page.read_text() and "| stale |" not in page.read_text()
    assert report.check() == ["docs/page.md: unknown report table 'nothing'"]
