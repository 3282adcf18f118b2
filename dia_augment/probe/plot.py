"""The lesion probe's plot: lesion erasure against anatomy change, one curve per dissolver."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from dia_augment.errors import InputError
from dia_augment.utils.figures import new_figure, write_png

__all__ = ["save_probe_plot"]


def save_probe_plot(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | os.PathLike,
    title: str | None = None,
    erasure_key: str = "erasure",
) -> None:
    """Plot lesion erasure (y) against anatomy change (x, mean absolute change outside the lesions).

    One curve per dissolver, each point labelled by its step ``t``, so that dissolvers can be
    compared at equal damage to the anatomy: a curve higher up at the same ``x`` erases more of
    the lesions for the same change. A dissolver whose records do not depend on ``t`` (resize
    only) collapses to one point. Points without a finite value are left out.

    Args:
        curves: dissolver label -> the records of :func:`~dia_augment.probe.probe_dissolver`.
        path: the ``.png`` file to write, atomically.
        title: the plot's title.
        erasure_key: ``"erasure"`` (overall) or ``"erasure_in_lesions"``.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "probe.png"
        >>> save_probe_plot({"blur": [{"t": 0, "erasure": 0.0, "change_mae": 0.0},
        ...                           {"t": 60, "erasure": 0.5, "change_mae": 0.02}]}, p)
        >>> p.stat().st_size > 0
        True
    """
    if not curves:
        raise InputError("curves is empty: give at least one dissolver's records")
    figure = new_figure(6.4, 4.4, dpi=110)
    ax = figure.add_subplot(1, 1, 1)
    for label, rows in curves.items():
        points = [(r["change_mae"], r[erasure_key], r["t"]) for r in rows
                  if r.get(erasure_key) is not None and r.get("change_mae") is not None
                  and math.isfinite(r[erasure_key]) and math.isfinite(r["change_mae"])]
        if not points:
            continue
        xs, ys, ts = zip(*points)
        if len(set(zip(xs, ys))) == 1:  # does not depend on t
            ax.plot(xs[:1], ys[:1], "*", ms=11, label=label)
            continue
        (line,) = ax.plot(xs, ys, "o-", ms=4, lw=1.3, label=label)
        steps_at: dict[tuple[float, float], list[int]] = {}
        for x, y, t in points:  # steps that land on one point share one label
            steps_at.setdefault((x, y), []).append(t)
        for (x, y), ts in steps_at.items():
            text = str(ts[0]) if len(ts) == 1 else f"{ts[0]}-{ts[-1]}"
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6, color=line.get_color())
    ax.set_xlabel("anatomy change: mean |D(clean) - clean| outside the lesions")
    ax.set_ylabel("lesion erasure (L2, " + ("overall" if erasure_key == "erasure" else "in the lesions") + ")")
    ax.set_title(title or "Lesion probe: erasure vs anatomy change (labels: t)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    write_png(figure, path)
