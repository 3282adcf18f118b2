"""Anomaly maps (where a score comes from) and their measurement against known lesions."""

from dia_augment.localize.maps import MAP_METHODS, dissolve_residual_map, gradient_map, occlusion_map
from dia_augment.localize.metrics import pixel_auroc, pointing_game

__all__ = ["MAP_METHODS", "gradient_map", "occlusion_map", "dissolve_residual_map", "pixel_auroc", "pointing_game"]
