"""Shift transformations (rotation, CutPerm) and the paper's training-type names."""

from dia_augment.shift.training_type import TRAINING_TYPE_BACKENDS, parse_training_type
from dia_augment.shift.transforms import NUM_SHIFTS, SHIFT_KINDS, cutperm, expand_shifts, rotate, shift_transform

__all__ = [
    "NUM_SHIFTS",
    "SHIFT_KINDS",
    "TRAINING_TYPE_BACKENDS",
    "cutperm",
    "expand_shifts",
    "parse_training_type",
    "rotate",
    "shift_transform",
]
