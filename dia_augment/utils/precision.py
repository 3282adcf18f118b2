"""The one precision vocabulary: ``"auto"``, ``"no"``, ``"fp16"``, ``"bf16"`` (Accelerate's names and ``auto``).

Every setting of the package that picks a precision (the trainers' ``mixed_precision``, the
scorer's, the dissolvers', the command line's ``--mixed-precision``) takes these names.
``"auto"``, the default, is ``"bf16"`` where the hardware runs bf16 natively (a CPU with AMX or
AVX-512 BF16 instructions, a CUDA device that supports bf16) and ``"no"`` (float32) otherwise:
:func:`resolve_precision` decides, and what it decided is printed once per process and recorded
by the run. :func:`autocast_dtype` maps a name to the ``torch.autocast`` dtype,
:func:`autocast_context` opens the context.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path

import torch

from dia_augment.errors import ConfigError

__all__ = ["PRECISIONS", "AUTOCAST_OF_PRECISION", "native_bf16", "resolve_precision", "autocast_dtype",
           "autocast_context"]

#: ``auto``: ``bf16`` where the hardware runs it natively, else ``no``; ``no``: float32; ``fp16`` / ``bf16``: the
#: model under ``torch.autocast`` in that dtype.
PRECISIONS = ("auto", "no", "fp16", "bf16")
#: The ``torch.autocast`` dtype of each resolved precision.
AUTOCAST_OF_PRECISION = {"no": None, "fp16": torch.float16, "bf16": torch.bfloat16}
_SAID: set[str] = set()


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` runs bf16 matrix products natively (not emulated).

    CUDA: :func:`torch.cuda.is_bf16_supported`. CPU: the AMX or AVX-512 BF16 instructions
    (``amx_bf16`` / ``avx512_bf16`` among the CPU's flags); a CPU whose flags cannot be read
    counts as without.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool({"amx_bf16", "avx512_bf16"} & _cpu_flags())
    return False


def resolve_precision(precision: str, device: torch.device | str = "cpu", name: str = "mixed_precision",
                      announce: bool = False) -> str:
    """The precision ``precision`` means on ``device``: ``"auto"`` becomes ``"bf16"`` or ``"no"`` (:func:`native_bf16`).

    Args:
        precision: one of :data:`PRECISIONS`.
        device: the device that will run the model.
        name: the setting's name, for the error message.
        announce: print what ``"auto"`` chose, once per process and setting name.

    Examples:
        >>> resolve_precision("no"), resolve_precision("bf16")
        ('no', 'bf16')
        >>> resolve_precision("auto") in ("bf16", "no")
        True
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"{name} must be one of {PRECISIONS}; got {precision!r}")
    if precision != "auto":
        return precision
    chosen = "bf16" if native_bf16(device) else "no"
    if announce and name not in _SAID:
        _SAID.add(name)
        why = "runs bf16 natively" if chosen == "bf16" else "has no native bf16: float32"
        print(f"{name}=auto: {chosen} (the {torch.device(device).type} {why})", file=sys.stderr)
    return chosen


def autocast_dtype(precision: str, name: str = "mixed_precision", device: torch.device | str = "cpu") -> torch.dtype | None:
    """The autocast dtype of a precision name on ``device`` (``None`` for float32).

    Examples:
        >>> autocast_dtype("bf16"), autocast_dtype("no")
        (torch.bfloat16, None)
    """
    return AUTOCAST_OF_PRECISION[resolve_precision(precision, device, name)]


def autocast_context(dtype: torch.dtype | None, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast(device.type, dtype)``, or no context when ``dtype`` is ``None``.

    Examples:
        >>> with autocast_context(None, torch.device("cpu")):
        ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
        torch.float32
    """
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)
