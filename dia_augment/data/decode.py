"""Decoding image files to float tensors, and bringing them to a common size and channel count.

Pillow decodes, numpy carries the pixels to torch; resizing is a float op in torch (bilinear
with antialias), so 8-bit and 16-bit files go through the same path without losing precision.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from dia_augment.data.errors import DataError
from dia_augment.data.medical import DICOM_EXTENSIONS, NIFTI_EXTENSIONS, ReadOptions, has_suffix, is_dicom, is_nifti
from dia_augment.data.medical import read_dicom, read_nifti_slice, to_chw_tensor
from dia_augment.errors import ConfigError, InputError, MissingFileError

__all__ = [
    "IMAGE_EXTENSIONS",
    "READABLE_EXTENSIONS",
    "is_readable_file",
    "read_image",
    "read_item",
    "prepare_image",
    "convert_channels",
    "resize_square",
    "check_output_format",
]

#: File name endings read as images (compared case-insensitively).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Every file name ending a class folder is searched for: images, DICOM and NIfTI (DICOM files
#: without these endings are found by their content, see :func:`is_readable_file`).
READABLE_EXTENSIONS = IMAGE_EXTENSIONS + DICOM_EXTENSIONS + NIFTI_EXTENSIONS

# ITU-R BT.601 luma, as used by the dissolvers for 3 -> 1 channel conversion.
_LUMA = (0.299, 0.587, 0.114)

# Pillow modes read as they are (8 bits per channel after conversion) and their target mode.
_EIGHT_BIT_MODES = {"1": "L", "L": "L", "LA": "L", "P": "RGB", "PA": "RGB", "RGB": "RGB", "RGBA": "RGB",
                    "CMYK": "RGB", "YCbCr": "RGB"}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def read_image(path: str | os.PathLike) -> Tensor:
    """Decode an image file to a float32 ``(C, H, W)`` tensor in ``[0, 1]``, C = 1 or 3.

    8-bit images (``L``, ``RGB``) are divided by 255; 16-bit grayscale (``I;16``, and ``I`` with
    values in ``[0, 65535]``, as 16-bit PNG and TIFF files decode) by 65535. Palette images become
    RGB, alpha is dropped (not composited), bilevel images become 0 / 1.

    Args:
        path: the image file.

    Returns:
        The image, 1 channel for grayscale files, 3 for colour ones.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: the file is not a readable image, or its pixel format is not supported;
            the message names the file.

    Shape:
        - output: :math:`(C, H, W)`

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.fromarray(np.array([[0, 65535]], dtype=np.uint16)).save(p)
        >>> read_image(p)
        tensor([[[0., 1.]]])
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode in _EIGHT_BIT_MODES and mode != _EIGHT_BIT_MODES[mode]:
                image = image.convert(_EIGHT_BIT_MODES[mode])
            array = np.asarray(image).astype(np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"cannot read image {path}: the file is corrupt or not an image ({err})") from err
    if mode in _SIXTEEN_BIT_MODES:
        scale = 65535.0
        lo, hi = float(array.min()), float(array.max())
        if lo < 0 or hi > 65535:
            raise DataError(
                f"image {path} has mode {mode} with values in [{lo:g}, {hi:g}]; "
                "only 16-bit values in [0, 65535] are supported"
            )
    elif mode in _EIGHT_BIT_MODES:
        scale = 255.0
    else:
        raise DataError(f"image {path} has the unsupported pixel format {mode!r}")
    return to_chw_tensor(array) / scale


def is_readable_file(path: Path) -> bool:
    """Whether ``path`` is a file this package reads: an image, DICOM or NIfTI file.

    A name ending in one of :data:`READABLE_EXTENSIONS` (any case) is enough; a file with another
    name is read when its content is DICOM (:func:`~dia_augment.data.medical.is_dicom`: the
    ``DICM`` marker at byte 128, as PACS exports without a suffix have).

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "IM0001").write_bytes(bytes(128) + b"DICM"); _ = (root / "notes").write_text("text")
        >>> is_readable_file(root / "IM0001"), is_readable_file(root / "notes"), is_readable_file(Path("missing.png"))
        (True, False, False)
    """
    return path.is_file() and (has_suffix(path, READABLE_EXTENSIONS) or is_dicom(path))


def read_item(path: str | os.PathLike, index: int | None = None, options: ReadOptions | None = None) -> Tensor:
    """Read one 2-D image of any supported file as a float32 ``(C, H, W)`` tensor in ``[0, 1]``.

    PNG, JPEG, BMP and TIFF files go through :func:`read_image`; DICOM files, by name or content
    (``index`` = the frame of a multi-frame file), through
    :func:`~dia_augment.data.medical.read_dicom`; NIfTI volumes (``index`` = the slice along
    ``options.axis`` of the canonical orientation) through
    :func:`~dia_augment.data.medical.read_nifti_slice`. ``options`` sets the window and the slicing
    axis (see :class:`~dia_augment.data.medical.ReadOptions`).

    Shape:
        - output: :math:`(C, H, W)`

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).save(p)
        >>> read_item(p)
        tensor([[[0., 1.]]])
    """
    options = options or ReadOptions()
    if is_nifti(path):
        if index is None:
            raise DataError(f"{path} is a NIfTI volume: pass the slice index")
        return read_nifti_slice(path, index, options.axis, options.window)
    if is_dicom(path):
        return read_dicom(path, options.window, index)
    return read_image(path)


def convert_channels(image: Tensor, channels: int) -> Tensor:
    """Convert a ``(..., C, H, W)`` image between 1 and 3 channels.

    1 -> 3 repeats the gray channel; 3 -> 1 takes the ITU-R BT.601 luma
    (0.299 R + 0.587 G + 0.114 B).

    Args:
        image: a tensor with 1 or 3 channels in dimension -3.
        channels: 1 or 3.

    Shape:
        - image: :math:`(..., C, H, W)`
        - output: :math:`(..., channels, H, W)`

    Examples:
        >>> convert_channels(torch.tensor([[[1.0]], [[0.0]], [[0.0]]]), 1)
        tensor([[[0.2990]]])
    """
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3; got {channels!r}")
    c = image.shape[-3]
    if c not in (1, 3):
        raise InputError(f"image must have 1 or 3 channels; got {c}")
    if c == channels:
        return image
    if channels == 3:
        return image.expand(*image.shape[:-3], 3, *image.shape[-2:]).clone()
    luma = torch.tensor(_LUMA, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return (image * luma).sum(-3, keepdim=True)


def resize_square(image: Tensor, size: int) -> Tensor:
    """Resize a ``(..., C, H, W)`` float image to ``size`` x ``size`` (aspect ignored).

    Bilinear with antialias (``align_corners=False``), clamped back to ``[0, 1]``; an image
    already at the size is returned unchanged.

    Args:
        image: float images in ``[0, 1]``.
        size: the side of the output.

    Shape:
        - image: :math:`(C, H, W)` or :math:`(B, C, H, W)`
        - output: the same with :math:`H = W = size`

    Examples:
        >>> resize_square(torch.ones(1, 4, 6), 2)
        tensor([[[1., 1.],
                 [1., 1.]]])
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"size must be a positive int; got {size!r}")
    if tuple(image.shape[-2:]) == (size, size):
        return image
    batch = image if image.ndim == 4 else image.unsqueeze(0)
    out = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    out = out.clamp(0, 1)
    return out if image.ndim == 4 else out.squeeze(0)


def check_output_format(load_size: int | None, channels: int | None) -> None:
    """Check the ``load_size`` (a positive int or ``None``) and ``channels`` (1, 3 or ``None``) arguments.

    Examples:
        >>> check_output_format(32, 5)
        Traceback (most recent call last):
        ...
        dia_augment.errors.ConfigError: channels must be 1, 3 or None; got 5
    """
    if load_size is not None and (isinstance(load_size, bool) or not isinstance(load_size, int) or load_size < 1):
        raise ConfigError(f"load_size must be a positive int or None; got {load_size!r}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1, 3 or None; got {channels!r}")


def prepare_image(image: Tensor, load_size: int | None = None, channels: int | None = None) -> Tensor:
    """Bring a decoded ``(C, H, W)`` image to the requested channel count and square size.

    Args:
        image: float in ``[0, 1]``.
        load_size: the side the image is resized to (bilinear, antialiased, aspect ignored: see
            :func:`resize_square`), or ``None`` to keep its size.
        channels: 1 or 3, or ``None`` to keep the channels.

    Shape:
        - image: :math:`(C, H, W)`
        - output: :math:`(channels, load\\_size, load\\_size)`

    Examples:
        >>> prepare_image(torch.full((1, 5, 3), 0.5), load_size=2, channels=3).shape
        torch.Size([3, 2, 2])
    """
    check_output_format(load_size, channels)
    if channels is not None:
        image = convert_channels(image, channels)
    if load_size is not None:
        image = resize_square(image, load_size)
    return image
