"""NT-Xent losses of SimCLR, CSI and DIA, as one masked log-softmax over labelled rows.

Every row of a training batch carries labels: the image it comes from, its shift, its view,
and whether it is a dissolved view. The three objectives differ only in which rows exist:

- SimCLR: two clean views, one shift (no shift transformation);
- CSI: two clean views, each in its K shifted copies (shifted copies are new "classes");
- DIA: CSI plus the dissolved view's K shifted copies.

Anchors are the clean rows. For an anchor, the positive is the row of the same image and the
same shift from the other clean view; the anchor itself is excluded; the dissolved row of the
anchor's own image *with the anchor's shift* is masked out (neither positive nor negative);
every other row, including the other shifts of the same image and its dissolved copies with
other shifts, is a negative. Dissolved rows are never anchors and never positives.

Masking only the same-shift dissolved copy follows the paper's wording ("an anchor's own
dissolved copy") and the reference code's ``shifted_removed`` mode: the dissolved copies with a
different shift are different "classes" under the shift transformation, exactly as the clean
copies with a different shift are, so they stay negatives. The reference's other mode, ``naive``,
removes only the anchor itself: the anchor's own dissolved copy is then one more negative.

Normalisation: the reference (``NT_xent`` / ``NT_xent_neg`` of the paper's code) sums the
anchors' terms and divides by the number of rows, ``chunk * K * B``. For SimCLR and CSI (two
views) that is the mean over the ``2KB`` anchors; for DIA (three views, ``2KB`` clean anchors) it
is ``2/3`` of that mean, so the contrastive term weighs less against the shift loss.
``normalisation="anchor_mean"`` keeps the mean over anchors for every objective.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from dia_augment.errors import InputError
from dia_augment.utils.distributed import all_gather_no_grad, all_gather_with_grad
from dia_augment.utils.checks import check_int

__all__ = ["RowLabels", "make_row_labels", "contrastive_masks", "masked_nt_xent", "contrastive_loss", "LOSS_MODES",
           "LOSS_NORMALISATIONS"]

#: ``shifted_removed``: an anchor's own dissolved copy (same image, same shift) is masked out;
#: ``naive``: only the anchor itself is removed, its own dissolved copy is a negative.
LOSS_MODES = ("shifted_removed", "naive")
#: ``reference``: the sum over anchors divided by the number of rows (``chunk * K * B``), as the
#: paper's code; ``anchor_mean``: the mean over anchors.
LOSS_NORMALISATIONS = ("reference", "anchor_mean")


class RowLabels(NamedTuple):
    """What each row of a training batch is.

    Attributes:
        image: :math:`(N,)` int64 image index (unique across processes).
        shift: :math:`(N,)` int64 shift index.
        view: :math:`(N,)` int64 view index.
        dissolved: :math:`(N,)` bool, True for rows of a dissolved view.
    """

    image: Tensor
    shift: Tensor
    view: Tensor
    dissolved: Tensor

    def to(self, device: torch.device | str) -> RowLabels:
        return RowLabels(*(t.to(device) for t in self))

    def select(self, mask: Tensor) -> RowLabels:
        return RowLabels(*(t[mask] for t in self))


def make_row_labels(batch_size: int, num_shifts: int = 4, num_clean_views: int = 2, num_dissolved_views: int = 0,
                    image_offset: int = 0, device: torch.device | str = "cpu") -> RowLabels:
    """Labels of rows laid out view-major, then shift-major, then image (clean views first).

    Row ``(v * K + k) * B + i`` is view ``v``, shift ``k`` of image ``image_offset + i``.

    Args:
        batch_size: B, images in this process's batch.
        num_shifts: K.
        num_clean_views: clean views (2 for SimCLR, CSI and DIA).
        num_dissolved_views: dissolved views (1 for DIA, else 0).
        image_offset: index of this process's first image in the global batch.
        device: where the labels live.

    Examples:
        >>> labels = make_row_labels(2, num_shifts=2, num_dissolved_views=1)
        >>> labels.image.tolist(), labels.shift.tolist()
        ([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1], [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1])
        >>> labels.dissolved.tolist()[-4:]
        [True, True, True, True]
    """
    views = num_clean_views + num_dissolved_views
    if batch_size < 1 or num_shifts < 1 or num_clean_views < 2 or num_dissolved_views < 0:
        raise InputError("make_row_labels needs batch_size >= 1, num_shifts >= 1, num_clean_views >= 2 and "
                         f"num_dissolved_views >= 0; got {batch_size}, {num_shifts}, {num_clean_views}, "
                         f"{num_dissolved_views}")
    image = torch.arange(batch_size, device=device).repeat(views * num_shifts) + image_offset
    shift = torch.arange(num_shifts, device=device).repeat_interleave(batch_size).repeat(views)
    view = torch.arange(views, device=device).repeat_interleave(num_shifts * batch_size)
    return RowLabels(image, shift, view, view >= num_clean_views)


def contrastive_masks(anchors: RowLabels, keys: RowLabels, loss_mode: str = "shifted_removed") -> tuple[Tensor, Tensor]:
    """Positive and valid (positive or negative) pairs between anchor rows and key rows.

    Args:
        anchors: labels of the :math:`A` anchor rows (clean rows).
        keys: labels of the :math:`N` key rows (every row, all processes).
        loss_mode: one of :data:`LOSS_MODES`; ``"naive"`` keeps the anchor's own dissolved
            copy as a negative.

    Returns:
        ``(positive, valid)``, two :math:`(A, N)` bool masks; ``positive`` implies ``valid``.

    Examples:
        >>> labels = make_row_labels(1, num_shifts=1, num_dissolved_views=1)
        >>> positive, valid = contrastive_masks(labels.select(~labels.dissolved), labels)
        >>> positive.tolist(), valid.tolist()
        ([[False, True, False], [True, False, False]], [[False, True, False], [True, False, False]])
        >>> contrastive_masks(labels.select(~labels.dissolved), labels, "naive")[1].tolist()
        [[False, True, True], [True, False, True]]
    """
    _check_choice("loss_mode", loss_mode, LOSS_MODES)
    same = (anchors.image[:, None] == keys.image[None]) & (anchors.shift[:, None] == keys.shift[None])
    same_view = anchors.view[:, None] == keys.view[None]
    key_dissolved = keys.dissolved[None]
    positive = same & ~same_view & ~key_dissolved
    valid = ~(same & same_view)
    if loss_mode == "shifted_removed":
        valid = valid & ~(same & key_dissolved)
    return positive, valid


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {choices}; got {value!r}")


def masked_nt_xent(anchors: Tensor, keys: Tensor, positive: Tensor, valid: Tensor, temperature: float = 0.5,
                   divisor: int | None = None) -> Tensor:
    r"""NT-Xent as a masked log-softmax over cosine similarities.

    For anchor :math:`a` with positives :math:`P(a)` and valid keys :math:`V(a)`:

    .. math::
        \ell_a = -\frac{1}{|P(a)|} \sum_{p \in P(a)} \log
        \frac{\exp(s_{ap} / \tau)}{\sum_{j \in V(a)} \exp(s_{aj} / \tau)},
        \qquad s_{aj} = \frac{\langle z_a, z_j \rangle}{\|z_a\| \|z_j\|}

    and the loss is :math:`\sum_a \ell_a / \text{divisor}`, the mean over anchors by default.
    Computed in float32 at least.

    Args:
        anchors: anchor projections (normalised here).
        keys: key projections (normalised here).
        positive: which keys are positives of each anchor; every anchor needs at least one.
        valid: which keys enter the denominator (positives included).
        temperature: :math:`\tau > 0`.
        divisor: what the sum over anchors is divided by (default: the anchor count :math:`A`).

    Shape:
        - anchors: :math:`(A, D)`
        - keys: :math:`(N, D)`
        - positive, valid: :math:`(A, N)`
        - output: scalar

    Examples:
        >>> z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> pos = torch.tensor([[False, True, False]]); val = torch.tensor([[False, True, True]])
        >>> round(float(masked_nt_xent(z[:1], z, pos, val, temperature=1.0)), 4)  # -log(e / (e + 1))
        0.3133
    """
    if not temperature > 0:
        raise InputError(f"temperature must be positive; got {temperature}")
    if anchors.ndim != 2 or keys.ndim != 2 or anchors.shape[1] != keys.shape[1]:
        raise InputError(f"anchors (A, D) and keys (N, D) must share D; got {tuple(anchors.shape)} and {tuple(keys.shape)}")
    expected = (anchors.shape[0], keys.shape[0])
    if tuple(positive.shape) != expected or tuple(valid.shape) != expected:
        raise InputError(f"positive and valid must have shape {expected}; got {tuple(positive.shape)} and {tuple(valid.shape)}")
    check_int(divisor, "divisor", error=InputError, allow_none=True)
    counts = positive.sum(1)
    if bool((counts == 0).any()):
        raise InputError("every anchor needs at least one positive")
    dtype = torch.promote_types(anchors.dtype, torch.float32)
    a, k = (F.normalize(x.to(dtype), dim=1) for x in (anchors, keys))
    with torch.autocast(a.device.type, enabled=False):  # a mixed-precision step's autocast would make it bf16
        logits = (a @ k.T / temperature).masked_fill(~valid, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    per_anchor = -log_prob.masked_fill(~positive, 0.0).sum(1) / counts
    return per_anchor.sum() / (anchors.shape[0] if divisor is None else divisor)


def contrastive_loss(projections: Tensor, labels: RowLabels, temperature: float = 0.5,
                     loss_mode: str = "shifted_removed", normalisation: str = "reference") -> Tensor:
    """The amplifying NT-Xent of this process's rows against the rows of every process.

    In one process this is :func:`masked_nt_xent` with the clean rows as anchors and every
    row as a key. With several processes, the keys (and their labels) are gathered from all
    of them with a differentiable all-gather, so the negatives span the global batch; the
    anchors are this process's clean rows, and averaging the processes' gradients gives the
    gradient of the single-process loss on the global batch (with either normalisation, as
    each process divides by its own share).

    With the defaults this is the paper code's value: ``NT_xent`` (SimCLR, CSI) or
    ``NT_xent_neg(mode="shifted_removed")`` (DIA), the sum over the ``2KB`` clean anchors
    divided by the row count ``chunk * K * B``. The reference also adds ``1e-8`` inside the
    logarithm and to the denominator; that changes the value by less than ``1e-7`` relative
    and is not reproduced.

    Args:
        projections: this process's row projections.
        labels: their labels (image indices unique across processes).
        temperature: :math:`\\tau`.
        loss_mode: ``"shifted_removed"`` (an anchor's own dissolved copy is neither positive nor
            negative) or ``"naive"`` (only the anchor itself is removed); see :data:`LOSS_MODES`.
        normalisation: ``"reference"`` (sum over anchors / row count) or ``"anchor_mean"``
            (mean over anchors); the two agree for SimCLR and CSI.

    Shape:
        - projections: :math:`(N, D)`
        - output: scalar

    Examples:
        >>> labels = make_row_labels(4, num_shifts=4, num_dissolved_views=1)
        >>> z = torch.randn(48, 8, generator=torch.Generator().manual_seed(0))
        >>> loss = contrastive_loss(z, labels)
        >>> bool(loss > 0)
        True
        >>> # DIA: 32 clean anchors of 48 rows
        >>> torch.allclose(loss, contrastive_loss(z, labels, normalisation="anchor_mean") * 32 / 48)
        True
    """
    _check_choice("loss_mode", loss_mode, LOSS_MODES)
    _check_choice("normalisation", normalisation, LOSS_NORMALISATIONS)
    if projections.shape[0] != labels.image.shape[0]:
        raise InputError(f"{projections.shape[0]} projections but {labels.image.shape[0]} row labels")
    keys = all_gather_with_grad(projections)
    key_labels = RowLabels(*(all_gather_no_grad(t) for t in labels))
    clean = ~labels.dissolved
    positive, valid = contrastive_masks(labels.select(clean), key_labels, loss_mode)
    divisor = projections.shape[0] if normalisation == "reference" else None
    return masked_nt_xent(projections[clean], keys, positive, valid, temperature, divisor)
