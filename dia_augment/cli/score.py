"""``dia-augment score``: score a test set with a trained model and write its metrics.

Fits :class:`~dia_augment.score.CSIScorer` on the normal training split, scores the test split
and writes into ``--out``: ``metrics.json`` (AUROC, AUPR, FPR at 95% TPR, per-class AUROC, the
score method used, and the settings), ``roc.png``, ``score_histogram.png`` (normal vs anomalous
test images, with the threshold that keeps 95% of the normal test images: the FPR@95%TPR
operating point) and ``scores.safetensors`` (scores, labels and classes, for pooling seeds
later). Here, as in CSI, **higher scores mean more normal** and normal is the positive class
(``dia-augment predict`` reports anomaly scores, their negative).

A shift head whose mean training logit is <= 0 (a short run) makes the CSI score undefined:
the SimCLR score is used instead (the same as ``--method simclr``), said in one line before
any test image is scored and recorded in ``metrics.json`` as ``method`` / ``method_note``.

The feature extraction takes the training command's speed options: ``--mixed-precision bf16``
(the model under ``torch.autocast``; ``fp16`` on CUDA), ``--channels-last`` and ``--compile``;
the averages and the score stay float32, and ``metrics.json`` records the settings. Under
``accelerate launch`` or ``torchrun`` (``WORLD_SIZE`` > 1) the processes share the feature
extraction and the score (the same scores as one process); the first one writes the files.

Example::

    dia-augment score --checkpoint runs/dia --data sarscov2:../shared/data/sarscov2-ct --out runs/dia/eval
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dia_augment.data.arguments import add_data_arguments, data_kwargs, data_source
from dia_augment.score.csi import DEFAULT_CHUNK_SIZE
from dia_augment.score.scorer import SCORE_METHODS, SHIFT_KINDS
from dia_augment.train.config import AUTOCAST_OF_PRECISION, MIXED_PRECISION

NAME = "score"
HELP = "Score the test split with a trained model (CSI score); write metrics.json, roc.png, a histogram and the scores."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``score`` options to ``parser``."""
    parser.add_argument("--checkpoint", required=True, help="the folder (or file) written by training")
    parser.add_argument(
        "--data",
        required=True,
        help="'embedded', a class folder, a MedMNIST .npz, or RECIPE:ROOT (sarscov2, aptos2019, kermany_oct, kvasir)",
    )
    parser.add_argument("--normal-class", default=None, help="the normal class (folder name or label)")
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, help="the folder to write metrics.json, roc.png, scores.safetensors")
    parser.add_argument(
        "--method",
        choices=SCORE_METHODS,
        default=None,
        help="csi (default), simclr (contrastive only; default for models trained in simclr mode) or shift",
    )
    parser.add_argument("--shift", choices=SHIFT_KINDS, default=None, help="default: the shift the model was trained with")
    parser.add_argument("--num-samples", type=int, default=10, help="test-time augmentations per image (default 10)")
    parser.add_argument("--resize-factor", type=float, default=0.54, help="crop scale of the test-time crop (0.54)")
    parser.add_argument(
        "--no-resize-fix",
        dest="resize_fix",
        action="store_false",
        help="draw the crop scale from [resize-factor, 1] instead of fixing it",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test-time augmentations (default 0)")
    parser.add_argument(
        "--data-seed",
        type=int,
        default=0,
        help="split seed for sources without an official split; must be the one training used (default 0)",
    )
    parser.add_argument("--load-size", type=int, default=None, help="resize the files to this size when loading")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="rows per similarity block")
    parser.add_argument("--save-scorer", action="store_true", help="also save the fitted statistics to OUT/scorer")
    parser.add_argument(
        "--mixed-precision",
        choices=MIXED_PRECISION,
        default="no",
        help="run the model of the feature extraction under torch.autocast: bf16 (CPU and GPU) or fp16 (GPU); "
        "the averages and the score stay float32 (default no)",
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="hand the model channels_last (NHWC) rows",
    )
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="run the model through torch.compile (the first batch pays the compile time)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")


def _check_options(args: argparse.Namespace) -> None:
    """Refuse bad option values at once, naming the option."""
    from dia_augment.errors import ConfigError
    from dia_augment.utils.checks import check_int

    for option in ("num_samples", "batch_size", "chunk_size", "load_size"):
        if getattr(args, option) is not None:
            check_int(getattr(args, option), "--" + option.replace("_", "-"))
    if not 0 < args.resize_factor <= 1:
        raise ConfigError(f"--resize-factor must be in (0, 1]; got {args.resize_factor}")


def run(args: argparse.Namespace) -> int:
    """Run ``dia-augment score``; returns the exit status."""
    from dia_augment.data import load_one_class
    from dia_augment.detect.calibration import calibrate_threshold
    from dia_augment.score.metrics import evaluate, save_roc_curve, save_score_histogram
    from dia_augment.score.scorer import CSIScorer
    from dia_augment.train import load_model
    from dia_augment.utils.io import atomic_save_tensors, atomic_write_json

    from dia_augment.train import check_run_fits

    _check_options(args)  # before the model and the data are read
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under accelerate launch / torchrun: share the work
        from accelerate import PartialState

        state = PartialState()
        main_process, device = state.is_main_process, state.device
    else:
        main_process, device = True, None
    model, config = load_model(args.checkpoint)
    if device is not None:
        model = model.to(device)
    mode = getattr(config, "mode", None)
    method = args.method or ("simclr" if mode == "simclr" else "csi")
    load = dict(image_size=args.load_size, seed=args.data_seed)
    train = load_one_class(args.data, "train", args.normal_class, **load, **data_kwargs(args))
    # a run records its data: refuse data of other channels or size, warn on another source
    run_dir = Path(args.checkpoint) if Path(args.checkpoint).is_dir() else Path(args.checkpoint).parent
    if check_run_fits(run_dir, train.images.shape[1], tuple(train.images.shape[-2:]), data_source(args)) is None:
        load["channels"] = getattr(config, "in_channels", None)  # a run without run.json: fit the model's channels
        train = load_one_class(args.data, "train", args.normal_class, **load, **data_kwargs(args))
    test = load_one_class(args.data, "test", args.normal_class, **load, **data_kwargs(args, "test"))
    scorer = CSIScorer(
        model,
        shift=args.shift or getattr(config, "shift", "rotation"),
        num_shifts=getattr(config, "num_shifts", 4),
        num_samples=args.num_samples,
        resize_factor=args.resize_factor,
        resize_fix=args.resize_fix,
        image_size=getattr(config, "image_size", None),
        batch_size=args.batch_size,
        seed=args.seed,
        chunk_size=args.chunk_size,
        progress=args.progress,
        autocast=AUTOCAST_OF_PRECISION[args.mixed_precision],
        channels_last=args.channels_last,
        compile=args.compile,
    ).fit(train.images)
    used, note = scorer.resolve_method(method)  # before any test image
    if note is not None and main_process:
        print(f"dia-augment score: note: {note}")
    scores = scorer.score(test.images, method=used)
    if not main_process:  # every process holds the gathered scores; one writes them
        return 0

    out = Path(args.out)
    metrics = evaluate(scores, test.labels, test.classes, test.class_names)
    metrics.update(
        method=used,
        method_requested=method,
        method_note=note,
        checkpoint=str(args.checkpoint),
        data=str(args.data),
        normal_class=test.normal_class,
        data_seed=args.data_seed,
        num_train=int(train.images.shape[0]),
        scorer=scorer.config(),
    )
    atomic_write_json(out / "metrics.json", metrics)
    atomic_save_tensors(
        {"scores": scores, "labels": test.labels, "classes": test.classes}, out / "scores.safetensors"
    )
    save_roc_curve(out / "roc.png", scores, test.labels, title=f"{used} score, normal = {test.normal_class}")
    save_score_histogram(
        out / "score_histogram.png",
        scores,
        test.labels,
        # the anomaly score is minus this one: keep 95% of the normal test images on the normal side
        threshold=-calibrate_threshold(-scores[test.labels == 0], target=0.95).value,
        threshold_label="95% of normal test images above",
        xlabel=f"{used} score (higher = more normal)",
        title=f"test split, normal = {test.normal_class}",
    )
    if args.save_scorer:
        scorer.save(out / "scorer")
    print(
        f"AUROC {metrics['auroc']:.4f}  AUPR {metrics['aupr']:.4f}  FPR@95%TPR {metrics['fpr_at_95_tpr']:.4f}  "
        f"({metrics['num_normal']} normal, {metrics['num_anomaly']} anomalous) -> {out}"
    )
    return 0
