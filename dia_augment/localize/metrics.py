"""How well an anomaly map finds known lesions: pixel-level AUROC and the pointing game.

- **pixel AUROC**: every pixel of the given images is a sample, its map value the score and
  its mask value the label (lesion = positive); computed over the pooled pixels of all images
  (scikit-learn's ``roc_auc_score``). 0.5 is chance, 1 ranks every lesion pixel above every
  other pixel.
- **pointing game**: the share of images whose map maximum falls inside the lesion mask grown
  by ``tolerance`` pixels (a square dilation); lesions of 1-2 px make ``tolerance = 1`` the fair
  setting for maps computed through a resize or a patch. Chance is the dilated mask's share of
  the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dia_augment.errors import InputError, InputTypeError

__all__ = ["pixel_auroc", "pointing_game", "check_maps_and_masks"]


def check_maps_and_masks(maps: object, masks: object) -> tuple[Tensor, Tensor]:
    """Check ``(B, H, W)`` float maps and same-shape boolean masks with a lesion in every image.

    Examples:
        >>> m, k = check_maps_and_masks(torch.rand(2, 4, 4), torch.ones(2, 4, 4, dtype=torch.bool))
        >>> k.dtype
        torch.bool
    """
    for value, name in ((maps, "maps"), (masks, "masks")):
        if not isinstance(value, Tensor):
            raise InputTypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
        if value.ndim != 3 or value.numel() == 0:
            raise InputError(f"{name} must be a non-empty (B, H, W) tensor; got shape {tuple(value.shape)}")
    if maps.shape != masks.shape:
        raise InputError(f"maps and masks must have the same shape; got {tuple(maps.shape)} and {tuple(masks.shape)}")
    if not maps.is_floating_point() or not bool(torch.isfinite(maps).all()):
        raise InputError("maps must be finite floating-point values")
    masks = masks.bool()
    if not bool(masks.flatten(1).any(1).all()):
        raise InputError("every mask must mark at least one lesion pixel (pass anomalous images only)")
    return maps, masks


def pixel_auroc(maps: Tensor, masks: Tensor) -> float:
    """Pixel-level AUROC of ``maps`` against the lesion ``masks``.

    Shape:
        - maps, masks: :math:`(B, H, W)`

    Examples:
        >>> masks = torch.zeros(1, 3, 3, dtype=torch.bool); masks[0, 1, 1] = True
        >>> pixel_auroc(masks.float(), masks), pixel_auroc(-masks.float(), masks)
        (1.0, 0.0)
    """
    from sklearn.metrics import roc_auc_score

    maps, masks = check_maps_and_masks(maps, masks)
    return float(roc_auc_score(masks.flatten().cpu().numpy(), maps.detach().flatten().float().cpu().numpy()))


def pointing_game(maps: Tensor, masks: Tensor, tolerance: int = 1) -> float:
    """Share of images whose map maximum lies in the lesion mask dilated by ``tolerance`` px.

    Shape:
        - maps, masks: :math:`(B, H, W)`

    Examples:
        >>> masks = torch.zeros(2, 5, 5, dtype=torch.bool); masks[:, 2, 2] = True
        >>> maps = torch.zeros(2, 5, 5); maps[0, 2, 3] = 1; maps[1, 0, 0] = 1
        >>> pointing_game(maps, masks, tolerance=1), pointing_game(maps, masks, tolerance=0)
        (0.5, 0.0)
    """
    maps, masks = check_maps_and_masks(maps, masks)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise InputError(f"tolerance must be an int >= 0; got {tolerance!r}")
    grown = F.max_pool2d(masks[:, None].float(), 2 * tolerance + 1, stride=1, padding=tolerance)[:, 0] > 0
    peak = maps.flatten(1).argmax(1)
    hits = grown.flatten(1).gather(1, peak[:, None])[:, 0]
    return float(hits.float().mean())
