"""Shift transformations: rotation by ``k * 90`` degrees and CutPerm, ``K = 4``.

A shifted copy of an image is treated as a new "class" by the amplifying objective: the
model learns to tell the four shifts apart (the shift head) and to keep them apart in the
projection space (shifted copies are negatives of each other).

Every function takes one ``k`` for the whole batch or a ``(B,)`` tensor with one ``k`` per
sample; the per-sample case is vectorised (the four variants are computed once and gathered),
never a Python loop over samples.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dia_augment.errors import InputError
from dia_augment.utils.checks import check_images, check_steps

__all__ = ["NUM_SHIFTS", "SHIFT_KINDS", "rotate", "cutperm", "shift_transform", "expand_shifts"]

#: The number of shift transformations of each kind.
NUM_SHIFTS = 4
#: The shift kinds ``shift_transform`` knows.
SHIFT_KINDS = ("rotation", "cutperm")


def _check_k(k: int | Tensor, batch_size: int) -> int | Tensor:
    """Validate ``k``: an int (kept as it is) or a ``(B,)`` integer tensor, values in ``[0, 4)``."""
    checked = check_steps(k, batch_size, NUM_SHIFTS, "k", unit="shifts")
    return k if isinstance(k, int) else checked


def _rotate_all(images: Tensor, k: int) -> Tensor:
    if k != 0 and images.shape[-1] != images.shape[-2]:
        raise InputError(f"rotation needs square images; got H x W = {tuple(images.shape[-2:])}")
    return torch.rot90(images, k, dims=(-2, -1))


def _cutperm_all(images: Tensor, k: int) -> Tensor:
    h, w = images.shape[-2:]
    out = images
    if k // 2:  # swap the top and bottom halves
        out = torch.cat([out[..., h // 2 :, :], out[..., : h // 2, :]], dim=-2)
    if k % 2:  # swap the left and right halves
        out = torch.cat([out[..., :, w // 2 :], out[..., :, : w // 2]], dim=-1)
    return out


def _per_sample(images: Tensor, k: int | Tensor, op) -> Tensor:
    check_images(images, channels=None, check_range=False)
    k = _check_k(k, images.shape[0])
    if isinstance(k, int):
        return op(images, k)
    variants = torch.stack([op(images, j) for j in range(NUM_SHIFTS)])  # (4, B, C, H, W)
    index = k.to(images.device).view(1, -1, 1, 1, 1).expand(1, *variants.shape[1:])
    return variants.gather(0, index).squeeze(0)


def rotate(images: Tensor, k: int | Tensor) -> Tensor:
    r"""Rotate each image by ``k * 90`` degrees counter-clockwise.

    Args:
        images: a batch of square images.
        k: an int in ``[0, 4)`` for the whole batch, or a ``(B,)`` integer tensor.

    Shape:
        - images: :math:`(B, C, H, H)`
        - output: :math:`(B, C, H, H)`

    Examples:
        >>> x = torch.arange(4.0).view(1, 1, 2, 2)
        >>> rotate(x, 1)[0, 0].tolist()
        [[1.0, 3.0], [0.0, 2.0]]
        >>> torch.equal(rotate(rotate(x, 1), 3), x)
        True
    """
    return _per_sample(images, k, _rotate_all)


def cutperm(images: Tensor, k: int | Tensor) -> Tensor:
    r"""CutPerm: ``k // 2`` swaps the top and bottom halves, ``k % 2`` the left and right halves.

    For odd sizes the first half is the smaller one (``H // 2`` rows), so CutPerm is an
    involution only for even sizes.

    Args:
        images: a batch of images.
        k: an int in ``[0, 4)`` for the whole batch, or a ``(B,)`` integer tensor.

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> x = torch.arange(4.0).view(1, 1, 2, 2)
        >>> cutperm(x, 3)[0, 0].tolist()
        [[3.0, 2.0], [1.0, 0.0]]
        >>> torch.equal(cutperm(cutperm(x, 2), 2), x)
        True
    """
    return _per_sample(images, k, _cutperm_all)


def shift_transform(images: Tensor, k: int | Tensor, kind: str = "rotation") -> Tensor:
    r"""Apply shift ``k`` of ``kind`` (``"rotation"`` or ``"cutperm"``).

    Args:
        images: a batch of images.
        k: an int in ``[0, 4)`` or a ``(B,)`` integer tensor.
        kind: ``"rotation"`` or ``"cutperm"``.

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> x = torch.rand(2, 1, 4, 4)
        >>> torch.equal(shift_transform(x, 2, "rotation"), torch.flip(x, (-2, -1)))
        True
    """
    if kind not in SHIFT_KINDS:
        raise InputError(f"kind must be one of {SHIFT_KINDS}; got {kind!r}")
    return (rotate if kind == "rotation" else cutperm)(images, k)


def expand_shifts(images: Tensor, kind: str = "rotation", num_shifts: int = NUM_SHIFTS) -> tuple[Tensor, Tensor]:
    r"""All ``num_shifts`` shifted copies of a batch, shift-major, with their shift labels.

    Rows ``k * B : (k + 1) * B`` of the output are shift ``k`` of every image, in order.
    ``num_shifts = 1`` returns the batch itself with all-zero labels.

    Args:
        images: a batch of images.
        kind: ``"rotation"`` or ``"cutperm"``.
        num_shifts: how many shifts, the first ``num_shifts`` of the four, in ``[1, 4]``.

    Returns:
        ``(shifted, labels)``: the :math:`(K B, C, H, W)` copies and their :math:`(K B,)` int64 labels.

    Shape:
        - images: :math:`(B, C, H, W)`
        - shifted: :math:`(K B, C, H, W)`
        - labels: :math:`(K B,)`

    Examples:
        >>> x = torch.rand(3, 1, 4, 4)
        >>> shifted, labels = expand_shifts(x)
        >>> labels.tolist()
        [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
        >>> torch.equal(shifted[3:6], rotate(x, 1))
        True
    """
    if kind not in SHIFT_KINDS:
        raise InputError(f"kind must be one of {SHIFT_KINDS}; got {kind!r}")
    if isinstance(num_shifts, bool) or not isinstance(num_shifts, int) or not 1 <= num_shifts <= NUM_SHIFTS:
        raise InputError(f"num_shifts must be an int in [1, {NUM_SHIFTS}]; got {num_shifts!r}")
    check_images(images, channels=None, check_range=False)
    shifted = torch.cat([shift_transform(images, k, kind) for k in range(num_shifts)])
    labels = torch.arange(num_shifts, device=images.device).repeat_interleave(images.shape[0])
    return shifted, labels
