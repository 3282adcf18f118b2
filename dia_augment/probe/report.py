"""Probe several dissolvers (with their resize round trips), print a table, save JSON and a plot; the readiness probe."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dia_augment.data.embedded import LESION_OPACITY, add_lesions
from dia_augment.errors import InputError
from dia_augment.filters.base import Dissolver
from dia_augment.probe.plot import save_probe_plot
from dia_augment.probe.probe import PROBE_STEPS, probe_dissolver, resize_reference
from dia_augment.utils.checks import check_images, check_int
from dia_augment.utils.io import atomic_write_json

__all__ = [
    "RESIZE_LABEL",
    "probe_dissolvers",
    "erasure_at_change",
    "format_probe_table",
    "to_json_records",
    "save_probe_results",
    "probe_readiness",
]

#: The label suffix of a dissolver's resize round trip alone.
RESIZE_LABEL = "resize only"


def probe_dissolvers(
    dissolvers: Mapping[str, Dissolver],
    clean: Tensor,
    lesioned: Tensor,
    mask: Tensor,
    steps: Sequence[int] = PROBE_STEPS,
    with_resize: bool = True,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, list[dict[str, float | int]]]:
    """Probe each dissolver on the same twins and, when it resizes, its resize round trip alone.

    The reference of a dissolver labelled ``name`` working at ``r`` px is labelled
    ``"resize only (r px)"`` and probed once, however many dissolvers share it.

    Args:
        dissolvers: label -> dissolver.
        clean, lesioned, mask: the twins (see :func:`~dia_augment.probe.probe_dissolver`).
        steps: the steps to probe.
        with_resize: add the resize references.
        batch_size: twins per dissolver call.
        seed: seeds each stochastic dissolver's noise (the same seed for each).
        progress: show progress bars.

    Returns:
        label -> the records of :func:`~dia_augment.probe.probe_dissolver`, references last.

    Examples:
        >>> from dia_augment.filters import GaussianDissolving
        >>> clean = torch.full((2, 1, 16, 16), 0.5); sick = clean.clone(); sick[:, :, 8, 8] = 1.0
        >>> curves = probe_dissolvers({"blur": GaussianDissolving(resolution=8)}, clean, sick, sick != clean,
        ...                           steps=(0,), progress=False)
        >>> list(curves)
        ['blur', 'resize only (8 px)']
    """
    if not dissolvers:
        raise InputError("dissolvers is empty: give at least one")
    curves: dict[str, list[dict[str, float | int]]] = {}
    references: dict[str, Dissolver] = {}
    for label, dissolver in dissolvers.items():
        curves[label] = probe_dissolver(dissolver, clean, lesioned, mask, steps, batch_size, seed, progress, desc=label)
        reference = resize_reference(dissolver, tuple(clean.shape[-2:])) if with_resize else None
        if reference is not None:
            references.setdefault(f"{RESIZE_LABEL} ({reference.resolution} px)", reference)
    for label, reference in references.items():
        if label not in curves:
            curves[label] = probe_dissolver(reference, clean, lesioned, mask, steps[:1], batch_size, seed, progress, desc=label)
    return curves


def erasure_at_change(
    rows: Sequence[Mapping[str, Any]], change: float, erasure_key: str = "erasure"
) -> float | None:
    """A dissolver's lesion erasure at a given anatomy change, interpolated linearly along its curve.

    Compares dissolvers at equal damage to the anatomy rather than at equal ``t``. The curve's
    points are taken in order of ``change_mae``; ``None`` when ``change`` lies outside them.

    Examples:
        >>> rows = [{"t": 0, "erasure": 0.0, "change_mae": 0.0}, {"t": 50, "erasure": 0.6, "change_mae": 0.02}]
        >>> round(erasure_at_change(rows, 0.01), 6), erasure_at_change(rows, 0.05)
        (0.3, None)
    """
    points = sorted((float(r["change_mae"]), float(r[erasure_key])) for r in rows
                    if r.get("change_mae") is not None and r.get(erasure_key) is not None
                    and math.isfinite(r["change_mae"]) and math.isfinite(r[erasure_key]))
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= change <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (change - x0) / (x1 - x0)
    if points and points[0][0] == change:
        return points[0][1]
    return None


def _fmt(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def format_probe_table(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """A plain-text table of probe records: one line per dissolver and step.

    Examples:
        >>> print(format_probe_table({"id": [{"t": 0, "erasure": 0.0, "erasure_in_lesions": 0.0, "erasure_std": 0.0,
        ...     "change_mae": 0.0, "change_psnr": math.inf, "erasure_per_change": math.nan, "num_images": 4}]}))
        dissolver  t    erasure  in lesions  +- (images)  change MAE  PSNR dB  erasure/change
        id         0     0.0000      0.0000       0.0000      0.0000      inf               -
    """
    width = max(len("dissolver"), *(len(k) for k in curves))
    lines = [f"{'dissolver':<{width}}  t    erasure  in lesions  +- (images)  change MAE  PSNR dB  erasure/change"]
    for label, rows in curves.items():
        for r in rows:
            lines.append(
                f"{label:<{width}}  {r['t']:<3d}  {_fmt(r['erasure'], 4):>7}  {_fmt(r['erasure_in_lesions'], 4):>10}  "
                f"{_fmt(r['erasure_std'], 4):>11}  {_fmt(r['change_mae'], 4):>10}  {_fmt(r['change_psnr'], 1):>7}  "
                f"{_fmt(r['erasure_per_change'], 1):>14}"
            )
    return "\n".join(lines)


def to_json_records(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Probe records with every non-finite float (no change: PSNR and ratio) as ``None``, for strict JSON.

    Examples:
        >>> to_json_records([{"t": 0, "change_psnr": math.inf, "erasure": 0.5}])
        [{'t': 0, 'change_psnr': None, 'erasure': 0.5}]
    """
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows]


def save_probe_results(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    json_path: str | os.PathLike | None = None,
    plot_path: str | os.PathLike | None = None,
    meta: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> None:
    """Write the curves as JSON (``{"meta": ..., "curves": {label: records}}``) and / or the plot, atomically."""
    if json_path is not None:
        atomic_write_json(json_path, {"meta": dict(meta or {}), "curves": {k: to_json_records(v) for k, v in curves.items()}})
    if plot_path is not None:
        save_probe_plot(curves, plot_path, title=title)


def probe_readiness(
    dissolver: Dissolver,
    images: Tensor,
    out_dir: str | os.PathLike | None = None,
    steps: Sequence[int] = PROBE_STEPS,
    num_images: int = 64,
    lesion_sigma: tuple[float, float] | None = None,
    lesion_opacity: tuple[float, float] = LESION_OPACITY,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, list[dict[str, float | int]]]:
    """The lesion probe as a readiness check: paste lesions into held-out normal images and probe.

    Meant for a dissolver trainer's readiness output (the held-out images it already keeps;
    ``dia-augment train-dissolver`` passes it as the trainer's ``final_check``):
    it pastes the embedded set's synthetic lesions into (at most) ``num_images`` of ``images``,
    probes ``dissolver`` and its resize round trip alone, and, with ``out_dir``, writes
    ``out_dir/probe.json`` and ``out_dir/probe.png``.

    Args:
        dissolver: the dissolver to check.
        images: normal images it did not train on, in ``[0, 1]``, 1 or 3 channels.
        out_dir: where to write ``probe.json`` and ``probe.png`` (``None``: write nothing).
        steps: the steps to probe.
        num_images: the number of twins (the first ``num_images`` images).
        lesion_sigma: the lesions' standard deviation range in pixels (see
            :func:`~dia_augment.data.add_lesions`; choose the size of the anomalies you expect).
        lesion_opacity: the lesions' opacity (contrast) range.
        seed: seeds the lesions and any dissolver noise.
        progress: show progress bars.

    Returns:
        The curves of :func:`probe_dissolvers`, with the dissolver labelled ``"dissolver"``.

    Examples:
        >>> from dia_augment.filters import GaussianDissolving
        >>> curves = probe_readiness(GaussianDissolving(), torch.full((3, 1, 16, 16), 0.5), steps=(0, 100))
        >>> [round(r["erasure"], 3) for r in curves["dissolver"]], round(curves["dissolver"][1]["change_mae"], 6)
        ([0.0, 0.599], 0.0)
    """
    check_images(images)
    check_int(num_images, "num_images")
    clean = images[:num_images].float().clamp(0, 1).cpu()
    lesioned, mask = add_lesions(clean, generator=seed, lesion_sigma=lesion_sigma, lesion_opacity=lesion_opacity)
    curves = probe_dissolvers({"dissolver": dissolver}, clean, lesioned, mask, steps, seed=seed, progress=progress)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"num_images": len(clean), "image_size": list(clean.shape[-2:]), "lesion_sigma": lesion_sigma,
                "lesion_opacity": list(lesion_opacity), "seed": seed, "steps": list(steps)}
        save_probe_results(curves, out / "probe.json", out / "probe.png", meta=meta)
    return curves
