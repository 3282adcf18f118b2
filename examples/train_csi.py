"""Train and score DIA (or CSI / SimCLR) end to end on one data set.

0. Hold a seeded 20 % of the normal training images out (for the detector's threshold).
1. Train (or load) a DDPM dissolver on the other normal training images.
2. Train a ResNet-18 in ``dia`` mode (or ``csi`` / ``simclr``) on the same images.
3. Build the detector (CSI statistics over fixed test-time views, a threshold keeping 95 % of the
   held-out normals below it), save it to ``--out/model/detector`` and score the test set with it.
4. Print the AUROC and write ``metrics.json``, ``roc.png`` and ``dissolve_grid.png`` to ``--out``;
   ``dia-augment predict --detector OUT/model/detector --images NEW_IMAGES --out ...`` uses the detector.

With no flags it runs on the embedded data set (generated fundus-like images; anomalies carry a
few tiny lesions) and finishes in a few minutes on a 2-core CPU:

    python examples/train_csi.py

On your own folder (``root/<class>/*.png``), a MedMNIST ``.npz`` or a paper data set:

    python examples/train_csi.py --data path/to/folder --normal-class normal
    python examples/train_csi.py --data ../shared/data/retinamnist.npz --normal-class 0
    python examples/train_csi.py --data sarscov2:../shared/data/sarscov2-ct --image-size 64

Every file is written atomically; ``--resume`` continues an interrupted run (the dissolver and
the model training both checkpoint). ``--mixed-precision auto`` (the default) trains and scores in
bf16 on a CPU with bf16 units (AMX, AVX-512 BF16) or a GPU that has them, with the model in
channels_last, and in float32 elsewhere; ``--mixed-precision no`` asks for float32:

    python examples/train_csi.py --mixed-precision no

DICOM, NIfTI and manifests take the data options of ``dia-augment train`` (``--group-by``,
``--window``, ``--channels``, ``--slice-axis``, ``--slices``); ``--dissolve-cache DIR`` dissolves
the training images once and reads the views from there (docs/dissolve_cache.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

from dia_augment.data.arguments import add_data_arguments, data_kwargs

DEFAULTS = {
    "data": "embedded",
    "mode": "dia",
    "dissolver": "ddpm",
    "shift": "rotation",
    "image_size": 32,
    "dissolver_resolution": 16,
    "dissolver_preset": "tiny",
    "dissolver_steps": 600,
    "model": "resnet18",
    "width": 16,
    "epochs": 15,
    # chosen without test labels: the label-free selection score (dia-augment select) of CSI on these images, at
    # this budget, ranked (0.2, 1) first among 0.08 / 0.2 / 0.5 (benchmarks/results/settling_selection.jsonl)
    "crop_min": 0.2,
    "batch_size": 32,
    "lr": 0.1,
    "num_views": 10,
    "seed": 0,
    "mixed_precision": "auto",
    "cache_steps": 8,
    "cache_draws": 1,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = DEFAULTS
    p.add_argument("--data", default=d["data"], help="'embedded', a folder, a MedMNIST .npz, or RECIPE:ROOT")
    p.add_argument("--normal-class", default=None, help="the normal class (default: the source's own)")
    p.add_argument("--mode", default=d["mode"], choices=["dia", "csi", "simclr"])
    p.add_argument("--dissolver", default=d["dissolver"], choices=["ddpm", "sd", "gaussian", "median", "resize"])
    p.add_argument("--dissolver-path", default=None, help="a saved DDPM dissolver (or SD pipeline); trained when omitted")
    p.add_argument("--dissolver-resolution", type=int, default=d["dissolver_resolution"])
    p.add_argument("--dissolver-preset", default=d["dissolver_preset"], choices=["micro", "tiny", "ddpm-cifar10", "dia-reference"])
    p.add_argument("--dissolver-steps", type=int, default=d["dissolver_steps"], help="DDPM training steps")
    p.add_argument("--shift", default=d["shift"], choices=["rotation", "cutperm"])
    p.add_argument("--image-size", type=int, default=d["image_size"], help="the backbone's input size")
    p.add_argument("--model", default=d["model"], choices=["resnet18", "resnet18_imagenet"])
    p.add_argument("--width", type=int, default=d["width"], help="ResNet width (64 = standard)")
    p.add_argument("--epochs", type=int, default=d["epochs"])
    p.add_argument("--crop-min", type=float, default=d["crop_min"], help="smallest SimCLR crop scale (paper: 0.08; 0.2 was chosen by the label-free selection score)")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--lr", type=float, default=d["lr"])
    p.add_argument("--num-views", type=int, default=d["num_views"], help="the detector's fixed test-time views T")
    p.add_argument("--lesion-sigma", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="embedded data: the lesions' size range (standard deviation in pixels; default 0.6-1.1 at 64 px)")
    p.add_argument("--lesion-opacity", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="embedded data: the lesions' contrast range (opacity in (0, 1]; default 0.6-0.9)")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--mixed-precision", default=d["mixed_precision"], choices=["auto", "no", "bf16"],
                   help="train the dissolver and the model under bf16 autocast (the DIA dissolve included)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="train the model in channels_last (NHWC) layout (default: when training in bf16)")
    p.add_argument("--dissolve-cache", default=None, metavar="DIR",
                   help="dissolve every training image once into DIR (a grid of --cache-steps steps, --cache-draws "
                   "noise draws each) and read the dissolved views from there at every step")
    p.add_argument("--cache-steps", type=int, default=d["cache_steps"], help="the dissolve cache's grid of steps")
    p.add_argument("--cache-draws", type=int, default=d["cache_draws"], help="the dissolve cache's noise draws per step")
    add_data_arguments(p, test_split=True)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", default="runs/train_csi", help="output folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--overwrite", action="store_true", help="start again, replacing the runs already in --out")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p.parse_args(argv)


def dissolver_config(args: argparse.Namespace) -> Any:
    """The DDPM dissolver's ``DissolverTrainConfig`` from the example's options."""
    from dia_augment.train import DissolverTrainConfig

    return DissolverTrainConfig(
        resolution=args.dissolver_resolution,
        preset=args.dissolver_preset,
        train_steps=args.dissolver_steps,
        checkpoint_every=max(args.dissolver_steps // 4, 1),
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        progress=not args.no_progress,
    )


def build_dissolver(args: argparse.Namespace, train_images: Any, out: Path) -> Any:
    """The dissolver of a ``dia`` run: loaded, trained on the normal images, or built by name."""
    from dia_augment.filters import make_dissolver
    from dia_augment.train import train_dissolver

    if args.dissolver == "ddpm" and args.dissolver_path is None:
        print(f"[1/4] training a {args.dissolver_resolution} px DDPM dissolver ({args.dissolver_preset}, "
              f"{args.dissolver_steps} steps) on {len(train_images)} normal images")
        config = dissolver_config(args)
        return train_dissolver(config, train_images, out / "dissolver_run", resume=args.resume,
                               overwrite=args.overwrite, data_source=args.data)
    print(f"[1/4] dissolver: {args.dissolver}" + (f" from {args.dissolver_path}" if args.dissolver_path else ""))
    resolution = args.dissolver_resolution if args.dissolver in ("ddpm", "resize") else None
    if args.dissolver == "ddpm":
        resolution = None  # take the checkpoint's own
    return make_dissolver(args.dissolver, path=args.dissolver_path, resolution=resolution)


def train_config(args: argparse.Namespace) -> Any:
    """The model's ``TrainConfig`` from the example's options."""
    from dia_augment.train import TrainConfig

    return TrainConfig(
        mode=args.mode,
        shift=args.shift,
        model=args.model,
        width=args.width,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        crop_scale=(args.crop_min, 1.0),
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        channels_last=args.channels_last,
        dissolve_cache=args.dissolve_cache if args.mode == "dia" else None,
        cache_steps=args.cache_steps,
        cache_draws=args.cache_draws,
        checkpoint_every=50,
        progress=not args.no_progress,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.device == "cpu":
        os.environ["ACCELERATE_USE_CPU"] = "true"

    import torch

    from dia_augment.data.options import DataOptions, load_split
    from dia_augment.filters.grid import save_dissolve_grid
    from dia_augment.detect import build_detector, split_calibration
    from dia_augment.detect.run_data import save_fingerprints
    from dia_augment.score import ScoreConfig, save_roc_curve
    from dia_augment.train import train_model
    from dia_augment.utils.io import atomic_write_json

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda was asked for, but torch sees no CUDA device")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    print(f"[0/4] data: {args.data}")
    options = DataOptions(data=args.data, normal_class=args.normal_class, data_seed=args.seed, load_size=args.image_size,
                          **data_kwargs(args), ood_data=args.ood_data, calibration_fraction=0.2, calibration_seed=args.seed)
    train_set = load_split(options, "train")
    options = dataclasses.replace(options, normal_class=train_set.normal_class)
    if args.ood_data is not None and (args.lesion_sigma is not None or args.lesion_opacity is not None):
        sys.exit("--ood-data and --lesion-sigma / --lesion-opacity both choose the test anomalies: give one of them")
    if args.lesion_sigma is None and args.lesion_opacity is None:
        test_set = load_split(options, "test")
    elif args.data == "embedded":
        from dia_augment.data import make_embedded_dataset
        from dia_augment.data.embedded import LESION_OPACITY

        lesions = {"lesion_sigma": tuple(args.lesion_sigma) if args.lesion_sigma else None,
                   "lesion_opacity": tuple(args.lesion_opacity) if args.lesion_opacity else LESION_OPACITY}
        test_set = make_embedded_dataset("test", args.image_size, seed=args.seed, **lesions)
    else:
        sys.exit("--lesion-sigma / --lesion-opacity set the embedded data's lesions: use them with --data embedded")
    fit_images, calibration_images = split_calibration(train_set.images, 0.2, seed=args.seed)
    print(f"      train: {len(fit_images)} normal ({train_set.normal_class}) + {len(calibration_images)} held out for "
          f"the threshold; test: {int((test_set.labels == 0).sum())} normal, {int((test_set.labels == 1).sum())} anomalous")

    dissolver = None
    if args.mode == "dia":
        t0 = time.perf_counter()
        dissolver = build_dissolver(args, fit_images, out)
        timings["dissolver_s"] = time.perf_counter() - t0
        save_dissolve_grid(dissolver, calibration_images[:6], out / "dissolve_grid.png")

    print(f"[2/4] training a {args.model} (width {args.width}) in {args.mode} mode, {args.shift} shifts, "
          f"{args.epochs} epochs at {args.image_size} px")
    config = train_config(args)
    t0 = time.perf_counter()
    model = train_model(config, fit_images, dissolver=dissolver, out_dir=out / "model", resume=args.resume,
                        overwrite=args.overwrite, data_source=args.data, data_options=options.to_dict())
    save_fingerprints(out / "model", fit_images)
    timings["train_s"] = time.perf_counter() - t0

    print(f"[3/4] building the detector (T = {args.num_views} fixed test-time views) and scoring the test set")
    t0 = time.perf_counter()
    provenance = {"data": args.data, "normal_class": train_set.normal_class, "data_options": options.to_dict(),
                  "dissolver": args.dissolver if args.mode == "dia" else None, "dissolver_path": args.dissolver_path}
    score_config = ScoreConfig(num_views=args.num_views, seed=args.seed)
    detector = build_detector(model, config, fit_images, calibration_images, score_config, provenance=provenance,
                              progress=not args.no_progress)
    if detector.method_note:
        print(f"      note: {detector.method_note}")
    method = detector.method
    scores = detector.score(test_set.images)  # anomaly scores: higher = more anomalous
    timings["score_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started

    metrics = detector.test_metrics(scores, test_set.labels, test_set.classes, test_set.class_names)
    detector.metrics = metrics
    detector.save_pretrained(out / "model" / "detector")  # the run's own: `dia-augment score --checkpoint OUT/model` uses it
    record = {"metrics": metrics, "score_method": method, "score_method_note": detector.method_note,
              "threshold": detector.threshold.to_dict(), "args": vars(args), "train_config": config.to_dict(),
              "timings": timings}
    atomic_write_json(out / "metrics.json", record)
    save_roc_curve(out / "roc.png", scores, test_set.labels,
                   title=f"{args.mode} on {args.data}: AUROC {metrics['auroc']:.3f}")
    print(f"[4/4] AUROC {metrics['auroc']:.4f}  AUPR {metrics['aupr']:.4f}  FPR@95 {metrics['fpr_at_95_tpr']:.4f}  "
          f"({timings['total_s'] / 60:.1f} min)")
    print(f"      wrote {out / 'metrics.json'}, {out / 'roc.png'}" + (f", {out / 'dissolve_grid.png'}" if dissolver is not None else ""))
    print(f"      detector: {out / 'model' / 'detector'} ({detector.threshold.describe()})\n"
          f"      next: dia-augment predict --detector {out / 'model' / 'detector'} --images NEW_IMAGES --out {out / 'predict'}")
    return record


if __name__ == "__main__":
    from dia_augment.errors import DiaError

    try:
        main()
    except (DiaError, FileNotFoundError) as error:  # a mistake of the user's: one line, no traceback
        print(f"train_csi.py: error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", 2))
