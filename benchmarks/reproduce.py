"""Reproduce the paper's comparisons on the real data in ``../shared/data``.

The one-class protocol (normal images for training; AUROC with normal as the positive class)
over the grid of the paper's table, {CSI without dissolving; DIA with Gaussian, median and
DDPM dissolving} x {rotation, cutperm}, plus ablations the paper lacks: **resize only**
(down to the dissolver's resolution and back, no model), which separates what the resize does
from what the diffusion model does; our blur form; and the paper code's input-range flaw.

Methods:
    csi                   CSI, no dissolving
    gaussian, median      the paper's blur baselines as its code runs them: kernel 7 (OpenCV's
                          default Gaussian kernel), zero padding, applied to every view
    gaussian-dissolved    the paper's Gaussian blur (kernel 7, zero padding) on the dissolved view only
    gaussian-step,        our blur form: a dissolver of the third view only, Gaussian sigma = 0.02 t
    median-step           (reflect padding) or a kernel-7 median for t > 0
    gaussian-step-all     our Gaussian blur form applied to every view
    ddpm                  DIA with the DDPM dissolver (explicit input range)
    ddpm-all              the same DDPM dissolver applied to every view
    ddpm-reference-range  the same dissolver fed [0, 1] images as the paper's code does (a flaw,
                          run as an ablation: see docs/fidelity.md)
    resize                down to the dissolver's resolution and back, no model

Data sets and their normal class:
    sarscov2     SARS-CoV-2 CT, normal = non-COVID; seeded 80/20 split of each class (seed 0)
    retinamnist  RetinaMNIST, normal = grade 0; official train / test splits
    breastmnist  BreastMNIST, normal = label 1 (normal or benign); official splits
    retina-vs-breast  the unlabelled multi-class setting: every RetinaMNIST grade normal, the BreastMNIST
                 test images (converted to RGB) the anomalies

Each cell (data set, method, shift, seed) trains one model and scores the test set; results
are appended to a JSON-lines file and finished cells are skipped, so the script can be stopped
and started again. One DDPM dissolver per data set is trained on its normal training images
(split seed 0, training seed 0) and cached; the data split is the same for every seed, the
seed changes the model's initialisation, the augmentations and the test-time samples.
No setting or checkpoint is chosen on test labels: each cell keeps its last model.

Presets (``--budget``):
    cpu    ResNet-18 (CIFAR stem) width 16; SARS-CoV-2 at 48 px input with a 32 px dissolver, 5 epochs;
           MedMNIST 28 px images upsampled to 32 px input with a 16 px dissolver (the backbone
           sees twice the dissolver's resolution, as the paper's 224 px vs 32 px keeps it above),
           15 epochs; batch 32, lr 0.1; 10 test-time views; the DDPM dissolver: tiny preset, L1,
           1500 steps; bf16 training. A SARS-CoV-2 cell trained in 1.5-6 minutes in bf16 and 7-9
           in fp32 (one thread each, several jobs sharing the 2-core CPU).
    paper  the paper code's recipe as it is, for GPUs: TrainConfig.reference() (resnet18_imagenet at
           224 px, width 64, batch 32, LARS, lr 0.1 warmed up x10 over 10 epochs then cosine, 1000
           epochs, its augmentation on RGB images, the last partial batch kept), the reference's DDPM
           training (DissolverTrainConfig.reference(): 'dia-reference' UNet at 32 px, 312 500 steps of
           512 images), dissolving with its online weights and its input range, and its evaluation
           (ScoreConfig.reference(): 10 views, rotation, no fallback).

Precision (``--precision``): ``fp32`` or ``bf16``: the contrastive training step under
``mixed_precision="bf16"`` with ``channels_last`` (docs/benchmarks.md measures it about 2x the fp32
step on this CPU, and its AUROC within the fp32 seed spread: 3 seeds of CSI and DIA-DDPM each way);
scoring stays fp32. The default is the budget's: ``bf16`` for ``cpu``, ``fp32`` for ``paper`` (a
GPU without bf16 units would emulate it). Cells of both precisions can share one results file:
the report gives them separate rows.

Run (background, resumable):
    nohup python benchmarks/reproduce.py --budget cpu --out runs/reproduce &
    python benchmarks/reproduce.py --out runs/reproduce --report runs/reproduce/table.md --plot docs/images/results.png
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, append_line, provenance, read_lines  # noqa: E402

DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass(frozen=True)
class DataSpec:
    source: str
    normal_class: str | None
    image_size: dict[str, int]
    dissolver_resolution: dict[str, int]
    epochs: dict[str, int]
    ood_data: str | None = None


DATASETS = {
    "sarscov2": DataSpec(f"sarscov2:{DATA_ROOT / 'sarscov2-ct'}", None, {"cpu": 48, "paper": 224}, {"cpu": 32, "paper": 32}, {"cpu": 5, "paper": 1000}),
    "retinamnist": DataSpec(str(DATA_ROOT / "retinamnist.npz"), None, {"cpu": 32, "paper": 224}, {"cpu": 16, "paper": 32}, {"cpu": 15, "paper": 1000}),
    "breastmnist": DataSpec(str(DATA_ROOT / "breastmnist.npz"), None, {"cpu": 32, "paper": 224}, {"cpu": 16, "paper": 32}, {"cpu": 15, "paper": 1000}),
    # the unlabelled multi-class setting: every RetinaMNIST grade normal, BreastMNIST's test images the anomalies
    "retina-vs-breast": DataSpec(str(DATA_ROOT / "retinamnist.npz"), "all", {"cpu": 32, "paper": 224}, {"cpu": 16, "paper": 32}, {"cpu": 15, "paper": 1000},
                                 ood_data=str(DATA_ROOT / "breastmnist.npz")),
}
METHODS = ("csi", "gaussian", "gaussian-dissolved", "median", "gaussian-step", "gaussian-step-all", "median-step", "ddpm",
           "ddpm-all", "ddpm-reference-range", "resize")
#: Methods whose dissolver also dissolves the two clean views (the paper code's blur baselines and their ablations).
ALL_VIEWS = ("gaussian", "median", "gaussian-step-all", "ddpm-all")
#: The DDPM methods (one dissolver per data set, trained by the script or given with --dissolver-dir).
DDPM_METHODS = ("ddpm", "ddpm-all", "ddpm-reference-range")
SHIFTS = ("rotation", "cutperm")
BUDGETS = {
    "cpu": {"model": "resnet18", "width": 16, "batch_size": 32, "lr": 0.1, "dissolver_preset": "tiny", "dissolver_steps": 1500,
            "dissolver_weights": "ema", "test_samples": 10, "recipe": "library defaults", "precision": "bf16"},
    "paper": {"model": "resnet18_imagenet", "width": 64, "batch_size": 32, "lr": 0.1, "dissolver_preset": "dia-reference",
              "dissolver_steps": 312_500, "dissolver_weights": "online", "test_samples": 10, "recipe": "reference",
              "precision": "fp32"},
}
#: Data set -> an already trained DDPM dissolver directory (``--dissolver-dir``), instead of training one.
DISSOLVER_DIRS: dict[str, str] = {}
#: The paper's AUROC (rotation / perm rows of its "Different transformations" table) where it has the data set.
PAPER = {
    ("sarscov2", "gaussian", "rotation"): 0.847, ("sarscov2", "median", "rotation"): 0.837,
    ("sarscov2", "ddpm", "rotation"): 0.851, ("sarscov2", "gaussian", "cutperm"): 0.788,
    ("sarscov2", "median", "cutperm"): 0.826, ("sarscov2", "ddpm", "cutperm"): 0.841,
}


PRECISIONS = {"fp32": {}, "bf16": {"mixed_precision": "bf16", "channels_last": True}}


def cell_key(record: dict[str, Any]) -> tuple:
    return (record["budget"], record["dataset"], record["method"], record["shift"], record["seed"],
            record.get("precision", "fp32"))


def read_results(path: Path) -> list[dict[str, Any]]:
    return read_lines(path)


def dissolver_for(method: str, dataset: str, spec: DataSpec, budget: str, train_images: Any, out: Path) -> Any:
    from dia_augment.filters import DDPMDissolving, ResizeDissolving, make_dissolver
    from dia_augment.train import DissolverTrainConfig, train_dissolver

    resolution = spec.dissolver_resolution[budget]
    if method == "csi":
        return None
    if method in ("gaussian", "median", "gaussian-dissolved"):
        return make_dissolver(f"{method.removesuffix('-dissolved')}-reference", kernel_size=7)
    if method in ("gaussian-step", "median-step", "gaussian-step-all"):
        return make_dissolver(method.removesuffix("-all").removesuffix("-step"), kernel_size=7)
    if method == "resize":
        return ResizeDissolving(resolution)
    settings = BUDGETS[budget]
    reference_range = method == "ddpm-reference-range" or settings["recipe"] == "reference"
    options = {"resolution": resolution, "weights": settings["dissolver_weights"],
               "input_range": "reference" if reference_range else "explicit"}
    if dataset in DISSOLVER_DIRS:
        return DDPMDissolving.from_pretrained(DISSOLVER_DIRS[dataset], **options)
    folder = out / "dissolvers" / f"{dataset}_{budget}_{resolution}px"
    if not (folder / "dissolver" / "dissolver_config.json").is_file():
        print(f"training the {resolution} px DDPM dissolver of {dataset} ({settings['dissolver_steps']} steps)", flush=True)
        if settings["recipe"] == "reference":  # the reference's DDPM training, as it is
            config = DissolverTrainConfig.reference(resolution=resolution, checkpoint_every=250, seed=0)
        else:
            config = DissolverTrainConfig(resolution=resolution, preset=settings["dissolver_preset"],
                                          train_steps=settings["dissolver_steps"], checkpoint_every=250, seed=0)
        train_dissolver(config, train_images, folder, resume=True, data_source=spec.source)
    return DDPMDissolving.from_pretrained(folder / "dissolver", **options)


def cell_settings(dataset: str, method: str, budget: str) -> dict[str, Any]:
    """The settings a cell's record carries, so a resumed run can tell finished cells made with others."""
    spec, settings = DATASETS[dataset], BUDGETS[budget]
    ddpm = method in DDPM_METHODS
    blur_form = {"gaussian": "kernel 7, zero padding, every view", "median": "kernel 7, zero padding, every view",
                 "gaussian-dissolved": "kernel 7, zero padding, dissolved view",
                 "gaussian-step": "sigma 0.02 t, reflect, dissolved view", "median-step": "kernel 7, reflect, dissolved view",
                 "gaussian-step-all": "sigma 0.02 t, reflect, every view"}
    return {
        "image_size": spec.image_size[budget], "dissolver_resolution": spec.dissolver_resolution[budget],
        "epochs": spec.epochs[budget], "width": settings["width"], "model": settings["model"],
        "test_samples": settings["test_samples"], "recipe": settings["recipe"],
        # the loss defaults followed the paper's code from this version on (older cells lack these keys)
        "loss_normalisation": "reference", "shift_loss_on_dissolved": True,
        "dissolver": DISSOLVER_DIRS.get(dataset, "trained by this script") if ddpm else blur_form.get(method, method),
        "dissolver_weights": settings["dissolver_weights"] if ddpm else None,
    }


def check_finished(records: list[dict[str, Any]], budget: str, datasets: list[str], methods: list[str],
                   precision: str = "fp32") -> None:
    """Refuse to resume into a results file whose finished cells of this run's grid used other
    settings (an older preset, another ``--dissolver-dir``): skipping them would mix two experiments."""
    for record in records:
        if (record["budget"] != budget or record["dataset"] not in datasets or record["method"] not in methods
                or record.get("precision", "fp32") != precision):
            continue
        expected = cell_settings(record["dataset"], record["method"], budget)
        for name, value in expected.items():
            if record.get(name) != value:
                raise SystemExit(
                    f"finished cell {cell_key(record)} has {name}={record.get(name)!r} but this run uses {value!r}; "
                    "use another --out (or the same settings) so the two do not mix")


def load_data(dataset: str, budget: str, data_cache: dict) -> tuple[Any, Any]:
    """The train and test splits of ``dataset`` at the budget's input size (cached for the next cell).

    The paper's recipe reads every image as RGB, as its code does."""
    from dia_augment.data.options import DataOptions, load_split

    spec = DATASETS[dataset]
    options = DataOptions(spec.source, spec.normal_class, load_size=spec.image_size[budget],
                          channels=3 if BUDGETS[budget]["recipe"] == "reference" else None, ood_data=spec.ood_data)
    if dataset not in data_cache:
        data_cache.clear()
        data_cache[dataset] = (load_split(options, "train"), load_split(options, "test"))
    return data_cache[dataset]


def run_dir_of(dataset: str, method: str, shift: str, seed: int, budget: str, out: Path, precision: str) -> Path:
    suffix = "" if precision == "fp32" else f"_{precision}"
    return out / "cells" / f"{budget}_{dataset}_{method}_{shift}_s{seed}{suffix}"


def train_cell(dataset: str, method: str, shift: str, seed: int, budget: str, out: Path, data_cache: dict,
               precision: str = "fp32") -> tuple[Any, float]:
    """Train (or, when its run folder holds a finished run, reload) a cell's model; returns it and the seconds."""
    from dia_augment.train import TrainConfig, train_model

    spec, settings = DATASETS[dataset], BUDGETS[budget]
    train_set, _ = load_data(dataset, budget, data_cache)
    dissolver = dissolver_for(method, dataset, spec, budget, train_set.images, out)
    run = {"mode": "csi" if method == "csi" else "dia", "shift": shift, "image_size": spec.image_size[budget],
           "epochs": spec.epochs[budget], "dissolve_all_views": method in ALL_VIEWS, "seed": seed, "checkpoint_every": 20,
           "progress": sys.stderr.isatty(), **PRECISIONS[precision]}
    if settings["recipe"] == "reference":
        config = TrainConfig.reference(**run)
    else:
        config = TrainConfig(model=settings["model"], width=settings["width"], batch_size=settings["batch_size"],
                             lr=settings["lr"], **run)
    start = time.perf_counter()
    model = train_model(config, train_set.images, dissolver=dissolver, resume=True, data_source=spec.source,
                        out_dir=run_dir_of(dataset, method, shift, seed, budget, out, precision))
    return model, time.perf_counter() - start


def run_cell(dataset: str, method: str, shift: str, seed: int, budget: str, out: Path, data_cache: dict,
             precision: str = "fp32") -> dict[str, Any]:
    from dia_augment.detect import AnomalyDetector
    from dia_augment.score import ScoreConfig

    settings = BUDGETS[budget]
    model, train_s = train_cell(dataset, method, shift, seed, budget, out, data_cache, precision)
    train_set, test_set = load_data(dataset, budget, data_cache)
    start = time.perf_counter()
    views = {"num_views": settings["test_samples"], "seed": seed, "mixed_precision": "no"}  # scores in float32
    score_config = ScoreConfig.reference(**views) if settings["recipe"] == "reference" else ScoreConfig(**views)
    detector = AnomalyDetector.fit(model, train_set.images, config=score_config, shift=shift,
                                   augmentation="reference" if settings["recipe"] == "reference" else "library",
                                   image_size=DATASETS[dataset].image_size[budget], progress=sys.stderr.isatty())
    scores = detector.score(test_set.images)
    metrics = detector.test_metrics(scores, test_set.labels, test_set.classes, test_set.class_names)
    return {
        "budget": budget, "dataset": dataset, "method": method, "shift": shift, "seed": seed, "precision": precision,
        "auroc": metrics["auroc"], "aupr": metrics["aupr"], "fpr_at_95_tpr": metrics["fpr_at_95_tpr"],
        "per_class_auroc": metrics.get("per_class_auroc"), "score_method": detector.method,
        "train_s": round(train_s, 1), "score_s": round(time.perf_counter() - start, 1),
        "num_train": len(train_set.images), "num_test": len(test_set.images),
        **cell_settings(dataset, method, budget), **provenance(),
    }


def report(records: list[dict[str, Any]], table: Path | None, plot: Path | None) -> str:
    """The Markdown table of mean +- std AUROC per cell over seeds, each method's difference to
    CSI on the same data set, shift and precision, and the per-seed values; optionally the bar plot."""
    groups: dict[tuple, list[float]] = {}
    for r in sorted(records, key=lambda r: r["seed"]):
        groups.setdefault((r["budget"], r["dataset"], r["shift"], r["method"], r.get("precision", "fp32")), []).append(r["auroc"])
    lines = ["| budget | data set | shift | method | precision | AUROC mean +- std | minus CSI | per seed | paper |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], METHODS.index(k[3]), list(PRECISIONS).index(k[4]))):
        values = groups[key]
        spread = f" +- {statistics.stdev(values):.3f}" if len(values) > 1 else " (one seed)"
        baseline = groups.get((*key[:3], "csi", key[4]))
        diff = f"{statistics.mean(values) - statistics.mean(baseline):+.3f}" if baseline and key[3] != "csi" else "-"
        paper = PAPER.get((key[1], key[3], key[2]))
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {key[4]} | {statistics.mean(values):.3f}{spread} | {diff} | "
                     f"{' / '.join(f'{v:.3f}' for v in values)} | {paper if paper is not None else '-'} |")
    text = "\n".join(lines) + "\n"
    if table is not None:
        from dia_augment.utils.io import atomic_open

        with atomic_open(table) as f:
            f.write(text)
    if plot is not None and groups:
        _plot(groups, plot)
    return text


def _plot(groups: dict[tuple, list[float]], path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dia_augment.utils.io import atomic_open

    panels = sorted({(k[1], k[2]) for k in groups})
    bars = max(sum(1 for k in groups if (k[1], k[2]) == panel) for panel in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(max(3.2, 0.6 * bars) * len(panels), 3.6), squeeze=False)
    for ax, (dataset, shift) in zip(axes[0], panels):
        keys = [k for k in groups if (k[1], k[2]) == (dataset, shift)]
        keys.sort(key=lambda k: (METHODS.index(k[3]), list(PRECISIONS).index(k[4])))
        means = [statistics.mean(groups[k]) for k in keys]
        stds = [statistics.stdev(groups[k]) if len(groups[k]) > 1 else 0.0 for k in keys]
        ax.bar(range(len(keys)), means, yerr=stds, capsize=4, color=["#888" if k[3] == "csi" else "#3b7dd8" for k in keys])
        paper = [(i, PAPER[(k[1], k[3], k[2])]) for i, k in enumerate(keys) if (k[1], k[3], k[2]) in PAPER]
        if paper:
            ax.scatter(*zip(*paper), marker="_", s=300, color="black", label="paper (224 px)", zorder=3)
            ax.legend(fontsize=7, loc="lower right")
        ax.set_xticks(range(len(keys)), [k[3] if k[4] == "fp32" else f"{k[3]} {k[4]}" for k in keys], rotation=40,
                      ha="right", fontsize=7)
        ax.axhline(0.5, color="#c33", linewidth=0.8, linestyle=":")  # chance
        ax.set_ylim(0.3, 1.0)
        ax.set_title(f"{dataset}, {shift}", fontsize=9)
        ax.set_ylabel("AUROC")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


def multiclass_table(records: list[dict[str, Any]]) -> str:
    """The docs table of the multi-class run (every RetinaMNIST grade normal, BreastMNIST anomalies)."""
    rows = sorted((r for r in records if r["dataset"] == "retina-vs-breast"), key=lambda r: r["seed"])
    if not rows:
        return "not run yet\n"
    aurocs = [r["auroc"] for r in rows]
    spread = f" +- {statistics.stdev(aurocs):.3f}" if len(aurocs) > 1 else ""
    return ("| normal (every class) | anomalies | method | budget | precision | n | AUROC mean +- std | per seed |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
            f"| RetinaMNIST (all 5 grades) | BreastMNIST test images | {rows[0]['method']} | {rows[0]['budget']} | "
            f"{rows[0].get('precision', 'fp32')} | {len(aurocs)} | {statistics.fmean(aurocs):.3f}{spread} | "
            f"{' / '.join(f'{a:.3f}' for a in aurocs)} |\n")


#: The docs tables of this script's committed results (printed by ``benchmarks/report.py``).
REPORT_TABLES = {"multiclass": lambda: multiclass_table(read_lines(RESULTS / "reproduce.jsonl"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="cpu", choices=sorted(BUDGETS))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--shifts", nargs="+", default=["rotation"], choices=SHIFTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--precision", default=None, choices=list(PRECISIONS),
                        help="bf16: the training step under bf16 autocast with channels_last (default: the budget's)")
    parser.add_argument("--out", type=Path, default=Path("runs/reproduce"))
    parser.add_argument("--dissolver-dir", action="append", default=[], metavar="DATASET=PATH",
                        help="use this trained DDPM dissolver for DATASET instead of training one")
    parser.add_argument("--results", type=Path, default=None,
                        help="the JSON-lines results file (default OUT/results.jsonl)")
    parser.add_argument("--train-only", action="store_true",
                        help="train the cells' models (kept in OUT/cells) without scoring them or writing results")
    parser.add_argument("--report", type=Path, default=None, help="only write the Markdown table of the results so far")
    parser.add_argument("--plot", type=Path, default=None, help="with --report: the bar plot PNG")
    args = parser.parse_args()
    for item in args.dissolver_dir:
        name, _, path = item.partition("=")
        if name not in DATASETS or not path:
            parser.error(f"--dissolver-dir takes DATASET=PATH with DATASET in {list(DATASETS)}; got {item!r}")
        DISSOLVER_DIRS[name] = path
    results = args.results or args.out / "results.jsonl"
    if args.report is not None or args.plot is not None:
        print(report(read_results(results), args.report, args.plot))
        return
    if not DATA_ROOT.is_dir():
        sys.exit(f"the real data is not at {DATA_ROOT}: see shared/data/README.md")
    args.out.mkdir(parents=True, exist_ok=True)
    finished = read_results(results)
    args.precision = args.precision or BUDGETS[args.budget]["precision"]
    check_finished(finished, args.budget, args.datasets, args.methods, args.precision)
    done = {cell_key(r) for r in finished}
    data_cache: dict = {}
    # seed-major order: a first seed of every cell before the second, so partial runs are balanced
    for seed, dataset, shift, method in itertools.product(args.seeds, args.datasets, args.shifts, args.methods):
        key = (args.budget, dataset, method, shift, seed, args.precision)
        if key in done:
            continue
        print(f"== {dataset} {method} {shift} seed {seed} {args.precision}", flush=True)
        if args.train_only:
            _, seconds = train_cell(dataset, method, shift, seed, args.budget, args.out, data_cache, args.precision)
            print(f"   trained in {seconds:.0f} s", flush=True)
            continue
        record = run_cell(dataset, method, shift, seed, args.budget, args.out, data_cache, args.precision)
        append_line(results, record)
        print(f"   AUROC {record['auroc']:.4f}  train {record['train_s']:.0f} s  score {record['score_s']:.0f} s", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
