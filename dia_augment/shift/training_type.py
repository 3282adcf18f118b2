"""The paper's training types by name, e.g. ``diffusion_rotation`` or ``blurmedian_cutperm``."""

from __future__ import annotations

from dia_augment.errors import InputError, InputTypeError
from dia_augment.shift.transforms import SHIFT_KINDS

__all__ = ["TRAINING_TYPE_BACKENDS", "parse_training_type"]

#: Prefix of a training type -> the dissolver backend name of ``dia_augment.filters.make_dissolver``.
#: The paper's ``blur*`` types are its own blur form (kernel 7, zero padding), which the paper's
#: code applies to every view (``TrainConfig.dissolve_all_views``, set by ``dia-augment train``).
TRAINING_TYPE_BACKENDS = {"diffusion": "ddpm", "blurgaussian": "gaussian-reference", "blurmedian": "median-reference",
                          "sd": "sd", "resize": "resize"}


def parse_training_type(name: str) -> tuple[str | None, str]:
    """Split a training type into ``(dissolver backend, shift kind)``.

    ``<prefix>_<shift>`` with a prefix of :data:`TRAINING_TYPE_BACKENDS` names a DIA run with
    that dissolver; a bare ``rotation`` or ``cutperm`` is a CSI run with no dissolver (``None``).

    Args:
        name: e.g. ``"diffusion_rotation"``, ``"blurgaussian_cutperm"``, ``"rotation"``.

    Returns:
        ``(backend, shift)`` with backend in ``{"ddpm", "gaussian-reference", "median-reference",
        "sd", "resize", None}``.

    Examples:
        >>> parse_training_type("diffusion_rotation")
        ('ddpm', 'rotation')
        >>> parse_training_type("blurmedian_cutperm")
        ('median-reference', 'cutperm')
        >>> parse_training_type("cutperm")
        (None, 'cutperm')
    """
    if not isinstance(name, str):
        raise InputTypeError(f"training type must be a string; got {type(name).__name__}")
    if name in SHIFT_KINDS:
        return None, name
    prefix, _, shift = name.rpartition("_")
    if prefix in TRAINING_TYPE_BACKENDS and shift in SHIFT_KINDS:
        return TRAINING_TYPE_BACKENDS[prefix], shift
    known = sorted(f"{p}_{s}" for p in TRAINING_TYPE_BACKENDS for s in SHIFT_KINDS) + list(SHIFT_KINDS)
    raise InputError(f"unknown training type {name!r}; expected one of {known}")
