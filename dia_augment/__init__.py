"""dia_augment: Dissolving Is Amplifying for fine-grained anomaly detection, kornia-compatible.

The public API is listed in ``__all__`` (a test guards it). ``import dia_augment`` imports torch
and nothing heavy: every public name is imported from its module on first use (diffusers with a
DDPM dissolver, kornia with ``RandomDissolving``, scikit-learn with the scores, ...).
"""

from __future__ import annotations

from dia_augment._version import __version__
from dia_augment.utils.lazy import lazy_exports

# name -> module, imported lazily on first attribute access
_LAZY = {
    "Dissolver": "dia_augment.filters.base",
    "ResizeDissolving": "dia_augment.filters.base",
    "DDPMDissolving": "dia_augment.filters.ddpm",
    "ddpm_dissolve": "dia_augment.filters.ddpm",
    "GaussianDissolving": "dia_augment.filters.blur",
    "MedianDissolving": "dia_augment.filters.blur",
    "ReferenceGaussianBlur": "dia_augment.filters.blur",
    "ReferenceMedianBlur": "dia_augment.filters.blur",
    "make_dissolver": "dia_augment.filters",
    "StableDiffusionDissolving": "dia_augment.filters.stable_diffusion",
    "RandomDissolving": "dia_augment.augmentation.random_dissolving",
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

__all__ = ["__version__", *_LAZY]

__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
