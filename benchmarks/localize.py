"""Where do the anomaly maps point? Pixel AUROC and pointing game against the embedded lesions.

For each (mode, seed) cell: train a model with ``examples/train_csi.py`` at the budget given here
(its run folder under ``--out``, git-ignored), load the detector that run saved (its fixed
test-time views, fitted on the run's normal training images), then compute every map method on
anomalous test images of the embedded set, whose lesion masks are exact (the anomalies are clean
images plus lesions at known pixels), and record per method:

- ``pixel_auroc``: every pixel of the mapped images a sample, the lesion mask the label;
- ``abs_pixel_auroc``: the same, ranking the pixels by the map's absolute value (for the signed
  maps, integrated gradients and occlusion; the unsigned ones are their own absolute value).
  ``dia_augment.localize`` has no such option: it is computed here, ``pixel_auroc(maps.abs(), masks)``;
- ``pointing_game`` (and ``abs_pointing_game``): the share of images whose map maximum lies in a
  lesion grown by 1 px; ``chance_pointing``, the grown masks' share of the image;
- the seconds per image of the map, the image AUROC of the run, the training precision that the
  example's ``--mixed-precision`` became and the training wall time.

One JSON line per (mode, seed, method) is appended to ``benchmarks/results/localize.jsonl`` with
the command, commit, version, device and threads (``_record.provenance``); a finished line is
skipped on a rerun, so the script can be stopped and started again. The occlusion, integrated-
gradient and residual maps dissolve with the DDPM dissolver that the DIA run of the same seed
trained (a CSI run has none of its own: it borrows that one, so the two modes are mapped with the
same dissolved images). The maps are computed in float32 (the detector's score function, no autocast).

Run (one thread; a shared 2-core CPU), then print the tables and draw the bar plot:

    OMP_NUM_THREADS=1 python benchmarks/localize.py --out runs/localize --modes csi dia --seeds 0 1 2 --epochs 5 --num-images 50 --num-views 4
    python benchmarks/localize.py --report --plot docs/images/localize.png

``--figure`` draws the maps of a trained run over its most anomalous test images instead (with the
lesion masks on the embedded set; any data source otherwise, e.g. real CT scans):

    python benchmarks/localize.py --figure docs/images/maps_embedded.png --run runs/localize/dia-0/model \\
        --dissolver-path runs/localize/dia-0/dissolver_run/dissolver --data embedded
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _record import RESULTS, append_line, provenance, read_lines  # noqa: E402

RESULTS_FILE = RESULTS / "localize.jsonl"
METHODS = ("smoothgrad", "integrated", "occlusion", "residual")
#: The maps whose values are signed (their absolute value ranks differently).
SIGNED = ("integrated", "occlusion")
#: The settings that make one budget: records of different budgets are never pooled.
BUDGET = ("epochs", "image_size", "dissolver_steps", "num_views", "step", "precision")


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("train_csi_example", ROOT / "examples" / "train_csi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def budget_of(args: argparse.Namespace) -> dict[str, Any]:
    return {"epochs": args.epochs, "image_size": args.image_size, "dissolver_steps": args.dissolver_steps,
            "num_views": args.num_views, "step": args.step, "precision": args.precision}


def train_cell(args: argparse.Namespace, mode: str, seed: int) -> Path:
    """The folder of the example's run for (mode, seed), trained (or resumed) if not finished."""
    cell = Path(args.out) / f"{mode}-{seed}"
    if not (cell / "metrics.json").exists():
        argv = ["--mode", mode, "--seed", str(seed), "--out", str(cell), "--epochs", str(args.epochs),
                "--image-size", str(args.image_size), "--dissolver-steps", str(args.dissolver_steps),
                "--num-views", str(args.num_views), "--mixed-precision", args.precision, "--no-progress"]
        load_example().main(argv + (["--resume"] if cell.exists() else []))
    return cell


def run_cell(args: argparse.Namespace, mode: str, seed: int, methods: list[str]) -> None:
    """Map the anomalous test images with each of ``methods`` for the (mode, seed) run; one line each."""
    import torch

    from dia_augment.data import make_embedded_anomalies
    from dia_augment.detect import AnomalyDetector
    from dia_augment.filters import DDPMDissolving
    from dia_augment.localize import anomaly_map, pixel_auroc, pointing_game

    dissolver = DDPMDissolving.from_pretrained(train_cell(args, "dia", seed) / "dissolver_run" / "dissolver")
    cell = train_cell(args, mode, seed)
    metrics = json.loads((cell / "metrics.json").read_text())
    run = json.loads((cell / "model" / "run.json").read_text())
    detector = AnomalyDetector.from_pretrained(cell / "model" / "detector", progress=False)
    _, anomalous, masks = make_embedded_anomalies(args.num_images, args.image_size, seed)
    masks = masks[:, 0]
    for method in methods:
        count = args.occlusion_images if method == "occlusion" and args.occlusion_images else args.num_images
        images, truth = anomalous[:count], masks[:count]
        chance = float(torch.nn.functional.max_pool2d(truth[:, None].float(), 3, 1, 1).mean())
        torch.manual_seed(seed)
        start = time.perf_counter()
        maps = anomaly_map(detector, images, method, dissolver=dissolver, step=args.step,
                           generator=torch.Generator().manual_seed(seed))
        wall = time.perf_counter() - start
        record = {
            "mode": mode, "seed": seed, "method": method,
            "pixel_auroc": pixel_auroc(maps, truth), "abs_pixel_auroc": pixel_auroc(maps.abs(), truth),
            "pointing_game": pointing_game(maps, truth, tolerance=1),
            "abs_pointing_game": pointing_game(maps.abs(), truth, tolerance=1),
            "chance_pointing": chance, "num_images": int(images.shape[0]),
            "seconds_per_image": wall / images.shape[0], "map_wall_s": round(wall, 1),
            "image_auroc": metrics["metrics"]["auroc"], "score_method": detector.method,
            **budget_of(args), "precision_used": run.get("mixed_precision_used"), "map_precision": "float32",
            "score_precision": detector.config.mixed_precision,
            "train_wall_s": round(metrics["timings"]["total_s"], 1), "wall_s": round(wall, 1), **provenance(),
        }
        append_line(Path(args.results), record)
        print(json.dumps({k: record[k] for k in ("mode", "seed", "method", "pixel_auroc", "abs_pixel_auroc",
                                                 "pointing_game", "seconds_per_image")}), flush=True)


def _budget(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The one budget of ``records`` (a ValueError when they mix budgets)."""
    budgets = {json.dumps({k: r.get(k) for k in BUDGET}, sort_keys=True) for r in records}
    if len(budgets) > 1:
        raise ValueError(f"the results mix budgets {sorted(budgets)}: keep one per results file")
    return json.loads(budgets.pop())


def _order(method: str) -> int:
    return METHODS.index(method) if method in METHODS else len(METHODS)


def table(records: list[dict[str, Any]]) -> str:
    """The Markdown table of ``records``: mean +- std over seeds of each (mode, map), and the budget.

    Examples:
        >>> rows = [{"mode": "csi", "method": "occlusion", "seed": s, "pixel_auroc": a, "abs_pixel_auroc": a + 0.1,
        ...          "pointing_game": p, "seconds_per_image": 0.5, "image_auroc": 0.8, "chance_pointing": 0.1,
        ...          "num_images": 20, "epochs": 5, "precision_used": "bf16"}
        ...         for s, a, p in [(0, 0.7, 0.2), (1, 0.9, 0.4)]]
        >>> print(table(rows).splitlines()[2])
        | csi | occlusion | 0.800 +- 0.141 | 0.900 +- 0.141 | 0.300 +- 0.141 | 0.100 | 0.800 | 20 | 0.50 | 2 |
    """
    if not records:
        return "no results yet\n"

    def spread(values: list[float]) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} +- {sd:.3f}"

    lines = [
        "| mode | map | pixel AUROC | pixel AUROC of \\|map\\| | pointing game (1 px) | pointing by chance | "
        "image AUROC | images / seed | s / image | seeds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, method in sorted({(r["mode"], r["method"]) for r in records}, key=lambda k: (k[0], _order(k[1]))):
        rows = sorted((r for r in records if r["mode"] == mode and r["method"] == method), key=lambda r: r["seed"])
        absolute = spread([r["abs_pixel_auroc"] for r in rows]) if method in SIGNED else "(unsigned map)"
        images = "/".join(str(n) for n in sorted({r["num_images"] for r in rows}))
        lines.append(
            f"| {mode} | {method} | {spread([r['pixel_auroc'] for r in rows])} | {absolute} | "
            f"{spread([r['pointing_game'] for r in rows])} | {statistics.mean(r['chance_pointing'] for r in rows):.3f} | "
            f"{statistics.mean(r['image_auroc'] for r in rows):.3f} | {images} | "
            f"{statistics.mean(r['seconds_per_image'] for r in rows):.2f} | {len(rows)} |"
        )
    return "\n".join(lines) + "\n"


def budget_line(records: list[dict[str, Any]]) -> str:
    """One sentence naming the budget, precision and seeds of ``records``."""
    if not records:
        return "no results yet\n"
    b = _budget(records)
    used = "/".join(sorted({str(r.get("precision_used")) for r in records}))
    seeds = " ".join(str(s) for s in sorted({r["seed"] for r in records}))
    methods: dict[str, dict[int, str]] = {}
    walls: dict[str, dict[int, float]] = {}
    for r in records:
        methods.setdefault(r["mode"], {})[r["seed"]] = r["score_method"]
        walls.setdefault(r["mode"], {})[r["seed"]] = r["train_wall_s"]
    train = ", ".join(f"{mode} {statistics.mean(w.values()) / 60:.1f} min" for mode, w in sorted(walls.items()))
    scores = "; ".join(f"{mode} runs " + ", ".join(f"{name} x {list(by_seed.values()).count(name)}"
                                                  for name in sorted(set(by_seed.values())))
                       for mode, by_seed in sorted(methods.items()))
    return (f"Seeds {seeds}; {b['epochs']} epochs at {b['image_size']} px, a DDPM dissolver of {b['dissolver_steps']} "
            f"steps, T = {b['num_views']} test-time views, dissolving step {b['step']}; training precision "
            f"{b['precision']} (used: {used}), maps in float32; image score ({scores}; SimCLR where CSI's shift weight is "
            f"undefined); training wall time a run, mean ({train}; a DIA run trains its dissolver too).\n")


def contrasts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The one family of the page's comparisons, Holm-corrected together (``stats.compare``).

    Per map method, DIA - CSI paired by seed for pixel AUROC and the pointing game; per signed map
    and mode, the pixel AUROC of the absolute map - that of the signed map, paired by seed.
    """
    from stats import compare

    def values(mode: str, method: str, key: str) -> dict[int, float]:
        return {r["seed"]: r[key] for r in records if r["mode"] == mode and r["method"] == method}

    pairs: dict[str, tuple[list[float], list[float]]] = {}
    methods = sorted({r["method"] for r in records}, key=_order)
    for method in methods:
        for key, label in (("pixel_auroc", "pixel AUROC"), ("pointing_game", "pointing game")):
            dia, csi = values("dia", method, key), values("csi", method, key)
            seeds = sorted(set(dia) & set(csi))
            if len(seeds) >= 2:
                pairs[f"DIA - CSI, {method}, {label}"] = ([dia[s] for s in seeds], [csi[s] for s in seeds])
    for method in (m for m in methods if m in SIGNED):
        for mode in sorted({r["mode"] for r in records}):
            absolute, signed = values(mode, method, "abs_pixel_auroc"), values(mode, method, "pixel_auroc")
            seeds = sorted(set(absolute) & set(signed))
            if len(seeds) >= 2:
                pairs[f"abs - signed, {method} ({mode}), pixel AUROC"] = (
                    [absolute[s] for s in seeds], [signed[s] for s in seeds])
    return compare(pairs) if pairs else []


def contrast_table(records: list[dict[str, Any]]) -> str:
    """The Markdown table of :func:`contrasts` (``stats.format_contrasts``: Holm over the whole family)."""
    from stats import format_contrasts

    rows = contrasts(records)
    if not rows:
        return "no paired results yet\n"
    return format_contrasts(rows) + "\n"


def summary(records: list[dict[str, Any]]) -> str:
    """The budget sentence and the table of means of ``records``."""
    if not records:
        return "no results yet\n"
    return budget_line(records) + "\n" + table(records)


def report(records: list[dict[str, Any]]) -> str:
    """The budget, the table of means and the contrasts of ``records``."""
    if not records:
        return "no results yet\n"
    return summary(records) + "\n" + contrast_table(records)


#: The docs tables of the committed results (printed by ``benchmarks/report.py``).
REPORT_TABLES = {
    "localize": lambda: summary(read_lines(RESULTS_FILE)),
    "localize-contrasts": lambda: contrast_table(read_lines(RESULTS_FILE)),
}


def plot(records: list[dict[str, Any]], path: Path) -> None:
    """Bars of the mean (and std over seeds) per map and mode: pixel AUROC, the same of |map|, pointing game."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dia_augment.utils.io import atomic_open

    modes = sorted({r["mode"] for r in records})
    methods = [m for m in METHODS if any(r["method"] == m for r in records)]
    panels = (("pixel_auroc", "pixel AUROC"), ("abs_pixel_auroc", "pixel AUROC of |map|"),
              ("pointing_game", "pointing game (1 px)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.4))
    seeds = len({r["seed"] for r in records})
    for ax, (key, title) in zip(axes, panels):
        width = 0.8 / max(len(modes), 1)
        for i, mode in enumerate(modes):
            means, sds = [], []
            for method in methods:
                values = [r[key] for r in records if r["mode"] == mode and r["method"] == method]
                means.append(statistics.mean(values) if values else 0)
                sds.append(statistics.stdev(values) if len(values) > 1 else 0)
            ax.bar([j + i * width for j in range(len(methods))], means, width, yerr=sds, label=mode, capsize=3)
        ax.set_xticks([j + width * (len(modes) - 1) / 2 for j in range(len(methods))], methods, fontsize=8)
        ax.set_title(title, fontsize=9)
        if key == "pointing_game":
            chance = statistics.mean(r["chance_pointing"] for r in records)
            ax.axhline(chance, color="grey", lw=0.8, ls="--", label="chance")
        else:
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"mean +- std over {seeds} seeds", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def map_figure(args: argparse.Namespace) -> None:
    """Draw every map method over the most anomalous test images of ``--data`` for the model in ``--run``.

    With a ``detector`` folder in ``--run`` (what ``examples/train_csi.py`` saves), that detector
    scores and maps; otherwise one is fitted on the normal training images of ``--data``.
    """
    import torch

    from dia_augment.data import load_one_class, make_embedded_anomalies
    from dia_augment.detect import AnomalyDetector
    from dia_augment.filters import DDPMDissolving
    from dia_augment.score import ScoreConfig
    from dia_augment.train import load_model
    from dia_augment.utils.figures import new_figure, write_png

    model, config = load_model(args.run)
    size = args.load_size or config.image_size
    if (Path(args.run) / "detector").is_dir():
        detector = AnomalyDetector.from_pretrained(Path(args.run) / "detector", progress=False)
    else:
        train = load_one_class(args.data, "train", args.normal_class, load_size=size, seed=args.data_seed)
        detector = AnomalyDetector.fit(model.eval(), train.images, config=ScoreConfig(num_views=args.num_views),
                                       shift=config.shift, progress=False)
    dissolver = DDPMDissolving.from_pretrained(args.dissolver_path) if args.dissolver_path else None
    if args.data == "embedded":
        _, images, masks = make_embedded_anomalies(args.num_images, size, args.data_seed)
    else:
        test = load_one_class(args.data, "test", args.normal_class, load_size=size, seed=args.data_seed)
        images, masks = test.images[test.labels == 1][: args.num_images], None
    top = detector.score(images).argsort(descending=True)[: args.figure_rows]
    images, masks = images[top], (masks[top] if masks is not None else None)
    torch.manual_seed(args.data_seed)
    maps = {m: detector.anomaly_map(images, m, dissolver=dissolver, step=args.step,
                                    generator=torch.Generator().manual_seed(args.data_seed)) for m in args.methods}
    columns = ["image"] + (["lesions"] if masks is not None else []) + list(maps)
    figure = new_figure(1.6 * len(columns), 1.6 * len(images) + 0.4)
    for r, image in enumerate(images):
        gray = image.mean(0) if image.shape[0] == 3 else image[0]
        panels = [("image", None)] + ([("lesions", masks[r, 0].float())] if masks is not None else [])
        panels += [(f"|{m}|" if m in SIGNED else m, maps[m][r].abs()) for m in maps]
        for c, (name, overlay) in enumerate(panels):
            ax = figure.add_subplot(len(images), len(columns), r * len(columns) + c + 1)
            if image.shape[0] == 3:
                ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
            else:
                ax.imshow(gray.numpy(), cmap="gray", vmin=0, vmax=1)
            if overlay is not None:
                ax.imshow((overlay / overlay.max().clamp(min=1e-12)).numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
            if r == 0:
                ax.set_title(name, fontsize=8)
            ax.axis("off")
    figure.suptitle(f"{config.mode} model, {args.data}: most anomalous test images and their maps", fontsize=8)
    write_png(figure, Path(args.figure))
    print(f"wrote {args.figure}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/localize", help="the folder of the per-cell training runs")
    parser.add_argument("--results", default=str(RESULTS_FILE), help="the JSON lines file of the results")
    parser.add_argument("--modes", nargs="+", default=["csi", "dia"], choices=["csi", "dia", "simclr"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (the example's default)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--dissolver-steps", type=int, default=600, help="DDPM dissolver training steps (the example's default)")
    parser.add_argument("--precision", default="auto", choices=["auto", "no", "bf16"],
                        help="the example's --mixed-precision (training; the maps are computed in float32)")
    parser.add_argument("--num-images", type=int, default=100, help="anomalous test images to map")
    parser.add_argument("--occlusion-images", type=int, default=None,
                        help="anomalous test images for occlusion (the first of --num-images; default: all)")
    parser.add_argument("--num-views", type=int, default=10, help="the detector's fixed test-time views (the example's)")
    parser.add_argument("--step", type=int, default=60, help="dissolving step of the dissolved image")
    parser.add_argument("--figure", default=None, help="draw the maps of --run over anomalous test images to this PNG")
    parser.add_argument("--run", default=None, help="with --figure: a trained model's folder")
    parser.add_argument("--data", default="embedded", help="with --figure: the data source")
    parser.add_argument("--normal-class", default=None, help="with --figure: the normal class")
    parser.add_argument("--data-seed", type=int, default=0, help="with --figure: the split / generation seed")
    parser.add_argument("--load-size", type=int, default=None, help="with --figure: image size (default: the model's)")
    parser.add_argument("--dissolver-path", default=None, help="with --figure: the DDPM dissolver of the maps")
    parser.add_argument("--figure-rows", type=int, default=4, help="with --figure: images drawn")
    parser.add_argument("--report", action="store_true", help="print the tables of --results (no training)")
    parser.add_argument("--plot", default=None, help="draw the bar plot of --results here (no training)")
    args = parser.parse_args(argv)
    if args.figure:
        if args.run is None:
            sys.exit("--figure needs --run (a trained model's folder)")
        map_figure(args)
        return
    results = Path(args.results)
    if args.report or args.plot:
        records = read_lines(results)
        if not records:
            sys.exit(f"no results in {results}: run the cells first")
        if args.report:
            print(report(records), end="")
        if args.plot:
            plot(records, Path(args.plot))
            print(f"wrote {args.plot}")
        return
    budget = budget_of(args)
    done = {(r["mode"], r["seed"], r["method"]) for r in read_lines(results)
            if all(r.get(k) == v for k, v in budget.items())}
    for seed in args.seeds:
        for mode in sorted(args.modes, key=lambda m: m != "dia"):
            todo = [m for m in args.methods if (mode, seed, m) not in done]
            if todo:
                run_cell(args, mode, seed, todo)


if __name__ == "__main__":
    main()
