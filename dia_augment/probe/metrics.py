r"""The lesion probe's measures: how much of the lesions a dissolve erases, and how much anatomy it changes.

On a twin pair (``clean``, ``lesioned``: the same image without and with lesions, identical
outside the lesion ``mask``) and a dissolver :math:`D`:

- **lesion erasure** :math:`1 - \lVert D(x_l) - D(x_c) \rVert_2 / \lVert x_l - x_c \rVert_2`:
  the share of the lesion signal the dissolve removes. 0: the lesions pass through untouched
  (or only move); 1: the dissolved twins are equal. With an L2 norm a blur that spreads a spot
  without removing its mass still counts as erasing (part of) it; an L1 norm would be blind to
  it. *Overall*, the norm runs over the whole image; *in the lesions*, the numerator only over
  the mask's pixels (what stays where the lesion was), so it is at least the overall value.
  Negative values mean the dissolve amplifies the lesions.
- **anatomy change**: how much the dissolve alters the clean image *outside* the lesion
  masks, as the mean absolute change of :math:`D(x_c)` against :math:`x_c` and as a PSNR
  (data range 1; infinite when nothing changes).

Sums are pooled over images (an L2 norm over the whole set), so that images with faint lesions
weigh less; the per-image erasures give the spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from dia_augment.errors import InputError
from dia_augment.utils.checks import check_images

__all__ = ["check_twins", "lesion_erasure", "anatomy_change", "ProbeTotals"]


def check_twins(clean: Tensor, lesioned: Tensor, mask: Tensor) -> None:
    """Check twin batches: images in ``[0, 1]`` of one shape, and a ``(B, 1, H, W)`` bool mask.

    Raises:
        InputError: a wrong shape, range or mask; InputTypeError: not a float tensor.
    """
    check_images(clean, "clean")
    check_images(lesioned, "lesioned")
    if lesioned.shape != clean.shape:
        raise InputError(f"lesioned must have the shape of clean {tuple(clean.shape)}; got {tuple(lesioned.shape)}")
    expected = (clean.shape[0], 1, *clean.shape[2:])
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != expected:
        raise InputError(f"mask must be a bool tensor of shape {expected}; got {getattr(mask, 'shape', type(mask).__name__)}"
                         f"{'' if not isinstance(mask, Tensor) else ' ' + str(mask.dtype)}")


def lesion_erasure(
    clean: Tensor, lesioned: Tensor, dissolved_clean: Tensor, dissolved_lesioned: Tensor, mask: Tensor | None = None
) -> Tensor:
    r"""Per-image lesion erasure :math:`1 - \lVert D(x_l) - D(x_c) \rVert_2 / \lVert x_l - x_c \rVert_2`.

    Args:
        clean, lesioned: the twins.
        dissolved_clean, dissolved_lesioned: their dissolved versions.
        mask: when given, the numerator's norm runs over these pixels only (erasure *in the lesions*).

    Returns:
        :math:`(B,)`; NaN for a pair without any lesion signal.

    Shape:
        - clean, lesioned, dissolved_clean, dissolved_lesioned: :math:`(B, C, H, W)`
        - mask: :math:`(B, 1, H, W)` bool

    Examples:
        >>> c = torch.zeros(1, 1, 3, 3); l = c.clone(); l[..., 1, 1] = 0.9
        >>> lesion_erasure(c, l, c, l).item(), lesion_erasure(c, l, c, c).item()  # identity, then a perfect eraser
        (0.0, 1.0)
        >>> box = torch.full((1, 1, 3, 3), 0.1)  # a 3 x 3 box blur spreads the spot evenly
        >>> round(lesion_erasure(c, l, c, box).item(), 4), round(lesion_erasure(c, l, c, box, l > 0).item(), 4)
        (0.6667, 0.8889)
    """
    before = (lesioned - clean).flatten(1).norm(dim=1)
    left = dissolved_lesioned - dissolved_clean
    if mask is not None:
        left = left * mask
    return 1 - left.flatten(1).norm(dim=1) / before


def anatomy_change(clean: Tensor, dissolved_clean: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    r"""Per-image mean absolute change and mean squared change of the dissolve outside the lesions.

    Args:
        clean: the clean images.
        dissolved_clean: their dissolved versions.
        mask: the lesions' pixels, excluded.

    Returns:
        ``(mean_abs, mean_squared)``, each :math:`(B,)`, over the pixels and channels outside ``mask``.

    Shape:
        - clean, dissolved_clean: :math:`(B, C, H, W)`
        - mask: :math:`(B, 1, H, W)` bool

    Examples:
        >>> c = torch.zeros(1, 1, 2, 2); m = torch.zeros(1, 1, 2, 2, dtype=torch.bool); m[..., 0, 0] = True
        >>> d = torch.tensor([[[[5.0, 0.2], [0.2, 0.5]]]])  # the masked pixel does not count
        >>> [round(v.item(), 4) for v in anatomy_change(c, d, m)]
        [0.3, 0.11]
    """
    outside = (~mask).expand_as(clean).flatten(1).to(clean.dtype)
    diff = (dissolved_clean - clean).flatten(1) * outside
    count = outside.sum(1)
    return diff.abs().sum(1) / count, diff.square().sum(1) / count


@dataclass
class ProbeTotals:
    """Running sums of the probe's measures over batches of twins, for one dissolver and one step.

    Examples:
        >>> c = torch.zeros(2, 1, 3, 3); l = c.clone(); l[:, :, 1, 1] = 0.5; m = l > 0
        >>> totals = ProbeTotals()
        >>> totals.add(c, l, m, c, l)  # the identity
        >>> s = totals.summary()
        >>> s["erasure"], s["change_mae"], s["change_psnr"], s["num_images"]
        (0.0, 0.0, inf, 2)
    """

    lesion_sq: float = 0.0
    left_sq: float = 0.0
    left_in_lesions_sq: float = 0.0
    outside_abs: float = 0.0
    outside_sq: float = 0.0
    outside_count: float = 0.0
    per_image: list[float] = field(default_factory=list)

    def add(self, clean: Tensor, lesioned: Tensor, mask: Tensor, dissolved_clean: Tensor, dissolved_lesioned: Tensor) -> None:
        """Add a batch of twins and their dissolved versions (all float64-accumulated)."""
        clean, lesioned = clean.double(), lesioned.double()
        dissolved_clean, dissolved_lesioned = dissolved_clean.double(), dissolved_lesioned.double()
        left = dissolved_lesioned - dissolved_clean
        self.lesion_sq += (lesioned - clean).square().sum().item()
        self.left_sq += left.square().sum().item()
        self.left_in_lesions_sq += (left * mask).square().sum().item()
        outside = (~mask).expand_as(clean)
        change = (dissolved_clean - clean)[outside]
        self.outside_abs += change.abs().sum().item()
        self.outside_sq += change.square().sum().item()
        self.outside_count += float(outside.sum().item())
        self.per_image += lesion_erasure(clean, lesioned, dissolved_clean, dissolved_lesioned).tolist()

    def summary(self) -> dict[str, float | int]:
        """The pooled measures.

        Returns:
            ``erasure`` and ``erasure_in_lesions`` (pooled L2), ``erasure_std`` (over images),
            ``change_mae``, ``change_psnr`` (dB, ``inf`` for no change), ``erasure_per_change``
            (erasure / change_mae; ``inf`` or ``nan`` when nothing changes) and ``num_images``.
        """
        lesion = math.sqrt(self.lesion_sq)
        erasure = 1 - math.sqrt(self.left_sq) / lesion if lesion > 0 else math.nan
        in_lesions = 1 - math.sqrt(self.left_in_lesions_sq) / lesion if lesion > 0 else math.nan
        mae = self.outside_abs / self.outside_count if self.outside_count else math.nan
        mse = self.outside_sq / self.outside_count if self.outside_count else math.nan
        psnr = math.inf if mse == 0 else -10 * math.log10(mse)
        ratio = erasure / mae if mae > 0 else (math.inf if erasure > 0 else math.nan)
        finite = torch.tensor([v for v in self.per_image if math.isfinite(v)], dtype=torch.float64)
        std = finite.std().item() if finite.numel() > 1 else 0.0
        return {
            "erasure": erasure,
            "erasure_in_lesions": in_lesions,
            "erasure_std": std,
            "change_mae": mae,
            "change_psnr": psnr,
            "erasure_per_change": ratio,
            "num_images": len(self.per_image),
        }
