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
    "train_dissolver",
    "SimCLRAugmentation",
    "shift_transform",
    "expand_shifts",
    "DIAResNet",
    "build_model",
    "TrainConfig",
    "train",
    "load_model",
    "CSIScorer",
    "csi_score",
    "evaluate",
    "load_one_class",
    "OneClassData",
    "make_embedded_dataset",
}


def test_import_is_light():
    """Importing the package does not pull the trainer, scorer or data modules (they load on use)."""
    code = "import sys, dia_augment; print(any(m in sys.modules for m in ('sklearn', 'dia_augment.score', 'dia_augment.train')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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
