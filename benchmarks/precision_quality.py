"""The main job (``examples/train_csi.py``) in float32 and in its ``auto`` default, paired by seed.

Runs the example with ``--mixed-precision no`` and ``--mixed-precision auto`` (bf16 with channels_last
on a CPU with bf16 units) for each seed, and appends one JSON line per run to
``benchmarks/results/precision_quality.jsonl``: the test AUROC, the precision ``auto`` became, the
wall time of each stage, the thread count and the load average while it ran (the wall times are
comparable only within one machine and load). ``--report`` prints the paired comparison.

    OMP_NUM_THREADS=1 python benchmarks/precision_quality.py --seeds 0 1 2 --out runs/precision
    python benchmarks/precision_quality.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))
from _record import RESULTS, append_line, provenance, read_lines  # noqa: E402

RESULTS_FILE = RESULTS / "precision_quality.jsonl"
PRECISIONS = ("no", "auto")


def run(seeds: list[int], out: Path, results: Path) -> None:
    import train_csi

    done = {(r["precision"], r["seed"]) for r in read_lines(results)}
    for seed in seeds:
        for precision in PRECISIONS:
            if (precision, seed) in done:
                continue
            folder = out / f"{precision}_s{seed}"
            record = train_csi.main(["--mixed-precision", precision, "--seed", str(seed), "--out", str(folder),
                                     "--overwrite", "--no-progress"])
            run_record = json.loads((folder / "model" / "run.json").read_text())
            append_line(results, {"precision": precision, "precision_used": run_record["mixed_precision_used"],
                                  "seed": seed, "auroc": record["metrics"]["auroc"], "timings": record["timings"],
                                  "load_average": os.getloadavg(), "example_defaults": True, **provenance()})


def report(records: list[dict[str, Any]]) -> str:
    """AUROC and total wall time per precision, and the paired difference auto - fp32."""
    from stats import compare, format_contrasts

    by = {p: {r["seed"]: r for r in records if r["precision"] == p} for p in PRECISIONS}
    lines = ["| precision | used | n | AUROC mean +- std | per seed | total minutes (mean) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for p in PRECISIONS:
        rows = by[p]
        if not rows:
            continue
        aurocs = [rows[s]["auroc"] for s in sorted(rows)]
        spread = f" +- {statistics.stdev(aurocs):.3f}" if len(aurocs) > 1 else ""
        used = "/".join(sorted({r["precision_used"] for r in rows.values()}))
        minutes = statistics.fmean(r["timings"]["total_s"] for r in rows.values()) / 60
        lines.append(f"| {p} | {used} | {len(rows)} | {statistics.fmean(aurocs):.3f}{spread} | "
                     f"{' / '.join(f'{a:.3f}' for a in aurocs)} | {minutes:.1f} |")
    text = "\n".join(lines) + "\n"
    common = sorted(set(by["no"]) & set(by["auto"]))
    if len(common) >= 2:
        pairs = {"auto - fp32": ([by["auto"][s]["auroc"] for s in common], [by["no"][s]["auroc"] for s in common])}
        text += "\n" + format_contrasts(compare(pairs)) + "\n"
        ratio = [by["no"][s]["timings"]["total_s"] / by["auto"][s]["timings"]["total_s"] for s in common]
        text += f"\nfp32 / auto wall time, per seed: {' / '.join(f'{r:.2f}' for r in ratio)}\n"
    return text


def main_job_table(records: list[dict[str, Any]]) -> str:
    """The example at its defaults (``auto``): AUROC over the seeds, and the wall time with the machine's load."""
    rows = sorted((r for r in records if r["precision"] == "auto"), key=lambda r: r["seed"])
    if not rows:
        return "not run yet\n"
    aurocs = [r["auroc"] for r in rows]
    spread = f" +- {statistics.stdev(aurocs):.3f}" if len(aurocs) > 1 else ""
    minutes = [r["timings"]["total_s"] / 60 for r in rows]
    load = statistics.fmean(r["load_average"][0] for r in rows)
    return ("| `python examples/train_csi.py` | seeds | AUROC mean +- std | per seed | minutes per run | load average |\n"
            "| --- | --- | --- | --- | --- | --- |\n"
            f"| defaults (precision auto: {'/'.join(sorted({r['precision_used'] for r in rows}))}) | "
            f"{' '.join(str(r['seed']) for r in rows)} | {statistics.fmean(aurocs):.3f}{spread} | "
            f"{' / '.join(f'{a:.3f}' for a in aurocs)} | {min(minutes):.1f}-{max(minutes):.1f} | {load:.1f} |\n\n"
            f"{rows[0]['device']}, {rows[0]['threads']} thread(s); the load average is the 1-minute load of the "
            f"2-core machine when each run ended (other jobs ran beside it).\n")


#: The docs tables of this comparison's committed results (printed by ``benchmarks/report.py``).
REPORT_TABLES = {
    "precision-quality": lambda: report(read_lines(RESULTS / "precision_quality.jsonl")),
    "main-job": lambda: main_job_table(read_lines(RESULTS / "precision_quality.jsonl")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/precision"))
    parser.add_argument("--results", type=Path, default=RESULTS_FILE)
    parser.add_argument("--report", action="store_true", help="print the comparison of the results")
    args = parser.parse_args()
    if args.report:
        print(report(read_lines(args.results)))
        return
    run(args.seeds, args.out, args.results)


if __name__ == "__main__":
    main()
