"""Input validation shared by every public entry point.

Each check raises :class:`~dia_augment.errors.InputError` (a ``ValueError``) or
:class:`~dia_augment.errors.InputTypeError` (a ``TypeError``) for the data a call works on, and
:class:`~dia_augment.errors.ConfigError` (a ``ValueError``) for a setting such as a probability or
a step range, with a message that names the argument and the problem, so that a wrong input never
turns into a silent wrong answer, and the command line shows it as one line.
"""

from __future__ import annotations

from collections.abc import Sequence

import math
import numbers

import numpy as np
import torch
from torch import Tensor

from dia_augment.errors import ConfigError, DiaError, InputError, InputTypeError

__all__ = ["check_images", "check_min_size", "check_steps", "check_probability", "check_pair", "check_range_pair",
           "check_int", "check_scores", "as_numpy", "ArrayLike", "RANGE_TOLERANCE"]

#: Values this far outside ``[0, 1]`` are accepted (and clamped) to absorb resize overshoot
#: and float round-off; anything further out is rejected as a range mistake (e.g. [-1, 1]
#: or [0, 255] input).
RANGE_TOLERANCE = 1e-3

#: Per-image values (scores, labels, classes): a tensor, a numpy array or a sequence of numbers.
ArrayLike = Tensor | np.ndarray | Sequence[float]


def check_images(images: object, name: str = "images", channels: Sequence[int] | None = (1, 3),
                 check_range: bool = True) -> Tensor:
    """Check a ``(B, C, H, W)`` float batch of images in ``[0, 1]``.

    Args:
        images: the object to check.
        name: how the error messages call it.
        channels: the accepted channel counts, or ``None`` for any.
        check_range: also reject values outside ``[0, 1]`` (beyond :data:`RANGE_TOLERANCE`).

    Returns:
        The same tensor, for chaining.

    Raises:
        InputTypeError: not a tensor, or not a floating-point dtype.
        InputError: wrong number of dimensions, empty batch, wrong channel count,
            NaN / inf values, or values outside ``[0, 1]``.

    Examples:
        >>> _ = check_images(torch.rand(2, 3, 8, 8))
        >>> check_images(torch.rand(3, 8, 8))
        Traceback (most recent call last):
        ...
        dia_augment.errors.InputError: images must be a (B, C, H, W) batch; got 3 dimensions with shape (3, 8, 8)
    """
    if not isinstance(images, Tensor):
        raise InputTypeError(f"{name} must be a torch.Tensor; got {type(images).__name__}")
    if images.ndim != 4:
        raise InputError(f"{name} must be a (B, C, H, W) batch; got {images.ndim} dimensions with shape "
                         f"{tuple(images.shape)}")
    if not images.is_floating_point():
        raise InputTypeError(f"{name} must be a floating-point tensor in [0, 1]; got dtype {images.dtype} "
                             "(convert integer images with images.float() / 255)")
    if images.shape[0] == 0:
        raise InputError(f"{name} is an empty batch (B = 0)")
    if channels is not None and images.shape[1] not in channels:
        raise InputError(f"{name} must have {' or '.join(map(str, channels))} channels; got C = {images.shape[1]}")
    if images.shape[-1] == 0 or images.shape[-2] == 0:
        raise InputError(f"{name} has an empty spatial size {tuple(images.shape[-2:])}")
    if check_range:
        # One fused reduction and a single host sync for all three checks.
        lo, hi, total = torch.stack([images.amin(), images.amax(), images.sum()]).detach().float().cpu().tolist()
        if not torch.isfinite(torch.tensor(total)):
            raise InputError(f"{name} contains NaN or inf values")
        if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
            raise InputError(f"{name} must be in [0, 1]; got values in [{lo:.4g}, {hi:.4g}] "
                             "(map [-1, 1] images with (x + 1) / 2 and uint8 images with x / 255)")
    return images


def check_steps(t: int | Tensor, batch_size: int, num_steps: int, name: str = "t", unit: str = "steps") -> Tensor:
    """Turn a step (int or ``(B,)`` tensor) into a ``(B,)`` int64 tensor, checking its range.

    Args:
        t: one step for the whole batch, or one step per sample.
        batch_size: B.
        num_steps: steps must lie in ``[0, num_steps)``.
        name: how the error messages call it.
        unit: what the messages call the values (``"steps"``, ``"shifts"``).

    Returns:
        A ``(B,)`` int64 tensor (on the device of ``t`` when it is a tensor, else on CPU).

    Examples:
        >>> check_steps(5, 3, 1000)
        tensor([5, 5, 5])
    """
    if isinstance(t, bool) or not isinstance(t, (int, Tensor)):
        raise InputTypeError(f"{name} must be an int or a (B,) integer tensor; got {type(t).__name__}")
    if isinstance(t, int):
        if not 0 <= t < num_steps:
            raise InputError(f"{name} = {t} is outside [0, {num_steps})")
        return torch.full((batch_size,), t, dtype=torch.long)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise InputTypeError(f"{name} must hold integer {unit}; got dtype {t.dtype}")
    if t.ndim == 0:
        t = t.expand(batch_size)
    if t.ndim != 1 or t.shape[0] != batch_size:
        raise InputError(f"{name} must be an int or a ({batch_size},) tensor; got shape {tuple(t.shape)}")
    lo, hi = torch.stack([t.min(), t.max()]).cpu().tolist()
    if lo < 0 or hi >= num_steps:
        raise InputError(f"{name} has {unit} in [{lo}, {hi}], outside [0, {num_steps})")
    return t.long()


def check_probability(p: float, name: str = "p") -> float:
    """Check that the setting ``p`` is a number in ``[0, 1]`` (:class:`~dia_augment.errors.ConfigError` if not).

    Examples:
        >>> check_probability(0.5)
        0.5
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise ConfigError(f"{name} must be a float in [0, 1]; got {type(p).__name__}")
    if not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"{name} must be in [0, 1]; got {p}")
    return float(p)


def _two_values(pair: object, name: str, what: str, error: type[DiaError]) -> list[object]:
    """The two entries of a ``(low, high)`` pair (one-element tensors as numbers), or ``error`` naming ``name``."""
    if isinstance(pair, (str, bytes)) or not isinstance(pair, (Sequence, Tensor)) or len(pair) != 2:
        raise error(f"{name} must be a pair of {what} (low, high); got {pair!r}")
    values = [v.item() if isinstance(v, Tensor) and v.numel() == 1 else v for v in pair]
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        raise error(f"{name} must be a pair of {what} (low, high); got {pair!r}")
    return values


def check_pair(pair: object, name: str, low: float | None = None, high: float | None = None,
               error: type[DiaError] = ConfigError) -> tuple[float, float]:
    """Check a ``(a, b)`` pair of finite numbers with ``low < a <= b <= high`` and return it as floats.

    Args:
        pair: the pair (a sequence or a tensor of two numbers).
        name: how the error message calls it.
        low: the exclusive lower bound of ``a`` (``0``: positive), or ``None`` for none.
        high: the inclusive upper bound of ``b``, or ``None`` for none.
        error: the class raised: :class:`~dia_augment.errors.ConfigError` for a setting,
            :class:`~dia_augment.errors.InputError` for an argument of a call.

    Examples:
        >>> check_pair((0.08, 1), "crop_scale", low=0, high=1)
        (0.08, 1.0)
        >>> check_pair((0.5, 1.5), "crop_scale", low=0, high=1)
        Traceback (most recent call last):
        ...
        dia_augment.errors.ConfigError: crop_scale = (0.5, 1.5) must satisfy 0 < low <= high <= 1
        >>> check_pair(0.5, "scale", error=InputError)
        Traceback (most recent call last):
        ...
        dia_augment.errors.InputError: scale must be a pair of numbers (low, high); got 0.5
    """
    values = _two_values(pair, name, "numbers", error)
    a, b = float(values[0]), float(values[1])
    if (not (math.isfinite(a) and math.isfinite(b)) or a > b or (low is not None and a <= low)
            or (high is not None and b > high)):
        bounds = ("" if low is None else f"{low:g} < ") + "low <= high" + ("" if high is None else f" <= {high:g}")
        raise error(f"{name} = {tuple(values)} must satisfy {bounds}")
    return a, b


def check_range_pair(pair: Sequence[int], low: int, high: int, name: str) -> tuple[int, int]:
    """Check a half-open integer range ``(a, b)`` with ``low <= a < b <= high`` (a step range).

    Both ends must be integers (an integral float such as ``30.0`` is accepted); ``(30.5, 100)``
    is rejected rather than truncated. A bad range is a :class:`~dia_augment.errors.ConfigError`.

    Examples:
        >>> check_range_pair((30, 100), 0, 1000, "step_range")
        (30, 100)
        >>> check_range_pair((30.5, 100), 0, 1000, "step_range")
        Traceback (most recent call last):
        ...
        dia_augment.errors.ConfigError: step_range must hold two integers; got (30.5, 100)
    """
    values = _two_values(pair, name, "integers", ConfigError)
    if not all(float(v).is_integer() for v in values):
        raise ConfigError(f"{name} must hold two integers; got {tuple(values)}")
    a, b = int(values[0]), int(values[1])
    if a >= b:
        raise ConfigError(f"{name} = {(a, b)} is empty or inverted: it needs low < high")
    if a < low or b > high:
        raise ConfigError(f"{name} = {(a, b)} must lie within [{low}, {high}]")
    return a, b


def check_int(value: object, name: str, minimum: int | None = 1, maximum: int | None = None,
              error: type[DiaError] | None = None, allow_none: bool = False) -> int | None:
    """Check that ``value`` is an int (not a bool, not a float) within ``[minimum, maximum]``; the one int check.

    Args:
        value: the value.
        name: how the error message calls it.
        minimum: the smallest accepted value (``1``: a positive int), or ``None`` for no bound.
        maximum: the largest accepted value, or ``None`` for no bound.
        error: the class raised for any failure (:class:`~dia_augment.errors.ConfigError` for a
            setting); by default :class:`~dia_augment.errors.InputTypeError` for a value that is
            not an int and :class:`~dia_augment.errors.InputError` for one out of bounds.
        allow_none: accept ``None`` too (returned as it is).

    Returns:
        ``value`` as an ``int`` (or ``None``).

    Examples:
        >>> check_int(3, "batch_size"), check_int(0, "top_k", minimum=0), check_int(None, "resolution", allow_none=True)
        (3, 0, None)
        >>> check_int(2.5, "batch_size")
        Traceback (most recent call last):
        ...
        dia_augment.errors.InputTypeError: batch_size must be a positive int; got float 2.5
        >>> check_int(0, "scale", error=ConfigError)
        Traceback (most recent call last):
        ...
        dia_augment.errors.ConfigError: scale must be a positive int; got 0
        >>> check_int(11, "level", minimum=0, maximum=10)
        Traceback (most recent call last):
        ...
        dia_augment.errors.InputError: level must be an int in [0, 10]; got 11
    """
    if allow_none and value is None:
        return None
    if maximum is not None:
        wanted = f"an int in [{'-inf' if minimum is None else minimum}, {maximum}]"
    else:
        wanted = "an int" if minimum is None else "a positive int" if minimum == 1 else f"an int >= {minimum}"
    wanted += " or None" if allow_none else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise (error or InputTypeError)(f"{name} must be {wanted}; got {type(value).__name__} {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise (error or InputError)(f"{name} must be {wanted}; got {value!r}")
    return int(value)


def check_min_size(images: Tensor, min_size: int, name: str = "images", why: str = "") -> Tensor:
    """Check that both spatial sides of a ``(..., H, W)`` tensor are at least ``min_size``.

    Args:
        images: the tensor.
        min_size: the smallest accepted side.
        name: how the error message calls it.
        why: what needs the size (e.g. ``"the kernel_size 7 blur"``), for the message.

    Examples:
        >>> _ = check_min_size(torch.rand(1, 1, 8, 8), 4)
        >>> check_min_size(torch.rand(1, 1, 2, 8), 4, why="the kernel_size 7 blur")
        Traceback (most recent call last):
        ...
        dia_augment.errors.InputError: images of size (2, 8) are too small for the kernel_size 7 blur: both sides must be at least 4
    """
    h, w = images.shape[-2:]
    if h < min_size or w < min_size:
        purpose = f" for {why}" if why else ""
        raise InputError(f"{name} of size {(h, w)} are too small{purpose}: both sides must be at least {min_size}")
    return images


def as_numpy(values: ArrayLike) -> np.ndarray:
    """``values`` as a numpy array: a tensor detached and on the CPU, anything else through ``np.asarray``.

    Examples:
        >>> as_numpy(torch.tensor([1, 0])).tolist(), as_numpy([0.5, 2.0]).dtype
        ([1, 0], dtype('float64'))
    """
    return values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)


def check_scores(values: ArrayLike, name: str = "scores") -> np.ndarray:
    """Check that ``values`` holds one finite score per image and return them as float64 numpy.

    Args:
        values: the scores.
        name: how the error messages call them.

    Raises:
        InputError: not 1-D, or a NaN or inf value.

    Shape:
        - values: :math:`(N,)`
        - output: :math:`(N,)`, float64

    Examples:
        >>> check_scores(torch.tensor([0.25, 1.0])).tolist()
        [0.25, 1.0]
        >>> check_scores([[0.1, 0.2]], "normal_scores")
        Traceback (most recent call last):
        ...
        dia_augment.errors.InputError: normal_scores must be 1-D (one score per image); got shape (1, 2)
    """
    array = as_numpy(values).astype(np.float64)
    if array.ndim != 1:
        raise InputError(f"{name} must be 1-D (one score per image); got shape {array.shape}")
    if not np.isfinite(array).all():
        raise InputError(f"{name} contains NaN or inf values")
    return array
