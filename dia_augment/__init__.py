"""dia_augment: Dissolving Is Amplifying for fine-grained anomaly detection, kornia-compatible.

The public API is listed in ``__all__`` (a test guards it). Heavy optional pieces (Stable
Diffusion, the trainer, the scorer, the data sets) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from dia_augment._version import __version__

from dia_augment.augmentation.random_dissolving import RandomDissolving
from dia_augment.filters import (
    DDPMDissolving,
    Dissolver,
    GaussianDissolving,
    MedianDissolving,
    ReferenceGaussianBlur,
    ReferenceMedianBlur,
    ResizeDissolving,
    ddpm_dissolve,
    make_dissolver,
)

# name -> module, imported lazily on first attribute access
_LAZY = {
    "StableDiffusionDissolving": "dia_augment.filters.stable_diffusion",
    "train_dissolver": "dia_augment.train",
    "DissolverTrainConfig": "dia_augment.train",
    "SimCLRAugmentation": "dia_augment.augmentation.simclr",
    "shift_transform": "dia_augment.shift",
    "expand_shifts": "dia_augment.shift",
    "DIAResNet": "dia_augment.models",
    "build_model": "dia_augment.models",
    "TrainConfig": "dia_augment.train",
    "train_model": "dia_augment.train",
    "load_model": "dia_augment.train",
    "ScoreConfig": "dia_augment.score",
    "csi_score": "dia_augment.score",
    "evaluate": "dia_augment.score",
    "load_one_class": "dia_augment.data",
    "OneClassData": "dia_augment.data",
    "make_embedded_dataset": "dia_augment.data",
    "AnomalyDetector": "dia_augment.detect",
    "build_detector": "dia_augment.detect",
    "anomaly_map": "dia_augment.localize",
    "probe_dissolver": "dia_augment.probe",
}

__all__ = [
    "__version__",
    "Dissolver",
    "DDPMDissolving",
    "GaussianDissolving",
    "MedianDissolving",
    "ReferenceGaussianBlur",
    "ReferenceMedianBlur",
    "ResizeDissolving",
    "RandomDissolving",
    "ddpm_dissolve",
    "make_dissolver",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dia_augment' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
