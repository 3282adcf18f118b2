"""Every table of the docs, printed from the results committed under ``benchmarks/results/``.

A docs table lives between two markers on a page::

    <!-- report: NAME -->
    | ... the table ... |
    <!-- /report -->

``python benchmarks/report.py`` prints every table of :data:`TABLES` from the result files (the
command each result line records made them; each script of :data:`SOURCES` names its own
tables); ``--check`` compares each table with its copy in the docs and exits 1 naming the
tables that differ (``tests/test_report.py`` runs it, so CI fails on a docs table that no longer
follows from the committed results); ``--write`` rewrites the copies.

    python benchmarks/report.py
    python benchmarks/report.py --check
    python benchmarks/report.py --write
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
sys.path.insert(0, str(BENCHMARKS))

_BLOCK = re.compile(r"(<!-- report: ([\w-]+) -->\n)(.*?)(<!-- /report -->)", re.S)

#: The scripts whose ``REPORT_TABLES`` (table name -> a function printing it from the committed
#: results) make up the report; each script owns the tables of its own results.
SOURCES = ("settling", "compare_scorers", "precision_quality", "cache_quality", "bench_cache", "reproduce",
           "probe", "localize", "macs", "bench_nifti_memory", "dissolver_runs", "calibration_check", "archive")


def collect_tables(sources: tuple[str, ...] = SOURCES) -> dict[str, Callable[[], str]]:
    """Every table of ``sources``; a name defined twice is an error."""
    tables: dict[str, Callable[[], str]] = {}
    for source in sources:
        for name, make in getattr(importlib.import_module(source), "REPORT_TABLES", {}).items():
            if name in tables:
                raise ValueError(f"report table {name!r} is defined twice (again in benchmarks/{source}.py)")
            tables[name] = make
    return tables


#: Table name -> the function that prints it from the committed results.
TABLES: dict[str, Callable[[], str]] = collect_tables()


def docs_blocks() -> dict[str, list[tuple[Path, str]]]:
    """Every report block of README.md and docs/: name -> [(page, the block's text)]."""
    blocks: dict[str, list[tuple[Path, str]]] = {}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for match in _BLOCK.finditer(page.read_text(encoding="utf-8")):
            blocks.setdefault(match.group(2), []).append((page, match.group(3)))
    return blocks


def check() -> list[str]:
    """The problems of the docs' report blocks: unknown names, and copies that differ from the report."""
    problems = []
    for name, copies in docs_blocks().items():
        if name not in TABLES:
            problems.append(f"{copies[0][0].relative_to(ROOT)}: unknown report table {name!r}")
            continue
        expected = TABLES[name]()
        for page, text in copies:
            if text != expected:
                problems.append(f"{page.relative_to(ROOT)}: table {name!r} differs from `python benchmarks/report.py`")
    return problems


def write() -> list[Path]:
    """Rewrite every report block of the docs from the results; returns the pages changed."""
    changed = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        new = _BLOCK.sub(lambda m: m.group(1) + TABLES[m.group(2)]() + m.group(4) if m.group(2) in TABLES
                         else m.group(0), text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare the docs' tables with the report; exit 1 if any differs")
    parser.add_argument("--write", action="store_true", help="rewrite the docs' tables from the results")
    parser.add_argument("--table", choices=sorted(TABLES), default=None, help="print one table")
    args = parser.parse_args()
    if args.check:
        problems = check()
        print("\n".join(problems) if problems else "every docs table follows from benchmarks/results/")
        sys.exit(1 if problems else 0)
    if args.write:
        for page in write():
            print(f"rewrote {page.relative_to(ROOT)}")
        return
    for name in [args.table] if args.table else TABLES:
        print(f"<!-- report: {name} -->\n{TABLES[name]()}<!-- /report -->\n")


if __name__ == "__main__":
    main()
