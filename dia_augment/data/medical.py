"""DICOM and NIfTI files as 2-D images: rescale to scanner units, window, one image per frame or slice.

Needs the optional extra ``pip install dia_augment[medical]`` (pydicom, nibabel); the packages
are imported only when such a file is read.

**DICOM** (``.dcm``, ``.dicom``): the stored values are rescaled with the file's
``RescaleSlope`` and ``RescaleIntercept`` (Hounsfield units for CT), windowed to ``[0, 1]``
(see :mod:`dia_augment.data.window`) and, for ``MONOCHROME1`` (where high values are dark),
inverted after windowing so that bright always means dense. A multi-frame file gives one image
per frame. Colour files (3 samples per pixel) are divided by ``2 ** BitsStored - 1``; windowing
does not apply to them. Rescale values held only in the per-frame functional groups of
enhanced multi-frame files are not read.

**NIfTI** (``.nii``, ``.nii.gz``): a 3-D volume (or a 2-D image) gives one image per slice along
``axis`` (0, 1 or 2; 2 is the axial slice of most CT volumes), optionally only the slices
``range(start, stop)``. The values are the file's scaled data (nibabel applies ``scl_slope`` and
``scl_inter``), windowed like DICOM; ``"minmax"`` (and ``None``) use the whole volume's range,
so that every slice of a volume shares one mapping. A slice is returned as stored (its first
remaining axis as rows), without reorienting to the patient's axes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from dia_augment.data.window import WindowSpec, apply_window, minmax_window, parse_window
from dia_augment.errors import ConfigError, DataError, MissingFileError

__all__ = [
    "DICOM_EXTENSIONS",
    "NIFTI_EXTENSIONS",
    "ReadOptions",
    "has_suffix",
    "is_dicom",
    "is_nifti",
    "to_chw_tensor",
    "count_images",
    "dicom_tag",
    "read_dicom",
    "read_nifti_slice",
]

#: File name endings read as DICOM (compared case-insensitively).
DICOM_EXTENSIONS = (".dcm", ".dicom")
#: File name endings read as NIfTI (compared case-insensitively).
NIFTI_EXTENSIONS = (".nii", ".nii.gz")

_INSTALL = "pip install dia_augment[medical]"

T = TypeVar("T")


@dataclass(frozen=True)
class ReadOptions:
    """How DICOM and NIfTI files become 2-D images (ignored for PNG, JPEG and TIFF files).

    Args:
        window: a window specification, see :mod:`dia_augment.data.window` (a preset such as
            ``"lung"``, ``"file"``, ``"minmax"``, ``"CENTER,WIDTH"``, ``(center, width)`` or ``None``).
        axis: the NIfTI slicing axis, 0, 1 or 2.
        slices: ``(start, stop)``: keep NIfTI slices ``range(start, stop)`` along ``axis``
            (``None`` for an open end, negative counts from the end), or ``None`` for all.

    Examples:
        >>> ReadOptions(window="lung", slices=(10, None)).window
        (-600.0, 1500.0)
    """

    window: WindowSpec | str = None
    axis: int = 2
    slices: tuple[int | None, int | None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", parse_window(self.window))
        if isinstance(self.axis, bool) or self.axis not in (0, 1, 2):
            raise ConfigError(f"slice axis must be 0, 1 or 2; got {self.axis!r}")
        if self.slices is not None:
            ok = isinstance(self.slices, Sequence) and len(self.slices) == 2 and all(
                s is None or (isinstance(s, int) and not isinstance(s, bool)) for s in self.slices
            )
            if not ok:
                raise ConfigError(f"slices must be a (start, stop) pair of ints or None; got {self.slices!r}")
            object.__setattr__(self, "slices", tuple(self.slices))


def has_suffix(path: Path, suffixes: Sequence[str]) -> bool:
    """Whether the name of ``path`` ends in one of ``suffixes`` (given in lower case), in any case.

    Examples:
        >>> has_suffix(Path("CT.NII.GZ"), NIFTI_EXTENSIONS), has_suffix(Path("ct.gz"), NIFTI_EXTENSIONS)
        (True, False)
    """
    name = path.name.lower()
    return any(name.endswith(s) for s in suffixes)


def is_dicom(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a DICOM file: a ``.dcm`` / ``.dicom`` name, or the ``DICM`` marker at byte 128.

    Examples:
        >>> is_dicom("scan.DCM"), is_dicom("missing-file-without-suffix")
        (True, False)
    """
    path = Path(path)
    if has_suffix(path, DICOM_EXTENSIONS):
        return True
    if not path.is_file() or path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npz"):
        return False
    with open(path, "rb") as f:
        head = f.read(132)
    return head[128:132] == b"DICM"


def is_nifti(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a NIfTI file (``.nii`` or ``.nii.gz``).

    Examples:
        >>> is_nifti("ct.nii.gz"), is_nifti("ct.png")
        (True, False)
    """
    return has_suffix(Path(path), NIFTI_EXTENSIONS)


def _import(name: str):
    try:
        return __import__(name)
    except ImportError as err:
        raise DataError(f"reading DICOM and NIfTI files needs {name}: {_INSTALL}") from err


def _decode(path: str | Path, kind: str, read: Callable[[], T]) -> T:
    """``read()``, with any error of the decoding library raised as a DataError naming the ``kind`` file."""
    try:
        return read()
    except Exception as err:  # pydicom and nibabel raise many types for unreadable, corrupt or compressed data
        raise DataError(f"cannot read {kind} file {path}: {err}") from err


def _check_file(path: Path) -> Path:
    if not path.is_file():
        raise MissingFileError(f"file not found: {path}")
    return path


@functools.lru_cache(maxsize=2)
def _dicom_pixels(path: str, mtime: float) -> tuple[np.ndarray, dict]:
    """The rescaled pixels of a DICOM file, ``(frames, H, W[, 3])``, and the tags the windowing needs."""
    pydicom = _import("pydicom")
    ds = _decode(path, "DICOM", lambda: pydicom.dcmread(path))
    stored = _decode(path, "DICOM", lambda: ds.pixel_array)
    frames = _frame_count(ds)
    samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    if frames == 1:
        stored = stored[None]
    tags = {
        "photometric": str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper(),
        "samples": samples,
        "bits": int(getattr(ds, "BitsStored", 8) or 8),
        "center": _first(getattr(ds, "WindowCenter", None)),
        "width": _first(getattr(ds, "WindowWidth", None)),
    }
    if samples == 1:
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        pixels = stored.astype(np.float64) * slope + intercept
    else:
        pixels = stored.astype(np.float64)
    return pixels, tags


def _first(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return float(value)
    return float(value[0]) if len(value) else None


def _window_of(spec: WindowSpec, values: np.ndarray, tags: dict, path: Path) -> tuple[float, float]:
    if isinstance(spec, tuple):
        return spec
    from_file = tags.get("center") is not None and tags.get("width") is not None and tags["width"] > 0
    if spec == "file" and not from_file:
        raise DataError(f"window 'file': {path} has no WindowCenter / WindowWidth; choose a preset or 'CENTER,WIDTH'")
    if spec == "file" or (spec is None and from_file):
        return tags["center"], tags["width"]
    return minmax_window(values)


def to_chw_tensor(image: np.ndarray) -> Tensor:
    """A ``(H, W)`` or ``(H, W, C)`` array as a float32 ``(C, H, W)`` tensor, values unchanged.

    Shape:
        - image: :math:`(H, W)` or :math:`(H, W, C)`
        - output: :math:`(1, H, W)` or :math:`(C, H, W)`

    Examples:
        >>> to_chw_tensor(np.full((2, 4, 3), 255, np.uint8)).shape, to_chw_tensor(np.zeros((2, 4))).dtype
        (torch.Size([3, 2, 4]), torch.float32)
    """
    array = image[None] if image.ndim == 2 else image.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def read_dicom(path: str | os.PathLike, window: WindowSpec | str = None, frame: int | None = None) -> Tensor:
    """Read one frame of a DICOM file as a float32 ``(C, H, W)`` tensor in ``[0, 1]``, C = 1 or 3.

    Args:
        path: the DICOM file.
        window: see :mod:`dia_augment.data.window`; ignored for colour files.
        frame: the frame of a multi-frame file (``None`` for a single-frame file).

    Raises:
        MissingFileError: the file does not exist.
        DataError: not a readable DICOM file, ``window="file"`` without window tags, a
            multi-frame file without ``frame``, or pydicom is not installed.

    Shape:
        - output: :math:`(C, H, W)`

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from pydicom.dataset import Dataset, FileMetaDataset
        >>> from pydicom.uid import ExplicitVRLittleEndian, CTImageStorage, generate_uid
        >>> ds = Dataset(); ds.file_meta = FileMetaDataset()
        >>> ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        >>> ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
        >>> ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, 2, 1, "MONOCHROME2"
        >>> ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        >>> ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        >>> ds.PixelData = np.array([[0, 1064]], np.uint16).tobytes()  # -1024 HU (air) and 40 HU
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "ct.dcm"
        >>> ds.save_as(path, enforce_file_format=True)
        >>> read_dicom(path, window="brain")  # center 40, width 80
        tensor([[[0.0000, 0.5000]]])
    """
    path = _check_file(Path(path))
    spec = parse_window(window)
    pixels, tags = _dicom_pixels(str(path), path.stat().st_mtime)
    n = pixels.shape[0]
    if frame is None and n > 1:
        raise DataError(f"{path} holds {n} frames: pass frame= (0 to {n - 1})")
    index = 0 if frame is None else frame
    if not -n <= index < n:
        raise DataError(f"frame {frame} is out of range for {path}, which holds {n} frame(s)")
    image = pixels[index]
    if tags["samples"] != 1:
        return to_chw_tensor(np.clip(image / (2 ** tags["bits"] - 1), 0, 1))
    out = apply_window(image, *_window_of(spec, image, tags, path))
    if tags["photometric"] == "MONOCHROME1":
        out = 1.0 - out
    return to_chw_tensor(out)


@functools.lru_cache(maxsize=2)
def _nifti_volume(path: str, mtime: float) -> np.ndarray:
    nibabel = _import("nibabel")
    volume = _decode(path, "NIfTI", lambda: np.asarray(nibabel.load(path).get_fdata(dtype=np.float64)))
    return volume.reshape(_volume_shape(Path(path)))


def _slice_range(n: int, options: ReadOptions) -> range:
    if options.slices is None:
        return range(n)
    return range(n)[slice(*options.slices)]


def _volume_shape(path: Path) -> tuple[int, ...]:
    nibabel = _import("nibabel")
    shape = _decode(path, "NIfTI", lambda: tuple(int(s) for s in nibabel.load(path).shape))
    shape = shape[:3] if len(shape) > 3 and all(s == 1 for s in shape[3:]) else shape
    if len(shape) not in (2, 3):
        raise DataError(f"{path} has shape {shape}: only 2-D and 3-D NIfTI volumes are read")
    return shape if len(shape) == 3 else (*shape, 1)


def _dicom_header(path: Path) -> object:
    """The header of a DICOM file (its pixels are not read)."""
    pydicom = _import("pydicom")
    return _decode(path, "DICOM", lambda: pydicom.dcmread(path, stop_before_pixels=True))


def _frame_count(ds: object) -> int:
    """The number of frames of a DICOM data set (1 when it does not say)."""
    return int(getattr(ds, "NumberOfFrames", 1) or 1)


def dicom_tag(path: str | os.PathLike, keyword: str) -> str:
    """The value of a DICOM header element as a stripped string (e.g. ``PatientID``); only the header is read.

    Raises:
        DataError: not a DICOM file, an unknown keyword, or the file lacks the element or leaves it empty.
    """
    path = _check_file(Path(path))
    pydicom = _import("pydicom")
    if pydicom.datadict.tag_for_keyword(keyword) is None:
        raise DataError(f"{keyword!r} is not a DICOM keyword (e.g. PatientID, StudyInstanceUID)")
    value = str(getattr(_dicom_header(path), keyword, "") or "").strip()
    if not value:
        raise DataError(f"DICOM file {path} has no {keyword}")
    return value


def count_images(path: str | os.PathLike, options: ReadOptions | None = None) -> list[int | None]:
    """The image indices a file holds: ``[None]`` for a 2-D image, frames for DICOM, chosen slices for NIfTI.

    Only the file's header is read.

    Raises:
        DataError: an unreadable header, or a NIfTI file none of whose slices is in ``options.slices``.

    Examples:
        >>> count_images("image.png")
        [None]
    """
    path = Path(path)
    options = options or ReadOptions()
    if is_nifti(path):
        n = _volume_shape(_check_file(path))[options.axis]
        chosen = list(_slice_range(n, options))
        if not chosen:
            raise DataError(f"{path} has {n} slices along axis {options.axis}; none is in the range {options.slices}")
        return chosen
    if is_dicom(path):
        frames = _frame_count(_dicom_header(_check_file(path)))
        return [None] if frames == 1 else list(range(frames))
    return [None]


def read_nifti_slice(
    path: str | os.PathLike, index: int, axis: int = 2, window: WindowSpec | str = None
) -> Tensor:
    """Read slice ``index`` along ``axis`` of a NIfTI volume as a float32 ``(1, H, W)`` tensor in ``[0, 1]``.

    Args:
        path: the ``.nii`` or ``.nii.gz`` file.
        index: the slice number along ``axis``.
        axis: 0, 1 or 2.
        window: see :mod:`dia_augment.data.window`; ``None`` and ``"minmax"`` use the volume's range.

    Raises:
        MissingFileError: the file does not exist.
        DataError: not a readable 2-D or 3-D NIfTI file, ``index`` out of range, ``window="file"``,
            or nibabel is not installed.

    Shape:
        - output: :math:`(1, H, W)`

    Examples:
        >>> import tempfile, pathlib, numpy as np, nibabel
        >>> volume = np.arange(8, dtype=np.float32).reshape(2, 2, 2) * 100 - 400  # -400 ... 300
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "ct.nii.gz"
        >>> nibabel.save(nibabel.Nifti1Image(volume, np.eye(4)), path)
        >>> read_nifti_slice(path, 1, axis=2, window="-50,700")  # [[-300, -100], [100, 300]] HU
        tensor([[[0.1429, 0.4286],
                 [0.7143, 1.0000]]])
    """
    path = _check_file(Path(path))
    spec = parse_window(window)
    volume = _nifti_volume(str(path), path.stat().st_mtime)
    n = volume.shape[axis]
    if not -n <= index < n:
        raise DataError(f"slice {index} is out of range for {path}, which has {n} slices along axis {axis}")
    image = np.take(volume, index, axis=axis)
    return to_chw_tensor(apply_window(image, *_window_of(spec, volume, {}, path)))
