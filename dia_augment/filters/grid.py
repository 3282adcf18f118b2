"""Visual readiness checks of a dissolver: the dissolve grid and the readiness curve.

A dissolve grid shows a fixed set of images (rows) next to their dissolved versions at a few
steps (columns): the original, then ``t = 0, 30, 60, 100, 200`` by default. Rows can be labelled
with their class (``normal`` / ``anomalous``, see :func:`class_row_labels`) in a strip on the left. A well trained
DDPM dissolver keeps the anatomy and removes fine detail more and more as ``t`` grows; an
untrained one returns noise-like or washed-out images even at small ``t``.

The readiness curve plots the held-out denoising loss logged by
:func:`~dia_augment.train.train_dissolver` against the training step; it should
fall and then flatten.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from dia_augment.errors import ConfigError, DataError, InputError
from dia_augment.filters.base import Dissolver
from dia_augment.utils.checks import check_int, check_images
from dia_augment.utils.figures import new_figure, write_png
from dia_augment.utils.io import atomic_open

__all__ = ["GRID_STEPS", "dissolve_grid", "grid_to_pil", "class_row_labels", "save_dissolve_grid",
           "save_readiness_curve"]

#: The default columns of a dissolve grid (after the original).
GRID_STEPS = (0, 30, 60, 100, 200)

# Height in pixels of the label strip above the grid.
_LABEL_HEIGHT = 14
# Margin in pixels around a row label in the strip on the left.
_ROW_LABEL_MARGIN = 4


def _check_grid_args(steps: Sequence[int], padding: int) -> tuple[int, ...]:
    steps = tuple(steps)
    if not steps or any(isinstance(s, bool) or not isinstance(s, int) for s in steps):
        raise ConfigError(f"steps must be a non-empty sequence of ints; got {steps!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ConfigError(f"padding must be a non-negative int; got {padding!r}")
    return steps


@torch.no_grad()
def dissolve_grid(dissolver: Dissolver, images: Tensor, steps: Sequence[int] = GRID_STEPS, padding: int = 2,
                  pad_value: float = 1.0) -> Tensor:
    r"""Tile images and their dissolved versions: one row per image, one column per step.

    Column 0 holds the originals, column ``j + 1`` the images dissolved at ``steps[j]``. Cell
    ``(r, c)`` starts at pixel ``(padding + r * (H + padding), padding + c * (W + padding))``;
    the gaps are filled with ``pad_value``.

    Args:
        dissolver: any :class:`~dia_augment.filters.base.Dissolver`.
        images: the images to show, float in ``[0, 1]``.
        steps: the dissolving steps of the columns after the original.
        padding: the gap between cells, in pixels.
        pad_value: the gap's value in ``[0, 1]`` (1 = white).

    Returns:
        The grid, float in ``[0, 1]`` on the images' device.

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(C, p + B (H + p), p + (S + 1)(W + p))` with :math:`S` = ``len(steps)``,
          :math:`p` = ``padding``

    Examples:
        >>> from dia_augment.filters.base import ResizeDissolving
        >>> x = torch.rand(2, 1, 4, 4)
        >>> grid = dissolve_grid(ResizeDissolving(4), x, steps=(0, 50), padding=1)
        >>> grid.shape
        torch.Size([1, 11, 16])
        >>> torch.equal(grid[:, 1:5, 6:10], x[0])  # row 0, column 1: t = 0 of an identity dissolver
        True
    """
    check_images(images)
    steps = _check_grid_args(steps, padding)
    b, c, h, w = images.shape
    columns = [images] + [dissolver(images, t) for t in steps]
    grid = images.new_full((c, padding + b * (h + padding), padding + len(columns) * (w + padding)), float(pad_value))
    for col, cells in enumerate(columns):
        x0 = padding + col * (w + padding)
        for row in range(b):
            y0 = padding + row * (h + padding)
            grid[:, y0 : y0 + h, x0 : x0 + w] = cells[row].to(grid.dtype)
    return grid


def class_row_labels(labels: Sequence[int] | Tensor, classes: Sequence[int] | Tensor | None = None,
                     class_names: Sequence[str] | None = None) -> list[str]:
    """Row labels of a grid: ``"normal"`` for target 0, ``"anomalous"`` for 1, with the class name when given.

    Args:
        labels: the rows' targets, 0 (normal) or 1 (anomaly).
        classes: the rows' original classes, indices into ``class_names``.
        class_names: the names of the original classes.

    Examples:
        >>> class_row_labels([0, 1])
        ['normal', 'anomalous']
        >>> class_row_labels([0, 1], [1, 0], ["COVID", "non-COVID"])
        ['normal: non-COVID', 'anomalous: COVID']
    """
    targets = [int(v) for v in labels]
    if any(t not in (0, 1) for t in targets):
        raise InputError(f"labels must be 0 (normal) or 1 (anomaly); got {targets}")
    names = ["normal" if t == 0 else "anomalous" for t in targets]
    if classes is None or class_names is None:
        return names
    indices = [int(c) for c in classes]
    if len(indices) != len(names):
        raise InputError(f"got {len(names)} labels but {len(indices)} classes")
    return [f"{name}: {class_names[c]}" for name, c in zip(names, indices)]


def grid_to_pil(grid: Tensor, column_width: int | None = None, labels: Sequence[str] | None = None, scale: int = 1,
                row_labels: Sequence[str] | None = None, row_height: int | None = None) -> Image.Image:
    """Convert a grid tensor to an 8-bit PIL image, optionally enlarged and with column and row labels.

    Args:
        grid: a ``(C, H, W)`` float image in ``[0, 1]``, C = 1 or 3.
        column_width: the width of one column (cell plus padding) in the grid's pixels, to
            place the labels; required with ``labels``.
        labels: one label per column, written above the grid.
        scale: an integer enlargement (nearest neighbour), so that small images stay readable.
        row_labels: one label per row, written in a white strip left of the grid (as wide as
            the longest label plus 4 px on each side).
        row_height: the height of one row (cell plus padding) in the grid's pixels; required
            with ``row_labels``.

    Examples:
        >>> grid_to_pil(torch.ones(1, 4, 6), scale=2).size
        (12, 8)
    """
    if grid.ndim != 3 or grid.shape[0] not in (1, 3):
        raise InputError(f"grid must be a (C, H, W) image with C = 1 or 3; got shape {tuple(grid.shape)}")
    check_int(scale, "scale", error=ConfigError)
    pixels = (grid.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    pixels = pixels.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    array = pixels.permute(1, 2, 0).numpy()
    image = Image.fromarray(np.ascontiguousarray(array[..., 0] if array.shape[-1] == 1 else array))
    if not labels and not row_labels:
        return image
    if labels and column_width is None:
        raise ConfigError("column_width is needed to place the labels")
    if row_labels and row_height is None:
        raise ConfigError("row_height is needed to place the row labels")
    white, ink = (255, 0) if image.mode == "L" else ((255,) * 3, (0, 0, 0))
    top = _LABEL_HEIGHT if labels else 0
    left = 0
    if row_labels:
        measure = ImageDraw.Draw(image)
        left = int(np.ceil(max(measure.textlength(str(t)) for t in row_labels))) + 2 * _ROW_LABEL_MARGIN
    canvas = Image.new(image.mode, (left + image.width, top + image.height), color=white)
    canvas.paste(image, (left, top))
    draw = ImageDraw.Draw(canvas)
    for i, label in enumerate(labels or ()):
        draw.text((left + i * column_width * scale + 2, 1), str(label), fill=ink)
    for i, label in enumerate(row_labels or ()):
        centre = top + (i * row_height + row_height // 2) * scale
        draw.text((_ROW_LABEL_MARGIN, centre), str(label), fill=ink, anchor="lm")
    return canvas


def save_dissolve_grid(dissolver: Dissolver, images: Tensor, path: str | os.PathLike, steps: Sequence[int] = GRID_STEPS,
                       padding: int = 2, scale: int = 2, labels: bool = True,
                       row_labels: Sequence[str] | None = None) -> Tensor:
    """Make a :func:`dissolve_grid` and write it as a PNG, atomically.

    Args:
        dissolver: the dissolver to show.
        images: :math:`(B, C, H, W)` float in ``[0, 1]``.
        path: the ``.png`` file to write (its folder is created).
        steps: the dissolving steps of the columns after the original.
        padding: the gap between cells, in pixels (before enlargement).
        scale: integer enlargement of the written image.
        labels: write ``original``, ``t=0``, ... above the columns (a 14 px strip on top).
        row_labels: one label per image, written left of its row, e.g. the class from
            :func:`class_row_labels` (``normal: non-COVID``, ``anomalous: COVID``).

    Returns:
        The grid tensor (before enlargement and labels).

    Examples:
        >>> import tempfile, pathlib
        >>> from dia_augment.filters.base import ResizeDissolving
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "grid.png"
        >>> _ = save_dissolve_grid(ResizeDissolving(8), torch.rand(2, 3, 16, 16), p)
        >>> Image.open(p).size
        (220, 90)
    """
    if row_labels is not None and len(row_labels) != images.shape[0]:
        raise InputError(f"row_labels must give one label per image: got {len(row_labels)} for {images.shape[0]} images")
    grid = dissolve_grid(dissolver, images, steps, padding)
    column_width = images.shape[-1] + padding
    names = ["original"] + [f"t={t}" for t in steps] if labels else None
    image = grid_to_pil(grid, column_width, names, scale, row_labels=row_labels, row_height=images.shape[-2] + padding)
    with atomic_open(path, "wb") as f:
        image.save(f, format="PNG", optimize=True)
    return grid


def _read_records(metrics: str | os.PathLike | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(metrics, (str, os.PathLike)):
        path = Path(metrics)
        if not path.is_file():
            raise FileNotFoundError(f"metrics log not found: {path}")
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return list(metrics)


def save_readiness_curve(metrics: str | os.PathLike | Iterable[Mapping[str, Any]], path: str | os.PathLike,
                         title: str | None = None) -> None:
    """Plot the held-out denoising loss (EMA and raw weights) and the training loss against the step.

    Args:
        metrics: a ``metrics.jsonl`` written by
            :func:`~dia_augment.train.train_dissolver`, or its records.
        path: the ``.png`` file to write, atomically.
        title: the plot's title.

    Raises:
        ValueError: the metrics hold no held-out loss to plot.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "curve.png"
        >>> save_readiness_curve([{"kind": "eval", "step": 0, "holdout_loss": 0.8, "holdout_loss_raw": 0.8},
        ...                       {"kind": "eval", "step": 10, "holdout_loss": 0.5, "holdout_loss_raw": 0.4}], p)
        >>> p.stat().st_size > 0
        True
    """
    records = _read_records(metrics)
    evals = [r for r in records if r.get("kind") == "eval"]
    if not evals:
        raise DataError("the metrics hold no held-out loss ('kind': 'eval' records) to plot")
    train = [r for r in records if r.get("kind") == "train"]
    figure = new_figure(5.0, 3.2)
    ax = figure.add_subplot(1, 1, 1)
    if train:
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], color="0.75", lw=1, label="training loss (batches)")
    ax.plot([r["step"] for r in evals], [r["holdout_loss"] for r in evals], "o-", ms=3, label="held-out loss, EMA weights")
    ax.plot([r["step"] for r in evals], [r["holdout_loss_raw"] for r in evals], "s--", ms=3, label="held-out loss, raw weights")
    ax.set(xlabel="training step", ylabel="denoising loss")
    ax.set_title(title or "Dissolver readiness (fixed noise, t in [30, 100))", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    write_png(figure, path)
