"""``dia-augment predict``: run a saved detector on new images.

Writes into ``--out``: ``predictions.csv`` (path, score, anomalous, status, note; files that
cannot be used are listed with the reason and skipped), ``score_histogram.png`` with the
threshold, ``top_anomalies.png`` (the most anomalous images with their scores) and
``summary.json``. Scores are anomaly scores: higher = more anomalous. ``--maps METHOD`` draws
anomaly maps over the gallery (``top_anomaly_maps.safetensors`` keeps them).

Example::

    dia-augment predict --detector runs/dia/detector --images new_scans/ --out runs/dia/predict
"""

from __future__ import annotations

import argparse

NAME = "predict"
HELP = "Score new images with a saved detector; write predictions.csv, a score histogram and a gallery of the top-k."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``predict`` options to ``parser``."""
    parser.add_argument("--detector", required=True, help="a detector folder (save_pretrained) or a hub id org/name")
    parser.add_argument("--images", required=True, nargs="+",
                        help="image files, folders (searched recursively) or glob patterns")
    parser.add_argument("--out", required=True, help="the folder for predictions.csv, the histogram and the gallery")
    parser.add_argument("--convert", action="store_true", help="convert files of another channel count or size to the "
                        "detector's input (noted per file) instead of skipping them")
    parser.add_argument("--batch-size", type=int, default=64, help="files read and scored at a time")
    parser.add_argument("--top-k", type=int, default=16, help="images in the gallery of the most anomalous")
    parser.add_argument("--maps", default=None, choices=["smoothgrad", "integrated", "occlusion", "residual"],
                        help="draw this kind of anomaly map over the gallery's images (and save them)")
    parser.add_argument("--maps-dissolver", default=None,
                        help="a saved DDPM dissolver folder for the occlusion / integrated / residual maps (default: Gaussian blur)")
    parser.add_argument("--maps-step", type=int, default=60, help="the dissolving step of the maps' dissolved image")
    parser.add_argument("--device", default="cpu", help="torch device for the model")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``dia-augment predict``; returns the exit status."""
    from dia_augment.detect import AnomalyDetector
    from dia_augment.detect.predict import collect_image_files, predict_files
    from dia_augment.utils.checks import check_int

    check_int(args.batch_size, "--batch-size")
    check_int(args.top_k, "--top-k", minimum=0)
    collect_image_files(args.images)  # a missing input fails before the model is loaded
    map_options = {"step": args.maps_step}
    if args.maps_dissolver is not None:
        from dia_augment.filters import DDPMDissolving

        map_options["dissolver"] = DDPMDissolving.from_pretrained(args.maps_dissolver)
    detector = AnomalyDetector.from_pretrained(args.detector, device=args.device, progress=False)
    print(f"detector: {detector.calibrated_threshold().describe()}; score = {detector.method} (higher = more anomalous)")
    summary = predict_files(detector, args.images, args.out, convert=args.convert, batch_size=args.batch_size,
                            top_k=args.top_k, maps=args.maps, map_options=map_options, progress=args.progress)
    print(summary.line())
    return 0
