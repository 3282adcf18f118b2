"""Does a patient-drawn threshold's stated false-alarm interval hold on new patients? (SARS-CoV-2 CT)

The data set's files carry no patient ID, so patients are synthetic: every 5 consecutive files of
a class (in name order) are one "patient" (consecutive files are likely, not certainly, slices of
one scan). A manifest with that ``group`` column makes every split patient-safe: the seeded
train / test split and the calibration hold-out (20 % of the training patients) keep each patient
on one side. For each seed (which is also the data seed: other patients in each split) the
script trains CSI at the ``cpu`` budget with ``dia-augment train`` (which builds the detector and
calibrates its threshold at 95 % of the hold-out's normal slices, drawn by patient) and scores the
test split with ``dia-augment score``. One JSON line per seed in
``benchmarks/results/calibration_check.jsonl``: the interval the detector states for new normal
slices, the false-alarm rate it had on the test split's normal slices (patients it never saw) and
whether the interval holds it, the same at the patient level, and the AUROCs.

    OMP_NUM_THREADS=1 python benchmarks/calibration_check.py --seeds 0 1 2 --out runs/calibration_check
    python benchmarks/calibration_check.py --report
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, append_line, provenance, read_lines  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sarscov2-ct"
RESULTS_FILE = RESULTS / "calibration_check.jsonl"
SLICES_PER_PATIENT = 5
#: The ``cpu`` budget of the settling experiment's part 1, in CSI mode, bf16 training as there (the threshold's
#: statement depends on neither the method nor the precision, only on how the hold-out was drawn).
TRAIN_OPTIONS = ("--mode", "csi", "--model", "resnet18", "--width", "16", "--image-size", "48", "--load-size", "48",
                 "--epochs", "5", "--batch-size", "32", "--channels", "1", "--calibration-fraction", "0.2",
                 "--mixed-precision", "bf16", "--no-progress")


def write_manifest(data: Path, path: Path) -> int:
    """``path,label,group`` for every PNG of ``data``'s class folders, 5 consecutive files a patient; returns the rows."""
    rows = []
    for label in sorted(p.name for p in data.iterdir() if p.is_dir()):
        for i, file in enumerate(sorted((data / label).glob("*.png"))):
            rows.append((str(file), label, f"{label}-{i // SLICES_PER_PATIENT:04d}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "group"])
        writer.writerows(rows)
    return len(rows)


def run_seed(seed: int, manifest: Path, out: Path) -> dict[str, Any]:
    """Train, calibrate and score one seed with the command line; the figures of its result line."""
    from dia_augment.cli import main as cli

    run = out / f"seed{seed}"
    data = ["--data", f"manifest:{manifest}", "--normal-class", "non-COVID"]
    started = time.perf_counter()
    cli(["train", *data, *TRAIN_OPTIONS, "--seed", str(seed), "--data-seed", str(seed), "--out", str(run), "--overwrite"])
    train_s = time.perf_counter() - started
    cli(["score", "--checkpoint", str(run), "--out", str(run / "eval"), "--no-progress"])
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    detector = json.loads((run / "detector" / "config.json").read_text())
    threshold = detector["threshold"]
    low, high = threshold["new_false_alarm_interval"]
    observed = metrics["threshold_false_alarm_rate"]
    record = {
        "seed": seed, "data_seed": seed, "precision": TRAIN_OPTIONS[TRAIN_OPTIONS.index("--mixed-precision") + 1], "slices_per_patient": SLICES_PER_PATIENT,
        "calibration_normals": threshold["num_normal"], "calibration_patients": threshold["num_groups"],
        "design_effect": threshold["design_effect"], "calibration_false_alarm_rate": threshold["false_alarm_rate"],
        "stated_interval": [low, high], "test_false_alarm_rate": observed, "within": low <= observed <= high,
        "test_normals": metrics.get("num_normal"), "auroc": metrics["auroc"],
        "train_s": round(train_s, 1), "total_s": round(time.perf_counter() - started, 1),
    }
    group = metrics.get("group")
    if group and "threshold_false_alarm_rate" in group:
        record["patient_auroc"] = group.get("auroc")
        record["patient_test_false_alarm_rate"] = group["threshold_false_alarm_rate"]
        calibration = detector.get("group_calibration") or {}
        stated = next(iter(calibration.get("thresholds", {}).values()), {}).get("new_false_alarm_interval")
        if stated is not None:
            record["patient_stated_interval"] = stated
            record["patient_within"] = stated[0] <= group["threshold_false_alarm_rate"] <= stated[1]
    return record


def report(records: list[dict[str, Any]]) -> str:
    """One row per seed: the stated interval, the false-alarm rate on new patients, whether it holds."""
    if not records:
        return "not run yet\n"
    lines = ["| seed | calibration: normal slices / patients | design effect | stated 95 % interval, new slices | "
             "false-alarm rate on the test split's normal slices | within | slice AUROC |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(records, key=lambda r: r["seed"]):
        low, high = r["stated_interval"]
        lines.append(f"| {r['seed']} | {r['calibration_normals']} / {r['calibration_patients']} | {r['design_effect']:.2f} | "
                     f"{low:.1%}-{high:.1%} | {r['test_false_alarm_rate']:.1%} of {r['test_normals']} | "
                     f"{'yes' if r['within'] else 'no'} | {r['auroc']:.3f} |")
    held = sum(r["within"] for r in records)
    first = records[0]
    lines += ["", f"The interval held the false-alarm rate on new patients in {held} of {len(records)} seeds. "
                  f"{first['device']}, `{first['command']}` at {first['commit'][:7]}."]
    return "\n".join(lines) + "\n"


#: The docs table of this check's committed results (printed by ``benchmarks/report.py``).
REPORT_TABLES = {"calibration-check": lambda: report(read_lines(RESULTS_FILE))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/calibration_check"))
    parser.add_argument("--data", type=Path, default=DATA, help="the SARS-CoV-2 CT folder (COVID/, non-COVID/)")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE)
    parser.add_argument("--report", action="store_true", help="print the table of the results")
    args = parser.parse_args()
    if args.report:
        print(report(read_lines(args.results)), end="")
        return
    if not args.data.is_dir():
        sys.exit(f"the SARS-CoV-2 data is not at {args.data}: see shared/data/README.md")
    manifest = args.out / "manifest.csv"
    print(f"{write_manifest(args.data, manifest)} files -> {manifest}")
    done = {r["seed"] for r in read_lines(args.results)}
    for seed in args.seeds:
        if seed in done:
            continue
        record = run_seed(seed, manifest, args.out)
        append_line(args.results, {**record, **provenance()})
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
