"""``build_detector``: the one call that ends training: fit, calibrate on held-out normals, ready to save."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dia_augment.detect.detector import AnomalyDetector
from dia_augment.errors import InputError
from dia_augment.score.config import ScoreConfig
from dia_augment.utils.checks import check_images

__all__ = ["build_detector", "split_calibration"]


def split_calibration(images: Tensor, fraction: float = 0.2, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Split normal images into ``(rest, calibration)``: a seeded ``fraction`` held out for the threshold.

    Call it **before training** and train on ``rest`` only, so that the calibration images are
    new to the model and the threshold's false-alarm rate is not optimistic.

    Args:
        images: :math:`(N, C, H, W)` normal images.
        fraction: the share held out, in ``(0, 1)``; at least one image on each side.
        seed: the seed of the draw.

    Examples:
        >>> rest, calibration = split_calibration(torch.arange(10.0).view(10, 1, 1, 1), 0.2, seed=0)
        >>> rest.shape[0], calibration.shape[0], sorted(torch.cat([rest, calibration]).flatten().tolist()) == list(range(10))
        (8, 2, True)
    """
    if isinstance(fraction, bool) or not isinstance(fraction, float) or not 0 < fraction < 1:
        raise InputError(f"calibration_fraction must be a float in (0, 1); got {fraction!r}")
    n = images.shape[0]
    held = round(fraction * n)
    if held < 1 or held >= n:
        raise InputError(f"cannot hold {fraction:.0%} of {n} normal images out for calibration: pass more images or calibration_images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return images[order[held:]], images[order[:held]]


def build_detector(
    model: nn.Module,
    config: Any,
    normal_images: Tensor,
    calibration_images: Tensor | None = None,
    score_config: ScoreConfig | None = None,
    *,
    calibration_fraction: float = 0.2,
    target: float = 0.95,
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

    Args:
        model: the trained model (:func:`dia_augment.train.load_model`'s first value).
        config: its :class:`~dia_augment.train.TrainConfig` (mode, shift, shifts, input size and
            augmentation, recorded in the provenance), or ``None`` for the defaults.
        normal_images: :math:`(N, C, H, W)` the normal training images in ``[0, 1]``.
        calibration_images: held-out normal images; ``None``: hold a slice of ``normal_images`` out.
        score_config: the score's settings (:class:`~dia_augment.score.ScoreConfig`).
        calibration_fraction: the slice held out when ``calibration_images`` is ``None``.
        target: the share of held-out normals to keep below the threshold.
        provenance: more to record (data source, normal class, dissolver, ...).
        progress: show progress bars.

    Returns:
        The fitted, calibrated :class:`AnomalyDetector`; save it with ``save_pretrained``.

    Examples:
        >>> from dia_augment.models import build_model
        >>> normals = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> detector = build_detector(build_model("resnet18", 1, 2), None, normals, score_config=ScoreConfig(num_views=2),
        ...                           progress=False)
        >>> detector.provenance["num_train"], detector.threshold.num_normal
        (8, 2)
    """
    check_images(normal_images, name="normal_images")
    score_config = score_config or ScoreConfig()
    to_dict = getattr(config, "to_dict", None)
    record: dict[str, Any] = {"train_config": to_dict() if callable(to_dict) else None, "mode": getattr(config, "mode", None)}
    if calibration_images is None:
        normal_images, calibration_images = split_calibration(normal_images, calibration_fraction, score_config.seed)
        record["calibration"] = f"a seeded {calibration_fraction:.0%} slice of the normal training images (seen in training)"
    else:
        record["calibration"] = "normal images held out of training"
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
        provenance={**record, **(provenance or {})},
        progress=progress,
    )
