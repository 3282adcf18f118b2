"""Anomaly maps (where a score comes from) and their measurement against known lesions.

:func:`anomaly_map` maps a fitted :class:`~dia_augment.detect.AnomalyDetector`'s score (also
:meth:`AnomalyDetector.anomaly_map`); the functions of :mod:`~dia_augment.localize.maps` take
any differentiable score.
"""

from dia_augment.localize.detector import anomaly_map, detector_score_fn
from dia_augment.localize.maps import MAP_METHODS, dissolve_residual_map, gradient_map, occlusion_map
from dia_augment.localize.metrics import pixel_auroc, pointing_game

__all__ = [
    "MAP_METHODS",
    "anomaly_map",
    "detector_score_fn",
    "gradient_map",
    "occlusion_map",
    "dissolve_residual_map",
    "pixel_auroc",
    "pointing_game",
]
