"""How a detector's images are read from files: the reading training used, reused at deployment.

A detector records the data options training read its images with (``provenance["data_options"]``,
:class:`~dia_augment.data.DataOptions`). Five of them say how a file becomes the detector's input,
and ``dia-augment predict`` reads new files with them by default (:class:`Reading`):

- ``window``: the intensity window of DICOM and NIfTI files. An explicit window (``lung``,
  ``CENTER,WIDTH``, ``minmax``) is applied by this package in scanner units (Hounsfield units for
  CT), whatever window a file's header holds, so a file whose header window differs from the
  training files' is read with the training's window; ``None`` (the file's own VOI LUT, else its
  min-max) follows each file's header (:mod:`dia_augment.data.medical`);
- ``slice_axis`` and ``slices``: the NIfTI slicing (canonical RAS+ axes; 2 is axial);
- ``load_size``: the side every image was resized to (bilinear, antialiased, aspect ignored), or
  ``None`` (as stored);
- ``channels``: the channel count every image was converted to (1 -> 3 repeats the gray channel,
  3 -> 1 takes the BT.601 luma), or ``None`` (as stored).

:func:`describe_reading` states the same in JSON for a service that reads files itself (the model
card and ``export.json`` carry it).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

from dia_augment.data.medical import ReadOptions
from dia_augment.data.window import WINDOW_PRESETS, parse_window

__all__ = ["READING_FIELDS", "Reading", "describe_reading"]

#: The data options that say how a file becomes an image (the others say which files and split).
READING_FIELDS = ("window", "slice_axis", "slices", "load_size", "channels")


@dataclass(frozen=True)
class Reading:
    """The reading of files for a detector: window, NIfTI slicing, load size and channels.

    Args:
        window: the window specification (see :mod:`dia_augment.data.window`), or ``None``.
        slice_axis: the NIfTI slicing axis (0, 1, 2; canonical RAS+).
        slices: ``(start, stop)`` of the NIfTI slices kept, or ``None`` for all.
        load_size: the side images are resized to, or ``None`` to keep their size.
        channels: 1 or 3, or ``None`` to keep their channels.

    Examples:
        >>> reading = Reading(window="lung", load_size=8, channels=1)
        >>> reading.read_options().window
        (-600.0, 1500.0)
    """

    window: str | None = None
    slice_axis: int = 2
    slices: tuple[int | None, int | None] | None = None
    load_size: int | None = None
    channels: int | None = None

    def __post_init__(self) -> None:
        if self.slices is not None:
            object.__setattr__(self, "slices", tuple(self.slices))
        self.read_options()  # checks the window, the axis and the slices

    @classmethod
    def of_detector(cls, detector: Any) -> Reading:
        """The reading a detector's training used (its ``provenance["data_options"]``; the defaults when absent)."""
        options = (getattr(detector, "provenance", None) or {}).get("data_options") or {}
        return cls(**{name: options[name] for name in READING_FIELDS if options.get(name) is not None})

    def with_given(self, **given: Any) -> Reading:
        """This reading with the values given (``None`` = not given); a value that differs wins, with a warning naming both.

        Examples:
            >>> import warnings
            >>> with warnings.catch_warnings(record=True) as caught:
            ...     warnings.simplefilter("always")
            ...     reading = Reading(window="lung").with_given(window="bone", load_size=None)
            >>> reading.window, str(caught[0].message)
            ('bone', "--window 'bone' differs from the 'lung' the detector was trained with; using the one given")
        """
        unknown = sorted(set(given) - set(READING_FIELDS))
        if unknown:
            raise TypeError(f"unknown reading field(s) {unknown}; the fields are {READING_FIELDS}")
        changes = {}
        for name, value in given.items():
            if value is None:
                continue
            value = tuple(value) if name == "slices" else value
            saved = getattr(self, name)
            if value != saved:
                shown = list(value) if isinstance(value, tuple) else value
                was = list(saved) if isinstance(saved, tuple) else saved
                warnings.warn(f"--{name.replace('_', '-')} {shown!r} differs from the {was!r} the detector was trained "
                              "with; using the one given", stacklevel=2)
                changes[name] = value
        return replace(self, **changes)

    def read_options(self) -> ReadOptions:
        """The :class:`~dia_augment.data.ReadOptions` of :func:`~dia_augment.data.items.iter_items`."""
        return ReadOptions(self.window, self.slice_axis, self.slices)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["slices"] = None if self.slices is None else list(self.slices)
        return record


def _window(window: str | None) -> dict[str, Any]:
    spec = parse_window(window)
    if isinstance(spec, tuple):
        center, width = spec
        preset = str(window).strip().lower()
        return {"name": preset if preset in WINDOW_PRESETS else f"{center:g},{width:g}", "center": center, "width": width,
                "low": center - width / 2, "high": center + width / 2,
                "units": "scanner units after the DICOM modality LUT (RescaleSlope, RescaleIntercept): HU for CT; "
                         "NIfTI: the scaled data (scl_slope, scl_inter)",
                "formula": "clip((x - low) / width, 0, 1), applied whatever window the file's header holds",
                "monochrome1": "inverted after the window (1 - value), so that bright means dense"}
    if spec == "minmax":
        return {"name": "minmax", "formula": "clip((x - min) / (max - min), 0, 1), min and max of the DICOM frame or "
                "of the whole NIfTI volume"}
    if spec == "file":
        return {"name": "file", "formula": "the DICOM file's own VOI LUT (its VOI LUT Sequence, else its first "
                "WindowCenter / WindowWidth with its VOI LUT Function), as pydicom applies it"}
    return {"name": None, "formula": "the DICOM file's own VOI LUT when it has one (as 'file'), else 'minmax': each "
            "file's header decides, so train and deploy with an explicit window when headers may differ"}


def describe_reading(data_options: dict[str, Any] | None, channels: int, input_size: tuple[int, int]) -> dict[str, Any]:
    """The preprocessing a service must apply to a file to get a detector's input, as JSON.

    Args:
        data_options: the detector's ``provenance["data_options"]`` (``None``: not recorded).
        channels: the detector's channel count.
        input_size: the detector's ``(H, W)``.

    Examples:
        >>> info = describe_reading({"window": "lung", "load_size": 8, "channels": 1}, 1, (8, 8))
        >>> info["window"]["center"], info["window"]["low"], info["resize"]["to"], info["range"], info["layout"]
        (-600.0, -1350.0, [8, 8], [0, 1], 'NCHW')
    """
    options = data_options or {}
    reading = Reading(**{name: options[name] for name in READING_FIELDS if options.get(name) is not None})
    size = reading.load_size
    return {
        "recorded": data_options is not None,
        "window": _window(reading.window),
        "slice_axis": {"axis": reading.slice_axis, "meaning": "NIfTI volumes are sliced along this axis of their closest "
                       "canonical (RAS+) orientation: 0 sagittal, 1 coronal, 2 axial (slice 0 the most inferior)"},
        "slices": None if reading.slices is None else list(reading.slices),
        "resize": {"to": [size, size], "how": "bilinear with antialias, aspect ratio ignored, then clipped to [0, 1]"}
        if size is not None else {"to": None, "how": f"none: files must already be {input_size[0]} x {input_size[1]}"},
        "channels": {"count": channels, "conversion": "1 -> 3 repeats the gray channel; 3 -> 1 takes the BT.601 luma "
                     "0.299 R + 0.587 G + 0.114 B" if reading.channels is not None else "none: files must have this count"},
        "range": [0, 1],
        "dtype": "float32",
        "layout": "NCHW",
        "shape": ["batch", channels, *input_size],
        "images": "8-bit files divided by 255, 16-bit files by 65535; DICOM and NIfTI through the window above",
    }

