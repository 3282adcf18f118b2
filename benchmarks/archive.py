"""Tables published by earlier versions, kept as data so that their readings can be recomputed.

These tables were made by earlier versions of this library with commands that ran then; the raw
result lines were not kept, and the code that made them has since changed (the loss defaults,
the scorer, the test-time views), so this version cannot rerun them. What the pages published is
transcribed under ``benchmarks/results/archive/``: per-seed AUROCs where a page gave them, the
mean and standard deviation of the per-seed differences where it gave only those. Each line
names the page and commit it was transcribed from and the command that made it.

The functions here recompute, from those lines, the statistics the pages' readings needed and
did not give: each difference to CSI paired by seed with its 95 % interval, the paired t-test,
and the Holm correction over the comparisons of the table (with Benjamini-Hochberg beside it for
the fine-grainedness grid's 48 conditions), and the correlation of gain and erasure pooled and
within each condition. ``python benchmarks/report.py --table archive-finegrained`` prints one.

The measured tables of the other pages (speed, memory, MACs, import times, ...) whose raw data
were not kept are transcribed as published, one JSON line per table, in
``benchmarks/results/archive/tables.jsonl`` (``table``, ``page``, ``section``, ``columns``,
``rows``, optional ``align``, ``source``, ``made_by``, ``machine``, ``raw_kept``);
:func:`transcribed_table` prints one back, with a line saying where and on what it was measured.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stats  # noqa: E402
from _record import RESULTS, read_lines  # noqa: E402

ARCHIVE = RESULTS / "archive"
#: The transcribed tables, one JSON line each.
TABLES_FILE = ARCHIVE / "tables.jsonl"


def _source(records: Sequence[dict[str, Any]]) -> str:
    first = records[0]
    return (f"Transcribed from {first['source'][:first['source'].index(' at ') + 12]} (raw lines not kept); "
            f"made by {first['made_by']}; scored by the {first['scorer']}.")


def _by_seed(records: Sequence[dict[str, Any]], **where: Any) -> list[float]:
    rows = sorted((r for r in records if all(r.get(k) == v for k, v in where.items())), key=lambda r: r["seed"])
    return [r["auroc"] for r in rows]


def fidelity_table(records: Sequence[dict[str, Any]]) -> str:
    """The SARS-CoV-2 rerun with the reference's loss: each method against CSI of its precision, Holm over the table."""
    pairs = {}
    for method, precision in dict.fromkeys((r["method"], r["precision"]) for r in records):
        if method != "csi":
            pairs[f"{method} ({precision}) - csi ({precision})"] = (
                _by_seed(records, method=method, precision=precision), _by_seed(records, method="csi", precision=precision))
    return stats.format_contrasts(stats.compare(pairs)) + "\n\n" + _source(records) + "\n"


def reproduce_table(records: Sequence[dict[str, Any]]) -> str:
    """The 0.1 grid on real data: each method against CSI of its data set and shift, Holm over the table."""
    pairs = {}
    for dataset, shift, method in dict.fromkeys((r["dataset"], r["shift"], r["method"]) for r in records):
        if method != "csi":
            pairs[f"{dataset}, {shift}: {method} - csi"] = (
                _by_seed(records, dataset=dataset, shift=shift, method=method),
                _by_seed(records, dataset=dataset, shift=shift, method="csi"))
    return stats.format_contrasts(stats.compare(pairs)) + "\n\n" + _source(records) + "\n"


def finegrained_table(records: Sequence[dict[str, Any]]) -> str:
    """The fine-grainedness grid: 48 differences to CSI from their summaries, Holm and BH over all 48;
    the correlation of the difference with the dissolver's erasure, pooled and within each condition."""
    rows = [{**r, **stats.summary_difference(r["diff_mean"], r["diff_std"], r["n"])} for r in records]
    for row, p_holm, q in zip(rows, stats.holm([r["p"] for r in rows]), stats.benjamini_hochberg([r["p"] for r in rows])):
        row["p_holm"], row["q_bh"] = p_holm, q
    lines = ["| method | ratio | contrast / size | CSI | difference to CSI | 95 % CI | p | p (Holm, 48) | q (BH, 48) | reading |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(rows, key=lambda r: r["p"]):
        lines.append(f"| {r['method']} | {r['ratio']} | {r['contrast']} / {r['size']} | {r['csi_mean']:.3f} | "
                     f"{r['mean']:+.3f} ± {r['std']:.3f} | [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] | {r['p']:.3f} | "
                     f"{r['p_holm']:.3f} | {r['q_bh']:.3f} | {stats.verdict(r)} |")
    strata = [f"{r['contrast']} / {r['size']}" for r in rows]
    corr = stats.stratified_correlation([r["erasure"] for r in rows], [r["mean"] for r in rows], strata)
    within = "; ".join(f"{label} {c['coefficient']:+.2f}" for label, c in corr["strata"].items())
    positive = sum(c["coefficient"] > 0 for c in corr["strata"].values())
    lines += ["", f"Pearson correlation of the difference to CSI with the dissolver's erasure of the condition's lesions: "
                  f"pooled over the {corr['n']} conditions {corr['coefficient']:+.2f} (p = {corr['p']:.2f}); within each "
                  f"contrast / size ({len(corr['strata'])} strata of 8 dissolvers, positive in {positive}): {within}.",
              "", _source(records)]
    return "\n".join(lines) + "\n"


_SEPARATOR = {"": "---", "left": ":---", "right": "---:", "center": ":---:"}


def _markdown_row(cells: Sequence[str]) -> str:
    return "|" + "".join(f" {cell} |" if cell else " |" for cell in cells)


def transcribed_table(record: Mapping[str, Any]) -> str:
    """A transcribed table as its page printed it (header, separator, rows), and where it was measured."""
    columns, rows = record["columns"], record["rows"]
    align = record.get("align") or [""] * len(columns)
    if len(align) != len(columns) or any(len(row) != len(columns) for row in rows):
        raise ValueError(f"archived table {record['table']!r}: a row or the alignment is not as wide as the header")
    page, commit = record["source"].split(" at ")
    lines = [_markdown_row(columns), _markdown_row([_SEPARATOR[a] for a in align]), *map(_markdown_row, rows),
             "", f"Measured by an earlier version ({page} at {commit[:8]}) on {record['machine']}; raw results not "
                 f"kept, transcribed in benchmarks/results/archive/tables.jsonl."]
    return "\n".join(lines) + "\n"


def transcribed_tables(path: Path = TABLES_FILE) -> dict[str, Callable[[], str]]:
    """Table name -> the function printing it, for every line of ``path``; a name given twice is an error."""
    tables: dict[str, Callable[[], str]] = {}
    for record in read_lines(path):
        if record["table"] in tables:
            raise ValueError(f"archived table {record['table']!r} is given twice in {path.name}")
        tables[record["table"]] = lambda record=record: transcribed_table(record)
    return tables


#: The docs tables of the archived results (printed by ``benchmarks/report.py``).
REPORT_TABLES = {
    "archive-fidelity": lambda: fidelity_table(read_lines(ARCHIVE / "fidelity_rerun.jsonl")),
    "archive-reproduce": lambda: reproduce_table(read_lines(ARCHIVE / "reproduce_v01.jsonl")),
    "archive-finegrained": lambda: finegrained_table(read_lines(ARCHIVE / "finegrained.jsonl")),
}
for _name, _make in transcribed_tables().items():
    if _name in REPORT_TABLES:
        raise ValueError(f"archived table {_name!r} is defined twice")
    REPORT_TABLES[_name] = _make
