"""kornia augmentations: ``RandomDissolving``, and the SimCLR augmentation of the trainer (imported on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dia_augment.utils.lazy import lazy_exports

if TYPE_CHECKING:  # what type checkers and the API reference see; at run time, _LAZY imports it on first use
    from dia_augment.augmentation.random_dissolving import RandomDissolving

_LAZY = {"RandomDissolving": "dia_augment.augmentation.random_dissolving"}

__all__ = ["RandomDissolving"]

__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
