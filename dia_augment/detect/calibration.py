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
calibration normals (and its sensitivity when anomalies were given), and with a 95 % interval
for its false-alarm rate on **new** normal images.

The interval. When ``k`` of ``n`` exchangeable calibration normals score at or below the
threshold, the probability that a new normal scores above it is distributed as
``Beta(n - k + 1, k)`` (the order-statistics argument of conformal prediction; its mean is
``(n - k + 1) / (n + 1)``, a little above the calibration rate ``(n - k) / n``); the interval is that
Beta's 2.5 % and 97.5 % quantiles. Slices of one patient are not exchangeable with each other:
with ``groups`` the sample counts as ``n / D`` images, where ``D = 1 + (m - 1) ICC`` is the
design effect of groups of mean size ``m = sum(m_g^2) / n`` whose scores have intra-class
correlation ``ICC`` (one-way ANOVA estimate, clipped to ``[0, 1]``): the interval widens by as much
as the groups' scores cluster.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dia_augment.errors import InputError
from dia_augment.utils.checks import ArrayLike, check_scores

__all__ = ["CALIBRATION_MODES", "Threshold", "calibrate_threshold", "design_effect", "false_alarm_interval"]

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
        new_false_alarm_interval: the 95 % interval of the false-alarm rate on new normal images
            (see the module docstring); ``None`` on thresholds saved before it was recorded.
        num_groups: the groups (patients, volumes) of the calibration normals; ``None``: per image.
        design_effect: how much the groups' clustering shrinks the sample (1.0 per image).
    """

    value: float
    mode: str
    target: float | None
    false_alarm_rate: float
    sensitivity: float | None
    num_normal: int
    num_anomaly: int
    new_false_alarm_interval: tuple[float, float] | None = None
    num_groups: int | None = None
    design_effect: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        if self.new_false_alarm_interval is not None:
            record["new_false_alarm_interval"] = list(self.new_false_alarm_interval)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Threshold:
        """Rebuild from :meth:`to_dict` (raises ``KeyError`` / ``TypeError`` on a bad record; the fields
        added later take their defaults when a saved record lacks them)."""
        optional = ("new_false_alarm_interval", "num_groups", "design_effect")
        values = {key: record[key] for key in cls.__dataclass_fields__ if key not in optional or key in record}
        if values.get("new_false_alarm_interval") is not None:
            values["new_false_alarm_interval"] = tuple(float(v) for v in values["new_false_alarm_interval"])
        return cls(**values)

    def describe(self) -> str:
        """One line for people: the threshold, how it was chosen and its expected false-alarm rate."""
        how = {
            "normal_quantile": f"keeps {self.target:.1%} of the calibration normals below it",
            "sensitivity": f"targets sensitivity {self.target:.1%}",
            "f1": "best F1 on the calibration set",
        }[self.mode]
        sens = f", sensitivity {self.sensitivity:.1%}" if self.sensitivity is not None else ""
        new = ""
        if self.new_false_alarm_interval is not None:
            low, high = self.new_false_alarm_interval
            of = (f" of {self.num_groups} groups, design effect {self.design_effect:.2f}" if self.num_groups is not None
                  else "")
            new = f"; on new normal images 95 % interval {low:.1%}-{high:.1%} ({self.num_normal} calibration normals{of})"
        return (
            f"threshold {self.value:.6g} ({how}): false-alarm rate {self.false_alarm_rate:.1%} "
            f"on {self.num_normal} calibration normals{sens}{new}"
        )


def calibrate_threshold(
    normal_scores: ArrayLike,
    anomaly_scores: ArrayLike | None = None,
    mode: str = "normal_quantile",
    target: float | None = 0.95,
    groups: list[str] | None = None,
) -> Threshold:
    """Choose the threshold of anomaly scores (higher = more anomalous) on a calibration set.

    Args:
        normal_scores: anomaly scores of held-out normal images.
        anomaly_scores: anomaly scores of labelled anomalies, if any.
        mode: ``"normal_quantile"``, ``"sensitivity"`` or ``"f1"`` (see the module docstring).
        target: share of normals to keep below the threshold (``normal_quantile``) or the
            sensitivity to reach (``sensitivity``), in ``(0, 1]``; ignored for ``f1``.
        groups: the group (patient, volume) of each normal score, when the hold-out was drawn by
            group: the interval for new images then allows for the groups' clustering.

    Raises:
        InputError: an unknown mode, a target outside ``(0, 1]``, no normal scores, no
            anomalies for a mode that needs them, or groups that are not one per normal score.

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
        value = normal_sorted[max(math.ceil(target * normal.size - 1e-9), 1) - 1]  # at least the lowest score
    elif mode == "sensitivity":
        needed = max(math.ceil(target * anomaly.size - 1e-9), 1)
        value = _just_below(anomaly_sorted[anomaly.size - needed], np.concatenate([normal, anomaly]))
    else:
        value, target = _best_f1(normal_sorted, anomaly_sorted), None
    value = float(value)
    effect = design_effect(normal, groups) if groups is not None else 1.0
    return Threshold(
        value=value,
        mode=mode,
        target=None if target is None else float(target),
        false_alarm_rate=float((normal > value).mean()),
        sensitivity=float((anomaly > value).mean()) if anomaly.size else None,
        num_normal=int(normal.size),
        num_anomaly=int(anomaly.size),
        new_false_alarm_interval=false_alarm_interval(int((normal <= value).sum()), int(normal.size), effect),
        num_groups=None if groups is None else len(set(groups)),
        design_effect=effect,
    )


def false_alarm_interval(kept: int, total: int, design: float = 1.0,
                         confidence: float = 0.95) -> tuple[float, float]:
    """The interval of the false-alarm rate on new normals of a threshold that keeps ``kept`` of ``total``.

    The quantiles of ``Beta(n - k + 1, k)`` with ``n = total / design`` and ``k = kept / design``
    (the module docstring); with no normal kept (``k = 0``) the rate is 1 on the calibration set
    and the interval's upper end is 1.

    Examples:
        >>> low, high = false_alarm_interval(95, 100)    # 5 of 100 calibration normals above
        >>> round(low, 3), round(high, 3)
        (0.022, 0.113)
        >>> [round(v, 3) for v in false_alarm_interval(95, 100, design=4.0)]   # 25 independent images' worth
        [0.013, 0.218]

    Raises:
        InputError: ``kept`` outside ``[0, total]``, ``design`` below 1, or ``confidence`` outside (0, 1).
    """
    from scipy import stats

    if not 0 <= kept <= total or total < 1:
        raise InputError(f"kept must be in [0, total] and total >= 1; got {kept} of {total}")
    if isinstance(design, bool) or not isinstance(design, (int, float)) or not design >= 1:
        raise InputError(f"design (a design effect) must be a number >= 1; got {design!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise InputError(f"confidence must be a number in (0, 1), e.g. 0.95; got {confidence!r}")
    n, k, tail = total / design, kept / design, (1 - confidence) / 2
    if k == 0:
        return float(stats.beta.ppf(tail, n + 1, 1)), 1.0
    beta = stats.beta(n - k + 1, k)
    return float(beta.ppf(tail)), float(beta.ppf(1 - tail))


def design_effect(scores: ArrayLike, groups: list[str]) -> float:
    """``1 + (m - 1) ICC`` of ``scores`` clustered by ``groups`` (1.0 when every group holds one score).

    Scores of a single group are one independent observation's worth: the design effect is then
    their count (nothing is known of how other groups vary).

    ``m = sum(m_g^2) / n`` is the groups' size weighted by size, and ``ICC`` the one-way ANOVA
    estimate of the intra-class correlation, ``(MSB - MSW) / (MSB + (m0 - 1) MSW)``, clipped to ``[0, 1]``.

    Raises:
        InputError: ``groups`` not one per score.

    Examples:
        >>> design_effect([0.1, 0.1, 0.9, 0.9], ["a", "a", "b", "b"])   # identical within groups: ICC 1
        2.0
        >>> design_effect([0.1, 0.9, 0.1, 0.9], ["a", "a", "b", "b"])   # no clustering: ICC 0
        1.0
    """
    values = np.asarray(scores, dtype=float).reshape(-1)
    if isinstance(groups, str) or len(groups) != values.size:
        raise InputError(f"groups must hold one group per score ({values.size}); got "
                         f"{'a string' if isinstance(groups, str) else len(groups)}")
    labels, index = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    n, count = values.size, labels.size
    if count == 1:
        return float(n)
    if count == n:
        return 1.0
    sizes = np.bincount(index).astype(float)
    means = np.bincount(index, weights=values) / sizes
    between = float((sizes * (means - values.mean()) ** 2).sum() / (count - 1))
    within = float(((values - means[index]) ** 2).sum() / (n - count))
    m0 = (n - float((sizes**2).sum()) / n) / (count - 1)
    denominator = between + (m0 - 1) * within
    icc = 1.0 if denominator <= 0 else min(max((between - within) / denominator, 0.0), 1.0)
    return 1.0 + (float((sizes**2).sum()) / n - 1.0) * icc


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
