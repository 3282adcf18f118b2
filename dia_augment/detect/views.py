r"""A fixed set of test-time views, and the encoder that averages a model's outputs over them.

:class:`~dia_augment.score.CSIScorer` draws fresh random test-time augmentations for every
image, so an image's score depends on the seed, its position in the batch and the batch size.
A deployed detector must give one image one score, whatever else is in the folder, and must be
exportable. So :class:`AnomalyDetector <dia_augment.detect.AnomalyDetector>` draws its ``T``
views **once** (from a seed, at fit time) and applies the same views to every image:

- view ``t`` = an optional horizontal flip and a crop box ``(top, left, height, width)`` of
  area ``resize_factor`` (CSI's evaluation: 0.54) with an aspect ratio in ``[3/4, 4/3]``,
  resized to the model's input size with bilinear (antialiased) interpolation;
- then each of the ``K`` shifts (rotation or CutPerm).

Flip, crop and resize of one view are one linear map per axis: ``view = R_h @ image @ R_w^T``
with a ``(S, H)`` and a ``(S, W)`` matrix, built once. The encoder is therefore a fixed
function of the image, made of matrix products, flips, transposes and the model: it exports to
ONNX as it is. The SimCLR colour jitter and grayscale of CSI's evaluation are left out (a fixed
jitter would only shift every image's colours the same way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dia_augment.errors import InputError
from dia_augment.shift import shift_transform
from dia_augment.utils.checks import check_int
from dia_augment.utils.random import make_generator

__all__ = ["ViewSet", "draw_views", "TestTimeEncoder"]

_RATIO = (3 / 4, 4 / 3)


@dataclass(frozen=True)
class ViewSet:
    """``T`` fixed views of ``(H, W)`` images: crop boxes and flips.

    Attributes:
        boxes: ``(T, 4)`` int64 ``(top, left, height, width)`` in input pixels.
        flips: ``(T,)`` bool, horizontal flip before cropping.
        input_size: ``(H, W)`` of the images the boxes were drawn for.
    """

    boxes: Tensor
    flips: Tensor
    input_size: tuple[int, int]

    def __post_init__(self) -> None:
        h, w = self.input_size
        b = self.boxes
        if b.ndim != 2 or b.shape[1] != 4 or b.shape[0] < 1 or tuple(self.flips.shape) != (b.shape[0],):
            raise InputError(f"views need boxes (T, 4) and flips (T,); got {tuple(b.shape)} and {tuple(self.flips.shape)}")
        top, left, bh, bw = b.unbind(1)
        if bool((top < 0).any() | (left < 0).any() | (bh < 1).any() | (bw < 1).any() | (top + bh > h).any() | (left + bw > w).any()):
            raise InputError(f"view boxes must lie inside the {h} x {w} image; got {b.tolist()}")

    @property
    def num_views(self) -> int:
        return int(self.boxes.shape[0])


def draw_views(
    num_views: int,
    input_size: tuple[int, int],
    resize_factor: float = 0.54,
    resize_fix: bool = True,
    hflip: bool = True,
    seed: int = 0,
) -> ViewSet:
    """Draw ``num_views`` crop boxes (and flips) once, from ``seed``.

    Area ``resize_factor * H * W`` (or uniform in ``[resize_factor, 1]`` of it when
    ``resize_fix`` is false), aspect ratio log-uniform in ``[3/4, 4/3]``, position uniform;
    the flip of each view is a fair coin when ``hflip``.

    Args:
        num_views: T.
        input_size: ``(H, W)`` of the images.
        resize_factor: the crop's area as a fraction of the image, in ``(0, 1]``.
        resize_fix: fixed area; otherwise drawn from ``[resize_factor, 1]``.
        hflip: draw random horizontal flips.
        seed: the seed of the draw.

    Examples:
        >>> views = draw_views(3, (16, 16), resize_factor=0.25, seed=0)  # crops of about 64 pixels
        >>> views.boxes.tolist(), views.flips.tolist()
        ([[4, 8, 8, 8], [2, 5, 9, 7], [2, 6, 9, 7]], [False, True, True])
    """
    num_views = check_int(num_views, "num_views")
    h, w = (check_int(s, "input_size") for s in input_size)
    if isinstance(resize_factor, bool) or not isinstance(resize_factor, (int, float)) or not 0 < resize_factor <= 1:
        raise InputError(f"resize_factor must be a number in (0, 1]; got {resize_factor!r}")
    g = make_generator(seed)
    u = torch.rand(num_views, 5, generator=g, dtype=torch.float64)
    boxes = []
    for area_u, ratio_u, top_u, left_u, _ in u.tolist():
        scale = resize_factor if resize_fix else resize_factor + (1 - resize_factor) * area_u
        ratio = math.exp(math.log(_RATIO[0]) + (math.log(_RATIO[1]) - math.log(_RATIO[0])) * ratio_u)
        area = scale * h * w
        bh = min(h, max(1, round(math.sqrt(area / ratio))))
        bw = min(w, max(1, round(math.sqrt(area * ratio))))
        boxes.append([min(h - bh, int(top_u * (h - bh + 1))), min(w - bw, int(left_u * (w - bw + 1))), bh, bw])
    flips = (u[:, 4] < 0.5) if hflip else torch.zeros(num_views, dtype=torch.bool)
    return ViewSet(torch.tensor(boxes, dtype=torch.int64), flips, (h, w))


def _resize_matrix(length: int, size: int) -> Tensor:
    """The ``(size, length)`` matrix of a 1-D bilinear antialiased resize from ``length`` to ``size``."""
    # one impulse per row of a (1 x length) image; along the width (an output height of 1
    # keeps the rows apart, while an output width of 1 trips the antialiased kernel)
    impulses = torch.eye(length, dtype=torch.float64).reshape(length, 1, 1, length)
    out = F.interpolate(impulses, size=(1, size), mode="bilinear", align_corners=False, antialias=True)
    return out[:, 0, 0, :].T.float()


def _view_matrices(views: ViewSet, size: int) -> tuple[Tensor, Tensor]:
    h, w = views.input_size
    rows = torch.zeros(views.num_views, size, h)
    cols = torch.zeros(views.num_views, size, w)
    for t, ((top, left, bh, bw), flip) in enumerate(zip(views.boxes.tolist(), views.flips.tolist())):
        rows[t, :, top : top + bh] = _resize_matrix(bh, size)
        cols[t, :, left : left + bw] = _resize_matrix(bw, size)
        if flip:  # the box is on the flipped image: flipped column j is input column W - 1 - j
            cols[t] = cols[t].flip(1)
    return rows, cols


class TestTimeEncoder(nn.Module):
    r"""A model averaged over fixed views and shifts: images -> CSI features.

    For view ``t`` and shift ``k``, the model sees ``shift_k(R_h[t] @ x @ R_w[t]^T)``; the
    projections and the logit of class ``k`` are averaged over the views.

    Args:
        model: returns an object with ``projection`` ``(B, D)`` and ``shift_logits``
            ``(B, >= num_shifts)`` (as :class:`~dia_augment.models.DIAResNet`).
        views: the fixed views (:func:`draw_views`); note a flip is applied *before* the crop,
            i.e. the box is taken on the flipped image.
        output_size: S, the model's input side.
        shift: ``"rotation"`` or ``"cutperm"``.
        num_shifts: K.

    Shape:
        - input: :math:`(B, C, H, W)` with ``(H, W) = views.input_size``
        - output: ``(features, shift_logits)`` of :math:`(K, B, D)` and :math:`(K, B)`

    Examples:
        >>> from dia_augment.models import build_model
        >>> model = build_model("resnet18", in_channels=1, width=2).eval()
        >>> encoder = TestTimeEncoder(model, draw_views(2, (12, 12)), output_size=8)
        >>> features, logits = encoder(torch.rand(3, 1, 12, 12))
        >>> tuple(features.shape), tuple(logits.shape)
        ((4, 3, 128), (4, 3))
    """

    __test__ = False  # not a pytest class

    def __init__(self, model: nn.Module, views: ViewSet, output_size: int, shift: str = "rotation", num_shifts: int = 4) -> None:
        super().__init__()
        self.model = model
        self.input_size = views.input_size
        self.output_size = check_int(output_size, "output_size")
        self.shift = shift
        self.num_shifts = check_int(num_shifts, "num_shifts", maximum=4)
        rows, cols = _view_matrices(views, self.output_size)
        self.register_buffer("row_maps", rows, persistent=False)
        self.register_buffer("col_maps", cols, persistent=False)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        t, k, b = self.row_maps.shape[0], self.num_shifts, images.shape[0]
        s = self.output_size
        x = images.to(self.row_maps.dtype)
        # (T, B, C, S, S): rows then columns of every view
        views = torch.einsum("tsh,bchw,tuw->tbcsu", self.row_maps, x, self.col_maps).reshape(t * b, -1, s, s)
        rows = torch.cat([shift_transform(views, shift, kind=self.shift) for shift in range(k)])
        out = self.model(rows)
        z = out.projection.float().reshape(k, t, b, -1).mean(dim=1)
        logits = out.shift_logits.float().reshape(k, t, b, -1)
        own = torch.stack([logits[shift, :, :, shift] for shift in range(k)])
        return z, own.mean(dim=1)
