"""The one scorer beside the two scorers it replaced, on the same trained models.

Before version 0.1.0's scorer unification the library had two scorers that disagreed:
``CSIScorer`` (``dia-augment score``: random test-time samples per image, colour jitter and
grayscale included) and ``AnomalyDetector`` (``train``, ``predict``: fixed views, no colour). The
one scorer now is ``AnomalyDetector`` with CSI's evaluation protocol as fixed views (flip per view
and shift, crop area 0.54, the training's jitter and grayscale). This script scores the same
trained models with whichever scorers the installed package has, and appends one JSON line per
(model, scorer) to ``benchmarks/results/scorers.jsonl``:

- with the current package: ``one scorer``;
- with the package of commit d56844a (the last with both old scorers) on ``PYTHONPATH``:
  ``CSIScorer (random samples)`` and ``AnomalyDetector (fixed views, no colour)``.

Every scorer uses T = 10 and crop area 0.54, fitted on all the model's training images (the
models of the settling experiment's CSI cells held none out), seeded with the model's seed, in
float32. The one scorer on these models is exactly what the settling experiment computed for its
``csi`` cells (``settling.score_cell``: the same data, settings and seed), so the report takes its
AUROC from ``benchmarks/results/settling.jsonl`` where this file has no line of its own.

    git worktree add /tmp/dia_old d56844a
    PYTHONPATH=/tmp/dia_old python benchmarks/compare_scorers.py --runs runs/settling/cells/sarscov2_csi_0_{0,1,2}
    python benchmarks/compare_scorers.py --report
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, append_line, provenance, read_lines  # noqa: E402

RESULTS_FILE = RESULTS / "scorers.jsonl"
DATA = f"sarscov2:{Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'sarscov2-ct'}"
ONE = "one scorer"
OLD = ("CSIScorer (random samples)", "AnomalyDetector (fixed views, no colour)")


def _scores(model: Any, config: Any, train: Any, test: Any) -> dict[str, float]:
    """AUROC of every scorer the installed package has (normal = non-COVID, the same number either sign)."""
    import dia_augment.score as score

    seed, size = config.seed, config.image_size
    if hasattr(score, "CSIScorer"):  # the package before the unification
        from dia_augment.detect import AnomalyDetector

        csi = score.CSIScorer(model, num_samples=10, resize_factor=0.54, image_size=size, seed=seed, progress=False)
        csi.fit(train.images)
        method, _ = csi.resolve_method("csi")
        normality = csi.score(test.images, method=method)
        detector = AnomalyDetector.fit(model, train.images, num_views=10, image_size=size, seed=seed,
                                       shift=config.shift, progress=False)
        return {OLD[0]: score.auroc(normality, test.labels), OLD[1]: score.auroc(-detector.score(test.images), test.labels)}
    from dia_augment.detect import AnomalyDetector

    detector = AnomalyDetector.fit(model, train.images, config=score.ScoreConfig(num_views=10, seed=seed, mixed_precision="no"),
                                   shift=config.shift, augmentation=config.augmentation, image_size=size,
                                   mode=config.mode, progress=False)
    return {ONE: score.auroc(detector.score(test.images), test.labels)}


def _load(folder: Path) -> tuple[Any, Any]:
    """The run's model and config; under the old package, a config that this version rewrote
    (reloading a finished run writes its config.json with today's fields) is read without the
    fields the old package lacks, which hold their defaults in these runs."""
    import dataclasses
    import json

    from dia_augment.errors import CheckpointError
    from dia_augment.models import build_model
    from dia_augment.train import TrainConfig, load_model
    from safetensors.torch import load_file

    try:
        return load_model(folder)
    except CheckpointError as err:
        if "unknown TrainConfig fields" not in str(err):
            raise
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    recorded = json.loads((folder / "config.json").read_text())
    config = TrainConfig.from_dict({k: v for k, v in recorded.items() if k in known})
    model = build_model(config.model, config.in_channels or 3, config.width, config.num_shifts, config.proj_dim)
    model.load_state_dict(load_file(folder / "model.safetensors"))
    return model.eval(), config


def run(runs: list[Path], results: Path) -> None:
    from dia_augment.data import load_one_class

    cache: dict[int, tuple[Any, Any]] = {}
    for folder in runs:
        model, config = _load(folder)
        if config.image_size not in cache:
            # the package before the rename called the loading size image_size
            size = "load_size" if "load_size" in inspect.signature(load_one_class).parameters else "image_size"
            cache[config.image_size] = tuple(load_one_class(DATA, split, seed=0, **{size: config.image_size})
                                             for split in ("train", "test"))
        train, test = cache[config.image_size]
        started = time.perf_counter()
        for scorer, auroc in _scores(model.eval(), config, train, test).items():
            append_line(results, {"run": folder.name, "seed": config.seed, "mode": config.mode, "scorer": scorer,
                                  "auroc": auroc, "num_views": 10, "resize_factor": 0.54,
                                  "wall_s": round(time.perf_counter() - started, 1), **provenance()})
            print(f"{folder.name}: {scorer}: AUROC {auroc:.4f}", flush=True)


def settling_one_scorer(settling: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The one scorer's AUROC on the settling experiment's SARS-CoV-2 ``csi`` models, as lines of this comparison."""
    return [{"run": f"sarscov2_csi_{r['data_seed']}_{r['seed']}", "seed": r["seed"], "scorer": ONE, "auroc": r["auroc"]}
            for r in settling if r["part"] == "sarscov2" and r["method"] == "csi"]


def report(records: list[dict[str, Any]], settling: list[dict[str, Any]] = ()) -> str:
    """AUROC per scorer over the models, and each old scorer's paired difference to the one scorer.

    ``settling``: the settling experiment's lines, whose ``csi`` cells give the one scorer's AUROC
    of a model that ``records`` has no one-scorer line for. Only the models an old scorer scored are
    shown, so every row describes the same models.
    """
    from stats import compare, format_contrasts

    by = {}
    for r in [*settling_one_scorer(list(settling)), *records]:
        by.setdefault(r["scorer"], {})[r["run"]] = r["auroc"]
    if set(by) == {ONE}:
        return "no old scorer has scored these models yet\n"
    compared = set().union(*(by.get(scorer, {}) for scorer in OLD))  # the same models for every row
    by[ONE] = {run: auroc for run, auroc in by.get(ONE, {}).items() if run in compared}
    lines = ["| scorer | n | AUROC mean +- std | per model |", "| --- | --- | --- | --- |"]
    for scorer in (ONE, *OLD):
        values = by.get(scorer, {})
        if values:
            runs = sorted(values)
            spread = f" +- {statistics.stdev(values.values()):.3f}" if len(values) > 1 else ""
            lines.append(f"| {scorer} | {len(values)} | {statistics.fmean(values.values()):.3f}{spread} | "
                         f"{' / '.join(f'{values[k]:.3f}' for k in runs)} |")
    pairs = {}
    for scorer in OLD:
        common = sorted(set(by.get(ONE, {})) & set(by.get(scorer, {})))
        if len(common) >= 2:
            pairs[f"{ONE} - {scorer}"] = ([by[ONE][k] for k in common], [by[scorer][k] for k in common])
    text = "\n".join(lines) + "\n"
    if pairs:
        text += "\n" + format_contrasts(compare(pairs)) + "\n"
    return text


#: The docs table of this comparison's committed results (printed by ``benchmarks/report.py``).
REPORT_TABLES = {"scorers": lambda: report(read_lines(RESULTS / "scorers.jsonl"), read_lines(RESULTS / "settling.jsonl"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", default=[], help="trained run folders (dia-augment train)")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE)
    parser.add_argument("--report", action="store_true", help="print the comparison of the results")
    args = parser.parse_args()
    if args.report:
        print(report(read_lines(args.results), read_lines(RESULTS / "settling.jsonl")))
        return
    if not args.runs:
        parser.error("give --runs or --report")
    run(args.runs, args.results)


if __name__ == "__main__":
    main()
