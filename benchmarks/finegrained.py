"""A controlled fine-grainedness study on the embedded set: where does dissolving amplify?

Factors of a cell:
    method     csi (no dissolving), dia-ddpm, dia-gaussian, resize (down to the dissolver's
               resolution and back, no model)
    size       the lesions' standard deviation in pixels (``--sizes``; SIZES below)
    contrast   the lesions' opacity (``--contrasts``; CONTRASTS below)
    ratio      the input's side over the dissolver's: 1 (no resize: the model alone), 2, 4.
               csi has none; resize needs a ratio above 1
    seed       the model's initialisation, the augmentations and the test-time samples; the
               images are the same for every seed (data seed 0)

The normal images do not depend on the lesion options, so one DDPM dissolver per resolution
(trained once on the normal training images, seed 0, and cached in ``OUT/dissolvers``) serves
every cell. Each cell trains one model, scores the test set (no setting or checkpoint chosen on
test labels) and also probes its dissolver (:mod:`dia_augment.probe`) on the test set's own
twins at ``t`` = 30, 60, 99 (the training range), so that the AUROC can be held against how much
of *those* lesions the dissolve erases. One JSON line per cell in ``OUT/results.jsonl``; a
finished cell is skipped, so the script can be stopped and started again.

Budgets (``--budget``):
    cpu    the example's defaults: 32 px input, ResNet-18 width 16, 15 epochs, batch 32, crop
           scale (0.5, 1), 10 test-time samples; 600 normal training images, 200 + 200 test
           images; DDPM tiny preset, 1000 steps. About 4-7 minutes a cell on an idle 2-core CPU.
    mini   the same at 6 epochs, 300 training images, 100 + 100 test images, 4 test-time
           samples: about 1-2 minutes a cell on an idle CPU. A check of the pipeline only: at this
           budget the models stay at chance (measured: CSI 0.50 and 0.51, DIA-DDPM 0.45), so it
           cannot compare methods.

Precision (``--precision``): ``fp32`` (default) or ``bf16`` (the training step under bf16 autocast
with channels_last, about 2x faster on a CPU with bf16 units; scoring and probing stay fp32). It is
part of a cell: the report gives each precision its own rows (budget ``cpu-bf16``).

Run (background, resumable), then report:

    nice -n 10 python benchmarks/finegrained.py --out runs/finegrained --budget cpu --seeds 0 1 2
    python benchmarks/finegrained.py --out runs/finegrained --report --plot docs/images/evidence_finegrained.png
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from dia_augment.errors import ConfigError

METHODS = ("csi", "dia-ddpm", "dia-gaussian", "resize")
#: Lesion sizes: the range of the Gaussian's standard deviation in pixels.
SIZES = {"subpixel": (0.3, 0.45), "small": (0.6, 1.1), "large": (1.5, 2.5)}
#: Lesion contrasts: the range of the lesions' opacity.
CONTRASTS = {"low": (0.25, 0.4), "high": (0.6, 0.9)}
RATIOS = (1, 2, 4)
BUDGETS = {
    "cpu": {"image_size": 32, "width": 16, "epochs": 15, "batch_size": 32, "lr": 0.1, "crop_min": 0.5,
            "num_samples": 10, "num_train": 600, "num_test": 200, "ddpm_steps": 1000},
    "mini": {"image_size": 32, "width": 16, "epochs": 6, "batch_size": 32, "lr": 0.1, "crop_min": 0.5,
             "num_samples": 4, "num_train": 300, "num_test": 100, "ddpm_steps": 1000},
}
PROBE_STEPS = (30, 60, 99)
PRECISIONS = {"fp32": {}, "bf16": {"mixed_precision": "bf16", "channels_last": True}}
_KEY = ("budget", "precision", "method", "size", "contrast", "ratio", "seed")


# ------------------------------------------------------------------------------------------------
# the grid
def cells(methods, sizes, contrasts, ratios, seeds) -> list[dict[str, Any]]:
    """Every cell of the grid, seeds innermost-last so that a partial run covers every condition early."""
    out = []
    for seed, size, contrast, method in itertools.product(seeds, sizes, contrasts, methods):
        for ratio in ([None] if method == "csi" else [r for r in ratios if not (method == "resize" and r == 1)]):
            out.append({"method": method, "size": size, "contrast": contrast, "ratio": ratio, "seed": seed})
    return out


def cell_key(record: dict[str, Any]) -> tuple:
    return tuple(record.get(k, "fp32" if k == "precision" else None) for k in _KEY)


def budget_label(record: dict[str, Any]) -> str:
    """The budget, with the precision when it is not fp32 (``"cpu-bf16"``)."""
    precision = record.get("precision", "fp32")
    return record["budget"] if precision == "fp32" else f"{record['budget']}-{precision}"


def read_results(path: Path) -> list[dict[str, Any]]:
    """The records of a results file (none if it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------
# the library calls, in one place each (the train API's names may change)
def train_ddpm(images: torch.Tensor, resolution: int, steps: int, out: Path) -> Any:
    """A DDPM dissolver trained on the normal images (seed 0), reused when ``out`` holds a finished one."""
    from dia_augment.filters import DDPMDissolving
    from dia_augment.train import DissolverTrainConfig, train_dissolver

    if (out / "dissolver").is_dir():
        return DDPMDissolving.from_pretrained(out / "dissolver")
    config = DissolverTrainConfig(resolution=resolution, preset="tiny", train_steps=steps,
                                  checkpoint_every=max(steps // 4, 1), seed=0, progress=True)
    return train_dissolver(config, images, out, resume=True)


def train_and_score(method: str, dissolver: Any, train: torch.Tensor, test: torch.Tensor, labels: torch.Tensor,
                    budget: dict[str, Any], seed: int, out: Path, precision: str = "fp32") -> dict[str, Any]:
    """Train a model in CSI or DIA mode and return its test AUROC and score method."""
    from dia_augment.detect import AnomalyDetector
    from dia_augment.score import ScoreConfig
    from dia_augment.score.metrics import auroc
    from dia_augment.train import TrainConfig, train_model

    config = TrainConfig(mode="csi" if method == "csi" else "dia", width=budget["width"], image_size=budget["image_size"],
                         epochs=budget["epochs"], batch_size=budget["batch_size"], lr=budget["lr"],
                         crop_scale=(budget["crop_min"], 1.0), seed=seed, progress=True, **PRECISIONS[precision])
    model = train_model(config, train, dissolver=dissolver, out_dir=out, resume=True)
    detector = AnomalyDetector.fit(model, train, config=ScoreConfig(num_views=budget["num_samples"], seed=seed),
                                   progress=False)
    return {"auroc": auroc(detector.score(test), labels), "score_method": detector.method}


def cell_dissolver(cell: dict[str, Any], budget: dict[str, Any], ddpms: dict[int, Any]) -> tuple[Any, int | None]:
    """The cell's dissolver and its working resolution (``None`` for csi)."""
    from dia_augment.filters import GaussianDissolving, ResizeDissolving

    if cell["method"] == "csi":
        return None, None
    resolution = budget["image_size"] // cell["ratio"]
    if cell["method"] == "dia-ddpm":
        return ddpms[resolution], resolution
    if cell["method"] == "dia-gaussian":
        return GaussianDissolving(resolution=None if cell["ratio"] == 1 else resolution), resolution
    return ResizeDissolving(resolution), resolution


def probe_cell(dissolver: Any, twins: tuple[torch.Tensor, ...]) -> dict[str, float]:
    """Mean lesion erasure and anatomy change over the training step range, on the cell's own twins."""
    from dia_augment.probe import probe_dissolver

    if dissolver is None:
        return {}
    rows = probe_dissolver(dissolver, *twins, steps=PROBE_STEPS, progress=False)
    return {"probe_erasure": statistics.fmean(r["erasure"] for r in rows),
            "probe_erasure_in_lesions": statistics.fmean(r["erasure_in_lesions"] for r in rows),
            "probe_change_mae": statistics.fmean(r["change_mae"] for r in rows)}


def run(args: argparse.Namespace) -> None:
    from dia_augment.data import make_embedded_anomalies, make_embedded_dataset

    budget = BUDGETS[args.budget]
    size = budget["image_size"]
    results = args.out / "results.jsonl"
    done = {cell_key(r) for r in read_results(results)}
    todo = [c for c in cells(args.methods, args.sizes, args.contrasts, args.ratios, args.seeds)
            if cell_key({"budget": args.budget, "precision": args.precision, **c}) not in done]
    print(f"{len(todo)} cells to run ({len(done)} done) at budget {args.budget}")
    if not todo:
        return
    train = make_embedded_dataset("train", size, seed=0, num_normal=budget["num_train"]).images
    ddpms: dict[int, Any] = {}
    for resolution in sorted({size // c["ratio"] for c in todo if c["method"] == "dia-ddpm"}):
        given = dict(args.ddpm).get(resolution)
        if given:
            from dia_augment.filters import DDPMDissolving

            ddpms[resolution] = DDPMDissolving.from_pretrained(given)
        else:
            ddpms[resolution] = train_ddpm(train, resolution, budget["ddpm_steps"], args.out / "dissolvers" / f"ddpm{resolution}")
    args.out.mkdir(parents=True, exist_ok=True)
    for i, cell in enumerate(todo):
        sigma, opacity = SIZES[cell["size"]], CONTRASTS[cell["contrast"]]
        n = budget["num_test"]
        test = make_embedded_dataset("test", size, seed=0, num_normal=n, num_anomalies=n, lesion_sigma=sigma, lesion_opacity=opacity)
        twins = make_embedded_anomalies(n, size, 0, sigma, opacity)
        dissolver, resolution = cell_dissolver(cell, budget, ddpms)
        name = "_".join(str(cell[k]) for k in ("method", "size", "contrast", "ratio", "seed"))
        name += "" if args.precision == "fp32" else f"_{args.precision}"
        print(f"[{i + 1}/{len(todo)}] {name}")
        started = time.perf_counter()
        scored = train_and_score(cell["method"], dissolver, train, test.images, test.labels, budget, cell["seed"],
                                 args.out / "models" / name, args.precision)
        record = {"budget": args.budget, "precision": args.precision, **cell, "dissolver_resolution": resolution, "lesion_sigma": list(sigma),
                  "lesion_opacity": list(opacity), **scored, **probe_cell(dissolver, twins),
                  "seconds": time.perf_counter() - started}
        with open(results, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"      AUROC {record['auroc']:.4f} ({record['seconds'] / 60:.1f} min)")


# ------------------------------------------------------------------------------------------------
# the report
def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else math.nan)


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (budget, size, contrast, method, ratio): AUROC mean ± std, the paired difference to CSI, the probe.

    The difference to CSI is taken seed by seed (the same images and seed), over the seeds both have.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((budget_label(r), r["size"], r["contrast"], r["method"], r["ratio"]), []).append(r)
    csi = {(budget_label(r), r["size"], r["contrast"], r["seed"]): r["auroc"] for r in records if r["method"] == "csi"}
    order = {m: i for i, m in enumerate(METHODS)}
    rows = []
    for (budget, size, contrast, method, ratio), group in sorted(
        groups.items(), key=lambda kv: (kv[0][0], list(SIZES).index(kv[0][1]) if kv[0][1] in SIZES else 99,
                                         kv[0][2], order.get(kv[0][3], 99), kv[0][4] or 0)
    ):
        mean, std = _mean_std([r["auroc"] for r in group])
        row = {"budget": budget, "size": size, "contrast": contrast, "method": method, "ratio": ratio,
               "n": len(group), "auroc_mean": mean, "auroc_std": std, "seeds": sorted(r["seed"] for r in group)}
        diffs = [r["auroc"] - csi[(budget, size, contrast, r["seed"])] for r in group if (budget, size, contrast, r["seed"]) in csi]
        if method != "csi" and diffs:
            row["diff_mean"], row["diff_std"] = _mean_std(diffs)
            row["diff_n"] = len(diffs)
        for k in ("probe_erasure", "probe_change_mae"):
            values = [r[k] for r in group if k in r]
            if values:
                row[k] = statistics.fmean(values)
        rows.append(row)
    return rows


def _pm(mean: float | None, std: float | None, digits: int = 3, sign: bool = False) -> str:
    if mean is None:
        return "-"
    text = f"{mean:+.{digits}f}" if sign else f"{mean:.{digits}f}"
    return text + ("" if std is None or math.isnan(std) else f" ± {std:.{digits}f}")


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of :func:`summarize`'s rows."""
    lines = ["| budget | size | contrast | method | ratio | n | AUROC | − CSI (paired) | erasure (t 30-99) | change MAE |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['budget']} | {r['size']} | {r['contrast']} | {r['method']} | {r['ratio'] or '-'} | {r['n']} | "
            f"{_pm(r['auroc_mean'], r['auroc_std'])} | {_pm(r.get('diff_mean'), r.get('diff_std'), sign=True)} | "
            f"{_pm(r.get('probe_erasure'), None, 2)} | {_pm(r.get('probe_change_mae'), None, 4)} |"
        )
    return "\n".join(lines)


def format_pivot(rows: list[dict[str, Any]]) -> str:
    """The paired difference to CSI at a glance: one row per (budget, method, ratio), one column per condition.

    A column is a (contrast, size) pair; CSI's row holds its AUROC, the others the difference to
    CSI paired by seed (``n`` seeds when fewer than the most any cell has).
    """
    conditions = sorted({(r["contrast"], r["size"]) for r in rows},
                        key=lambda c: (c[0], list(SIZES).index(c[1]) if c[1] in SIZES else 99))
    most = max(r["n"] for r in rows)
    table: dict[tuple, dict[tuple, str]] = {}
    for r in rows:
        mean, std = (r["auroc_mean"], r["auroc_std"]) if r["method"] == "csi" else (r.get("diff_mean"), r.get("diff_std"))
        text = _pm(mean, std, sign=r["method"] != "csi") + ("" if r["n"] == most else f" (n={r['n']})")
        table.setdefault((r["budget"], r["method"], r["ratio"]), {})[(r["contrast"], r["size"])] = text
    lines = ["| budget | method | ratio | " + " | ".join(f"{c} / {s}" for c, s in conditions) + " |",
             "| --- | --- | --- |" + " --- |" * len(conditions)]
    order = {m: i for i, m in enumerate(METHODS)}
    for (budget, method, ratio), cells in sorted(table.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99), kv[0][2] or 0)):
        lines.append(f"| {budget} | {method} | {ratio or '-'} | " + " | ".join(cells.get(c, "") for c in conditions) + " |")
    return "\n".join(lines)


def paired_wins(records: list[dict[str, Any]], first: tuple[str, int], second: tuple[str, int]) -> tuple[int, int]:
    """In how many paired cells (same budget, size, contrast, seed) ``first`` has the higher AUROC, of how many.

    ``first`` and ``second`` are ``(method, ratio)`` pairs.
    """
    def by_cell(method: str, ratio: int) -> dict[tuple, float]:
        return {(budget_label(r), r["size"], r["contrast"], r["seed"]): r["auroc"]
                for r in records if (r["method"], r["ratio"]) == (method, ratio)}

    a, b = by_cell(*first), by_cell(*second)
    shared = a.keys() & b.keys()
    return sum(a[k] > b[k] for k in shared), len(shared)


def erasure_correlation(rows: list[dict[str, Any]], contrast: str | None = None) -> tuple[float, int]:
    """Pearson's correlation of :func:`summarize`'s rows' difference to CSI with their erasure, and the row count.

    Only rows with both (the dissolvers' rows), of one contrast when ``contrast`` is given.
    """
    points = [(r["probe_erasure"], r["diff_mean"]) for r in rows
              if "diff_mean" in r and "probe_erasure" in r and contrast in (None, r["contrast"])]
    if len(points) < 3:
        return math.nan, len(points)
    return statistics.correlation(*zip(*points)), len(points)


def format_comparisons(records: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """The paired wins of DIA-DDPM over resize only and over DIA-Gaussian at each ratio, and the gain-erasure correlation."""
    lines = []
    for other in ("resize", "dia-gaussian"):
        for ratio in RATIOS:
            wins, n = paired_wins(records, ("dia-ddpm", ratio), (other, ratio))
            if n:
                lines.append(f"dia-ddpm above {other} at ratio {ratio}: {wins} of {n} paired seeds")
    for contrast in (None, *CONTRASTS):
        r, n = erasure_correlation(rows, contrast)
        if n:
            lines.append(f"Pearson r of the difference to CSI with the erasure (contrast: {contrast or 'both'}, "
                         f"{n} rows): {r:+.2f}")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """The paired AUROC difference to CSI (mean ± std over seeds) against the probe's lesion erasure."""
    from dia_augment.utils.figures import new_figure, write_png

    points = [r for r in rows if "diff_mean" in r and "probe_erasure" in r]
    if not points:
        raise ConfigError("no cell has both a difference to CSI and a probe to plot")
    figure = new_figure(6.4, 4.4, dpi=110)
    ax = figure.add_subplot(1, 1, 1)
    markers = {"dia-ddpm": "o", "dia-gaussian": "s", "resize": "^"}
    colours = {1: "tab:green", 2: "tab:blue", 4: "tab:red"}
    for method in markers:
        for ratio in RATIOS:
            mine = [r for r in points if r["method"] == method and r["ratio"] == ratio]
            if not mine:
                continue
            ax.errorbar([r["probe_erasure"] for r in mine], [r["diff_mean"] for r in mine],
                        yerr=[0 if math.isnan(r["diff_std"]) else r["diff_std"] for r in mine],
                        fmt=markers[method], color=colours[ratio], ms=5, capsize=2, label=f"{method}, {ratio}x")
            for r in mine:
                ax.annotate(f"{r['size'][:3]}/{r['contrast']}", (r["probe_erasure"], r["diff_mean"]),
                            textcoords="offset points", xytext=(3, 3), fontsize=5)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel("lesion erasure of the cell's dissolver (L2, mean over t = 30, 60, 99)")
    ax.set_ylabel("AUROC − CSI's (paired by seed)")
    ax.set_title("Fine-grainedness study: does DIA gain where its dissolver erases the lesions?", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    write_png(figure, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the study's folder (results.jsonl, dissolvers, models)")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="cpu")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--contrasts", nargs="+", choices=list(CONTRASTS), default=list(CONTRASTS))
    parser.add_argument("--ratios", nargs="+", type=int, choices=RATIOS, default=list(RATIOS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--precision", choices=list(PRECISIONS), default="fp32",
                        help="bf16: the training step under bf16 autocast with channels_last")
    parser.add_argument("--ddpm", nargs=2, action="append", default=[], metavar=("RESOLUTION", "PATH"),
                        type=lambda v: int(v) if v.isdigit() else v, help="reuse a saved DDPM dissolver at this resolution")
    parser.add_argument("--report", action="store_true", help="print the table of OUT/results.jsonl (no training)")
    parser.add_argument("--plot", type=Path, default=None, help="with --report: the difference-vs-erasure plot")
    args = parser.parse_args(argv)
    if args.report:
        records = read_results(args.out / "results.jsonl")
        if not records:
            raise SystemExit(f"no results in {args.out / 'results.jsonl'}")
        rows = summarize(records)
        print(format_table(rows))
        print()
        print(format_pivot(rows))
        print()
        print(format_comparisons(records, rows))
        if args.plot is not None:
            plot(rows, args.plot)
        return
    torch.set_num_threads(1)
    run(args)


if __name__ == "__main__":
    main()
