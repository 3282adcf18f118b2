r"""The test-time encoder: a model averaged over fixed views and shifts, images -> CSI features.

For view ``t`` and shift ``k`` of a :class:`~dia_augment.score.views.ViewSet`, an image ``x``
becomes the row

- ``"library"`` augmentation: ``gray(jitter(crop(shift_k(flip(x)))))``, kornia's jitter;
- ``"reference"`` augmentation: ``crop(gray(jitter(shift_k(flip(x)))))``, the paper code's
  jitter (computed as ``crop(shift_k(flip(gray(jitter(x)))))``: flips and shifts move pixels and
  the jitter's only non-pointwise part, the contrast's per-channel mean, does not depend on where
  a pixel is);

the crop is the affine-grid crop of the view's box as two fixed matrices, ``R_h x R_w^T``. The
model sees the ``T K B`` rows of a batch; the projections ``z`` and the logit of class ``k`` are
averaged over the views:

.. math::

    z_k(x) = \frac{1}{T} \sum_t f(v_{t,k}(x)), \qquad l_k(x) = \frac{1}{T} \sum_t g_k(v_{t,k}(x)).

The encoder is a fixed function of the image made of matrix products, flips, shifts, pointwise
colour operations and the model: an image's features do not depend on the batch it comes in, and
the whole encoder exports to ONNX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from dia_augment.augmentation.colour import affine_crop_matrices, colour_view
from dia_augment.errors import InputError, InputTypeError
from dia_augment.score.views import ViewSet
from dia_augment.shift import shift_transform
from dia_augment.shift.transforms import SHIFT_KINDS
from dia_augment.utils.checks import check_int, check_images

__all__ = ["TestTimeEncoder"]


@dataclass(frozen=True)
class _ViewPlan:
    """One view and shift's draws as Python values."""

    flip: bool
    jitter: tuple[float, float, float, float] | None
    order: list[int]
    gray: bool

    @classmethod
    def of(cls, views: ViewSet, t: int, k: int) -> _ViewPlan:
        jitter = tuple(float(v) for v in views.jitter[t, k]) if bool(views.jitter_apply[t, k]) else None
        return cls(bool(views.flips[t, k]), jitter, [int(i) for i in views.order[t]], bool(views.gray[t, k]))


class TestTimeEncoder(nn.Module):
    r"""A model averaged over fixed views and shifts: images -> ``(features, shift_logits)``.

    Args:
        model: returns an object with ``projection`` ``(B, D)`` and ``shift_logits``
            ``(B, >= K)`` (as :class:`~dia_augment.models.DIAResNet`).
        views: the fixed views (:func:`~dia_augment.score.views.draw_views`).
        output_size: S, the model's input side.
        shift: ``"rotation"`` or ``"cutperm"``, the test-time shifts.

    Shape:
        - input: :math:`(B, C, H, W)` with ``(H, W) = views.input_size`` and ``C = views.channels``
        - output: ``(features, shift_logits)`` of :math:`(K, B, D)` and :math:`(K, B)`, float32

    Examples:
        >>> from dia_augment.models import build_model
        >>> from dia_augment.score.views import draw_views
        >>> model = build_model("resnet18", in_channels=1, width=2).eval()
        >>> encoder = TestTimeEncoder(model, draw_views(2, (12, 12), channels=1), output_size=8)
        >>> features, logits = encoder(torch.rand(3, 1, 12, 12))
        >>> tuple(features.shape), tuple(logits.shape)
        ((4, 3, 128), (4, 3))
    """

    __test__ = False  # not a pytest class

    def __init__(self, model: nn.Module, views: ViewSet, output_size: int, shift: str = "rotation") -> None:
        super().__init__()
        if shift not in SHIFT_KINDS:
            raise InputError(f"shift must be one of {SHIFT_KINDS}; got {shift!r}")
        h, w = views.input_size
        if shift == "rotation" and views.num_shifts > 1 and h != w:
            raise InputError(f"rotation views need square images; got {h} x {w} (load them with a square size)")
        self.model = model
        self.views = views
        self.output_size = check_int(output_size, "output_size", error=InputError)
        self.shift = shift
        rows, cols = [], []
        for box in views.boxes.reshape(-1, 4):
            r, c = affine_crop_matrices(box, (h, w), self.output_size)
            rows.append(r)
            cols.append(c)
        t, k, s = views.num_views, views.num_shifts, self.output_size
        self.register_buffer("row_maps", torch.stack(rows).float().reshape(t, k, s, h), persistent=False)
        self.register_buffer("col_maps", torch.stack(cols).float().reshape(t, k, s, w), persistent=False)
        # every draw as Python values, so that the forward has no data-dependent branch (it exports and compiles)
        self._plan = [[_ViewPlan.of(views, ti, ki) for ki in range(k)] for ti in range(t)]

    @property
    def input_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images the encoder takes."""
        return self.views.input_size

    @property
    def num_shifts(self) -> int:
        """K."""
        return self.views.num_shifts

    def check_input(self, images: object, name: str = "images") -> Tensor:
        """Check images for this encoder: ``views.channels`` channels, ``views.input_size``, in ``[0, 1]``.

        Raises:
            InputError: another channel count or size (the message says how to convert), values
                outside ``[0, 1]``, NaN; ``InputTypeError``: not a float tensor.
        """
        check_images(images, name=name)
        (c, h, w), channels, size = images.shape[1:], self.views.channels, self.input_size
        if c != channels:
            raise InputError(f"{name} have {c} channel(s) but the detector was trained on {channels}-channel images "
                             "(convert them first, e.g. dia-augment predict --convert)")
        if (h, w) != tuple(size):
            raise InputError(f"{name} are {h} x {w} pixels but the detector takes {size[0]} x {size[1]} "
                             "(resize them first, e.g. dia-augment predict --convert)")
        return images

    def _colour(self, x: Tensor, plan: _ViewPlan) -> Tensor:
        """The view's colour jitter and grayscale of ``x`` (every row the same draws)."""
        return colour_view(x, plan.jitter, plan.order, plan.gray, self.views.augmentation)

    def rows(self, images: Tensor) -> Tensor:
        """The ``T K B`` rows the model sees, view-major, then shift, then image.

        Shape:
            - images: :math:`(B, C, H, W)`
            - output: :math:`(T K B, C, S, S)`
        """
        x = images.to(self.row_maps.dtype)
        reference = self.views.augmentation == "reference"
        out = []
        for t, plans in enumerate(self._plan):
            for k, plan in enumerate(plans):
                row = self._colour(x, plan) if reference else x
                row = row.flip(-1) if plan.flip else row
                row = shift_transform(row, k, kind=self.shift) if k else row
                row = torch.einsum("sh,bchw,uw->bcsu", self.row_maps[t, k], row, self.col_maps[t, k])
                out.append(row if reference else self._colour(row.clamp(0, 1), plan))
        return torch.cat(out)

    def forward(self, images: Tensor, forward: Callable[[Tensor], Any] | None = None) -> tuple[Tensor, Tensor]:
        """The view-averaged ``(features, shift_logits)``; ``forward`` runs the model on the rows (default: the model)."""
        t, k, b = self.views.num_views, self.views.num_shifts, images.shape[0]
        out = (forward or self.model)(self.rows(images))
        z, logits = getattr(out, "projection", None), getattr(out, "shift_logits", None)
        if not isinstance(z, Tensor) or not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[1] < k:
            raise InputTypeError(f"the model must return an object with a projection (B, D) and shift_logits (B, >= {k}) "
                                 f"(as DIAResNet's ModelOutput); got {type(out).__name__}")
        z = z.float().reshape(t, k, b, -1).mean(dim=0)
        logits = logits.float().reshape(t, k, b, -1)
        own = torch.stack([logits[:, shift, :, shift] for shift in range(k)])
        return z, own.mean(dim=1)
