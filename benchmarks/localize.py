"""Where do the anomaly maps point? Pixel AUROC and pointing game against the embedded lesions.

For each (mode, seed) cell: train a model with ``examples/train_csi.py`` (its defaults, or the
budget given here), fit a detector on the normal training images, then compute every map
method on the anomalous test images of the embedded set, whose lesion masks are exact (the
anomalies are clean images plus lesions at known pixels), and record per method the pixel-level
AUROC, the pointing-game hit rate (tolerance 1 px) and the seconds per image. One JSON line per
(mode, seed, method) in ``--out/results.jsonl``; finished cells are skipped on a rerun.

The occlusion, integrated-gradient and residual maps dissolve with the DDPM dissolver that the
DIA run of the same seed trained (a CSI run has none of its own: it borrows that one, so the
two modes are compared with the same dissolved images).

Run (2-core CPU; a cell is one training run of the example, about 7 minutes at its defaults):
    python benchmarks/localize.py --out runs/localize --modes csi dia --seeds 0 1
    python benchmarks/localize.py --out runs/localize --report docs/localize_table.md --plot docs/images/localize.png

``--figure`` draws the maps of a trained run over a few anomalous test images instead (with the
lesion masks on the embedded set; any data source otherwise, e.g. real CT scans):
    python benchmarks/localize.py --figure docs/images/maps_embedded.png --run runs/localize/dia-0/model \
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
METHODS = ("smoothgrad", "integrated", "occlusion", "residual")


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("train_csi_example", ROOT / "examples" / "train_csi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train_cell(args: argparse.Namespace, mode: str, seed: int) -> Path:
    """The folder of the example's run for (mode, seed), trained (or resumed) if not finished."""
    cell = Path(args.out) / f"{mode}-{seed}"
    if not (cell / "metrics.json").exists():
        argv = ["--mode", mode, "--seed", str(seed), "--out", str(cell), "--epochs", str(args.epochs),
                "--image-size", str(args.image_size), "--dissolver-steps", str(args.dissolver_steps), "--no-progress"]
        load_example().main(argv + (["--resume"] if cell.exists() else []))
    return cell


def run_cell(args: argparse.Namespace, mode: str, seed: int, results: Path) -> None:
    import torch

    from dia_augment.data import load_one_class, make_embedded_anomalies
    from dia_augment.detect import AnomalyDetector
    from dia_augment.score import ScoreConfig
    from dia_augment.filters import DDPMDissolving
    from dia_augment.localize import anomaly_map, pixel_auroc, pointing_game
    from dia_augment.train import load_model

    dissolver = DDPMDissolving.from_pretrained(train_cell(args, "dia", seed) / "dissolver_run" / "dissolver")
    cell = train_cell(args, mode, seed)
    model, config = load_model(cell / "model")
    train = load_one_class("embedded", "train", image_size=args.image_size, seed=seed)
    detector = AnomalyDetector.fit(model.eval(), train.images, config=ScoreConfig(num_views=args.num_views, seed=seed),
                                   shift=config.shift, progress=False)
    _, anomalous, masks = make_embedded_anomalies(args.num_images, args.image_size, seed)
    masks = masks[:, 0]
    image_auroc = json.loads((cell / "metrics.json").read_text())["metrics"]["auroc"]
    chance = float(torch.nn.functional.max_pool2d(masks[:, None].float(), 3, 1, 1).mean())
    for method in args.methods:
        start = time.perf_counter()
        maps = anomaly_map(
            detector, anomalous, method, dissolver=dissolver, step=args.step,
            generator=torch.Generator().manual_seed(seed),
        )
        seconds = (time.perf_counter() - start) / anomalous.shape[0]
        record = {
            "mode": mode, "seed": seed, "method": method, "pixel_auroc": pixel_auroc(maps, masks),
            "pointing_game": pointing_game(maps, masks, tolerance=1), "chance_pointing": chance,
            "seconds_per_image": seconds, "image_auroc": image_auroc, "score_method": detector.method,
            "num_images": int(anomalous.shape[0]), "epochs": args.epochs, "image_size": args.image_size,
            "step": args.step,
        }
        with results.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record))


def report(records: list[dict[str, Any]]) -> str:
    """A Markdown table: mean +- std over seeds of each (mode, method).

    Examples:
        >>> rows = [{"mode": "csi", "method": "occlusion", "seed": s, "pixel_auroc": a, "pointing_game": p,
        ...          "seconds_per_image": 0.5, "image_auroc": 0.8, "chance_pointing": 0.1}
        ...         for s, a, p in [(0, 0.7, 0.2), (1, 0.9, 0.4)]]
        >>> print(report(rows).splitlines()[2])
        | csi | occlusion | 0.800 +- 0.141 | 0.300 +- 0.141 | 0.100 | 0.800 | 0.50 | 2 |
    """

    def spread(values: list[float]) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} +- {sd:.3f}"

    lines = [
        "| mode | map | pixel AUROC | pointing game (1 px) | pointing by chance | image AUROC | s / image | seeds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    keys = sorted({(r["mode"], r["method"]) for r in records}, key=lambda k: (k[0], METHODS.index(k[1]) if k[1] in METHODS else 9))
    for mode, method in keys:
        rows = [r for r in records if r["mode"] == mode and r["method"] == method]
        lines.append(
            f"| {mode} | {method} | {spread([r['pixel_auroc'] for r in rows])} | "
            f"{spread([r['pointing_game'] for r in rows])} | {statistics.mean(r['chance_pointing'] for r in rows):.3f} | "
            f"{statistics.mean(r['image_auroc'] for r in rows):.3f} | "
            f"{statistics.mean(r['seconds_per_image'] for r in rows):.2f} | {len(rows)} |"
        )
    return "\n".join(lines)


def plot(records: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dia_augment.utils.io import atomic_open

    modes = sorted({r["mode"] for r in records})
    methods = [m for m in METHODS if any(r["method"] == m for r in records)]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, title in ((axes[0], "pixel_auroc", "pixel AUROC"), (axes[1], "pointing_game", "pointing game (1 px)")):
        width = 0.8 / max(len(modes), 1)
        for i, mode in enumerate(modes):
            means, sds = [], []
            for method in methods:
                values = [r[key] for r in records if r["mode"] == mode and r["method"] == method]
                means.append(statistics.mean(values) if values else 0)
                sds.append(statistics.stdev(values) if len(values) > 1 else 0)
            ax.bar([j + i * width for j in range(len(methods))], means, width, yerr=sds, label=mode, capsize=3)
        ax.set_xticks([j + width * (len(modes) - 1) / 2 for j in range(len(methods))], methods)
        ax.set_title(title)
        if key == "pixel_auroc":
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    axes[0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def map_figure(args: argparse.Namespace) -> None:
    """Draw every map method over the most anomalous test images of ``--data`` for the model in ``--run``."""
    import torch

    from dia_augment.data import load_one_class, make_embedded_anomalies
    from dia_augment.detect import AnomalyDetector
    from dia_augment.score import ScoreConfig
    from dia_augment.filters import DDPMDissolving
    from dia_augment.train import load_model
    from dia_augment.utils.figures import new_figure, write_png

    model, config = load_model(args.run)
    size = args.load_size or config.image_size
    train = load_one_class(args.data, "train", args.normal_class, image_size=size, seed=args.data_seed)
    detector = AnomalyDetector.fit(model.eval(), train.images, config=ScoreConfig(num_views=args.num_views),
                                   shift=config.shift, progress=False)
    dissolver = DDPMDissolving.from_pretrained(args.dissolver_path) if args.dissolver_path else None
    if args.data == "embedded":
        _, images, masks = make_embedded_anomalies(args.num_images, size, args.data_seed)
    else:
        test = load_one_class(args.data, "test", args.normal_class, image_size=size, seed=args.data_seed)
        images, masks = test.images[test.labels == 1][: args.num_images], None
    top = detector.score(images).argsort(descending=True)[: args.figure_rows]
    images, masks = images[top], (masks[top] if masks is not None else None)
    maps = {m: detector.anomaly_map(images, m, dissolver=dissolver, step=args.step,
                                    generator=torch.Generator().manual_seed(0)) for m in args.methods}
    columns = ["image"] + (["lesions"] if masks is not None else []) + list(maps)
    figure = new_figure(1.6 * len(columns), 1.6 * len(images) + 0.4)
    for r, image in enumerate(images):
        gray = image.mean(0) if image.shape[0] == 3 else image[0]
        panels = [("image", None)] + ([("lesions", masks[r, 0].float())] if masks is not None else [])
        panels += [(m, maps[m][r]) for m in maps]
        for c, (name, overlay) in enumerate(panels):
            ax = figure.add_subplot(len(images), len(columns), r * len(columns) + c + 1)
            if image.shape[0] == 3:
                ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
            else:
                ax.imshow(gray.numpy(), cmap="gray", vmin=0, vmax=1)
            if overlay is not None:
                heat = overlay.clamp(min=0)
                ax.imshow((heat / heat.max().clamp(min=1e-12)).numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
            if r == 0:
                ax.set_title(name, fontsize=8)
            ax.axis("off")
    figure.suptitle(f"{config.mode} model, {args.data}: most anomalous test images and their maps", fontsize=8)
    write_png(figure, Path(args.figure))
    print(f"wrote {args.figure}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/localize")
    parser.add_argument("--modes", nargs="+", default=["csi", "dia"], choices=["csi", "dia", "simclr"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (the example's default)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--dissolver-steps", type=int, default=600, help="DDPM dissolver training steps (the example's default)")
    parser.add_argument("--num-images", type=int, default=100, help="anomalous test images to map")
    parser.add_argument("--num-views", type=int, default=10, help="the detector's test-time views")
    parser.add_argument("--step", type=int, default=60, help="dissolving step of the dissolved image")
    parser.add_argument("--figure", default=None, help="draw the maps of --run over anomalous test images to this PNG")
    parser.add_argument("--run", default=None, help="with --figure: a trained model's folder")
    parser.add_argument("--data", default="embedded", help="with --figure: the data source")
    parser.add_argument("--normal-class", default=None, help="with --figure: the normal class")
    parser.add_argument("--data-seed", type=int, default=0, help="with --figure: the split / generation seed")
    parser.add_argument("--load-size", type=int, default=None, help="with --figure: image size (default: the model's)")
    parser.add_argument("--dissolver-path", default=None, help="with --figure: the DDPM dissolver of the maps")
    parser.add_argument("--figure-rows", type=int, default=4, help="with --figure: images drawn")
    parser.add_argument("--report", default=None, help="write the Markdown table here (no training)")
    parser.add_argument("--plot", default=None, help="write the bar plot here (no training)")
    args = parser.parse_args(argv)
    if args.figure:
        if args.run is None:
            sys.exit("--figure needs --run (a trained model's folder)")
        map_figure(args)
        return
    results = Path(args.out) / "results.jsonl"
    if args.report or args.plot:
        records = read_results(results)
        if not records:
            sys.exit(f"no results in {results}: run the cells first")
        if args.report:
            Path(args.report).write_text(report(records) + "\n")
            print(report(records))
        if args.plot:
            plot(records, Path(args.plot))
        return
    results.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["mode"], r["seed"]) for r in read_results(results)}
    for seed in args.seeds:
        for mode in sorted(args.modes, key=lambda m: m != "dia"):
            if (mode, seed) not in done:
                run_cell(args, mode, seed, results)


if __name__ == "__main__":
    main()
