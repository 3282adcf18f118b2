r"""The fixed test-time views of the one scorer: CSI's evaluation protocol, drawn once from a seed.

CSI's evaluation (and the paper code's ``eval.py``) scores an image by averaging its features over
``T`` test-time samples. Sample ``t`` of the paper's code: for every shift ``k``, a random
horizontal flip of the image, the shift, then the training augmentation of every row — colour
jitter (p = 0.8), grayscale (p = 0.2) and a resized crop of fixed area ``resize_factor`` (0.54)
— in the order the training used. The paper's code reseeds its generator per sample index, so
its draws are those of the row's position in the batch; a detector must give an image one score
whatever the batch, so here the draws of view ``t`` and shift ``k`` are made **once**, from a
seed, and shared by every image. A :class:`ViewSet` holds them (flips, crop boxes, jitter
factors and on/off, the jitter's order, grayscale on/off); it is saved with the detector,
replayed exactly, and exported.

Two augmentation semantics, the training's (``TrainConfig.augmentation``):

- ``"library"``: the library's training augmentation, in its order — crop, then kornia's colour
  jitter (brightness, contrast, saturation, hue in a random order per sample), then grayscale;
  a 1-channel image gets brightness and contrast only, and no grayscale;
- ``"reference"``: the paper code's — its colour jitter (contrast and an HSV step in a random
  order per sample), grayscale, then its affine-grid crop — on 3-channel images.

The crop of both is the paper code's affine-grid crop (bilinear sampling with reflection at the
border, then an average pool to the model's input size): a linear map per axis, so the views
export to ONNX as matrix products (:func:`~dia_augment.augmentation.colour.affine_crop_matrices`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dia_augment.augmentation.reference import draw_reference_boxes
from dia_augment.augmentation.simclr import AUGMENTATIONS
from dia_augment.errors import InputError
from dia_augment.utils.checks import check_int
from dia_augment.utils.random import make_generator

__all__ = ["AUGMENTATIONS", "JITTER", "P_JITTER", "P_GRAY", "RESIZE_FACTOR", "ViewSet", "draw_views"]

#: The colour jitter's strengths: brightness (the HSV value), contrast, saturation, hue.
JITTER = (0.4, 0.4, 0.4, 0.1)
#: The probability of the colour jitter and of the grayscale conversion of a row.
P_JITTER, P_GRAY = 0.8, 0.2
#: The test-time crop's area, CSI's evaluation default.
RESIZE_FACTOR = 0.54

_VIEW_FIELDS = ("flips", "boxes", "jitter_apply", "jitter", "order", "gray")


@dataclass(frozen=True)
class ViewSet:
    """``T`` fixed views of ``K`` shifts each, for ``(H, W)`` images of ``channels`` channels.

    Attributes:
        flips: ``(T, K)`` bool, a horizontal flip before the shift.
        boxes: ``(T, K, 4)`` float64 crop boxes ``(w, h, w_bias, h_bias)`` in the paper code's
            normalised form (sides as fractions of the image, centre offsets in ``[-1, 1]`` units),
            taken on the shifted image.
        jitter_apply: ``(T, K)`` bool, whether the colour jitter applies.
        jitter: ``(T, K, 4)`` float32 factors (brightness / value, contrast, saturation, hue).
        order: ``(T, 4)`` int64, the jitter's order of (brightness, contrast, saturation, hue) for
            ``"library"``; for ``"reference"`` only whether contrast (index 1) comes first matters.
        gray: ``(T, K)`` bool, the grayscale conversion.
        input_size: ``(H, W)`` of the images.
        channels: the images' channel count.
        augmentation: ``"library"`` or ``"reference"`` (see the module docstring).
    """

    flips: Tensor
    boxes: Tensor
    jitter_apply: Tensor
    jitter: Tensor
    order: Tensor
    gray: Tensor
    input_size: tuple[int, int]
    channels: int
    augmentation: str = "library"

    def __post_init__(self) -> None:
        if self.augmentation not in AUGMENTATIONS:
            raise InputError(f"augmentation must be one of {AUGMENTATIONS}; got {self.augmentation!r}")
        if self.channels not in (1, 3):
            raise InputError(f"channels must be 1 or 3; got {self.channels!r}")
        if self.augmentation == "reference" and self.channels != 3:
            raise InputError("the reference augmentation works on 3-channel images (the reference converts every image "
                             "to RGB): load the images with channels=3")
        t, k = tuple(self.flips.shape) if self.flips.ndim == 2 else (0, 0)
        shapes = {"flips": (t, k), "boxes": (t, k, 4), "jitter_apply": (t, k), "jitter": (t, k, 4), "order": (t, 4),
                  "gray": (t, k)}
        for name, shape in shapes.items():
            if t < 1 or k < 1 or tuple(getattr(self, name).shape) != shape:
                raise InputError(f"views need flips (T, K) with T, K >= 1 and {name} of shape {shape}; got "
                                 f"{tuple(getattr(self, name).shape)} (flips {tuple(self.flips.shape)})")
        w, h, wb, hb = self.boxes.unbind(-1)
        if bool(((w <= 0) | (w > 1) | (h <= 0) | (h > 1) | (wb.abs() > 1 - w + 1e-9) | (hb.abs() > 1 - h + 1e-9)).any()):
            raise InputError(f"view boxes must lie inside the image (0 < w, h <= 1, |bias| <= 1 - side); got "
                             f"{self.boxes.tolist()}")

    #: The names :meth:`tensors` writes.
    TENSORS = tuple(f"view_{name}" for name in _VIEW_FIELDS)

    @property
    def num_views(self) -> int:
        """T."""
        return int(self.flips.shape[0])

    @property
    def num_shifts(self) -> int:
        """K."""
        return int(self.flips.shape[1])

    def tensors(self) -> dict[str, Tensor]:
        """The views as named tensors (``view_flips``, ``view_boxes``, ...), for a safetensors file."""
        return {f"view_{name}": getattr(self, name).to(torch.uint8) if getattr(self, name).dtype == torch.bool
                else getattr(self, name) for name in _VIEW_FIELDS}

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], input_size: tuple[int, int], channels: int,
                     augmentation: str) -> ViewSet:
        """Rebuild the views from :meth:`tensors` (``KeyError`` names a missing one)."""
        values = {name: tensors[f"view_{name}"] for name in _VIEW_FIELDS}
        for name in ("flips", "jitter_apply", "gray"):
            values[name] = values[name].bool()
        values["boxes"], values["order"] = values["boxes"].double(), values["order"].long()
        return cls(**values, input_size=tuple(input_size), channels=channels, augmentation=augmentation)


def draw_views(
    num_views: int,
    input_size: tuple[int, int],
    channels: int,
    num_shifts: int = 4,
    augmentation: str = "library",
    resize_factor: float = RESIZE_FACTOR,
    resize_fix: bool = True,
    hflip: bool = True,
    colour: bool = True,
    seed: int = 0,
) -> ViewSet:
    """Draw ``num_views`` views of ``num_shifts`` shifts once, from ``seed``.

    Per view and shift: a fair coin for the flip (``hflip``); a crop box of area ``resize_factor``
    (or uniform in ``[resize_factor, 1]`` when ``resize_fix`` is false) with a log-uniform aspect
    ratio in ``[3/4, 4/3]``, as the paper code draws it; the jitter's on/off (p = 0.8) and factors
    (brightness, contrast and saturation uniform in ``[0.6, 1.4]``, hue in ``[-0.1, 0.1]``) and the
    grayscale's (p = 0.2), when ``colour``; per view, the jitter's order. 1-channel images under
    the ``"library"`` augmentation get neutral saturation and hue and no grayscale.

    Args:
        num_views: T.
        input_size: ``(H, W)`` of the images.
        channels: their channel count (1 or 3).
        num_shifts: K.
        augmentation: ``"library"`` or ``"reference"``.
        resize_factor: the crop's area as a fraction of the image, in ``(0, 1]``.
        resize_fix: a fixed area; otherwise drawn from ``[resize_factor, 1]``.
        hflip: draw random flips.
        colour: draw the colour jitter and grayscale (``False``: neither applies).
        seed: the seed of the draw.

    Examples:
        >>> views = draw_views(2, (16, 16), channels=1, num_shifts=2, seed=0)
        >>> views.num_views, views.num_shifts, tuple(views.boxes.shape)
        (2, 2, (2, 2, 4))
        >>> torch.equal(draw_views(2, (16, 16), 1, 2, seed=0).boxes, views.boxes)
        True
    """
    t, k = check_int(num_views, "num_views", error=InputError), check_int(num_shifts, "num_shifts", error=InputError)
    h, w = (check_int(s, "input_size", error=InputError) for s in input_size)
    if isinstance(resize_factor, bool) or not isinstance(resize_factor, (int, float)) or not 0 < resize_factor <= 1:
        raise InputError(f"resize_factor must be a number in (0, 1]; got {resize_factor!r}")
    if augmentation not in AUGMENTATIONS:
        raise InputError(f"augmentation must be one of {AUGMENTATIONS}; got {augmentation!r}")
    g = make_generator(seed)
    flips = torch.rand(t, k, generator=g) < 0.5
    if not hflip:
        flips = torch.zeros(t, k, dtype=torch.bool)
    scale = (resize_factor, resize_factor if resize_fix else 1.0)
    boxes = draw_reference_boxes(t * k, (h, w), scale, generator=g).reshape(t, k, 4).double()
    jitter_apply = torch.rand(t, k, generator=g) < P_JITTER
    low = torch.tensor([1 - JITTER[0], 1 - JITTER[1], 1 - JITTER[2], -JITTER[3]])
    high = torch.tensor([1 + JITTER[0], 1 + JITTER[1], 1 + JITTER[2], JITTER[3]])
    jitter = low + (high - low) * torch.rand(t, k, 4, generator=g)
    order = torch.stack([torch.randperm(4, generator=g) for _ in range(t)])
    gray = torch.rand(t, k, generator=g) < P_GRAY
    if augmentation == "library" and channels == 1:
        jitter[..., 2], jitter[..., 3] = 1.0, 0.0
        gray = torch.zeros(t, k, dtype=torch.bool)
    if not colour:
        jitter_apply, gray = torch.zeros(t, k, dtype=torch.bool), torch.zeros(t, k, dtype=torch.bool)
    return ViewSet(flips, boxes, jitter_apply, jitter, order, gray, (h, w), channels, augmentation)
