"""``dia-augment export``: write a saved detector as one ONNX file that maps images to anomaly scores and calls.

``OUT/detector.onnx`` takes images ``(B, C, H, W)`` in [0, 1] and returns ``scores`` (higher =
more anomalous) and ``is_anomaly`` (``scores > threshold``), the training statistics and the
threshold inside the graph; ``OUT/export.json`` says how to read a file into ``images`` (window
and its HU values, slices, size, channels, range, layout). Needs ``pip install 'dia_augment[export]'``.

Example::

    dia-augment export --detector runs/dia/detector --format onnx
"""

from __future__ import annotations

import argparse

NAME = "export"
HELP = "Export a saved detector as one ONNX file (images -> anomaly scores and calls) with its preprocessing."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``export`` options to ``parser``."""
    from dia_augment.detect.export import EXPORT_FORMATS

    parser.add_argument("--detector", required=True, help="a detector folder (save_pretrained) or a hub id org/name")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="onnx", help="the export format")
    parser.add_argument("--out", default=None, help="output folder (default: DETECTOR/onnx for a local detector)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset")


def run(args: argparse.Namespace) -> int:
    """Run ``dia-augment export``; returns the exit status."""
    from pathlib import Path

    from dia_augment.detect import AnomalyDetector
    from dia_augment.detect.export import INFO_FILE, export_onnx
    from dia_augment.utils.lock import run_folder_lock
    from dia_augment.errors import ConfigError

    if args.out is None and not Path(args.detector).is_dir():
        raise ConfigError(f"--out is required when --detector {args.detector} is not a local folder")
    detector = AnomalyDetector.from_pretrained(args.detector, progress=False)
    out = Path(args.out) if args.out is not None else Path(args.detector) / args.format
    with run_folder_lock(out, "dia-augment export"):
        path = export_onnx(detector, out, opset=args.opset)
    outputs = "scores and calls (is_anomaly)" if detector.threshold is not None else "scores (uncalibrated: no calls)"
    print(f"wrote {path}: images -> {outputs}, higher score = more anomalous; preprocessing in {out / INFO_FILE}")
    return 0
