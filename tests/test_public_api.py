"""The public API is a contract: adding is deliberate, removing is a breaking change."""

from __future__ import annotations

import subprocess
import sys

import dia_augment

EXPECTED = {
    "__version__",
    "Dissolver",
    "DDPMDissolving",
    "GaussianDissolving",
    "MedianDissolving",
    "ResizeDissolving",
    "RandomDissolving",
    "StableDiffusionDissolving",
    "ddpm_dissolve",
    "make_dissolver",
}


def test_all_is_exactly_the_public_api():
    assert set(dia_augment.__all__) == EXPECTED


def test_every_public_name_resolves():
    for name in dia_augment.__all__:
        assert getattr(dia_augment, name) is not None, name


def test_version_string():
    major, minor, patch = dia_augment.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))


def test_cli_entry_points():
    out = subprocess.run([sys.executable, "-m", "dia_augment", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"dia_augment {dia_augment.__version__}"
