"""``build_detector``: the one call that ends training: fit, calibrate on held-out normals, ready to save."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dia_augment.detect.detector import AnomalyDetector
from dia_augment.detect.groups import DEFAULT_GROUP_K
from dia_augment.errors import InputError
from dia_augment.score.config import ScoreConfig
from dia_augment.utils.checks import check_images

__all__ = ["build_detector", "split_calibration", "calibration_indices"]


def _check_fraction(fraction: object) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, float) or not 0 < fraction < 1:
        raise InputError(f"calibration_fraction must be a float in (0, 1); got {fraction!r}")
    return fraction


def calibration_indices(n: int, fraction: float = 0.2, seed: int = 0,
                        groups: Sequence[str] | None = None) -> tuple[Tensor, Tensor]:
    """The indices ``(rest, calibration)`` of :func:`split_calibration`'s draw over ``n`` images.

    Per image (``groups=None``): ``round(fraction * n)`` images of a seeded permutation. By group:
    ``round(fraction * G)`` whole groups of the ``G`` (at least one, and one left), drawn as
    :func:`~dia_augment.data.split.split_groups` draws the test groups (the sorted distinct groups
    shuffled with a seed derived from ``seed`` and ``"calibration"``), so that no group has images
    on both sides; both index lists are then in the images' order.

    Raises:
        InputError: a fraction outside ``(0, 1)``, too few images (or fewer than two groups) to
            keep one on each side, or groups that are not one per image.

    Examples:
        >>> rest, held = calibration_indices(6, 0.34, seed=0, groups=["a", "a", "b", "b", "c", "c"])
        >>> len(held), len(rest), held[0] % 2 == 0 and held[1] == held[0] + 1   # round(0.34 x 3) = 1 group of 2
        (2, 4, tensor(True))
    """
    fraction = _check_fraction(fraction)
    if groups is None:
        held = round(fraction * n)
        if held < 1 or held >= n:
            raise InputError(f"cannot hold {fraction:.0%} of {n} normal images out for calibration: pass more images "
                             "or calibration_images")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        return order[held:], order[:held]
    if isinstance(groups, str) or len(groups) != n:
        got = "a string" if isinstance(groups, str) else len(groups)
        raise InputError(f"groups must hold one group per image ({n}); got {got}")
    distinct = len(set(groups))
    if distinct < 2:
        raise InputError(f"cannot hold whole groups out for calibration: the {n} normal images belong to "
                         f"{distinct} group(s); a grouped hold-out needs at least 2 (more patients or volumes, or "
                         "--calibration-fraction 0 to hold none out)")
    from dia_augment.data.split import split_groups

    held_groups = min(max(round(fraction * distinct), 1), distinct - 1)
    rest, held = split_groups([str(g) for g in groups], (distinct - held_groups) / distinct, seed, tag="calibration")
    return torch.tensor(rest, dtype=torch.long), torch.tensor(held, dtype=torch.long)


def split_calibration(images: Tensor, fraction: float = 0.2, seed: int = 0,
                      groups: Sequence[str] | None = None) -> tuple[Tensor, Tensor]:
    """Split normal images into ``(rest, calibration)``: a seeded ``fraction`` held out for the threshold.

    Call it **before training** and train on ``rest`` only, so that the calibration images are
    new to the model and the threshold's false-alarm rate is not optimistic. With ``groups``
    (the patient, or volume, of each image) whole groups are held out
    (:func:`calibration_indices`): slices of a patient are alike, and a patient with slices on
    both sides would make the threshold's false-alarm rate optimistic too.

    Args:
        images: :math:`(N, C, H, W)` normal images.
        fraction: the share held out, in ``(0, 1)``; at least one image (one group) on each side.
        seed: the seed of the draw.
        groups: the group of each image, or ``None`` to draw images.

    Examples:
        >>> rest, calibration = split_calibration(torch.arange(10.0).view(10, 1, 1, 1), 0.2, seed=0)
        >>> rest.shape[0], calibration.shape[0], sorted(torch.cat([rest, calibration]).flatten().tolist()) == list(range(10))
        (8, 2, True)
        >>> groups = ["p1", "p1", "p2", "p2", "p3", "p3", "p4", "p4", "p5", "p5"]
        >>> rest, calibration = split_calibration(torch.arange(10.0).view(10, 1, 1, 1), 0.2, seed=0, groups=groups)
        >>> held = {groups[int(i)] for i in calibration.flatten()}
        >>> len(held), held.isdisjoint(groups[int(i)] for i in rest.flatten())
        (1, True)
    """
    rest, held = calibration_indices(images.shape[0], fraction, seed, groups)
    return images[rest], images[held]


def build_detector(
    model: nn.Module,
    config: Any,
    normal_images: Tensor,
    calibration_images: Tensor | None = None,
    score_config: ScoreConfig | None = None,
    *,
    calibration_fraction: float = 0.2,
    target: float = 0.95,
    groups: Sequence[str] | None = None,
    calibration_groups: Sequence[str] | None = None,
    group_level: str = "group",
    group_k: int = DEFAULT_GROUP_K,
    provenance: dict[str, Any] | None = None,
    progress: bool = True,
) -> AnomalyDetector:
    """Fit a detector for a trained model and calibrate its threshold on held-out normal images.

    The threshold keeps ``target`` of the held-out normals below it (``normal_quantile``), so
    its expected false-alarm rate is at most ``1 - target``; it is never chosen on a test set.
    Best: pass ``calibration_images`` that training never saw (:func:`split_calibration` before
    training) and the images the model was trained on as ``normal_images``. Otherwise a seeded
    ``calibration_fraction`` of ``normal_images`` is held out of the statistics (the model
    saw them in training, so the stated false-alarm rate may be optimistic; the provenance
    records which of the two was done).

    With groups (patients, volumes), the calibration images are whole groups, and the detector
    also gets a threshold per group score (max, mean and top-k mean of a group's slice scores,
    :mod:`dia_augment.detect.groups`) calibrated on the calibration groups: ``dia-augment
    predict`` calls each patient with it.

    Args:
        model: the trained model (:func:`dia_augment.train.load_model`'s first value).
        config: its :class:`~dia_augment.train.TrainConfig` (mode, shift, shifts, input size and
            augmentation, recorded in the provenance), or ``None`` for the defaults.
        normal_images: :math:`(N, C, H, W)` the normal training images in ``[0, 1]``.
        calibration_images: held-out normal images; ``None``: hold a slice of ``normal_images`` out.
        score_config: the score's settings (:class:`~dia_augment.score.ScoreConfig`).
        calibration_fraction: the slice held out when ``calibration_images`` is ``None``.
        target: the share of held-out normals (and groups) to keep below the thresholds.
        groups: the group of each of ``normal_images``: the slice held out is then whole groups;
            with ``calibration_groups``, they are checked to share no group.
        calibration_groups: the group of each calibration image (a hold-out drawn by group).
        group_level: what a group is (``"PatientID"``, ``"volume"``, ``"group"``: the key
            :func:`~dia_augment.data.items.iter_items` gives new files' groups under).
        group_k: the ``k`` of the top-k mean.
        provenance: more to record (data source, normal class, dissolver, ...).
        progress: show progress bars.

    Returns:
        The fitted, calibrated :class:`AnomalyDetector`; save it with ``save_pretrained``.

    Raises:
        InputError: groups that are not one per image, or a group with images on both sides.

    Examples:
        >>> from dia_augment.models import build_model
        >>> normals = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> detector = build_detector(build_model("resnet18", 1, 2), None, normals, score_config=ScoreConfig(num_views=2),
        ...                           progress=False)
        >>> detector.provenance["num_train"], detector.threshold.num_normal
        (8, 2)
        >>> patients = [f"p{i // 2}" for i in range(10)]          # 5 patients, 2 slices each
        >>> detector = build_detector(build_model("resnet18", 1, 2), None, normals, score_config=ScoreConfig(num_views=2),
        ...                           groups=patients, group_level="PatientID", progress=False)
        >>> detector.threshold.num_normal, detector.group_calibration.num_groups, detector.group_calibration.level
        (2, 1, 'PatientID')
    """
    check_images(normal_images, name="normal_images")
    score_config = score_config or ScoreConfig()
    to_dict = getattr(config, "to_dict", None)
    record: dict[str, Any] = {"train_config": to_dict() if callable(to_dict) else None, "mode": getattr(config, "mode", None)}
    for name, value, images in (("groups", groups, normal_images), ("calibration_groups", calibration_groups,
                                                                     calibration_images)):
        if value is not None and (images is None or isinstance(value, str) or len(value) != images.shape[0]):
            count = "no" if images is None else images.shape[0]
            raise InputError(f"{name} must hold one group per image ({count} images); got "
                             f"{'a string' if isinstance(value, str) else len(value)}")
    if calibration_groups is not None and groups is not None:
        shared = sorted(set(groups) & set(calibration_groups))
        if shared:
            raise InputError(f"{len(shared)} {group_level} group(s) have images both in training and in the calibration "
                             f"hold-out, e.g. {shared[0]!r}: draw the hold-out by group (split_calibration(..., groups=))")
    if calibration_images is None:
        rest, held = calibration_indices(normal_images.shape[0], calibration_fraction, score_config.seed, groups)
        if groups is not None:
            calibration_groups = [groups[i] for i in held.tolist()]
        how = "per image" if groups is None else f"by {group_level} (whole groups)"
        normal_images, calibration_images = normal_images[rest], normal_images[held]
        record["calibration"] = (f"a seeded {calibration_fraction:.0%} of the normal training images, drawn {how}; "
                                 "seen in training, so the stated false-alarm rate may be optimistic")
    elif calibration_groups is None:
        record["calibration"] = "normal images held out of training, drawn per image"
    else:
        held_groups = len(set(calibration_groups))
        total = "" if groups is None else f" of {held_groups + len(set(groups))}"
        record["calibration"] = (f"normal images held out of training, drawn by {group_level}: {held_groups}{total} "
                                 f"whole groups ({calibration_images.shape[0]} images), so that no {group_level} has "
                                 "images both in training and in the hold-out")
    record["calibration_by"] = None if calibration_groups is None else group_level
    return AnomalyDetector.fit(
        model,
        normal_images,
        calibration_images,
        score_config,
        shift=getattr(config, "shift", "rotation"),
        num_shifts=getattr(config, "num_shifts", 4),
        augmentation=getattr(config, "augmentation", "library"),
        image_size=getattr(config, "image_size", None),
        mode=record["mode"],
        target=target,
        calibration_groups=calibration_groups,
        group_level=group_level,
        group_k=group_k,
        provenance={**record, **(provenance or {})},
        progress=progress,
    )
