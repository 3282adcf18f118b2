"""Choosing the decision threshold of an anomaly score (higher = more anomalous).

An image is called **anomalous when its score is strictly above the threshold**. Three ways to
choose it from a held-out calibration set (never the test set):

- ``"normal_quantile"`` (normal images only, the common case since anomalies are rare): the
  smallest calibration score that keeps at least ``target`` (e.g. 0.95) of the normal images at
  or below it, so at most ``1 - target`` of them are false alarms;
- ``"sensitivity"`` (needs labelled anomalies): the highest threshold that still calls at least
  ``target`` of the anomalies;
- ``"f1"`` (needs labelled anomalies): the threshold of the best F1 score (anomaly = positive);
  ties go to the higher threshold (fewer false alarms).

The modes that need anomalies refuse a calibration set without any, instead of silently
returning the minimum score. Every threshold is reported with its false-alarm rate on the
calibration normals (and its sensitivity when anomalies were given).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dia_augment.errors import InputError
from dia_augment.utils.checks import ArrayLike, check_scores

__all__ = ["CALIBRATION_MODES", "Threshold", "calibrate_threshold"]

CALIBRATION_MODES = ("normal_quantile", "sensitivity", "f1")
_NEEDS_ANOMALIES = ("sensitivity", "f1")


@dataclass(frozen=True)
class Threshold:
    """A calibrated threshold and how it was chosen.

    Attributes:
        value: images with an anomaly score ``> value`` are called anomalous.
        mode: one of :data:`CALIBRATION_MODES`.
        target: the mode's target (share of normals kept, or sensitivity); ``None`` for ``"f1"``.
        false_alarm_rate: share of the calibration normals scored above ``value``.
        sensitivity: share of the calibration anomalies scored above ``value`` (``None``
            without anomalies).
        num_normal: calibration normals.
        num_anomaly: calibration anomalies.
    """

    value: float
    mode: str
    target: float | None
    false_alarm_rate: float
    sensitivity: float | None
    num_normal: int
    num_anomaly: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Threshold:
        """Rebuild from :meth:`to_dict` (raises ``KeyError`` / ``TypeError`` on a bad record)."""
        return cls(**{key: record[key] for key in cls.__dataclass_fields__})

    def describe(self) -> str:
        """One line for people: the threshold, how it was chosen and its expected false-alarm rate."""
        how = {
            "normal_quantile": f"keeps {self.target:.1%} of the calibration normals below it",
            "sensitivity": f"targets sensitivity {self.target:.1%}",
            "f1": "best F1 on the calibration set",
        }[self.mode]
        sens = f", sensitivity {self.sensitivity:.1%}" if self.sensitivity is not None else ""
        return (
            f"threshold {self.value:.6g} ({how}): expected false-alarm rate {self.false_alarm_rate:.1%} "
            f"on {self.num_normal} calibration normals{sens}"
        )


def calibrate_threshold(
    normal_scores: ArrayLike,
    anomaly_scores: ArrayLike | None = None,
    mode: str = "normal_quantile",
    target: float | None = 0.95,
) -> Threshold:
    """Choose the threshold of anomaly scores (higher = more anomalous) on a calibration set.

    Args:
        normal_scores: anomaly scores of held-out normal images.
        anomaly_scores: anomaly scores of labelled anomalies, if any.
        mode: ``"normal_quantile"``, ``"sensitivity"`` or ``"f1"`` (see the module docstring).
        target: share of normals to keep below the threshold (``normal_quantile``) or the
            sensitivity to reach (``sensitivity``), in ``(0, 1]``; ignored for ``f1``.

    Raises:
        InputError: an unknown mode, a target outside ``(0, 1]``, no normal scores, or no
            anomalies for a mode that needs them.

    Examples:
        >>> t = calibrate_threshold([0.1, 0.2, 0.3, 0.4], target=0.75)
        >>> t.value, t.false_alarm_rate
        (0.3, 0.25)
        >>> calibrate_threshold([0.1, 0.2], [0.15, 0.5], mode="sensitivity", target=1.0).value
        0.1
        >>> calibrate_threshold([0.1, 0.2], mode="f1")
        Traceback (most recent call last):
        ...
        dia_augment.errors.InputError: calibration mode 'f1' needs labelled anomalies, but the calibration set has none; use mode 'normal_quantile' with normal images only
    """
    if mode not in CALIBRATION_MODES:
        raise InputError(f"calibration mode must be one of {CALIBRATION_MODES}; got {mode!r}")
    normal = check_scores(normal_scores, "normal_scores")
    anomaly = check_scores(anomaly_scores, "anomaly_scores") if anomaly_scores is not None else np.zeros(0)
    if normal.size == 0:
        raise InputError("normal_scores is empty: calibration needs held-out normal images")
    if mode in _NEEDS_ANOMALIES and anomaly.size == 0:
        raise InputError(
            f"calibration mode {mode!r} needs labelled anomalies, but the calibration set has none; "
            "use mode 'normal_quantile' with normal images only"
        )
    if mode != "f1" and (isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target <= 1):
        raise InputError(f"target must be a number in (0, 1] for mode {mode!r}; got {target!r}")

    normal_sorted, anomaly_sorted = np.sort(normal), np.sort(anomaly)
    if mode == "normal_quantile":
        value = normal_sorted[math.ceil(target * normal.size - 1e-9) - 1]
    elif mode == "sensitivity":
        needed = math.ceil(target * anomaly.size - 1e-9)
        value = _just_below(anomaly_sorted[anomaly.size - needed], np.concatenate([normal, anomaly]))
    else:
        value, target = _best_f1(normal_sorted, anomaly_sorted), None
    value = float(value)
    return Threshold(
        value=value,
        mode=mode,
        target=None if target is None else float(target),
        false_alarm_rate=float((normal > value).mean()),
        sensitivity=float((anomaly > value).mean()) if anomaly.size else None,
        num_normal=int(normal.size),
        num_anomaly=int(anomaly.size),
    )


def _just_below(score: float, scores: np.ndarray) -> float:
    """The largest calibration score strictly below ``score`` (the next float down if none is)."""
    lower = scores[scores < score]
    return float(lower.max()) if lower.size else float(np.nextafter(score, -np.inf))


def _best_f1(normal_sorted: np.ndarray, anomaly_sorted: np.ndarray) -> float:
    everything = np.concatenate([normal_sorted, anomaly_sorted])
    candidates = np.unique(np.append(everything, np.nextafter(everything.min(), -np.inf)))
    true_pos = anomaly_sorted.size - np.searchsorted(anomaly_sorted, candidates, side="right")
    false_pos = normal_sorted.size - np.searchsorted(normal_sorted, candidates, side="right")
    f1 = 2 * true_pos / (2 * true_pos + false_pos + (anomaly_sorted.size - true_pos))
    best = np.flatnonzero(f1 == f1.max())[-1]  # ties: the highest threshold
    return float(candidates[best])
