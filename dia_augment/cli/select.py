"""``dia-augment select``: rank runs by a label-free score, to choose a setting without anomalies.

For each run (``--checkpoint RUN ...``, one per setting tried), its detector scores the run's
calibration hold-out of normal images (normals the model never trained on) against the same
images with synthetic lesions pasted in (:func:`~dia_augment.detect.selection.selection_score`);
the runs are ranked by that AUROC. No label of any real image is used, so a setting chosen this
way leaves the test set untouched. The runs must hold images out (``--calibration-fraction`` > 0,
the default of ``dia-augment train``).

Writes ``--out`` (JSON lines, one per run, the best first) and prints the ranking.

Example::

    dia-augment select --checkpoint runs/crop008 runs/crop02 runs/crop05 --out runs/selection.jsonl
"""

from __future__ import annotations

import argparse

from dia_augment.data.embedded import LESION_OPACITY

NAME = "select"
HELP = "Rank runs by a label-free selection score: held-out normals against themselves with pasted lesions."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``select`` options to ``parser``."""
    parser.add_argument("--checkpoint", required=True, nargs="+", help="the run folders to compare")
    parser.add_argument("--out", required=True, help="the JSON-lines file of the ranking")
    parser.add_argument("--seed", type=int, default=0, help="the seed of the pasted lesions (the same for every run)")
    parser.add_argument("--lesion-sigma", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="the lesions' size range in pixels (default 0.6 1.1, in proportion above 64 px)")
    parser.add_argument("--lesion-opacity", type=float, nargs=2, default=list(LESION_OPACITY), metavar=("LOW", "HIGH"),
                        help="the lesions' contrast range")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")


def run(args: argparse.Namespace) -> int:
    """Run ``dia-augment select``; returns the exit status."""
    from dia_augment.detect.run_data import open_run_scoring
    from dia_augment.detect.selection import selection_score
    from dia_augment.errors import RunFolderError
    from dia_augment.score.config import ScoreConfig
    from dia_augment.utils.io import atomic_open

    import json

    runtime = {k: getattr(ScoreConfig(), k) for k in ScoreConfig.RUNTIME}
    rows = []
    for checkpoint in args.checkpoint:
        scoring = open_run_scoring(checkpoint, {}, {}, {}, runtime, args.progress)
        if scoring.calibration is None:
            raise RunFolderError(f"{checkpoint} held no normal images out of training (--calibration-fraction 0): "
                                 "the selection score needs normals the model never saw")
        result = selection_score(scoring.detector, scoring.calibration, args.seed,
                                 lesion_sigma=None if args.lesion_sigma is None else tuple(args.lesion_sigma),
                                 lesion_opacity=tuple(args.lesion_opacity))
        rows.append({"checkpoint": str(checkpoint), **result, "method": scoring.detector.method,
                     "train_config": scoring.train_config.to_dict()})
    rows.sort(key=lambda r: -r["selection_auroc"])
    with atomic_open(args.out) as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    for rank, row in enumerate(rows, 1):
        print(f"{rank}. {row['selection_auroc']:.4f}  {row['checkpoint']}  ({row['num_images']} held-out normals)")
    return 0
