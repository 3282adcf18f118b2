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
