"""kornia augmentations: ``RandomDissolving``, and the SimCLR augmentation of the trainer."""

from dia_augment.augmentation.random_dissolving import RandomDissolving

__all__ = ["RandomDissolving"]
