r"""Contaminated training sets: anomalous images mixed into the normal training images.

A one-class training set is rarely clean in practice. To measure how a method copes, the
training set of :func:`~dia_augment.data.load_one_class` can hold a share ``r`` of anomalies
(``contamination_ratio``, ``--contamination-ratio``), as in the reference code of CSI and DIA
(``--contamination_ratio``):

- to the ``n`` normal training images, ``int(r * n / (1 - r))`` anomalous images are added, so
  that anomalies are a fraction ``r`` of the training set (up to the rounding down);
- they are drawn without replacement from the anomalous images of the **training** split (the
  other classes' training share, or the anomalous classes of the official train folder); the
  test split is never changed and never drawn from;
- the draw is a ``torch.randperm`` of those images seeded with ``derive_seed(seed, "contamination")``
  (:func:`~dia_augment.data.split.derive_seed`; ``seed`` is the data seed), the drawn images
  keep their order in the split and follow the normal ones, which keep theirs;
- they keep their labels (1) and classes, so ``data.labels`` says which images are anomalous.

The embedded set has no finite pool: its training anomalies are rendered (fundus images with
lesions from a stream of their own, see :mod:`dia_augment.data.embedded`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dia_augment.data.container import ANOMALY, NORMAL
from dia_augment.data.split import derive_seed
from dia_augment.errors import ConfigError, DataError

__all__ = ["check_contamination_ratio", "contamination_count", "contaminated_indices"]


def check_contamination_ratio(ratio: float) -> float:
    """Check a contamination ratio: a number in ``[0, 1)``; returns it as a float.

    Examples:
        >>> check_contamination_ratio(0.1)
        0.1
    """
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise ConfigError(f"contamination_ratio must be a number in [0, 1); got {type(ratio).__name__}")
    if not 0.0 <= float(ratio) < 1.0:
        raise ConfigError(
            f"contamination_ratio must be in [0, 1) (the share of anomalies in the training set); got {ratio}"
        )
    return float(ratio)


def contamination_count(ratio: float, num_normal: int) -> int:
    """The number of anomalous images added to ``num_normal`` normal ones: ``int(r * n / (1 - r))``.

    Computed as the reference code computes it, in floating point, then rounded down.

    Args:
        ratio: the share of anomalies in the training set, in ``[0, 1)``.
        num_normal: the number of normal training images.

    Examples:
        >>> contamination_count(0.1, 600), contamination_count(0.5, 7), contamination_count(0.0, 600)
        (66, 7, 0)
    """
    ratio = check_contamination_ratio(ratio)
    if isinstance(num_normal, bool) or not isinstance(num_normal, int) or num_normal < 0:
        raise ConfigError(f"num_normal must be a non-negative int; got {num_normal!r}")
    return int(ratio * num_normal / (1 - ratio))


def contaminated_indices(labels: Tensor, ratio: float, seed: int, where: str = "the data") -> Tensor:
    """The items of a contaminated training set: every normal item, then the drawn anomalous ones.

    Args:
        labels: the labels of the training split's items, normal and anomalous (0 / 1).
        ratio: the share of anomalies, in ``[0, 1)``; ``int(r * n / (1 - r))`` are drawn for ``n``
            normal items.
        seed: the data seed; the draw is seeded with ``derive_seed(seed, "contamination")``.
        where: the data source, for the error messages.

    Returns:
        int64 indices into ``labels``: the normal items in order, then the drawn anomalous items
        in order.

    Shape:
        - labels: :math:`(N,)`
        - output: :math:`(n + int(r n / (1 - r)),)`

    Raises:
        ConfigError: ``ratio`` outside ``[0, 1)``.
        DataError: ``ratio > 0`` but the split holds no anomalous item, or fewer than needed
            (the message says how many there are).

    Examples:
        >>> labels = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1])
        >>> index = contaminated_indices(labels, 0.25, seed=0)
        >>> index[:4].tolist(), labels[index].tolist()
        ([0, 2, 5, 6], [0, 0, 0, 0, 1])
    """
    ratio = check_contamination_ratio(ratio)
    normal = torch.nonzero(labels == NORMAL).flatten()
    if ratio == 0.0:
        return normal
    anomalous = torch.nonzero(labels == ANOMALY).flatten()
    needed = contamination_count(ratio, len(normal))
    if len(anomalous) == 0:
        raise DataError(
            f"the train split of {where} holds no anomalous images to contaminate it with (contamination_ratio {ratio})"
        )
    if needed > len(anomalous):
        raise DataError(
            f"contamination_ratio {ratio} needs {needed} anomalous training images (int(r n / (1 - r)) for "
            f"n = {len(normal)} normal ones) but the train split of {where} holds only {len(anomalous)}"
        )
    generator = torch.Generator().manual_seed(derive_seed(seed, "contamination"))
    drawn = torch.randperm(len(anomalous), generator=generator)[:needed].sort().values
    return torch.cat([normal, anomalous[drawn]])
