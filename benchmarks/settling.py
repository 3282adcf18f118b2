"""The pre-registered experiment: does a diffusion dissolver add anything over a blur?

The design, the primary contrasts and the analysis are fixed in docs/evidence.md ("The settling
experiment") and were committed before any cell ran. This script runs exactly that grid and
prints its analysis; nothing in it is chosen on test labels.

Part ``sarscov2`` (SARS-CoV-2 CT, rotation, the reproduction's ``cpu`` budget, bf16 training):
    csi                   CSI, no dissolving
    ddpm                  DIA, the 32 px DDPM dissolver on the dissolved view only
    ddpm-every-view       the same dissolver on every view
    paper-blur            the paper's Gaussian blur (kernel 7, OpenCV's table, zero padding) on the dissolved view only
    paper-blur-every-view the same blur on every view (the paper code's blur baseline as it runs)
    step-blur             our Gaussian blur (sigma = 0.02 t, reflect padding) on the dissolved view only
    step-blur-every-view  our blur on every view

Part ``embedded`` (the embedded set, faint large lesions: opacity 0.25-0.4, sigma 1.5-2.5 px, the
fine-grainedness study's ``cpu`` budget at 32 px, bf16 training, two data seeds):
    csi                   CSI
    ddpm                  DIA, a 16 px DDPM dissolver (one per data seed) on the dissolved view only
    paper-blur-every-view the paper's blur at 32 px on every view
    step-blur             our Gaussian blur at 16 px (down, blur, up) on the dissolved view only

Every cell trains one model (seeds 0-7: initialisation, data order, augmentations, test-time views),
keeps the last model, fits the library's one scorer (CSI score, T = 10 fixed test-time views, crop
area 0.54) on all the normal training images and scores the test split. The embedded part trains at
the crop scale that ``--select`` chose without test labels (``benchmarks/results/settling_selection.jsonl``):
it refuses to run before that file exists.

Results: one JSON line per cell in ``benchmarks/results/settling.jsonl`` (AUROC, AUPR, the settings,
the command, commit, version, device, threads and wall time). A finished cell is skipped, so the
script can be stopped and started again; ``--train-only`` trains without scoring;
``--seeds`` and ``--methods`` run a subset of the grid (two processes on disjoint seeds; the
primary contrasts' methods first when CPU time is short).

Run (background, resumable; one thread a process), then report:

    OMP_NUM_THREADS=1 nohup python benchmarks/settling.py --part sarscov2 --out runs/settling &
    OMP_NUM_THREADS=1 python benchmarks/settling.py --select --out runs/settling
    OMP_NUM_THREADS=1 nohup python benchmarks/settling.py --part embedded --out runs/settling &
    python benchmarks/settling.py --report --plot docs/images/settling.png
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, append_line, provenance, read_lines  # noqa: E402

DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS_FILE = RESULTS / "settling.jsonl"
SELECTION_FILE = RESULTS / "settling_selection.jsonl"
SEEDS = tuple(range(8))
DATA_SEEDS = {"sarscov2": (0,), "embedded": (0, 1)}
METHODS = {
    "sarscov2": ("csi", "ddpm", "ddpm-every-view", "paper-blur", "paper-blur-every-view", "step-blur",
                 "step-blur-every-view"),
    "embedded": ("csi", "ddpm", "paper-blur-every-view", "step-blur"),
}
#: Each part's budget: the model, its training, the DDPM dissolver and the scorer.
BUDGETS = {
    "sarscov2": {"image_size": 48, "width": 16, "epochs": 5, "batch_size": 32, "lr": 0.1, "crop_scale": (0.08, 1.0),
                 "ddpm_resolution": 32, "ddpm_steps": 1500, "num_views": 10},
    "embedded": {"image_size": 32, "width": 16, "epochs": 15, "batch_size": 32, "lr": 0.1, "crop_scale": None,
                 "ddpm_resolution": 16, "ddpm_steps": 1000, "num_views": 10, "num_train": 600, "num_test": 200,
                 "lesion_sigma": (1.5, 2.5), "lesion_opacity": (0.25, 0.4)},
}
#: How a part is named in the tables.
PART_TITLES = {"sarscov2": "SARS-CoV-2", "embedded": "embedded"}
#: The primary contrasts of each part (a - b), corrected together with Holm within the part.
PRIMARY = {
    "sarscov2": (("ddpm", "paper-blur"), ("paper-blur-every-view", "paper-blur"), ("ddpm", "csi")),
    "embedded": (("ddpm", "step-blur"), ("ddpm", "csi"), ("paper-blur-every-view", "csi")),
}
#: Secondary contrasts (reported, Holm-corrected within their own family, never the basis of a claim).
SECONDARY = {
    "sarscov2": (("ddpm-every-view", "ddpm"), ("step-blur", "csi"), ("step-blur-every-view", "step-blur"),
                 ("paper-blur-every-view", "csi"), ("paper-blur", "csi"), ("ddpm", "step-blur")),
    "embedded": (("step-blur", "csi"), ("paper-blur-every-view", "step-blur")),
}
#: Crop scales the label-free selection score chooses among for the embedded part.
CROP_CANDIDATES = (0.08, 0.2, 0.5)
SELECTION_SEEDS = (0, 1)
_KEY = ("part", "method", "data_seed", "seed")


def cells(part: str) -> list[dict[str, Any]]:
    """The part's cells, seed-major so that a partial run covers every method early."""
    return [{"part": part, "method": method, "data_seed": data_seed, "seed": seed}
            for seed, data_seed, method in itertools.product(SEEDS, DATA_SEEDS[part], METHODS[part])]


def todo_cells(part: str, records: list[dict[str, Any]], seeds: list[int] | None = None,
               methods: list[str] | None = None) -> list[dict[str, Any]]:
    """The part's cells without a result line, of ``seeds`` and ``methods`` only where given, in the grid's order."""
    done = {cell_key(r) for r in records}
    return [c for c in cells(part) if cell_key(c) not in done
            and (seeds is None or c["seed"] in seeds) and (methods is None or c["method"] in methods)]


def cell_key(record: dict[str, Any]) -> tuple:
    return tuple(record[k] for k in _KEY)


def selected_crop() -> float:
    """The crop scale ``--select`` chose for the embedded part (refuses to guess)."""
    rows = [r for r in read_lines(SELECTION_FILE) if r.get("kind") == "choice"]
    if not rows:
        raise SystemExit(f"{SELECTION_FILE} holds no choice: run --select first (the embedded part's crop scale is "
                         "chosen there, without test labels)")
    return float(rows[-1]["crop_min"])


# ------------------------------------------------------------------------------------------------
# data and dissolvers
def load_part(part: str, data_seed: int, cache: dict) -> tuple[Any, Any]:
    """The part's ``(train, test)`` one-class data for ``data_seed`` (cached)."""
    from dia_augment.data import load_one_class, make_embedded_dataset

    key = (part, data_seed)
    if key not in cache:
        cache.clear()
        b = BUDGETS[part]
        if part == "sarscov2":
            source = f"sarscov2:{DATA_ROOT / 'sarscov2-ct'}"
            cache[key] = tuple(load_one_class(source, split, load_size=b["image_size"], seed=data_seed)
                               for split in ("train", "test"))
        else:
            cache[key] = (
                make_embedded_dataset("train", b["image_size"], seed=data_seed, num_normal=b["num_train"]),
                make_embedded_dataset("test", b["image_size"], seed=data_seed, num_normal=b["num_test"],
                                      num_anomalies=b["num_test"], lesion_sigma=b["lesion_sigma"],
                                      lesion_opacity=b["lesion_opacity"]),
            )
    return cache[key]


def ddpm_dissolver(part: str, data_seed: int, images: Any, out: Path) -> Any:
    """The part's DDPM dissolver for ``data_seed``: trained once on the normal training images (seed 0), then reused."""
    from dia_augment.filters import DDPMDissolving
    from dia_augment.train import DissolverTrainConfig, train_dissolver

    b = BUDGETS[part]
    folder = out / "dissolvers" / f"{part}_d{data_seed}_ddpm{b['ddpm_resolution']}"
    if not (folder / "dissolver" / "dissolver_config.json").is_file():
        print(f"training the {b['ddpm_resolution']} px DDPM dissolver of {part} (data seed {data_seed}, "
              f"{b['ddpm_steps']} steps)", flush=True)
        config = DissolverTrainConfig(resolution=b["ddpm_resolution"], preset="tiny", train_steps=b["ddpm_steps"],
                                      checkpoint_every=250, seed=0, progress=sys.stderr.isatty())
        train_dissolver(config, images, folder, resume=True, data_source=f"{part} (data seed {data_seed})")
    return DDPMDissolving.from_pretrained(folder / "dissolver")


def dissolver_of(cell: dict[str, Any], images: Any, out: Path) -> tuple[Any, bool]:
    """The cell's dissolver (``None`` for csi) and whether it dissolves every view."""
    from dia_augment.filters import GaussianDissolving, make_dissolver

    method, part = cell["method"], cell["part"]
    every_view = method.endswith("-every-view")
    base = method.removesuffix("-every-view")
    if base == "csi":
        return None, False
    if base == "ddpm":
        return ddpm_dissolver(part, cell["data_seed"], images, out), every_view
    if base == "paper-blur":
        return make_dissolver("gaussian-reference", kernel_size=7), every_view
    # our blur: at the input's resolution on SARS-CoV-2, at half of it on the embedded set (the study's best form)
    resolution = BUDGETS[part]["image_size"] // 2 if part == "embedded" else None
    return GaussianDissolving(kernel_size=7, resolution=resolution), every_view


# ------------------------------------------------------------------------------------------------
# one cell
def train_cell(cell: dict[str, Any], out: Path, cache: dict, crop_min: float | None = None) -> tuple[Any, Any, float]:
    """Train (or reload the finished run of) a cell's model; returns the model, its config and the seconds."""
    from dia_augment.train import TrainConfig, train_model

    b = BUDGETS[cell["part"]]
    train, _ = load_part(cell["part"], cell["data_seed"], cache)
    dissolver, every_view = dissolver_of(cell, train.images, out)
    crop = b["crop_scale"] or (crop_min, 1.0)
    config = TrainConfig(mode="csi" if dissolver is None else "dia", shift="rotation", model="resnet18", width=b["width"],
                         image_size=b["image_size"], crop_scale=crop, epochs=b["epochs"], batch_size=b["batch_size"],
                         lr=b["lr"], dissolve_all_views=every_view, seed=cell["seed"], mixed_precision="bf16",
                         channels_last=True, checkpoint_every=20, progress=sys.stderr.isatty())
    name = "_".join(str(cell[k]) for k in _KEY)
    start = time.perf_counter()
    model = train_model(config, train.images, dissolver=dissolver, out_dir=out / "cells" / name, resume=True,
                        data_source=f"{cell['part']} (data seed {cell['data_seed']})")
    return model, config, time.perf_counter() - start


def score_cell(model: Any, config: Any, train: Any, test: Any, seed: int, num_views: int) -> dict[str, Any]:
    """Fit the one scorer on every normal training image and score the test split."""
    from dia_augment.detect import AnomalyDetector
    from dia_augment.score import ScoreConfig, evaluate

    config_ = ScoreConfig(num_views=num_views, seed=seed, mixed_precision="no")  # the score in float32 whatever the defaults
    detector = AnomalyDetector.fit(model, train.images, config=config_,
                                   shift=config.shift, num_shifts=config.num_shifts, augmentation=config.augmentation,
                                   image_size=config.image_size, mode=config.mode, progress=sys.stderr.isatty())
    metrics = evaluate(detector.score(test.images), test.labels, test.classes, test.class_names)
    return {"auroc": metrics["auroc"], "aupr": metrics["aupr"], "fpr_at_95_tpr": metrics["fpr_at_95_tpr"],
            "score_method": detector.method, "score_config": detector.config.to_dict(),
            "views": detector.record()["preprocessing"]}


def run_part(part: str, out: Path, results: Path, train_only: bool, seeds: list[int] | None = None,
             methods: list[str] | None = None) -> None:
    """Run the part's unfinished cells, or those of ``seeds`` and ``methods`` only (in the grid's order).

    The subset changes no cell: it lets two processes share the grid (disjoint seeds) and the
    primary contrasts' methods run first when the CPU time is short.
    """
    crop_min = selected_crop() if part == "embedded" else None
    todo = todo_cells(part, read_lines(results), seeds, methods)
    print(f"{part}: {len(todo)} cells to run, {len(cells(part)) - len(todo)} done", flush=True)
    cache: dict = {}
    for i, cell in enumerate(todo):
        print(f"[{i + 1}/{len(todo)}] {cell}", flush=True)
        started = time.perf_counter()
        model, config, train_s = train_cell(cell, out, cache, crop_min)
        if train_only:
            print(f"   trained in {train_s:.0f} s", flush=True)
            continue
        train, test = load_part(part, cell["data_seed"], cache)
        score_start = time.perf_counter()
        scored = score_cell(model, config, train, test, cell["seed"], BUDGETS[part]["num_views"])
        record = {**cell, **scored, "precision": "bf16", "crop_scale": list(config.crop_scale),
                  "budget": {k: list(v) if isinstance(v, tuple) else v for k, v in BUDGETS[part].items()},
                  "num_train": len(train.images), "num_test": len(test.images), "train_s": round(train_s, 1),
                  "score_s": round(time.perf_counter() - score_start, 1),
                  "wall_s": round(time.perf_counter() - started, 1), **provenance()}
        append_line(results, record)
        print(f"   AUROC {record['auroc']:.4f}  train {train_s:.0f} s", flush=True)


# ------------------------------------------------------------------------------------------------
# the label-free crop selection of part 2
def run_selection(out: Path, path: Path = SELECTION_FILE) -> float:
    """Train CSI at each candidate crop on 80 % of the normals, choose by the selection score, write the choice.

    Every line records its command, commit and device. No test image is scored before the choice
    line is written; afterwards, the same models score the test split for the agreement report.
    """
    from dia_augment.detect import AnomalyDetector, split_calibration
    from dia_augment.detect.selection import selection_score
    from dia_augment.score import ScoreConfig, auroc
    from dia_augment.train import TrainConfig, train_model

    b = BUDGETS["embedded"]
    train, test = load_part("embedded", 0, {})
    fit_images, validation = split_calibration(train.images, 0.2, seed=0)
    lines = read_lines(path)
    done = {(r["crop_min"], r["seed"]): r for r in lines if r.get("kind") == "selection"}
    models = {}
    for crop, seed in itertools.product(CROP_CANDIDATES, SELECTION_SEEDS):
        config = TrainConfig(mode="csi", shift="rotation", width=b["width"], image_size=b["image_size"],
                             crop_scale=(crop, 1.0), epochs=b["epochs"], batch_size=b["batch_size"], lr=b["lr"], seed=seed,
                             mixed_precision="bf16", channels_last=True, checkpoint_every=20, progress=sys.stderr.isatty())
        started = time.perf_counter()
        model = train_model(config, fit_images, out_dir=out / "selection" / f"crop{crop}_s{seed}", resume=True,
                            data_source="embedded (data seed 0, 80 % of the normals)")
        detector = AnomalyDetector.fit(model, fit_images,
                                       config=ScoreConfig(num_views=b["num_views"], seed=seed, mixed_precision="no"),
                                       mode="csi", image_size=b["image_size"], progress=False)
        models[(crop, seed)] = detector
        if (crop, seed) in done:
            continue
        result = selection_score(detector, validation, seed=0)
        append_line(path, {"kind": "selection", "crop_min": crop, "seed": seed, **result,
                           "wall_s": round(time.perf_counter() - started, 1), **provenance()})
        print(f"crop {crop} seed {seed}: selection AUROC {result['selection_auroc']:.4f}", flush=True)
    lines = read_lines(path)
    scores = {crop: statistics.fmean(r["selection_auroc"] for r in lines
                                     if r.get("kind") == "selection" and r["crop_min"] == crop)
              for crop in CROP_CANDIDATES}
    choice = [r for r in lines if r.get("kind") == "choice"]
    if not choice:
        best = max(CROP_CANDIDATES, key=lambda c: (scores[c], c))  # a tie goes to the larger crop
        append_line(path, {"kind": "choice", "crop_min": best, "mean_selection_auroc": scores, **provenance()})
        print(f"chosen crop scale ({best}, 1) by the mean selection AUROC {scores}", flush=True)
    else:
        best = choice[-1]["crop_min"]
    checked = {(r["crop_min"], r["seed"]) for r in lines if r.get("kind") == "test_check"}
    for (crop, seed), detector in models.items():  # after the choice: the agreement with the test ranking
        if (crop, seed) not in checked:
            append_line(path, {"kind": "test_check", "crop_min": crop, "seed": seed,
                               "test_auroc": auroc(detector.score(test.images), test.labels), **provenance()})
    return best


# ------------------------------------------------------------------------------------------------
# the report
def _by_method(records: list[dict[str, Any]], part: str) -> dict[str, dict[tuple[int, int], float]]:
    table: dict[str, dict[tuple[int, int], float]] = {}
    for r in records:
        if r["part"] == part:
            table.setdefault(r["method"], {})[(r["data_seed"], r["seed"])] = r["auroc"]
    return table


def _pairs(table: dict[str, dict], contrasts: tuple[tuple[str, str], ...]) -> dict[str, tuple[list[float], list[float]]]:
    """Each contrast ``a - b`` with two or more shared (data seed, seed) keys: its paired AUROCs."""
    pairs = {}
    for a, b in contrasts:
        if a in table and b in table:
            keys = sorted(set(table[a]) & set(table[b]))
            if len(keys) >= 2:
                pairs[f"{a} - {b}"] = ([table[a][k] for k in keys], [table[b][k] for k in keys])
    return pairs


def _family(table: dict[str, dict], contrasts: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    from stats import compare

    pairs = _pairs(table, contrasts)
    return compare(pairs) if pairs else []


def report_part(records: list[dict[str, Any]], part: str) -> str:
    """One part's pre-registered analysis: AUROC per method, the primary and the secondary contrasts (Holm each)."""
    from stats import format_contrasts

    table = _by_method(records, part)
    if not table:
        return f"no cell of part {part} has run yet\n"
    out = ["| method | n | AUROC mean +- std | min / max |", "| --- | --- | --- | --- |"]
    for method in METHODS[part]:
        values = list(table.get(method, {}).values())
        if values:
            spread = f" +- {statistics.stdev(values):.3f}" if len(values) > 1 else ""
            out.append(f"| {method} | {len(values)} | {statistics.fmean(values):.3f}{spread} | "
                       f"{min(values):.3f} / {max(values):.3f} |")
    for title, contrasts in (("Primary contrasts (Holm over the three)", PRIMARY[part]),
                             ("Secondary contrasts, exploratory (Holm over these)", SECONDARY[part])):
        rows = _family(table, contrasts)
        if rows:
            out += ["", f"{title}:", "", format_contrasts(rows)]
    return "\n".join(out) + "\n"


def report_primary(records: list[dict[str, Any]]) -> str:
    """The primary contrasts of both parts in one table (each part's three Holm-corrected together)."""
    from stats import format_contrasts

    rows = []
    for part in PRIMARY:
        for row in _family(_by_method(records, part), PRIMARY[part]):
            rows.append({**row, "name": f"{PART_TITLES[part]}: {row['name']}"})
    return format_contrasts(rows) + "\n" if rows else "no primary contrast has two seeds yet\n"


def report_selection(selection: list[dict[str, Any]]) -> str:
    """The label-free crop selection: each model's selection and test AUROC, the choice, their agreement."""
    from stats import correlation

    picked = [r for r in selection if r.get("kind") == "selection"]
    if not picked:
        return "the selection has not run yet\n"
    tested = {(r["crop_min"], r["seed"]): r["test_auroc"] for r in selection if r.get("kind") == "test_check"}
    out = ["| crop scale | seed | selection AUROC | test AUROC (scored after the choice) |", "| --- | --- | --- | --- |"]
    for r in sorted(picked, key=lambda r: (r["crop_min"], r["seed"])):
        test = tested.get((r["crop_min"], r["seed"]))
        out.append(f"| ({r['crop_min']}, 1) | {r['seed']} | {r['selection_auroc']:.3f} | "
                   f"{'-' if test is None else f'{test:.3f}'} |")
    choice = [r for r in selection if r.get("kind") == "choice"]
    if choice:
        means = ", ".join(f"{float(c):g}: {v:.3f}" for c, v in sorted(choice[-1]["mean_selection_auroc"].items(),
                                                                      key=lambda kv: float(kv[0])))
        out += ["", f"Chosen: crop scale ({choice[-1]['crop_min']}, 1); mean selection AUROC per crop: {means}."]
    keys = sorted(k for k in tested if any((r["crop_min"], r["seed"]) == k for r in picked))
    if len(keys) >= 3:
        sel = [next(r["selection_auroc"] for r in picked if (r["crop_min"], r["seed"]) == k) for k in keys]
        rho, p = correlation(sel, [tested[k] for k in keys], "spearman")
        out.append(f"Spearman correlation of the selection and the test AUROC over the {len(keys)} models: "
                   f"{rho:+.2f} (p = {p:.2g}).")
    return "\n".join(out) + "\n"


def report(records: list[dict[str, Any]], selection: list[dict[str, Any]]) -> str:
    """The whole pre-registered analysis (both parts and the selection)."""
    return "\n".join(f"### {title}\n\n{text}" for title, text in (
        ("Part 1: SARS-CoV-2", report_part(records, "sarscov2")), ("Part 2: embedded", report_part(records, "embedded")),
        ("The label-free crop selection", report_selection(selection))))


def plot(records: list[dict[str, Any]], path: Path) -> None:
    """Draw every contrast of both parts: the paired differences by seed, their mean and 95 % interval.

    One panel per part; primary contrasts above the line, secondary below. A contrast the Holm-corrected
    test calls better or worse is drawn dark, one it does not show is drawn grey.
    """
    from stats import verdict

    from dia_augment.utils.figures import new_figure, write_png

    figure = new_figure(11, 4.2, dpi=110)
    for i, part in enumerate(PRIMARY):
        ax = figure.add_subplot(1, len(PRIMARY), i + 1)
        table = _by_method(records, part)
        labels: list[str] = []
        y = 0.0
        for family in (PRIMARY[part], SECONDARY[part]):
            pairs = _pairs(table, family)
            for row in _family(table, family):
                a, b = pairs[row["name"]]
                shown = verdict(row) != f"not shown at n = {row['n']}"
                colour = "black" if shown else "0.6"
                ax.scatter([x - z for x, z in zip(a, b)], [y] * len(a), s=10, color="tab:blue", alpha=0.45, zorder=2)
                ax.plot([row["ci_low"], row["ci_high"]], [y, y], color=colour, lw=2.2, zorder=3)
                ax.scatter([row["mean"]], [y], color=colour, marker="D", s=28, zorder=4)
                labels.append(f"{row['name']}\nn = {row['n']}, Holm p = {row['p_holm']:.2g}")
                y -= 1
            if family is PRIMARY[part] and labels:
                ax.axhline(y + 0.5, color="0.8", lw=0.8)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_yticks([-k for k in range(len(labels))], labels, fontsize=7)
        ax.set_xlabel("paired difference of test AUROC (a - b)", fontsize=8)
        ax.set_title(f"{PART_TITLES[part]}: primary above the line, secondary below", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    figure.suptitle("dots: seeds; diamond and bar: mean and 95 % t interval (dark: Holm-corrected test shows it)",
                    fontsize=8)
    write_png(figure, path)


#: The docs tables of this experiment's committed results (printed by ``benchmarks/report.py``).
REPORT_TABLES = {
    "settling-sarscov2": lambda: report_part(read_lines(RESULTS / "settling.jsonl"), "sarscov2"),
    "settling-embedded": lambda: report_part(read_lines(RESULTS / "settling.jsonl"), "embedded"),
    "settling-selection": lambda: report_selection(read_lines(RESULTS / "settling_selection.jsonl")),
    "settling-primary": lambda: report_primary(read_lines(RESULTS / "settling.jsonl")),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=sorted(METHODS), help="run this part's cells")
    parser.add_argument("--select", action="store_true",
                        help="run the label-free crop selection of the embedded part (before --part embedded)")
    parser.add_argument("--report", action="store_true", help="print the pre-registered analysis of the results")
    parser.add_argument("--plot", type=Path, default=None,
                        help="draw the contrasts of the results as a PNG here (no training)")
    parser.add_argument("--out", type=Path, default=Path("runs/settling"), help="run folders and dissolvers")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="the JSON-lines results file")
    parser.add_argument("--train-only", action="store_true", help="train the cells' models without scoring them")
    parser.add_argument("--seeds", type=int, nargs="+", choices=SEEDS, help="run only these seeds' cells")
    parser.add_argument("--methods", nargs="+", help="run only these methods' cells")
    args = parser.parse_args(argv)
    if args.report or args.plot:
        if args.report:
            print(report(read_lines(args.results), read_lines(SELECTION_FILE)))
        if args.plot:
            plot(read_lines(args.results), args.plot)
        return
    if args.select:
        run_selection(args.out)
        return
    if args.part is None:
        parser.error("give --part, --select or --report")
    if args.part == "sarscov2" and not (DATA_ROOT / "sarscov2-ct").is_dir():
        sys.exit(f"the SARS-CoV-2 data is not at {DATA_ROOT / 'sarscov2-ct'}: see shared/data/README.md")
    unknown = sorted(set(args.methods or ()) - set(METHODS[args.part]))
    if unknown:
        parser.error(f"--methods {' '.join(unknown)}: not a method of part {args.part} ({', '.join(METHODS[args.part])})")
    run_part(args.part, args.out, args.results, args.train_only, args.seeds, args.methods)


if __name__ == "__main__":
    main()
