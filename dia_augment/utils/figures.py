"""Figures without pyplot state, written atomically: the one place every PNG of the package is made."""

from __future__ import annotations

import os
from typing import Any

from dia_augment.utils.io import atomic_open

__all__ = ["new_figure", "write_png"]


def new_figure(width: float, height: float, dpi: int = 100) -> Any:
    """A matplotlib ``Figure`` on an Agg canvas: no display and no global pyplot state.

    Examples:
        >>> new_figure(2, 1).get_size_inches().tolist()
        [2.0, 1.0]
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def write_png(figure: Any, path: str | os.PathLike) -> None:
    """Lay out ``figure`` and write it as a PNG, atomically (its folder is created).

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a" / "f.png"
        >>> write_png(new_figure(1, 1), p)
        >>> p.read_bytes()[:4]
        b'\\x89PNG'
    """
    figure.tight_layout()
    with atomic_open(path, "wb") as f:
        figure.savefig(f, format="png")
