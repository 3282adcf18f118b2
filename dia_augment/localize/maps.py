r"""Anomaly maps: where in an image a differentiable anomaly score comes from.

Every method takes ``score_fn``, a function from a ``(B, C, H, W)`` batch in ``[0, 1]`` to
``(B,)`` anomaly scores (higher = more anomalous), and returns a ``(B, H, W)`` map at the
input's size, higher where the score is more sensitive to the pixel. Three families:

- **score gradients** (:func:`gradient_map`). SmoothGrad averages
  :math:`|\nabla_x s(x + \epsilon_j)|` over ``samples`` noisy copies
  (:math:`\epsilon_j \sim \mathcal{N}(0, \sigma^2)`); integrated gradients sum
  :math:`(x - x_0) \odot \nabla_x s(x_0 + \alpha (x - x_0))` over :math:`\alpha` on a midpoint
  rule from a baseline :math:`x_0` (the dissolved image is the natural one: what remains when
  the fine detail is gone), so that the map adds up to :math:`s(x) - s(x_0)` (completeness).
  Channels are reduced by the sum of absolute values (SmoothGrad) or the plain sum (IG).
- **occlusion** (:func:`occlusion_map`): slide a ``patch x patch`` window with ``stride``,
  replace the window's pixels by those of ``replacement`` (the dissolved image), and record the
  score's drop :math:`s(x) - s(x_{occluded})`; a pixel's value is the mean drop over the
  windows that cover it. A lesion that dissolving removes lowers the score when occluded.
- **dissolve residual** (:func:`dissolve_residual_map`): :math:`\sum_c |x - D(x)|`, optionally
  weighted by a sensitivity map (e.g. a gradient map): cheap, and a baseline for the others.

All are batched: one ``score_fn`` call per noisy / interpolated sample for the gradients, and
occluded copies scored in chunks of ``chunk_size`` images.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dia_augment.errors import InputError, InputTypeError
from dia_augment.utils.checks import check_images, check_int

__all__ = ["ScoreFn", "gradient_map", "occlusion_map", "occlusion_windows", "dissolve_residual_map", "MAP_METHODS"]

ScoreFn = Callable[[Tensor], Tensor]
#: Called with the number of images just scored, for a progress bar.
Progress = Callable[[int], None]

#: Names of the gradient methods of :func:`gradient_map`.
GRADIENT_METHODS = ("smoothgrad", "integrated")
#: Every map method, as :meth:`~dia_augment.detect.AnomalyDetector.anomaly_map` names them.
MAP_METHODS = ("smoothgrad", "integrated", "occlusion", "residual")


def _scores(score_fn: ScoreFn, images: Tensor) -> Tensor:
    scores = score_fn(images)
    if not isinstance(scores, Tensor) or scores.shape != (images.shape[0],):
        shape = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise InputError(f"score_fn must return one score per image, shape ({images.shape[0]},); got {shape}")
    return scores


def _same_batch(other: Tensor, images: Tensor, name: str) -> Tensor:
    check_images(other, name)
    if other.shape != images.shape:
        raise InputError(f"{name} must have the images' shape {tuple(images.shape)}; got {tuple(other.shape)}")
    return other.to(images)


def gradient_map(
    score_fn: ScoreFn,
    images: Tensor,
    method: str = "smoothgrad",
    samples: int = 8,
    noise: float = 0.02,
    baseline: Tensor | None = None,
    generator: torch.Generator | None = None,
    callback: Progress | None = None,
) -> Tensor:
    r"""SmoothGrad or integrated-gradients map of ``score_fn`` at ``images``.

    Args:
        score_fn: ``(B, C, H, W) -> (B,)`` differentiable anomaly scores.
        images: the batch, float in ``[0, 1]``.
        method: ``"smoothgrad"`` or ``"integrated"``.
        samples: noisy copies (SmoothGrad) or path points (integrated gradients).
        noise: the noise's standard deviation in ``[0, 1]`` units (SmoothGrad).
        baseline: the integrated gradients' start, same shape as ``images``; ``None`` is black.
        generator: draws the SmoothGrad noise.
        callback: called with ``B`` after each of the ``samples`` passes (a progress bar's ``update``).

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(B, H, W)`

    Examples:
        >>> x = torch.full((1, 1, 4, 4), 0.5)
        >>> score = lambda b: 3 * b[:, 0, 1, 2]  # depends on one pixel only
        >>> m = gradient_map(score, x, "integrated", samples=4)
        >>> m[0, 1, 2].item(), m.sum().item()  # completeness: s(x) - s(0) = 1.5
        (1.5, 1.5)
    """
    check_images(images)
    if method not in GRADIENT_METHODS:
        raise InputError(f"method must be one of {GRADIENT_METHODS}; got {method!r}")
    samples = check_int(samples, "samples", error=InputError)
    if not (isinstance(noise, (int, float)) and noise >= 0):
        raise InputError(f"noise must be a number >= 0; got {noise!r}")
    images = images.detach()
    if method == "integrated":
        start = torch.zeros_like(images) if baseline is None else _same_batch(baseline, images, "baseline").detach()
        total = torch.zeros_like(images)
        for j in range(samples):
            alpha = (j + 0.5) / samples
            point = (start + alpha * (images - start)).requires_grad_(True)
            (grad,) = torch.autograd.grad(_scores(score_fn, point).sum(), point)
            total += grad
            if callback is not None:
                callback(images.shape[0])
        return ((images - start) * total / samples).sum(dim=1)
    total = torch.zeros_like(images)
    for _ in range(samples):
        eps = torch.randn(images.shape, generator=generator, dtype=images.dtype).to(images.device) * noise
        point = (images + eps).requires_grad_(True)
        (grad,) = torch.autograd.grad(_scores(score_fn, point).sum(), point)
        total += grad.abs()
        if callback is not None:
            callback(images.shape[0])
    return (total / samples).sum(dim=1)


def occlusion_windows(height: int, width: int, patch: int = 4, stride: int = 2) -> list[tuple[int, int]]:
    """The ``(top, left)`` corners of :func:`occlusion_map`'s windows; the last of a row or column is flush with the border.

    Examples:
        >>> occlusion_windows(5, 4, patch=2, stride=2)
        [(0, 0), (0, 2), (2, 0), (2, 2), (3, 0), (3, 2)]
    """

    def starts(size: int) -> list[int]:
        positions = list(range(0, size - patch + 1, stride))
        return positions if positions[-1] == size - patch else [*positions, size - patch]

    return [(top, left) for top in starts(height) for left in starts(width)]


def occlusion_map(
    score_fn: ScoreFn,
    images: Tensor,
    replacement: Tensor,
    patch: int = 4,
    stride: int = 2,
    chunk_size: int = 64,
    callback: Progress | None = None,
) -> Tensor:
    r"""Mean score drop when a sliding window is replaced by ``replacement``'s pixels.

    Args:
        score_fn: ``(B, C, H, W) -> (B,)`` anomaly scores (no gradient needed).
        images: the batch, float in ``[0, 1]``.
        replacement: what an occluded window shows, same shape (e.g. the dissolved images).
        patch: the window's side in pixels.
        stride: the step between windows; the last window is moved flush with the border so
            every pixel is covered.
        chunk_size: occluded images scored per ``score_fn`` call.
        callback: called with the number of images scored after each call (``B`` for the images
            themselves, then ``B`` per window: ``B (1 + windows)`` in all, see :func:`occlusion_windows`).

    Shape:
        - images, replacement: :math:`(B, C, H, W)`
        - output: :math:`(B, H, W)`

    Examples:
        >>> x = torch.zeros(1, 1, 4, 4); x[0, 0, 0, 0] = 1.0
        >>> score = lambda b: b.sum(dim=(1, 2, 3))
        >>> m = occlusion_map(score, x, torch.zeros_like(x), patch=2, stride=2)
        >>> m[0].tolist()
        [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    check_images(images)
    replacement = _same_batch(replacement, images, "replacement")
    patch, stride, chunk_size = (check_int(v, n, error=InputError) for v, n in ((patch, "patch"), (stride, "stride"),
                                                                                (chunk_size, "chunk_size")))
    b, c, h, w = images.shape
    if patch > min(h, w):
        raise InputError(f"patch {patch} is larger than the images ({h} x {w})")

    windows = occlusion_windows(h, w, patch, stride)
    masks = torch.zeros(len(windows), 1, h, w, dtype=images.dtype, device=images.device)
    for i, (top, left) in enumerate(windows):
        masks[i, :, top : top + patch, left : left + patch] = 1
    coverage = masks.sum(0)[0]
    with torch.no_grad():
        base = _scores(score_fn, images)
        if callback is not None:
            callback(b)
        out = torch.zeros(b, h, w, dtype=images.dtype, device=images.device)
        per_chunk = max(1, chunk_size // b)
        for first in range(0, len(windows), per_chunk):
            m = masks[first : first + per_chunk]  # (W, 1, H, W)
            occluded = images[None] * (1 - m[:, None]) + replacement[None] * m[:, None]  # (W, B, C, H, W)
            drop = base[None] - _scores(score_fn, occluded.flatten(0, 1)).view(m.shape[0], b)
            out += torch.einsum("wb,whx->bhx", drop, m[:, 0])
            if callback is not None:
                callback(m.shape[0] * b)
    return out / coverage


def dissolve_residual_map(images: Tensor, dissolved: Tensor, sensitivity: Tensor | None = None) -> Tensor:
    r"""Where dissolving changes the image: :math:`\sum_c |x - D(x)|`, times ``sensitivity``.

    Args:
        images: the batch, float in ``[0, 1]``.
        dissolved: the dissolver's output for ``images``, same shape.
        sensitivity: an optional non-negative :math:`(B, H, W)` weight (e.g. a gradient map).

    Shape:
        - images, dissolved: :math:`(B, C, H, W)`
        - output: :math:`(B, H, W)`

    Examples:
        >>> x = torch.zeros(1, 3, 2, 2); d = x.clone(); d[0, :, 1, 1] = 0.5
        >>> dissolve_residual_map(x, d)[0].tolist()
        [[0.0, 0.0], [0.0, 1.5]]
    """
    check_images(images)
    dissolved = _same_batch(dissolved, images, "dissolved")
    residual = (images - dissolved).abs().sum(dim=1)
    if sensitivity is None:
        return residual
    if not isinstance(sensitivity, Tensor):
        raise InputTypeError(f"sensitivity must be a torch.Tensor; got {type(sensitivity).__name__}")
    if sensitivity.shape != residual.shape:
        raise InputError(f"sensitivity must have shape {tuple(residual.shape)}; got {tuple(sensitivity.shape)}")
    if not bool(torch.isfinite(sensitivity).all()) or bool((sensitivity < 0).any()):
        raise InputError("sensitivity must be finite and non-negative")
    return residual * sensitivity.to(residual)
