"""Anomaly scores (CSI and its ablations) and one-class detection metrics."""

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
from dia_augment.score.metrics import aupr, auroc, evaluate, fpr_at_tpr, per_class_auroc, save_roc_curve
from dia_augment.score.scorer import CSIScorer

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "SCORE_METHODS",
    "CSIScorer",
    "aupr",
    "check_training_statistics",
    "auroc",
    "csi_score",
    "csi_weights",
    "degenerate_shifts",
    "evaluate",
    "fpr_at_tpr",
    "max_similarity",
    "per_class_auroc",
    "resolve_score_method",
    "save_roc_curve",
    "score_by_method",
    "shift_score",
    "simclr_score",
]
