r"""A label-free selection score: how well a detector tells held-out normal images from themselves with pasted lesions.

Choosing a setting (a crop scale, a dissolver, a number of epochs) on the test set's AUROC makes
every figure measured with that setting optimistic. Without anomalies to choose on, a detector
can still be asked to find *synthetic* ones: small lesions pasted into normal images it was not
trained on (:func:`~dia_augment.data.add_lesions`, the lesion probe's twins). The selection score
is the AUROC of those held-out normal images against their lesioned twins:

.. math::

    \text{selection}(D) = \text{AUROC}\bigl(\{a_D(x_i)\}_{\text{normal}},\ \{a_D(\tilde x_i)\}_{\text{lesioned}}\bigr),

with :math:`a_D` the detector's anomaly score and :math:`\tilde x_i` image :math:`x_i` with lesions.
It uses no label of any real image: the held-out normals are normal by construction (a calibration
hold-out of the normal training images), and the lesions are synthetic. It is a proxy: it ranks
settings by how well they see small bright or dark spots, not by how well they see the real
anomalies; ``docs/evidence.md`` reports how its ranking agreed with the test ranking.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dia_augment.data.embedded import LESION_OPACITY, add_lesions
from dia_augment.score.metrics import auroc
from dia_augment.utils.checks import check_images

__all__ = ["selection_score"]


def selection_score(
    detector: Any,
    normal_images: Tensor,
    seed: int = 0,
    num_lesions: tuple[int, int] = (2, 6),
    lesion_sigma: tuple[float, float] | None = None,
    lesion_opacity: tuple[float, float] = LESION_OPACITY,
) -> dict[str, Any]:
    """The AUROC of held-out normal images against the same images with pasted lesions.

    Args:
        detector: a fitted :class:`~dia_augment.detect.AnomalyDetector` (anything with ``score``).
        normal_images: normal images the detector's model was not trained on (a calibration hold-out).
        seed: the seed of the lesions.
        num_lesions: the inclusive range of lesions per image.
        lesion_sigma: the lesions' size range in pixels (default: :func:`~dia_augment.data.add_lesions`'s).
        lesion_opacity: the lesions' contrast range.

    Returns:
        ``selection_auroc``, the number of images, the lesion settings, and the mean anomaly score
        of either group.

    Shape:
        - normal_images: :math:`(N, C, H, W)` in ``[0, 1]``

    Examples:
        >>> from dia_augment.models import build_model
        >>> from dia_augment.score import ScoreConfig
        >>> from dia_augment.detect import AnomalyDetector
        >>> g = torch.Generator().manual_seed(0)
        >>> det = AnomalyDetector.fit(build_model("resnet18", 1, 2), torch.rand(6, 1, 16, 16, generator=g),
        ...                           config=ScoreConfig(num_views=1), progress=False)
        >>> result = selection_score(det, torch.rand(4, 1, 16, 16, generator=g))
        >>> 0.0 <= result["selection_auroc"] <= 1.0, result["num_images"]
        (True, 4)
    """
    check_images(normal_images, name="normal_images")
    lesioned, _ = add_lesions(normal_images, generator=seed, num_lesions=num_lesions, lesion_sigma=lesion_sigma,
                              lesion_opacity=lesion_opacity)
    clean, sick = detector.score(normal_images), detector.score(lesioned)
    n = normal_images.shape[0]
    labels = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    return {
        "selection_auroc": auroc(torch.cat([clean, sick]), labels),
        "num_images": int(n),
        "lesions": {"num": list(num_lesions), "sigma": None if lesion_sigma is None else list(lesion_sigma),
                    "opacity": list(lesion_opacity), "seed": seed},
        "mean_score_normal": float(clean.mean()),
        "mean_score_lesioned": float(sick.mean()),
    }
