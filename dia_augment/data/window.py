"""Intensity windows for CT and MR: Hounsfield units (or any raw scanner values) to ``[0, 1]``.

A window ``(center, width)`` maps the values in ``[center - width / 2, center + width / 2]``
linearly onto ``[0, 1]`` and clips the rest:

    out = clip((x - (center - width / 2)) / width, 0, 1)

(the plain linear form most imaging pipelines use; the DICOM standard's ``LINEAR`` VOI function
differs from it by half a stored unit at the edges). Explicit windows (a preset, ``"CENTER,WIDTH"``,
a pair, ``"minmax"``) are applied this way, in scanner units, whatever window a file's header
holds, so that files whose headers disagree are read with one window.

Window specifications accepted wherever a ``window`` argument is taken:

- a preset name, :data:`WINDOW_PRESETS` (center, width in HU): ``lung`` (-600, 1500),
  ``mediastinum`` (50, 350), ``brain`` (40, 80), ``bone`` (400, 1800);
- ``"file"``: the DICOM file's own VOI LUT, applied by pydicom as the DICOM standard defines it:
  its VOI LUT Sequence, else its first ``WindowCenter`` / ``WindowWidth`` (a frame's own in an
  enhanced multi-frame file) with its VOI LUT Function, ``LINEAR``, ``LINEAR_EXACT`` or
  ``SIGMOID`` (see :mod:`dia_augment.data.medical`); an error when the file has none, and for
  NIfTI files, which hold no window;
- ``"minmax"``: the image's (a DICOM frame's, a NIfTI volume's) own minimum to maximum;
- ``"CENTER,WIDTH"`` or a ``(center, width)`` pair of numbers;
- ``None``: the file's window when it has one, else ``"minmax"``.
"""

from __future__ import annotations

import numpy as np

from dia_augment.errors import ConfigError

__all__ = ["WINDOW_PRESETS", "WindowSpec", "parse_window", "apply_window", "minmax_window"]

#: Common CT windows, ``name: (center, width)`` in Hounsfield units.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "brain": (40.0, 80.0),
    "bone": (400.0, 1800.0),
}

#: A parsed window: ``(center, width)``, ``"file"``, ``"minmax"`` or ``None`` (file, else min-max).
WindowSpec = tuple[float, float] | str | None

_KEYWORDS = ("file", "minmax")


def _check_pair(center: float, width: float, given: object) -> tuple[float, float]:
    if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
        raise ConfigError(f"window must have a finite center and a width > 0; got {given!r}")
    return float(center), float(width)


def parse_window(window: str | tuple[float, float] | None) -> WindowSpec:
    """Check a window specification and bring it to ``(center, width)``, ``"file"``, ``"minmax"`` or ``None``.

    Raises:
        ConfigError: an unknown name, a malformed pair, or a width that is not positive.

    Examples:
        >>> parse_window("lung"), parse_window("40,80"), parse_window("file"), parse_window(None)
        ((-600.0, 1500.0), (40.0, 80.0), 'file', None)
    """
    if window is None:
        return None
    if isinstance(window, str):
        name = window.strip().lower()
        if name in WINDOW_PRESETS:
            return WINDOW_PRESETS[name]
        if name in _KEYWORDS:
            return name
        parts = name.split(",")
        try:
            center, width = (float(p) for p in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            center = width = None
        if center is None or width is None:
            raise ConfigError(
                f"window must be one of {sorted(WINDOW_PRESETS)}, 'file', 'minmax' or 'CENTER,WIDTH'; got {window!r}"
            )
        return _check_pair(center, width, window)
    if isinstance(window, (tuple, list)) and len(window) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in window
    ):
        return _check_pair(float(window[0]), float(window[1]), window)
    raise ConfigError(f"window must be a name, 'CENTER,WIDTH' or a (center, width) pair; got {window!r}")


def minmax_window(values: np.ndarray) -> tuple[float, float]:
    """The ``(center, width)`` window spanning ``values``' minimum to maximum (width 1 for a constant image).

    Examples:
        >>> minmax_window(np.array([-1000.0, 1000.0]))
        (0.0, 2000.0)
    """
    lo, hi = float(np.min(values)), float(np.max(values))
    return (lo + hi) / 2, (hi - lo) or 1.0


def apply_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Map ``values`` through the window ``(center, width)`` onto float32 ``[0, 1]``.

    Examples:
        >>> apply_window(np.array([-1350.0, -600.0, 150.0, 400.0]), -600, 1500)  # lung: [-1350, 150] HU
        array([0. , 0.5, 1. , 1. ], dtype=float32)
    """
    if not width > 0:
        raise ConfigError(f"window width must be > 0; got {width}")
    low = center - width / 2
    return np.clip((np.asarray(values, dtype=np.float64) - low) / width, 0.0, 1.0).astype(np.float32)
