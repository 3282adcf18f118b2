"""Anomaly maps of an :class:`~dia_augment.detect.AnomalyDetector` (or anything that scores as one).

The detector's score is differentiable end to end: fixed test-time views (crop matrices, flips,
pointwise colour operations), shifts, the encoder and the CSI (or SimCLR) score are all torch
operations, so :func:`detector_score_fn` hands the maps of :mod:`dia_augment.localize.maps` a
function with gradients. This module reads a detector through what it offers (``encoder``,
``score_features``, ``config.batch_size``) and imports nothing of :mod:`dia_augment.detect`.
The dissolver that occlusion, integrated gradients and the residual need is the one
the model was trained against when there is one; without it (a CSI model), a Gaussian blur.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from dia_augment.errors import InputError, InputTypeError
from dia_augment.localize.maps import MAP_METHODS, ScoreFn, dissolve_residual_map, gradient_map, occlusion_map
from dia_augment.localize.maps import occlusion_windows

__all__ = ["detector_score_fn", "anomaly_map", "map_work", "DEFAULT_MAP_STEP"]

#: The dissolving step of the map's dissolved image (the middle of DIA's [30, 100) range).
DEFAULT_MAP_STEP = 60


def detector_score_fn(detector: Any) -> ScoreFn:
    """The detector's anomaly score as a differentiable function of the images.

    Equals :meth:`AnomalyDetector.score` (higher = more anomalous) but keeps the graph.

    Examples:
        >>> from dia_augment.detect import AnomalyDetector
        >>> from dia_augment.models import build_model
        >>> g = torch.Generator().manual_seed(0)
        >>> normal = torch.rand(6, 1, 8, 8, generator=g)
        >>> from dia_augment.score import ScoreConfig
        >>> det = AnomalyDetector.fit(build_model("resnet18", 1, width=2), normal,
        ...                           config=ScoreConfig(num_views=2, mixed_precision="no"), progress=False)
        >>> x = torch.rand(3, 1, 8, 8, generator=g)
        >>> torch.allclose(detector_score_fn(det)(x), det.score(x), atol=1e-5)
        True
    """
    device = next(detector.encoder.parameters()).device

    def score(images: Tensor) -> Tensor:
        z, logits = detector.encoder(images.to(device))
        return detector.score_features(z, logits).to(images.device)

    return score


def anomaly_map(
    detector: Any,
    images: Tensor,
    method: str = "smoothgrad",
    *,
    dissolver: Any = None,
    step: int = DEFAULT_MAP_STEP,
    samples: int = 8,
    noise: float = 0.02,
    patch: int = 4,
    stride: int = 2,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> Tensor:
    """Per-pixel anomaly maps of ``images`` at their size, higher = more responsible for the score.

    Args:
        detector: a fitted :class:`~dia_augment.detect.AnomalyDetector`.
        images: :math:`(N, C, H, W)` in ``[0, 1]`` of the detector's channels and size.
        method: ``"smoothgrad"``, ``"integrated"`` (from the dissolved image), ``"occlusion"``
            (patches replaced by their dissolved version) or ``"residual"`` (where dissolving
            changes the image, times the score's gradient magnitude).
        dissolver: a :class:`~dia_augment.filters.Dissolver` (called as ``dissolver(x, step)``);
            ``None``: a Gaussian blur (``make_dissolver("gaussian")``). Unused by SmoothGrad.
        step: the dissolving step.
        samples: SmoothGrad noise draws / integrated-gradient path points.
        noise: SmoothGrad's noise standard deviation in ``[0, 1]`` units.
        patch: occlusion window side in pixels.
        stride: occlusion window step.
        batch_size: images per pass; ``None`` uses the detector's.
        generator: draws SmoothGrad's noise.
        progress: show a progress bar through the whole work, counted in images the score is
            computed on (:func:`map_work`: for occlusion, every occluded copy).

    Shape:
        - images: :math:`(N, C, H, W)`
        - output: :math:`(N, H, W)`, float32 on CPU

    Examples:
        >>> from dia_augment.detect import AnomalyDetector
        >>> from dia_augment.models import build_model
        >>> g = torch.Generator().manual_seed(0)
        >>> from dia_augment.score import ScoreConfig
        >>> det = AnomalyDetector.fit(build_model("resnet18", 1, width=2), torch.rand(6, 1, 8, 8, generator=g),
        ...                           config=ScoreConfig(num_views=2), progress=False)
        >>> anomaly_map(det, torch.rand(2, 1, 8, 8, generator=g), "occlusion", patch=4, stride=4).shape
        torch.Size([2, 8, 8])
    """
    if method not in MAP_METHODS:
        raise InputError(f"method must be one of {MAP_METHODS}; got {method!r}")
    detector.encoder.check_input(images)
    if dissolver is None and method != "smoothgrad":
        from dia_augment.filters import make_dissolver

        dissolver = make_dissolver("gaussian")
    if dissolver is not None and not callable(dissolver):
        raise InputTypeError(f"dissolver must be a Dissolver (callable); got {type(dissolver).__name__}")
    size = batch_size or detector.config.batch_size
    score_fn = detector_score_fn(detector)
    maps = []
    total = map_work(method, images.shape[0], tuple(images.shape[-2:]), samples=samples, patch=patch, stride=stride)
    with tqdm(total=total, desc=f"{method} maps", unit="img", disable=not progress) as bar:
        for start in range(0, images.shape[0], size):
            batch = images[start : start + size]
            if method == "smoothgrad":
                maps.append(gradient_map(score_fn, batch, "smoothgrad", samples, noise, generator=generator,
                                         callback=bar.update))
                continue
            with torch.no_grad():
                dissolved = dissolver(batch, step).clamp(0, 1)
            if method == "integrated":
                maps.append(gradient_map(score_fn, batch, "integrated", samples, baseline=dissolved, callback=bar.update))
            elif method == "occlusion":
                maps.append(occlusion_map(score_fn, batch, dissolved, patch, stride, callback=bar.update))
            else:
                sensitivity = gradient_map(score_fn, batch, "smoothgrad", samples=1, noise=0.0, callback=bar.update)
                maps.append(dissolve_residual_map(batch, dissolved, sensitivity))
    return torch.cat(maps).detach().float().cpu()


def map_work(method: str, num_images: int, size: tuple[int, int], *, samples: int = 8, patch: int = 4,
             stride: int = 2) -> int:
    """How many images :func:`anomaly_map` computes the score on (the length of its progress bar).

    SmoothGrad and integrated gradients: ``samples`` passes per image; the residual one; occlusion
    the image and one occluded copy per window (:func:`~dia_augment.localize.maps.occlusion_windows`).

    Examples:
        >>> map_work("occlusion", 2, (8, 8), patch=4, stride=2), map_work("smoothgrad", 2, (8, 8), samples=8)
        (20, 16)
    """
    if method == "occlusion":
        return num_images * (1 + len(occlusion_windows(*size, patch, stride)))
    return num_images * (1 if method == "residual" else samples)

