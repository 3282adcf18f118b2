"""One training step's data and loss: views, dissolving, shifts, SimCLR augmentation, objective."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import ContextManager, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dia_augment.augmentation.cache import CachedDissolving
from dia_augment.augmentation.random_dissolving import RandomDissolving
from dia_augment.augmentation.simclr import SimCLRAugmentation
from dia_augment.errors import InputError
from dia_augment.shift.views import shifted_views
from dia_augment.train.losses import RowLabels, contrastive_loss, make_row_labels

__all__ = ["TrainingRows", "LossParts", "build_rows", "training_loss"]


class TrainingRows(NamedTuple):
    """The rows of one step and what each row is (see :func:`make_row_labels` for the layout)."""

    images: Tensor
    labels: RowLabels


class LossParts(NamedTuple):
    """The total loss and its two terms."""

    total: Tensor
    contrastive: Tensor
    shift: Tensor


def build_rows(images: Tensor, augment: SimCLRAugmentation, num_shifts: int = 4, shift: str = "rotation",
               dissolve: RandomDissolving | None = None, generator: torch.Generator | None = None,
               image_offset: int = 0, dissolve_all_views: bool = False,
               dissolve_context: Callable[[], ContextManager] | None = None,
               indices: Tensor | None = None) -> TrainingRows:
    """The rows of one step: two h-flipped views (plus a dissolved one), K shifts each, SimCLR-augmented.

    The batch is dissolved once, before the shifts, by ``dissolve`` (a ``RandomDissolving`` with
    ``p = 1``, which draws a step per image; the reference code dissolves each shifted copy
    separately, with one step for the whole batch). Each view goes through the view builder
    :func:`~dia_augment.shift.shifted_views` (its own h-flips, then its ``num_shifts`` shifted
    copies), and every row then gets its own SimCLR augmentation parameters. ``num_shifts = 1``
    gives SimCLR's two views.

    Args:
        images: this process's clean batch in ``[0, 1]``.
        augment: the SimCLR augmentation (its output size is the model's input size).
        num_shifts: K.
        shift: ``"rotation"`` or ``"cutperm"``.
        dissolve: the dissolving augmentation of a DIA step (run without gradients): a
            ``RandomDissolving(p=1)`` or a ``CachedDissolving``; ``None`` for SimCLR / CSI.
        generator: the flips and the SimCLR augmentation draw from it (give ``dissolve`` the
            same generator to draw every random number of the step from one stream).
        image_offset: index of this process's first image in the global batch.
        dissolve_all_views: dissolve the two clean views too (each with its own draw), as the
            paper's code does for its blur baselines; the rows keep their clean / dissolved roles.
        dissolve_context: a context the dissolves run in (the training step's precision), or ``None``.
        indices: the images' data-set indices, which a
            :class:`~dia_augment.augmentation.cache.CachedDissolving` reads the views of.

    Shape:
        - images: :math:`(B, C, H, W)`
        - output images: :math:`(V K B, C, S, S)`, V = 2 or 3

    Examples:
        >>> aug = SimCLRAugmentation(4)
        >>> rows = build_rows(torch.rand(2, 1, 8, 8), aug, generator=torch.Generator().manual_seed(0))
        >>> tuple(rows.images.shape), rows.labels.shift.tolist()[:4]
        ((16, 1, 4, 4), [0, 0, 1, 1])
    """
    views = [images, images]
    if dissolve is not None:
        if isinstance(dissolve, CachedDissolving):
            if indices is None:
                raise InputError("a CachedDissolving needs the images' data-set indices (indices=)")
            dissolve = functools.partial(dissolve, indices=indices)
        elif dissolve.p != 1.0:
            raise InputError(f"the dissolved view needs RandomDissolving(p=1); got p={dissolve.p}")
        with torch.no_grad(), (dissolve_context or contextlib.nullcontext)():
            if dissolve_all_views:
                views = [dissolve(images), dissolve(images)]
            views.append(dissolve(images))
    elif dissolve_all_views:
        raise InputError("dissolve_all_views needs a dissolve augmentation")
    shifted = torch.cat([shifted_views(v, shift, num_shifts, generator) for v in views])
    labels = make_row_labels(images.shape[0], num_shifts, 2, len(views) - 2, image_offset, images.device)
    return TrainingRows(augment(shifted, generator=generator), labels)


def training_loss(model: nn.Module, rows: TrainingRows, temperature: float = 0.5, shift_loss_weight: float = 1.0,
                  shift_loss_on_dissolved: bool = True, loss_mode: str = "shifted_removed",
                  loss_normalisation: str = "reference") -> LossParts:
    """NT-Xent on the rows' projections plus the shift head's cross-entropy.

    The shift term is skipped when there is a single shift (SimCLR). It covers every row, the
    dissolved ones included, as in the paper's code, or the clean rows only without
    ``shift_loss_on_dissolved``. With several processes the contrastive negatives span the
    global batch (see :func:`~dia_augment.train.losses.contrastive_loss`).

    Args:
        model: returns a :class:`~dia_augment.models.ModelOutput` (projection and shift logits).
        rows: from :func:`build_rows`.
        temperature: NT-Xent temperature.
        shift_loss_weight: weight of the shift cross-entropy.
        shift_loss_on_dissolved: include the dissolved rows in the shift cross-entropy.
        loss_mode: ``"shifted_removed"`` or ``"naive"`` (see :func:`~dia_augment.train.losses.contrastive_loss`).
        loss_normalisation: ``"reference"`` or ``"anchor_mean"``.

    Examples:
        >>> from dia_augment.models import DIAResNet
        >>> model = DIAResNet("cifar", 1, width=2)
        >>> rows = build_rows(torch.rand(2, 1, 8, 8), SimCLRAugmentation(8), generator=torch.Generator().manual_seed(0))
        >>> parts = training_loss(model, rows)
        >>> bool(parts.total > parts.contrastive > 0)
        True
    """
    out = model(rows.images)  # under a step's autocast: the outputs to float32 first, as Accelerate's mixed precision
    projection, shift_logits = (x.to(torch.promote_types(x.dtype, torch.float32)) for x in (out.projection, out.shift_logits))
    contrastive = contrastive_loss(projection, rows.labels, temperature, loss_mode, loss_normalisation)
    if int(rows.labels.shift.max()) == 0:
        shift = contrastive.new_zeros(())
    else:
        keep = torch.ones_like(rows.labels.dissolved) if shift_loss_on_dissolved else ~rows.labels.dissolved
        shift = F.cross_entropy(shift_logits[keep], rows.labels.shift[keep])
    return LossParts(contrastive + shift_loss_weight * shift, contrastive, shift)
