"""The one precision vocabulary: ``"no"``, ``"fp16"``, ``"bf16"`` (Accelerate's names), and their autocast.

Every setting of the package that picks a precision (the trainers' ``mixed_precision``, the
scorer's, the command line's ``--mixed-precision``) takes these names; :func:`autocast_dtype`
maps one to the ``torch.autocast`` dtype, :func:`autocast_context` opens the context.
"""

from __future__ import annotations

import contextlib

import torch

from dia_augment.errors import ConfigError

__all__ = ["PRECISIONS", "AUTOCAST_OF_PRECISION", "autocast_dtype", "autocast_context"]

#: ``no``: float32; ``fp16`` / ``bf16``: the model under ``torch.autocast`` in that dtype.
PRECISIONS = ("no", "fp16", "bf16")
#: The ``torch.autocast`` dtype of each precision.
AUTOCAST_OF_PRECISION = {"no": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def autocast_dtype(precision: str, name: str = "mixed_precision") -> torch.dtype | None:
    """The autocast dtype of a precision name (``None`` for ``"no"``).

    Examples:
        >>> autocast_dtype("bf16"), autocast_dtype("no")
        (torch.bfloat16, None)
    """
    if precision not in AUTOCAST_OF_PRECISION:
        raise ConfigError(f"{name} must be one of {PRECISIONS}; got {precision!r}")
    return AUTOCAST_OF_PRECISION[precision]


def autocast_context(dtype: torch.dtype | None, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast(device.type, dtype)``, or no context when ``dtype`` is ``None``.

    Examples:
        >>> with autocast_context(None, torch.device("cpu")):
        ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
        torch.float32
    """
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)
