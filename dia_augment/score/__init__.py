"""The one score: CSI and its ablations as anomaly scores (higher = more anomalous), the fixed
test-time views and encoder, the score's settings, and one-class detection metrics.

The scorer that uses them on images is :class:`~dia_augment.detect.AnomalyDetector`.
"""

from dia_augment.score.config import ScoreConfig
from dia_augment.score.csi import (
    DEFAULT_CHUNK_SIZE,
    SCORE_METHODS,
    check_training_statistics,
    csi_score,
    csi_weights,
    degenerate_shifts,
    max_similarity,
    resolve_score_method,
    score_by_method,
    shift_score,
    simclr_score,
)
from dia_augment.score.encoder import TestTimeEncoder
from dia_augment.score.metrics import (
    POSITIVE_CLASS,
    aupr,
    auroc,
    best_f1,
    evaluate,
    fpr_at_tpr,
    per_class_auroc,
    save_roc_curve,
    save_score_histogram,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
)
from dia_augment.score.views import AUGMENTATIONS, ViewSet, draw_views

__all__ = [
    "AUGMENTATIONS",
    "DEFAULT_CHUNK_SIZE",
    "POSITIVE_CLASS",
    "SCORE_METHODS",
    "ScoreConfig",
    "TestTimeEncoder",
    "ViewSet",
    "aupr",
    "auroc",
    "best_f1",
    "check_training_statistics",
    "csi_score",
    "csi_weights",
    "degenerate_shifts",
    "draw_views",
    "evaluate",
    "fpr_at_tpr",
    "max_similarity",
    "per_class_auroc",
    "resolve_score_method",
    "save_roc_curve",
    "save_score_histogram",
    "score_by_method",
    "sensitivity_at_specificity",
    "shift_score",
    "simclr_score",
    "specificity_at_sensitivity",
]
