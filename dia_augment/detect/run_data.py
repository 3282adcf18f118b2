"""What a training run read, and reading it again: the data options a run records, and its images.

``dia-augment train`` (and the example) record in ``run.json`` every option the training images
were read with — the source, the normal class, the split seed, the load size, the channels, the
grouping, the window and slices of medical files, the contamination ratio, the calibration
hold-out — and the fingerprints of the images it trained on (``train_fingerprints.safetensors``).
``score`` and ``predict`` reuse them by default, so that the test split, the statistics and new
files are read exactly as training read its images; an option given on the command line that
contradicts the record wins, with a warning that names both values.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from torch import Tensor

from dia_augment.data.options import DataOptions, load_split
from dia_augment.errors import RunFolderError
from dia_augment.utils.fingerprint import fingerprint_overlap, image_fingerprints
from dia_augment.utils.io import atomic_save_tensors, load_tensors, read_json

__all__ = ["FINGERPRINTS_FILE", "SCORE_CONFIG_FILE", "RunScoring", "recorded_options", "recorded_score_config",
           "merge_options", "split_training", "training_indices", "save_fingerprints", "check_no_training_images", "open_run_scoring"]

FINGERPRINTS_FILE = "train_fingerprints.safetensors"
#: The score settings a run was trained to be scored with (``--recipe reference``: the paper's evaluation).
SCORE_CONFIG_FILE = "score_config.json"


def recorded_options(run_dir: str | os.PathLike) -> DataOptions | None:
    """The data options a run recorded in its ``run.json`` (``None`` for a run that recorded none)."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return None
    record = read_json(path, what="run record")
    options = record.get("data", {}).get("options") if isinstance(record, dict) else None
    return None if options is None else DataOptions.from_dict(options)


def recorded_score_config(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The score settings a run recorded (:class:`~dia_augment.score.ScoreConfig`'s JSON form), or ``None``."""
    path = Path(run_dir) / SCORE_CONFIG_FILE
    return read_json(path, what="score settings") if path.is_file() else None


def merge_options(recorded: DataOptions | None, given: dict[str, Any], defaults: dict[str, Any]) -> DataOptions:
    """The options to read with: the run's record, overridden by options given on the command line.

    ``given`` maps field names to the command line's values, ``defaults`` to the command line's
    defaults: a value equal to its default counts as not given. A given value that differs from the
    record wins, with a warning naming both.

    Examples:
        >>> rec = DataOptions("scans/", window="lung")
        >>> merge_options(rec, {"window": None, "data": None}, {"window": None, "data": None}).window
        'lung'
    """
    if recorded is None:
        if given.get("data") is None:
            raise RunFolderError("the run records no data options: pass --data (and the options training used)")
        return DataOptions(**{k: v for k, v in given.items() if k in {f.name for f in fields(DataOptions)}})
    values = recorded.to_dict()
    for name, value in given.items():
        if name not in values or value == defaults.get(name):
            continue
        saved = values[name]
        if isinstance(value, tuple):
            value = list(value)
        if value != saved:
            warnings.warn(f"--{name.replace('_', '-')} {value!r} differs from the {saved!r} the model was trained "
                          "with; using the one given", stacklevel=2)
        values[name] = value
    return DataOptions.from_dict(values)


def training_indices(n: int, options: DataOptions, groups: Sequence[str] | None = None) -> tuple[Tensor, Tensor] | None:
    """The indices ``(trained on, calibration hold-out)`` of a train split of ``n`` images, as training drew them.

    ``None`` when the run held nothing out. A hold-out recorded as drawn by group
    (``options.calibration_by``) needs the train split's ``groups``.

    Raises:
        RunFolderError: the run drew its hold-out by group and ``groups`` is ``None``.
    """
    if not options.calibration_fraction:
        return None
    from dia_augment.detect.build import calibration_indices

    if options.calibration_by is not None and groups is None:
        raise RunFolderError(
            f"the run drew its calibration hold-out by {options.calibration_by}, but the data read here names no groups: "
            "read it with the options training used (--group-by, a manifest's group column)")
    return calibration_indices(n, options.calibration_fraction, options.calibration_seed,
                               groups if options.calibration_by is not None else None)


def split_training(images: Tensor, options: DataOptions,
                   groups: Sequence[str] | None = None) -> tuple[Tensor, Tensor | None]:
    """``(the images trained on, the calibration hold-out)`` of the train split, as training split them.

    Args:
        images: the train split's images.
        options: the run's data options (``calibration_fraction``, ``calibration_seed``, ``calibration_by``).
        groups: the train split's groups (:class:`~dia_augment.data.OneClassData`'s ``groups``),
            needed when the hold-out was drawn by group.
    """
    indices = training_indices(images.shape[0], options, groups)
    if indices is None:
        return images, None
    rest, held = indices
    return images[rest], images[held]


def save_fingerprints(run_dir: str | os.PathLike, images: Tensor) -> None:
    """Record the fingerprints of the images a run trained on (``train_fingerprints.safetensors``)."""
    atomic_save_tensors({"fingerprints": image_fingerprints(images)}, Path(run_dir) / FINGERPRINTS_FILE)


def check_no_training_images(run_dir: str | os.PathLike, images: Tensor, what: str = "the test split",
                             force: bool = False) -> int:
    """Refuse ``images`` that hold images the run trained on; returns how many do (0 when none, or nothing recorded).

    Raises:
        RunFolderError: some of ``images`` were training images and ``force`` is not set.
    """
    path = Path(run_dir) / FINGERPRINTS_FILE
    if not path.is_file():
        return 0
    trained = load_tensors(path, "training fingerprints")["fingerprints"]
    leaked = int(fingerprint_overlap(image_fingerprints(images), trained).sum())
    if leaked and not force:
        raise RunFolderError(
            f"{leaked} of the {images.shape[0]} images of {what} are images the model was trained on (the split "
            "differs from training's: another --data-seed, --group-by or --normal-class?); their scores would make "
            "the AUROC optimistic. Use the options training used, or pass --force to score anyway")
    return leaked


@dataclass
class RunScoring:
    """A run's detector and the images it was made from, read as training read them.

    Attributes:
        run_dir: the run folder.
        options: the data options used (the record, with the given ones on top).
        train: the train split.
        images: the images the model was trained on (the train split less the calibration hold-out).
        calibration: the calibration hold-out of normal images (``None`` when the run held none out).
        groups: the groups of ``images`` when the hold-out was drawn by group, else ``None``.
        calibration_groups: the groups of ``calibration``, likewise.
        detector: the run's own detector, or one fitted here on ``images``.
        own: whether ``detector`` is the run's own (``RUN/detector``).
        train_config: the run's training config.
    """

    run_dir: Path
    options: DataOptions
    train: Any
    images: Tensor
    calibration: Tensor | None
    detector: Any
    own: bool
    train_config: Any
    groups: list[str] | None = None
    calibration_groups: list[str] | None = None


def open_run_scoring(run_dir: str | os.PathLike, given_data: dict[str, Any], data_defaults: dict[str, Any],
                     given_score: dict[str, Any], runtime: dict[str, Any], progress: bool = True,
                     device: Any = None) -> RunScoring:
    """Read a run's training images as training read them and its detector, for scoring or selection.

    The detector is the run's own (``RUN/detector``) when its view settings agree with ``given_score``;
    otherwise one is fitted here on exactly the images the model was trained on (the train split
    less the recorded calibration hold-out), from the run's settings with ``given_score`` on top, and
    calibrated on the hold-out when there is one.

    Args:
        run_dir: the run folder.
        given_data: data options given on the command line (see :func:`merge_options`).
        data_defaults: their command-line defaults.
        given_score: :class:`~dia_augment.score.ScoreConfig` fields given (those that differ from the defaults).
        runtime: the ScoreConfig runtime fields to score with.
        progress: show progress bars.
        device: where to run the model (``None``: CPU).

    Raises:
        RunFolderError: not a run folder, or data of other channels or size than the run's.
    """
    from dia_augment.detect.build import build_detector
    from dia_augment.detect.detector import AnomalyDetector
    from dia_augment.score.config import ScoreConfig
    from dia_augment.train import check_run_fits, load_model

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a run folder (written by dia-augment train)")
    options = merge_options(recorded_options(run_dir), given_data, data_defaults)
    if options.data_seed is None:
        options = replace(options, data_seed=0)
    model, train_config = load_model(run_dir)
    if device is not None:
        model = model.to(device)
    train = load_split(options, "train")
    # a run records its data: refuse data of other channels or size, warn on another source
    check_run_fits(run_dir, train.images.shape[1], tuple(train.images.shape[-2:]), options.source)
    indices = training_indices(train.images.shape[0], options, train.groups)
    images, calibration, groups, calibration_groups = train.images, None, None, None
    if indices is not None:
        rest, held = indices
        images, calibration = train.images[rest], train.images[held]
        if options.calibration_by is not None:
            groups = [train.groups[i] for i in rest.tolist()]
            calibration_groups = [train.groups[i] for i in held.tolist()]
    detector, own = None, False
    if (run_dir / "detector" / "config.json").is_file():
        detector = AnomalyDetector.from_pretrained(run_dir / "detector", progress=progress, **runtime)
        saved = detector.config.to_dict()
        own = all(saved[k] == v for k, v in given_score.items() if k not in ScoreConfig.RUNTIME)
    if own:
        if device is not None:
            detector.encoder.to(device)
        return RunScoring(run_dir, options, train, images, calibration, detector, True, train_config, groups,
                          calibration_groups)
    # views as the run's detector has them (or as the run recorded, seeded with the run's seed), with the options given
    recorded = recorded_score_config(run_dir) or {**ScoreConfig().to_dict(), "seed": train_config.seed}
    base = detector.config.to_dict() if detector is not None else recorded
    config = ScoreConfig.from_dict({**base, **given_score, **runtime})
    provenance = {"data": options.data, "normal_class": train.normal_class, "data_options": options.to_dict()}
    if calibration is None:
        detector = AnomalyDetector.fit(model, images, None, config, shift=train_config.shift,
                                       num_shifts=train_config.num_shifts, augmentation=train_config.augmentation,
                                       image_size=train_config.image_size, mode=train_config.mode,
                                       provenance={**provenance, "train_config": train_config.to_dict(),
                                                   "mode": train_config.mode}, progress=progress)
    else:
        detector = build_detector(model, train_config, images, calibration, config, groups=groups,
                                  calibration_groups=calibration_groups, group_level=options.calibration_by or "group",
                                  provenance=provenance, progress=progress)
    return RunScoring(run_dir, options, train, images, calibration, detector, False, train_config, groups,
                      calibration_groups)
