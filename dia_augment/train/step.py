"""One training step's data and loss: views, dissolving, shifts, SimCLR augmentation, objective."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dia_augment.augmentation.simclr import SimCLRAugmentation
from dia_augment.filters.base import Dissolver
from dia_augment.shift.transforms import expand_shifts
from dia_augment.train.losses import RowLabels, contrastive_loss, make_row_labels

__all__ = ["TrainingRows", "LossParts", "random_hflip", "dissolve_batch", "build_rows", "training_loss"]


class TrainingRows(NamedTuple):
    """The rows of one step and what each row is (see :func:`make_row_labels` for the layout)."""

    images: Tensor
    labels: RowLabels


class LossParts(NamedTuple):
    """The total loss and its two terms."""

    total: Tensor
    contrastive: Tensor
    shift: Tensor


def random_hflip(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Flip each image left-right with probability 1/2 (one draw per image).

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> x = torch.rand(4, 1, 2, 2)
        >>> y = random_hflip(x, torch.Generator().manual_seed(0))
        >>> all(torch.equal(y[i], x[i]) or torch.equal(y[i], x[i].flip(-1)) for i in range(4))
        True
    """
    gen_device = generator.device if generator is not None else "cpu"
    flip = torch.rand(images.shape[0], generator=generator, device=gen_device) < 0.5
    return torch.where(flip.to(images.device).view(-1, 1, 1, 1), images.flip(-1), images)


@torch.no_grad()
def dissolve_batch(
    images: Tensor,
    dissolver: Dissolver,
    step_range: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Dissolve a batch once, with a step per image drawn uniformly from ``step_range``.

    Runs without gradients; the dissolver is not trained.

    Args:
        images: the clean batch in ``[0, 1]``.
        dissolver: any :class:`~dia_augment.filters.base.Dissolver`.
        step_range: half-open ``(low, high)``; ``None`` uses ``dissolver.default_step_range``.
        generator: draws the steps (and the dissolver's noise, if it needs any).

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> from dia_augment.filters.base import ResizeDissolving
        >>> x = torch.rand(2, 1, 8, 8)
        >>> torch.equal(dissolve_batch(x, ResizeDissolving(8)), x)
        True
    """
    low, high = step_range if step_range is not None else dissolver.default_step_range
    if not 0 <= low < high <= dissolver.num_train_timesteps:
        raise ValueError(f"step_range ({low}, {high}) must lie within [0, {dissolver.num_train_timesteps}]")
    gen_device = generator.device if generator is not None else "cpu"
    t = torch.randint(low, high, (images.shape[0],), generator=generator, device=gen_device)
    return dissolver(images, t.to(images.device), generator=generator)


def build_rows(
    images: Tensor,
    augment: SimCLRAugmentation,
    num_shifts: int = 4,
    shift: str = "rotation",
    dissolver: Dissolver | None = None,
    step_range: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
    image_offset: int = 0,
) -> TrainingRows:
    """The rows of one step: two h-flipped views (plus a dissolved one), K shifts each, SimCLR-augmented.

    The batch is dissolved once, before the shifts, with a step per image (the reference code
    dissolves each shifted copy separately, with one step for the whole batch). Each view is
    h-flipped independently, expanded into its ``num_shifts`` shifted copies, and every row then
    gets its own SimCLR augmentation parameters. ``num_shifts = 1`` gives SimCLR's two views.

    Args:
        images: this process's clean batch in ``[0, 1]``.
        augment: the SimCLR augmentation (its output size is the model's input size).
        num_shifts: K.
        shift: ``"rotation"`` or ``"cutperm"``.
        dissolver: the dissolver of a DIA step, or ``None`` for SimCLR / CSI.
        step_range: dissolving step range (``None``: the dissolver's default).
        generator: every random draw of the step comes from it.
        image_offset: index of this process's first image in the global batch.

    Shape:
        - images: :math:`(B, C, H, W)`
        - output images: :math:`(V K B, C, S, S)`, V = 2 or 3

    Examples:
        >>> aug = SimCLRAugmentation(4)
        >>> rows = build_rows(torch.rand(2, 1, 8, 8), aug, generator=torch.Generator().manual_seed(0))
        >>> tuple(rows.images.shape), rows.labels.shift.tolist()[:4]
        ((16, 1, 4, 4), [0, 0, 1, 1])
    """
    views = [random_hflip(images, generator), random_hflip(images, generator)]
    if dissolver is not None:
        views.append(random_hflip(dissolve_batch(images, dissolver, step_range, generator), generator))
    shifted = torch.cat([expand_shifts(v, shift, num_shifts)[0] for v in views])
    labels = make_row_labels(
        images.shape[0], num_shifts, 2, len(views) - 2, image_offset=image_offset, device=images.device
    )
    return TrainingRows(augment(shifted, generator=generator), labels)


def training_loss(
    model: nn.Module,
    rows: TrainingRows,
    temperature: float = 0.5,
    shift_loss_weight: float = 1.0,
    shift_loss_on_dissolved: bool = False,
) -> LossParts:
    """NT-Xent on the rows' projections plus the shift head's cross-entropy.

    The shift term is skipped when there is a single shift (SimCLR). It covers the clean rows,
    or every row with ``shift_loss_on_dissolved``. With several processes the contrastive
    negatives span the global batch (see :func:`~dia_augment.train.losses.contrastive_loss`).

    Args:
        model: returns a :class:`~dia_augment.models.ModelOutput` (projection and shift logits).
        rows: from :func:`build_rows`.
        temperature: NT-Xent temperature.
        shift_loss_weight: weight of the shift cross-entropy.
        shift_loss_on_dissolved: include the dissolved rows in the shift cross-entropy.

    Examples:
        >>> from dia_augment.models import DIAResNet
        >>> model = DIAResNet("cifar", 1, width=2)
        >>> rows = build_rows(torch.rand(2, 1, 8, 8), SimCLRAugmentation(8), generator=torch.Generator().manual_seed(0))
        >>> parts = training_loss(model, rows)
        >>> bool(parts.total > parts.contrastive > 0)
        True
    """
    out = model(rows.images)
    contrastive = contrastive_loss(out.projection, rows.labels, temperature)
    if int(rows.labels.shift.max()) == 0:
        shift = contrastive.new_zeros(())
    else:
        keep = torch.ones_like(rows.labels.dissolved) if shift_loss_on_dissolved else ~rows.labels.dissolved
        logits = out.shift_logits[keep]
        shift = F.cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)), rows.labels.shift[keep])
    return LossParts(contrastive + shift_loss_weight * shift, contrastive, shift)
