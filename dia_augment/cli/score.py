"""``dia-augment score``: score a test split with a trained model's detector and write its metrics.

The score is the one scorer's (:class:`~dia_augment.detect.AnomalyDetector`): CSI over fixed
test-time views, **higher = more anomalous**, the anomalous images the positive class of every
metric. By default the command reads the data exactly as training read it (the options
``run.json`` records; an option given here that contradicts the record wins, with a warning), and
uses the run's own detector (``RUN/detector``: statistics fitted on the images the model was
trained on, a threshold calibrated on the held-out normals). With view options that differ from
that detector's, or for a run without one, it fits the statistics on exactly the training images
(the train split less the recorded calibration hold-out). A test split holding images the model
was trained on is refused unless ``--force``.

Writes into ``--out``: ``metrics.json`` (AUROC, AUPR, FPR at 95 % TPR, sensitivity at 95 %
specificity, specificity at 95 % sensitivity, best F1, per-class AUROC, the detector's own
threshold's false-alarm rate and sensitivity on the test split, the score's settings and the data
options), ``roc.png``, ``score_histogram.png`` (normal vs anomalous test images with the
detector's threshold) and ``scores.safetensors`` (scores, labels and classes, for pooling seeds
later). When the test split has groups (``--group-by``, a manifest's ``group`` column, NIfTI
volumes), ``metrics.json`` also holds ``group``: the AUROC (and the other metrics) per patient or
volume, a group's score the aggregation it names (the top-k mean of its images' scores by
default) and a group anomalous when any of its images is, with the detector's group threshold's
false-alarm rate and sensitivity when it holds one for that level. The run's detector gets the
test metrics, its own threshold's operating point on the test split among them, in its model
card. A second writer into the same ``--out`` is refused while this one runs.

Under ``accelerate launch`` or ``torchrun`` (``WORLD_SIZE`` > 1) the processes share the feature
extraction (the same scores as one process); the first one writes the files.

Example::

    dia-augment score --checkpoint runs/dia --out runs/dia/eval
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from dia_augment.cli._config_options import add_config_options, config_from_args
from dia_augment.data.arguments import add_data_arguments, data_kwargs
from dia_augment.score.config import ScoreConfig

NAME = "score"
HELP = "Score the test split with a trained model's detector; write metrics.json, roc.png, a histogram and the scores."

#: The data options ``score`` reads the run's record for when they are not given.
_DATA_OPTIONS = ("data", "normal_class", "data_seed", "load_size", "group_by", "window", "slice_axis", "slices",
                 "contamination_ratio", "ood_data")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``score`` options to ``parser``."""
    parser.add_argument("--checkpoint", required=True, help="the run folder written by training")
    parser.add_argument("--data", default=None, help="the data set (default: the one the run was trained on): "
                        "'embedded', a class folder, a MedMNIST .npz, or RECIPE:ROOT")
    parser.add_argument("--normal-class", default=None, help="the normal class (default: the run's; 'all': every class, "
                        "the unlabelled multi-class setting)")
    parser.add_argument("--data-seed", type=int, default=None, help="split seed of sources without one (default: the run's)")
    parser.add_argument("--load-size", type=int, default=None, help="resize the files to this size when loading "
                        "(default: the run's)")
    add_data_arguments(parser, test_split=True)
    parser.add_argument("--out", required=True, help="the folder to write metrics.json, roc.png, scores.safetensors")
    parser.add_argument("--force", action="store_true",
                        help="score a test split that holds images the model was trained on")
    parser.add_argument("--save-detector", action="store_true",
                        help="also save the detector fitted here to OUT/detector (when the run's own is not used)")
    parser.add_argument("--group-score", choices=("max", "mean", "topk"), default="topk",
                        help="the score of a patient / volume of the test split: its images' max, mean or top-k mean")
    parser.add_argument("--group-top-k", type=int, default=None,
                        help="the k of the top-k mean (default: the detector's group calibration's, else 3)")
    add_config_options(parser, ScoreConfig, title="the score (ScoreConfig)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")


def _given_data_options(args: argparse.Namespace) -> tuple[dict, dict]:
    """The data options as given on the command line, and their defaults (a default counts as not given)."""
    given = {name: getattr(args, name) for name in _DATA_OPTIONS}
    given.update(data_kwargs(args))
    given.setdefault("contamination_ratio", 0.0)
    defaults = {name: None for name in given}
    defaults.update(slice_axis=2, contamination_ratio=0.0)
    return given, defaults


def run(args: argparse.Namespace) -> int:
    """Run ``dia-augment score``; returns the exit status."""
    from dia_augment.utils.lock import run_folder_lock
    from dia_augment.errors import ConfigError
    from dia_augment.utils.checks import check_int

    asked = config_from_args(ScoreConfig, args)  # checked before the model and the data are read
    if args.load_size is not None:
        check_int(args.load_size, "--load-size (load_size, the side images are resized to when read)", error=ConfigError)
    check_int(args.group_top_k, "--group-top-k", error=ConfigError, allow_none=True)
    given = {k: v for k, v in asked.to_dict().items() if v != ScoreConfig().to_dict()[k]}
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under accelerate launch / torchrun: share the work
        from accelerate import PartialState

        state = PartialState()
        # the launcher's RANK too: a PartialState made before the process group may call every process the main one
        main_process = state.is_main_process and int(os.environ.get("RANK", "0")) == 0
        device = state.device
    else:
        main_process, device = True, None
    lock = run_folder_lock(args.out, "dia-augment score") if main_process else contextlib.nullcontext()
    with lock:
        return _score(args, asked, given, main_process, device)


def _score(args: argparse.Namespace, asked: ScoreConfig, given: dict, main_process: bool, device: object) -> int:
    """Score the test split and write the outputs (under ``--out``'s lock on the main process)."""
    from dia_augment.data.options import load_split
    from dia_augment.detect.run_data import check_no_training_images, open_run_scoring
    from dia_augment.score.metrics import save_roc_curve, save_score_histogram
    from dia_augment.utils.io import atomic_save_tensors, atomic_write_json

    scoring = open_run_scoring(args.checkpoint, *_given_data_options(args), given,
                               {k: getattr(asked, k) for k in ScoreConfig.RUNTIME}, args.progress, device)
    detector, options, own, saved = scoring.detector, scoring.options, scoring.own, scoring.run_dir / "detector"
    test = load_split(options, "test")
    leaked = check_no_training_images(scoring.run_dir, test.images, force=args.force)
    if detector.method_note and main_process:
        print(f"dia-augment score: note: {detector.method_note}")
    scores = detector.score(test.images)
    if not main_process:  # every process holds the gathered scores; one writes them
        return 0

    out = Path(args.out)
    metrics = detector.test_metrics(scores, test.labels, test.classes, test.class_names)
    metrics.update(method=detector.method, method_note=detector.method_note, checkpoint=str(scoring.run_dir),
                   normal_class=test.normal_class, num_train=int(scoring.images.shape[0]), training_images_in_test=leaked,
                   score_config=detector.config.to_dict(), data_options=options.to_dict(),
                   detector=str(saved) if own else "fitted here on the training images")
    if test.groups is not None:
        metrics["group"] = detector.group_metrics(scores, test.labels, test.groups, test.group_level,
                                                  args.group_score, args.group_top_k)
    atomic_write_json(out / "metrics.json", metrics)
    atomic_save_tensors({"scores": scores, "labels": test.labels, "classes": test.classes}, out / "scores.safetensors")
    save_roc_curve(out / "roc.png", scores, test.labels,
                   title=f"{detector.method} anomaly score (higher = more anomalous), normal = {test.normal_class}")
    threshold = detector.threshold
    save_score_histogram(
        out / "score_histogram.png", scores, test.labels,
        threshold=None if threshold is None else threshold.value,
        threshold_label="the detector's threshold (set on held-out normals)",
        xlabel=f"{detector.method} anomaly score (higher = more anomalous)",
        title=f"test split, normal = {test.normal_class}",
    )
    detector.metrics = {k: metrics[k] for k in ("auroc", "aupr", "fpr_at_95_tpr", "sensitivity_at_95_specificity",
                                                 "specificity_at_95_sensitivity", "threshold", "threshold_false_alarm_rate",
                                                 "threshold_sensitivity", "threshold_specificity", "num_normal",
                                                 "num_anomaly", "group") if k in metrics}
    if own:
        detector.save_pretrained(saved)  # the model card now carries the test metrics
    elif args.save_detector:
        detector.save_pretrained(out / "detector")
    print(
        f"AUROC {metrics['auroc']:.4f}  AUPR {metrics['aupr']:.4f}  FPR@95%TPR {metrics['fpr_at_95_tpr']:.4f}  "
        f"({metrics['num_normal']} normal, {metrics['num_anomaly']} anomalous; anomalies positive) -> {out}"
    )
    group = metrics.get("group")
    if group is not None:
        shown = f"AUROC {group['auroc']:.4f}" if "auroc" in group else "no AUROC (the groups are all of one kind)"
        print(f"per {group['level']} ({group['aggregation']} of the image scores): {shown} "
              f"({group['num_normal_groups']} normal, {group['num_anomalous_groups']} anomalous groups)")
    if "threshold_false_alarm_rate" in metrics:
        print(f"the detector's threshold {metrics['threshold']:.6g} on the test split: false-alarm rate "
              f"{metrics['threshold_false_alarm_rate']:.1%}, sensitivity {metrics['threshold_sensitivity']:.1%}")
    return 0
