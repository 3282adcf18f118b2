"""Use a trained model on new images: :class:`AnomalyDetector`, threshold calibration, export.

Scores here are **anomaly scores: higher = more anomalous** (the negative of CSI's normality
score); an image is anomalous when its score is above the calibrated threshold.
"""

from dia_augment.detect.build import build_detector, split_calibration
from dia_augment.detect.calibration import CALIBRATION_MODES, Threshold, calibrate_threshold
from dia_augment.detect.detector import AnomalyDetector, Prediction
from dia_augment.detect.reference import anomaly_score_numpy, score_statistics
from dia_augment.detect.views import TestTimeEncoder, ViewSet, draw_views

__all__ = [
    "CALIBRATION_MODES",
    "AnomalyDetector",
    "Prediction",
    "TestTimeEncoder",
    "Threshold",
    "ViewSet",
    "anomaly_score_numpy",
    "build_detector",
    "calibrate_threshold",
    "draw_views",
    "score_statistics",
    "split_calibration",
]
