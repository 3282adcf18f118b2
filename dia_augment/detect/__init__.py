"""Use a trained model on images: :class:`AnomalyDetector` (the one scorer), threshold calibration, export.

Scores here are **anomaly scores: higher = more anomalous** (the negative of CSI's normality
score); an image is anomalous when its score is above the calibrated threshold.
"""

from dia_augment.detect.build import build_detector, calibration_indices, split_calibration
from dia_augment.detect.calibration import CALIBRATION_MODES, Threshold, calibrate_threshold
from dia_augment.detect.detector import AnomalyDetector, Prediction
from dia_augment.detect.reference import anomaly_score_numpy, score_statistics

__all__ = [
    "CALIBRATION_MODES",
    "AnomalyDetector",
    "Prediction",
    "Threshold",
    "anomaly_score_numpy",
    "build_detector",
    "calibration_indices",
    "calibrate_threshold",
    "score_statistics",
    "split_calibration",
]
