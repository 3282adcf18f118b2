"""Record a finished DDPM dissolver run folder as one committed result line, and print its docs table.

A dissolver run folder (``train_dissolver`` / ``dia-augment train-dissolver``) is git-ignored; its
figures are kept here instead. :func:`record_run` reads the folder's ``run.json`` (the settings, the
data summary, the library version that trained it) and ``metrics.jsonl`` (every readiness check's
held-out loss, and the training time and images/s of the train lines) and
:func:`_record.append_line` adds them as one JSON line to ``--results``
(``benchmarks/results/dissolver_runs.jsonl``), with the SHA-256 of both files, the command that
trained the run (``--trained-by``, which the folder does not record) and :func:`_record.provenance`.
That provenance describes the *recording* (this script's command, commit and machine), not the
training: the training's own version is ``package_version``, its command ``trained_by``.

:data:`REPORT_TABLES` prints the docs' tables from the committed file (``benchmarks/report.py``).

    python benchmarks/dissolver_runs.py --run runs/settling/dissolvers/sarscov2_d0_ddpm32 \\
        --name sarscov2-ddpm32 --trained-by "OMP_NUM_THREADS=1 python benchmarks/settling.py --part sarscov2 --out runs/settling"
    python benchmarks/dissolver_runs.py --report sarscov2-ddpm32
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, ROOT, append_line, provenance, read_lines  # noqa: E402

RESULTS_FILE = RESULTS / "dissolver_runs.jsonl"
#: Columns of the held-out loss table: evenly spaced readiness checks, the first and the last included.
TABLE_CHECKS = 12
#: The readiness criterion of docs/training_dissolvers.md: the fall over the last this many checks.
LAST_CHECKS = 3


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _relative(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _holdout_size(config: dict[str, Any], num_images: int) -> int | None:
    """The number of held-out images, as the trainer computes it (``None`` if the settings no longer load)."""
    try:
        from dia_augment.train import DissolverTrainConfig

        return DissolverTrainConfig.from_dict(config).holdout_size(num_images)
    except Exception:  # settings of an older library version: leave the count out rather than guess
        return None


def record_run(run: Path, name: str, trained_by: str) -> dict[str, Any]:
    """The result line of the finished dissolver run folder ``run``."""
    run_json, metrics = run / "run.json", run / "metrics.jsonl"
    for path in (run_json, metrics):
        if not path.is_file():
            raise SystemExit(f"{path} does not exist: not a dissolver run folder")
    info = json.loads(run_json.read_text())
    if info.get("kind") != "dissolver":
        raise SystemExit(f"{run_json} is a {info.get('kind')!r} run, not a dissolver run")
    if not info.get("finished"):
        raise SystemExit(f"{run} has not finished (run.json: finished is {info.get('finished')!r})")
    lines = read_lines(metrics)
    evals = [r for r in lines if r.get("kind") == "eval"]
    trains = [r for r in lines if r.get("kind") == "train"]
    if not evals or not trains:
        raise SystemExit(f"{metrics} has {len(evals)} eval and {len(trains)} train lines: need both")
    config, data = info["config"], info["data"]
    last = trains[-1]
    speeds = [r["images_per_s"] for r in trains]
    return {
        "name": name,
        "run": _relative(run),
        "trained_by": trained_by,
        "package_version": info.get("package_version"),
        "finished": info["finished"],
        "steps": info["step"],
        "epochs": evals[-1]["epoch"],
        "images_seen": info["step"] * config["batch_size"],
        "config": config,
        "data": {**data, "holdout_images": _holdout_size(config, data["num_images"])},
        "eval": [{"step": r["step"], "epoch": r["epoch"], "holdout_loss": r["holdout_loss"],
                  "holdout_loss_raw": r["holdout_loss_raw"]} for r in evals],
        "train_elapsed_s": last["elapsed_s"],
        "train_images_per_s": {"last": last["images_per_s"], "median": statistics.median(speeds),
                               "min": min(speeds), "max": max(speeds), "lines": len(trains)},
        "train_loss_last": last["loss"],
        "files_sha256": {"run.json": _sha256(run_json), "metrics.jsonl": _sha256(metrics)},
        "provenance_of": "the recording by this script; the training: trained_by and package_version",
        **provenance(),
    }


def _write_lines(path: Path, records: list[dict[str, Any]]) -> None:
    """Replace ``path`` with ``records`` (written to a temporary file first, then moved into place)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.writelines(json.dumps(r, sort_keys=False) + "\n" for r in records)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------
# the docs table
def _spaced(n: int, k: int) -> list[int]:
    """``k`` evenly spaced indices of ``range(n)``, the first and the last included."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def report_run(records: list[dict[str, Any]], name: str) -> str:
    """The held-out loss of run ``name`` at evenly spaced checks, then its length, time and readiness."""
    rows = [r for r in records if r["name"] == name]
    if not rows:
        return f"no dissolver run named {name!r} is recorded yet\n"
    r = rows[-1]
    evals = r["eval"]
    shown = [evals[i] for i in _spaced(len(evals), TABLE_CHECKS)]
    out = ["| step | " + " | ".join(str(e["step"]) for e in shown) + " |",
           "| --- " * (len(shown) + 1) + "|",
           "| held-out loss, EMA | " + " | ".join(f"{e['holdout_loss']:.4f}" for e in shown) + " |",
           "| held-out loss, raw | " + " | ".join(f"{e['holdout_loss_raw']:.4f}" for e in shown) + " |",
           ""]
    speed = r["train_images_per_s"]
    out.append(f"{r['steps']} steps, {r['epochs']} full epochs, {r['images_seen']:,} images seen; "
               f"{r['train_elapsed_s'] / 60:.1f} minutes of training steps (checks and checkpoints not counted), "
               f"median {speed['median']:.1f} images/s over {speed['lines']} logged intervals "
               f"({speed['min']:.1f} to {speed['max']:.1f}).")
    if len(evals) > LAST_CHECKS:
        a, b = evals[-LAST_CHECKS - 1], evals[-1]
        fall = 100 * (a["holdout_loss"] - b["holdout_loss"]) / a["holdout_loss"]
        out.append("")
        out.append(f"Readiness: over the last {LAST_CHECKS} checks (step {a['step']} to {b['step']}) the held-out "
                   f"EMA loss fell by {fall:.2f} % ({a['holdout_loss']:.4f} to {b['holdout_loss']:.4f}); "
                   f"at the last check EMA minus raw is {b['holdout_loss'] - b['holdout_loss_raw']:+.4f}.")
    return "\n".join(out) + "\n"


#: The docs tables of the committed dissolver runs (printed by ``benchmarks/report.py``).
REPORT_TABLES = {
    "dissolver-sarscov2": lambda: report_run(read_lines(RESULTS_FILE), "sarscov2-ddpm32"),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a finished dissolver run folder (run.json, metrics.jsonl)")
    parser.add_argument("--name", help="the run's name in the results (one line per name)")
    parser.add_argument("--trained-by", help="the command that trained the run (the folder does not record it)")
    parser.add_argument("--replace", action="store_true", help="replace the line of a name already recorded")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="the JSON-lines results file")
    parser.add_argument("--report", metavar="NAME", help="print the table of a recorded run and exit")
    args = parser.parse_args(argv)
    if args.report:
        print(report_run(read_lines(args.results), args.report), end="")
        return
    missing = [f"--{k.replace('_', '-')}" for k in ("run", "name", "trained_by") if not getattr(args, k)]
    if missing:
        parser.error("give " + ", ".join(missing) + " (or --report NAME)")
    existing = read_lines(args.results)
    if any(r["name"] == args.name for r in existing) and not args.replace:
        sys.exit(f"{args.results} already holds a run named {args.name!r}: pass --replace to record it again")
    record = record_run(args.run, args.name, args.trained_by)
    if args.replace:
        _write_lines(args.results, [r for r in existing if r["name"] != args.name] + [record])
    else:
        append_line(args.results, record)
    print(f"recorded {args.name} ({record['steps']} steps, {len(record['eval'])} checks) in {_relative(args.results)}")
    print(report_run([record], args.name), end="")


if __name__ == "__main__":
    main()
