"""``dia-augment export``: write a saved detector's encoder to ONNX, with the statistics of its score.

The ONNX model maps images to the view-averaged features and shift logits; the anomaly score on
top is :func:`dia_augment.detect.anomaly_score_numpy` with ``score_statistics.safetensors``
(see ``export.json``). Needs ``pip install 'dia_augment[export]'``.

Example::

    dia-augment export --detector runs/dia/detector --format onnx
"""

from __future__ import annotations

import argparse

NAME = "export"
HELP = "Export a saved detector's encoder (ONNX) and its score statistics for use without the trainer."


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
    from dia_augment.detect.export import export_onnx
    from dia_augment.errors import ConfigError

    if args.out is None and not Path(args.detector).is_dir():
        raise ConfigError(f"--out is required when --detector {args.detector} is not a local folder")
    detector = AnomalyDetector.from_pretrained(args.detector, progress=False)
    path = export_onnx(detector, args.out or Path(args.detector) / args.format, opset=args.opset)
    print(f"wrote {path} and its score statistics beside it (higher score = more anomalous)")
    return 0
