"""Shift transformations (rotation, CutPerm), the view builder of training and scoring, and the paper's training-type names."""

from dia_augment.shift.training_type import TRAINING_TYPE_BACKENDS, parse_training_type
from dia_augment.shift.transforms import NUM_SHIFTS, SHIFT_KINDS, cutperm, expand_shifts, rotate, shift_transform
from dia_augment.shift.views import random_hflip, shifted_views

__all__ = ["NUM_SHIFTS", "SHIFT_KINDS", "TRAINING_TYPE_BACKENDS", "cutperm", "expand_shifts", "parse_training_type",
           "random_hflip", "rotate", "shift_transform", "shifted_views"]
