"""The gallery of the most anomalous images of a ``predict`` run."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from torch import Tensor

from dia_augment.errors import InputError
from dia_augment.utils.figures import new_figure, write_png

__all__ = ["save_gallery"]


def save_gallery(
    path: str | os.PathLike,
    images: Sequence[Tensor],
    titles: Sequence[str],
    columns: int = 4,
    title: str | None = None,
    overlays: Sequence[Tensor] | None = None,
) -> None:
    """Write a grid of ``(C, H, W)`` images in ``[0, 1]`` with a caption each, as a PNG, atomically.

    Args:
        path: the ``.png`` file.
        images: the images (1 or 3 channels, any sizes).
        titles: one caption per image (e.g. the file name and its anomaly score).
        columns: images per row.
        title: the figure's title.
        overlays: optional ``(H, W)`` anomaly maps, one per image, drawn over it (each scaled
            to its own maximum; colour = share of that maximum).

    Examples:
        >>> import tempfile, pathlib, torch
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "top.png"
        >>> save_gallery(p, [torch.zeros(1, 4, 4), torch.ones(3, 4, 4)], ["a 0.1", "b 0.9"])
        >>> p.read_bytes()[:4]
        b'\\x89PNG'
    """
    if len(images) != len(titles) or not images:
        raise InputError(f"save_gallery needs one title per image and at least one image; got {len(images)} and {len(titles)}")
    if overlays is not None and len(overlays) != len(images):
        raise InputError(f"save_gallery needs one overlay per image; got {len(overlays)} for {len(images)} images")
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    figure = new_figure(2.2 * columns, 2.4 * rows + (0.3 if title else 0))
    for i, (image, caption) in enumerate(zip(images, titles)):
        ax = figure.add_subplot(rows, columns, i + 1)
        pixels = image.detach().cpu().float().clamp(0, 1)
        if pixels.shape[0] == 1:
            ax.imshow(pixels[0].numpy(), cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(pixels.permute(1, 2, 0).numpy())
        if overlays is not None:
            heat = overlays[i].detach().cpu().float().clamp(min=0)
            ax.imshow((heat / heat.max().clamp(min=1e-12)).numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(caption, fontsize=7)
        ax.axis("off")
    if title:
        figure.suptitle(title, fontsize=9)
    write_png(figure, path)
