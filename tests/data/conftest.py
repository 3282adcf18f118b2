"""Helpers to write tiny image files and folders for the data tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_image(path: Path, value: int = 0, size: tuple[int, int] = (6, 6), mode: str = "L") -> Path:
    """Write a constant image (``value`` in every channel) of PIL ``mode``; the format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    if mode == "L":
        Image.fromarray(np.full((h, w), value, np.uint8)).save(path)
    elif mode == "RGB":
        Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)
    elif mode == "I;16":
        Image.fromarray(np.full((h, w), value, np.uint16)).save(path)
    else:
        raise ValueError(mode)
    return path


def make_class_folder(root: Path, counts: dict[str, int], suffix: str = ".png", mode: str = "L") -> Path:
    """Write ``counts[c]`` images into ``root/c/``; image i of class number k has the value 10 k + i."""
    for k, (name, n) in enumerate(counts.items()):
        for i in range(n):
            write_image(root / name / f"img_{i:03d}{suffix}", value=10 * k + i, mode=mode)
    return root


@pytest.fixture
def class_folder() -> Callable[..., Path]:
    return make_class_folder


@pytest.fixture
def image_writer() -> Callable[..., Path]:
    return write_image


def write_dicom(
    path: Path,
    stored: np.ndarray,
    slope: float = 1.0,
    intercept: float = 0.0,
    window: tuple[float, float] | None = None,
    photometric: str = "MONOCHROME2",
    signed: bool = False,
    patient: str | None = None,
    **elements: object,
) -> Path:
    """Write a CT DICOM file of the stored values ``(H, W)`` or ``(frames, H, W)`` (16 bits).

    ``slope=None`` leaves out the rescale; ``elements`` are further header elements by keyword.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    path.parent.mkdir(parents=True, exist_ok=True)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
    ds.Rows, ds.Columns = stored.shape[-2:]
    if stored.ndim == 3:
        ds.NumberOfFrames = stored.shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, int(signed)
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if patient is not None:
        ds.PatientID = patient
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.PixelData = stored.astype(np.int16 if signed else np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_nifti(
    path: Path, volume: np.ndarray, slope: float | None = None, intercept: float = 0.0, affine: np.ndarray | None = None
) -> Path:
    """Write a NIfTI volume (RAS+ identity affine by default); with ``slope`` the data are stored as
    int16 with ``scl_slope`` / ``scl_inter``."""
    import nibabel

    path.parent.mkdir(parents=True, exist_ok=True)
    image = nibabel.Nifti1Image(volume, np.eye(4) if affine is None else affine)
    if slope is not None:
        image.header.set_data_dtype(np.int16)
        image.header.set_slope_inter(slope, intercept)
    nibabel.save(image, path)
    return path
