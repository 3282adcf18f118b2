"""The view builder shared by training and scoring: a random horizontal flip, then the shifts.

Training builds each view of a batch with :func:`shifted_views` (each view flipped on its own),
and the CSI scorer builds each test-time sample the same way, so train-time and test-time views
cannot drift apart.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dia_augment.shift.transforms import NUM_SHIFTS, expand_shifts

__all__ = ["random_hflip", "shifted_views"]


def random_hflip(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Flip each image left-right with probability 1/2 (one draw per image, on the generator's device).

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> x = torch.rand(4, 1, 2, 2)
        >>> y = random_hflip(x, torch.Generator().manual_seed(0))
        >>> all(torch.equal(y[i], x[i]) or torch.equal(y[i], x[i].flip(-1)) for i in range(4))
        True
    """
    draw_device = generator.device if generator is not None else "cpu"
    flip = torch.rand(images.shape[0], generator=generator, device=draw_device) < 0.5
    return torch.where(flip.to(images.device).view(-1, 1, 1, 1), images.flip(-1), images)


def shifted_views(images: Tensor, kind: str = "rotation", num_shifts: int = NUM_SHIFTS,
                  generator: torch.Generator | None = None, flip: bool = True) -> Tensor:
    r"""One view of a batch: each image randomly h-flipped (``flip``), then its ``num_shifts`` shifted copies.

    The flip is drawn once per image and shared by its shifted copies; rows are shift-major
    (rows ``k * B : (k + 1) * B`` hold shift ``k``), as :func:`~dia_augment.shift.expand_shifts`.

    Args:
        images: a batch of images.
        kind: ``"rotation"`` or ``"cutperm"``.
        num_shifts: K, in ``[1, 4]``.
        generator: draws the flips.
        flip: draw the random flips (``False``: the images as they are).

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(K B, C, H, W)`

    Examples:
        >>> x = torch.rand(2, 1, 4, 4)
        >>> rows = shifted_views(x, generator=torch.Generator().manual_seed(0))
        >>> rows.shape, torch.equal(rows[2:4], torch.rot90(rows[:2], 1, (-2, -1)))
        (torch.Size([8, 1, 4, 4]), True)
    """
    if flip:
        images = random_hflip(images, generator)
    return expand_shifts(images, kind, num_shifts)[0]
