"""DICOM and NIfTI files as 2-D images: rescale to scanner units, window, one image per frame or slice.

Needs the optional extra ``pip install dia_augment[medical]`` (pydicom, nibabel); the packages
are imported only when such a file is read.

**DICOM** (``.dcm``, ``.dicom``, or any other name whose content starts like a DICOM file: the
128-byte preamble and ``DICM``): pydicom decodes the stored values and its modality LUT
(``apply_modality_lut``) brings them to scanner units: ``RescaleSlope`` and ``RescaleIntercept``
(Hounsfield units for CT) or a Modality LUT Sequence. An enhanced multi-frame file without a
rescale at the top level gives each frame the rescale of its functional groups (its per-frame
Pixel Value Transformation, else the shared one). The values are then windowed onto ``[0, 1]``
(see :mod:`dia_augment.data.window`): an explicit window (a preset, ``"CENTER,WIDTH"``,
``"minmax"``) by :func:`~dia_augment.data.window.apply_window`, in scanner units, whatever
window the file's header holds; the file's own window (``"file"``, and ``None`` when the file has
one) by pydicom's VOI LUT functions, as the DICOM standard defines them: the VOI LUT Sequence when
present (its output divided by ``2 ** n - 1``, ``n`` the bits per entry of its LUT Descriptor),
else the first ``WindowCenter`` / ``WindowWidth`` (of the frame's Frame VOI LUT in an enhanced
file) with the file's VOI LUT Function, ``LINEAR`` (the default), ``LINEAR_EXACT`` or ``SIGMOID``.
``MONOCHROME1`` images (where high values are dark) are inverted after windowing so that bright
always means dense. A multi-frame file gives one image per frame. Colour files (3 samples per
pixel) are divided by ``2 ** BitsStored - 1``; windowing does not apply to them.

**NIfTI** (``.nii``, ``.nii.gz``): a 3-D volume (or a 2-D image) is read in the closest canonical
(RAS+) orientation of its affine, the order :func:`nibabel.as_closest_canonical` gives it (from
:func:`nibabel.orientations.io_orientation`): axis 0 runs towards the patient's right, axis 1
towards anterior, axis 2 towards superior, whatever the order and direction in which the file
stores them, so ``axis=2`` gives the axial slices, the most inferior first. Each slice along
``axis`` (0, 1 or 2; optionally only the slices ``range(start, stop)``) is one image, its rows
along the lower remaining axis. Slices are read lazily through nibabel's array proxy
(``img.dataobj``), a slab of at most 64 MiB of planes at a time, never the whole volume. The
values are the file's scaled data (nibabel applies ``scl_slope`` and ``scl_inter``), windowed
like DICOM; ``"minmax"`` (and ``None``) use the whole volume's range, found once per file by
reading it slab by slab, so that every slice of a volume shares one mapping.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from dia_augment.data.window import WindowSpec, apply_window, minmax_window, parse_window
from dia_augment.errors import ConfigError, DataError, MissingFileError

__all__ = [
    "DICOM_EXTENSIONS",
    "NIFTI_EXTENSIONS",
    "DICOM_ID_KEYWORDS",
    "ReadOptions",
    "has_suffix",
    "is_dicom",
    "is_nifti",
    "to_chw_tensor",
    "count_images",
    "dicom_tag",
    "dicom_ids",
    "read_dicom",
    "read_nifti_slice",
]

#: File name endings read as DICOM (compared case-insensitively).
DICOM_EXTENSIONS = (".dcm", ".dicom")
#: File name endings read as NIfTI (compared case-insensitively).
NIFTI_EXTENSIONS = (".nii", ".nii.gz")
#: The DICOM header elements that identify the patient, study and series of a file's images.
DICOM_ID_KEYWORDS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")

_INSTALL = "pip install dia_augment[medical]"
# Endings of files that are never DICOM, whose content is not checked for the DICM marker.
_NOT_DICOM = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npz", *NIFTI_EXTENSIONS)
# The elements that hold a DICOM file's pixels; a file without any of them has no image.
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# A NIfTI volume is read in slabs of planes of at most this many bytes (as float64).
_SLAB_BYTES = 64 * 2**20

T = TypeVar("T")


@dataclass(frozen=True)
class ReadOptions:
    """How DICOM and NIfTI files become 2-D images (ignored for PNG, JPEG and TIFF files).

    Args:
        window: a window specification, see :mod:`dia_augment.data.window` (a preset such as
            ``"lung"``, ``"file"``, ``"minmax"``, ``"CENTER,WIDTH"``, ``(center, width)`` or ``None``).
        axis: the NIfTI slicing axis, 0, 1 or 2, of the canonical (RAS+) orientation (2: axial).
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

    The content of a file is checked unless its name ends like an image, NIfTI or ``.npz`` file:
    a 128-byte preamble followed by ``DICM``, the test pydicom's ``dcmread`` makes (without
    ``force``) before it reads a file, so that typical PACS exports named ``IM0001`` or by their
    UID are found. A file that cannot be opened is not DICOM.

    Examples:
        >>> is_dicom("scan.DCM"), is_dicom("missing-file-without-suffix")
        (True, False)
    """
    path = Path(path)
    if has_suffix(path, DICOM_EXTENSIONS):
        return True
    if not path.is_file() or has_suffix(path, _NOT_DICOM):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
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


def _pixel_functions():
    """pydicom's module of ``apply_modality_lut``, ``apply_voi`` and ``apply_windowing``."""
    _import("pydicom")
    try:
        from pydicom import pixels  # pydicom >= 3
    except ImportError:  # pydicom 2
        from pydicom.pixel_data_handlers import util as pixels
    return pixels


def _decode(path: str | Path, kind: str, read: Callable[[], T]) -> T:
    """``read()``, with any error of the decoding library raised as a DataError naming the ``kind`` file."""
    try:
        return read()
    except DataError:
        raise
    except Exception as err:  # pydicom and nibabel raise many types for unreadable, corrupt or compressed data
        raise DataError(f"cannot read {kind} file {path}: {err}") from err


def _check_file(path: Path) -> Path:
    if not path.is_file():
        raise MissingFileError(f"file not found: {path}")
    return path


def _cache_key(path: Path) -> tuple[str, float]:
    """The key of a file in the caches: its path and modification time (a rewritten file is read again)."""
    return str(path), path.stat().st_mtime


@functools.lru_cache(maxsize=2)
def _dicom_header(path: str, mtime: float) -> Any:
    """The header of a DICOM file (its pixels are not read)."""
    pydicom = _import("pydicom")
    return _decode(path, "DICOM", lambda: pydicom.dcmread(path, stop_before_pixels=True))


@functools.lru_cache(maxsize=2)
def _dicom_pixels(path: str, mtime: float) -> tuple[Any, np.ndarray]:
    """A DICOM file's data set and its stored values, ``(frames, H, W[, 3])``."""
    pydicom = _import("pydicom")
    ds = _decode(path, "DICOM", lambda: pydicom.dcmread(path))
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        sop_class = getattr(ds.get("SOPClassUID"), "name", None) or "not given"
        raise DataError(f"DICOM file {path} holds no pixel data (SOP class: {sop_class})")
    stored = _decode(path, "DICOM", lambda: ds.pixel_array)
    return ds, stored if _frame_count(ds) > 1 else stored[None]


def _frame_count(ds: Any) -> int:
    """The number of frames of a DICOM data set (1 when it does not say)."""
    return int(getattr(ds, "NumberOfFrames", 1) or 1)


def _frame_view(ds: Any, frame: int, group: str, keywords: Sequence[str]) -> Any:
    """A data set of the ``keywords`` that apply to ``frame``, as pydicom's LUT functions read them.

    Each is the top level's value when it has one, else that of the frame's functional group
    ``group`` (``PixelValueTransformationSequence``, ``FrameVOILUTSequence``) in the per-frame
    functional groups, else in the shared ones, where enhanced multi-frame files hold them.
    """
    pydicom = _import("pydicom")
    sources = [ds]
    for sequence, item in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        groups = ds.get(sequence) or []
        macro = groups[item].get(group) if item < len(groups) else None
        if macro:
            sources.append(macro[0])
    view = pydicom.dataset.Dataset()
    for keyword in keywords:
        source = next((s for s in sources if s.get(keyword) not in (None, "")), None)
        if source is not None:
            element = source[keyword]
            view.add_new(element.tag, element.VR, element.value)
    return view


def _rescaled(stored: np.ndarray, ds: Any, frame: int) -> np.ndarray:
    """A frame's stored values through the file's modality LUT (pydicom), in scanner units."""
    pixels = _pixel_functions()
    if ds.get("ModalityLUTSequence"):
        return pixels.apply_modality_lut(stored, ds)
    view = _frame_view(ds, frame, "PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept"))
    return pixels.apply_modality_lut(stored, view)


def _file_voi(values: np.ndarray, ds: Any, frame: int) -> np.ndarray | None:
    """A frame's values through the file's own VOI LUT (pydicom), onto ``[0, 1]``; ``None`` when it has none."""
    pixels = _pixel_functions()
    if ds.get("VOILUTSequence"):
        # the LUT is indexed by integers (pydicom would truncate float values and warn)
        keys = np.floor(values).astype(np.int64) if np.issubdtype(values.dtype, np.floating) else values
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return np.clip(pixels.apply_voi(keys, ds) / (2**bits - 1), 0.0, 1.0)
    view = _frame_view(ds, frame, "FrameVOILUTSequence", ("WindowCenter", "WindowWidth", "VOILUTFunction"))
    if "WindowCenter" not in view or "WindowWidth" not in view:
        return None
    # pydicom's windowing maps onto the value range of the image it is given: for an unsigned
    # 1-bit image without rescale, [0, 1]
    view.PhotometricInterpretation, view.PixelRepresentation, view.BitsStored = "MONOCHROME2", 0, 1
    return pixels.apply_windowing(values, view)


def _dicom_window(spec: WindowSpec, values: np.ndarray, ds: Any, frame: int, path: Path) -> np.ndarray:
    """A frame's values in scanner units windowed onto ``[0, 1]`` as ``spec`` says (see the module docstring)."""
    if isinstance(spec, tuple):
        return apply_window(values, *spec)
    if spec != "minmax":
        own = _decode(path, "DICOM", lambda: _file_voi(values, ds, frame))
        if own is not None:
            return own
        if spec == "file":
            raise DataError(
                f"window 'file': {path} has no WindowCenter / WindowWidth and no VOI LUT Sequence; "
                "choose a preset, 'minmax' or 'CENTER,WIDTH'"
            )
    return apply_window(values, *minmax_window(values))


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

    See the module docstring for the rescale and the windows.

    Args:
        path: the DICOM file.
        window: see :mod:`dia_augment.data.window`; ignored for colour files.
        frame: the frame of a multi-frame file (``None`` for a single-frame file).

    Raises:
        MissingFileError: the file does not exist.
        DataError: not a readable DICOM file (pydicom's message), a file without pixel data,
            ``window="file"`` without a window of the file's own, a multi-frame file without
            ``frame``, or pydicom is not installed.

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
    ds, stored = _dicom_pixels(*_cache_key(path))
    n = stored.shape[0]
    if frame is None and n > 1:
        raise DataError(f"{path} holds {n} frames: pass frame= (0 to {n - 1})")
    index = 0 if frame is None else frame
    if not -n <= index < n:
        raise DataError(f"frame {frame} is out of range for {path}, which holds {n} frame(s)")
    index %= n
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        bits = int(ds.get("BitsStored", 8) or 8)
        return to_chw_tensor(np.clip(stored[index] / (2**bits - 1), 0, 1))
    values = _decode(path, "DICOM", lambda: _rescaled(stored[index], ds, index))
    out = _dicom_window(spec, values, ds, index, path)
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper() == "MONOCHROME1":
        out = 1.0 - out
    return to_chw_tensor(out)


@dataclass(frozen=True)
class _Volume:
    """A NIfTI volume read lazily: its array proxy (3-D, as stored) and its orientation.

    ``orientation[i]`` is ``(canonical axis, direction)`` of stored axis ``i``, as
    :func:`nibabel.orientations.io_orientation` gives it (direction -1: the axis runs backwards).
    """

    proxy: Any
    orientation: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape in the canonical orientation."""
        shape = [0, 0, 0]
        for size, (axis, _) in zip(self.proxy.shape, self.orientation):
            shape[int(axis)] = int(size)
        return tuple(shape)

    def stored_axis(self, axis: int) -> int:
        """The stored axis that is canonical axis ``axis``."""
        return int(np.flatnonzero(self.orientation[:, 0] == axis)[0])

    def slab_planes(self, stored_axis: int) -> int:
        """The number of planes along ``stored_axis`` read at a time."""
        plane = math.prod(s for a, s in enumerate(self.proxy.shape) if a != stored_axis)
        return max(1, _SLAB_BYTES // (8 * plane))


@functools.lru_cache(maxsize=2)
def _nifti_volume(path: str, mtime: float, pid: int) -> _Volume:
    """A NIfTI file's volume, its data not read.

    The image keeps its file open, so that the slabs of a ``.nii.gz`` read in the file's order
    are decompressed once, not each from the start of the file; the cache is per process
    (``pid``) so that a forked worker opens the file for itself.
    """
    nibabel = _import("nibabel")
    image = _decode(path, "NIfTI", lambda: nibabel.load(path, keep_file_open=True))
    shape = tuple(int(s) for s in image.shape)
    shape = shape[:3] if len(shape) > 3 and all(s == 1 for s in shape[3:]) else shape
    if len(shape) not in (2, 3):
        raise DataError(f"{path} has shape {shape}: only 2-D and 3-D NIfTI volumes are read")
    orientation = nibabel.orientations.io_orientation(image.affine)
    if np.isnan(orientation).any():
        raise DataError(f"NIfTI file {path} has an affine without a direction for every axis; it cannot be reoriented")
    return _Volume(image.dataobj.reshape(shape if len(shape) == 3 else (*shape, 1)), orientation)


@functools.lru_cache(maxsize=1)
def _nifti_slab(path: str, mtime: float, pid: int, stored_axis: int, slab: int) -> np.ndarray:
    """Slab ``slab`` of planes along ``stored_axis`` of a NIfTI volume, scaled as nibabel scales them."""
    volume = _nifti_volume(path, mtime, pid)
    n = volume.slab_planes(stored_axis)
    key = [slice(None)] * 3
    key[stored_axis] = slice(slab * n, (slab + 1) * n)
    return _decode(path, "NIfTI", lambda: np.asanyarray(volume.proxy[tuple(key)]))


def _nifti_slice(path: str, mtime: float, axis: int, index: int) -> np.ndarray:
    """Slice ``index`` (in ``[0, n)``) along canonical axis ``axis``, its axes in canonical order."""
    pid = os.getpid()
    volume = _nifti_volume(path, mtime, pid)
    stored_axis = volume.stored_axis(axis)
    size = volume.proxy.shape[stored_axis]
    stored_index = size - 1 - index if volume.orientation[stored_axis, 1] < 0 else index
    n = volume.slab_planes(stored_axis)
    key: list[int | slice] = [slice(None)] * 3
    key[stored_axis] = stored_index % n
    plane = _nifti_slab(path, mtime, pid, stored_axis, stored_index // n)[tuple(key)]  # a view, not a copy
    rest = np.delete(volume.orientation, stored_axis, axis=0)
    rest[:, 0] = np.argsort(np.argsort(rest[:, 0]))  # the two remaining canonical axes as 0 and 1
    return _import("nibabel").orientations.apply_orientation(plane, rest)


@functools.lru_cache(maxsize=64)
def _nifti_minmax(path: str, mtime: float) -> tuple[float, float]:
    """The min-max window of a whole NIfTI volume, read slab by slab in the file's order."""
    pid = os.getpid()
    volume = _nifti_volume(path, mtime, pid)
    n = volume.slab_planes(2)
    low, high = np.inf, -np.inf
    for slab in range(math.ceil(volume.proxy.shape[2] / n)):
        values = _nifti_slab(path, mtime, pid, 2, slab)
        low, high = min(low, float(values.min())), max(high, float(values.max()))
    return minmax_window(np.array([low, high]))


def dicom_tag(path: str | os.PathLike, keyword: str) -> str:
    """The value of a DICOM header element as a stripped string (e.g. ``PatientID``); only the header is read.

    Raises:
        DataError: not a DICOM file, an unknown keyword, or the file lacks the element or leaves it empty.
    """
    path = _check_file(Path(path))
    pydicom = _import("pydicom")
    if pydicom.datadict.tag_for_keyword(keyword) is None:
        raise DataError(f"{keyword!r} is not a DICOM keyword (e.g. PatientID, StudyInstanceUID)")
    value = str(getattr(_dicom_header(*_cache_key(path)), keyword, "") or "").strip()
    if not value:
        raise DataError(f"DICOM file {path} has no {keyword}")
    return value


def dicom_ids(path: str | os.PathLike) -> dict[str, str]:
    """The patient, study and series ids a DICOM file holds (of :data:`DICOM_ID_KEYWORDS`); only its header is read.

    Raises:
        MissingFileError: the file does not exist.
        DataError: not a readable DICOM file.

    Examples:
        >>> import tempfile, pathlib
        >>> from pydicom.dataset import Dataset, FileMetaDataset
        >>> from pydicom.uid import ExplicitVRLittleEndian, CTImageStorage, generate_uid
        >>> ds = Dataset(); ds.file_meta = FileMetaDataset()
        >>> ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        >>> ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
        >>> ds.PatientID, ds.SeriesInstanceUID = "P007", "1.2.3"
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "IM0001"
        >>> ds.save_as(path, enforce_file_format=True)
        >>> dicom_ids(path)
        {'PatientID': 'P007', 'SeriesInstanceUID': '1.2.3'}
    """
    header = _dicom_header(*_cache_key(_check_file(Path(path))))
    ids = {keyword: str(header.get(keyword, "") or "").strip() for keyword in DICOM_ID_KEYWORDS}
    return {keyword: value for keyword, value in ids.items() if value}


def _slice_range(n: int, options: ReadOptions) -> range:
    if options.slices is None:
        return range(n)
    return range(n)[slice(*options.slices)]


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
        n = _nifti_volume(*_cache_key(_check_file(path)), os.getpid()).shape[options.axis]
        chosen = list(_slice_range(n, options))
        if not chosen:
            raise DataError(f"{path} has {n} slices along axis {options.axis}; none is in the range {options.slices}")
        return chosen
    if is_dicom(path):
        frames = _frame_count(_dicom_header(*_cache_key(_check_file(path))))
        return [None] if frames == 1 else list(range(frames))
    return [None]


def read_nifti_slice(
    path: str | os.PathLike, index: int, axis: int = 2, window: WindowSpec | str = None
) -> Tensor:
    """Read slice ``index`` along canonical ``axis`` of a NIfTI volume as a float32 ``(1, H, W)`` tensor in ``[0, 1]``.

    The volume is taken in its closest canonical (RAS+) orientation and only the slice's slab is
    read (see the module docstring).

    Args:
        path: the ``.nii`` or ``.nii.gz`` file.
        index: the slice number along ``axis`` (negative counts from the end).
        axis: 0, 1 or 2 (2: axial, from inferior to superior).
        window: see :mod:`dia_augment.data.window`; ``None`` and ``"minmax"`` use the volume's range.

    Raises:
        MissingFileError: the file does not exist.
        DataError: not a readable 2-D or 3-D NIfTI file (nibabel's message), ``index`` out of
            range, ``window="file"``, or nibabel is not installed.

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
    spec = ReadOptions(window, axis).window
    key = _cache_key(path)
    n = _nifti_volume(*key, os.getpid()).shape[axis]
    if not -n <= index < n:
        raise DataError(f"slice {index} is out of range for {path}, which has {n} slices along axis {axis}")
    if spec == "file":
        raise DataError(
            f"window 'file': {path} is a NIfTI file, which holds no window; choose a preset, 'minmax' or 'CENTER,WIDTH'"
        )
    image = _nifti_slice(*key, axis, index % n)
    return to_chw_tensor(apply_window(image, *(spec if isinstance(spec, tuple) else _nifti_minmax(*key))))
