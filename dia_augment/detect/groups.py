"""Scores per group (a patient, a series, a volume) from the scores of its slices, and their threshold.

A CT scan is many slices; a clinician asks about the patient. The score of a group is an
aggregation of its slices' anomaly scores (higher = more anomalous):

- ``"max"``: the most anomalous slice (sensitive to a single focal finding, and to a single noisy slice);
- ``"mean"``: the average slice (robust, but a small lesion on few slices is diluted);
- ``"topk"``: the mean of the ``k`` highest slice scores (``top3_mean`` for ``k = 3``; a group
  with fewer than ``k`` slices takes the mean of all of them), between the two.

A group's threshold is calibrated like the slices' (:func:`~dia_augment.detect.calibrate_threshold`,
``normal_quantile``), on the group scores of the calibration hold-out's groups: a detector trained
with a grouping draws that hold-out by whole groups (:func:`~dia_augment.detect.split_calibration`),
so each held-out patient is new to the model. A group is called anomalous when its score is
strictly above the threshold of its aggregation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from dia_augment.detect.calibration import Threshold, calibrate_threshold
from dia_augment.errors import InputError
from dia_augment.utils.checks import ArrayLike, check_scores

__all__ = ["AGGREGATIONS", "DEFAULT_GROUP_K", "DEFAULT_AGGREGATION", "aggregation_name", "group_scores",
           "GroupCalibration", "calibrate_groups"]

#: The ways a group's slice scores become one score.
AGGREGATIONS = ("max", "mean", "topk")
#: The ``k`` of the top-k mean unless told otherwise.
DEFAULT_GROUP_K = 3
#: The aggregation a group is called on unless told otherwise.
DEFAULT_AGGREGATION = "topk"


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"the top-k of a group score must be an int >= 1; got {k!r}")
    return k


def aggregation_name(aggregation: str, k: int = DEFAULT_GROUP_K) -> str:
    """The column name of an aggregation: ``"max"``, ``"mean"`` or ``"top{k}_mean"``.

    Examples:
        >>> aggregation_name("max"), aggregation_name("topk", 5)
        ('max', 'top5_mean')
    """
    if aggregation not in AGGREGATIONS:
        raise InputError(f"the aggregation of a group score must be one of {AGGREGATIONS}; got {aggregation!r}")
    return f"top{_check_k(k)}_mean" if aggregation == "topk" else aggregation


def group_scores(scores: ArrayLike, groups: Sequence[str], k: int = DEFAULT_GROUP_K) -> dict[str, dict[str, Any]]:
    """Each group's slice count and its ``max``, ``mean`` and ``top{k}_mean`` of the slice scores.

    Args:
        scores: one anomaly score per slice (higher = more anomalous).
        groups: the group of each slice.
        k: the top-k mean's ``k``.

    Returns:
        ``{group: {"num_images", "max", "mean", "top{k}_mean"}}`` in the order the groups first appear.

    Examples:
        >>> g = group_scores([0.1, 0.9, 0.5, 0.2, -1.0], ["a", "a", "a", "b", "b"], k=2)
        >>> g["a"]["max"], round(g["a"]["mean"], 4), g["a"]["top2_mean"], g["b"]["num_images"], g["b"]["top2_mean"]
        (0.9, 0.5, 0.7, 2, -0.4)
    """
    values = check_scores(scores, "scores")
    if len(groups) != values.size:
        raise InputError(f"groups must hold one group per score ({values.size}); got {len(groups)}")
    top = aggregation_name("topk", k)
    members: dict[str, list[float]] = {}
    for group, value in zip(groups, values.tolist()):
        members.setdefault(str(group), []).append(value)
    out = {}
    for group, member in members.items():
        ordered = sorted(member, reverse=True)
        out[group] = {"num_images": len(member), "max": ordered[0], "mean": sum(member) / len(member),
                      top: sum(ordered[:k]) / min(k, len(ordered))}
    return out


@dataclass(frozen=True)
class GroupCalibration:
    """Thresholds of the group scores, calibrated on the calibration hold-out's groups.

    Attributes:
        level: what a group is: the key of :class:`~dia_augment.data.items.Item`'s ``groups`` it
            applies to (``"PatientID"``, ``"volume"``, ``"group"``).
        k: the ``k`` of the ``top{k}_mean`` threshold.
        thresholds: one :class:`~dia_augment.detect.Threshold` per aggregation, by column name
            (``"max"``, ``"mean"``, ``"top{k}_mean"``).
        num_groups: the calibration groups.
    """

    level: str
    k: int
    thresholds: dict[str, Threshold]
    num_groups: int

    def threshold(self, level: str, aggregation: str, k: int) -> Threshold | None:
        """The threshold of ``aggregation`` (with ``k``) for groups of ``level``; ``None`` when not calibrated for it."""
        if level != self.level:
            return None
        return self.thresholds.get(aggregation_name(aggregation, k))

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "k": self.k, "num_groups": self.num_groups,
                "thresholds": {name: t.to_dict() for name, t in self.thresholds.items()}}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> GroupCalibration:
        """Rebuild from :meth:`to_dict` (raises ``KeyError`` / ``TypeError`` on a bad record)."""
        return cls(str(record["level"]), int(record["k"]),
                   {name: Threshold.from_dict(t) for name, t in record["thresholds"].items()}, int(record["num_groups"]))

    def describe(self, aggregation: str = DEFAULT_AGGREGATION) -> str:
        """One line for people: the level, the aggregation's threshold and its calibration."""
        name = aggregation_name(aggregation, self.k)
        t = self.thresholds[name]
        new = ""
        if t.new_false_alarm_interval is not None:
            new = (f"; on new {self.level} groups 95 % interval {t.new_false_alarm_interval[0]:.1%}-"
                   f"{t.new_false_alarm_interval[1]:.1%}")
        return (f"{self.level}: {name} of the slice scores above {t.value:.6g} (keeps {t.target:.1%} of the "
                f"{self.num_groups} calibration {self.level} groups below it; false-alarm rate "
                f"{t.false_alarm_rate:.1%} on them{new})")


def calibrate_groups(scores: ArrayLike, groups: Sequence[str], level: str, k: int = DEFAULT_GROUP_K,
                     target: float = 0.95) -> GroupCalibration:
    """Calibrate a threshold per aggregation on the group scores of normal calibration slices.

    Args:
        scores: the anomaly scores of the calibration hold-out's (normal) slices.
        groups: their groups, whole groups (the hold-out drawn by group).
        level: what a group is (``"PatientID"``, ``"volume"``, ``"group"``).
        k: the top-k mean's ``k``.
        target: the share of calibration groups to keep at or below each threshold.

    Examples:
        >>> c = calibrate_groups([0.25, 0.75, 0.25, 0.0, 0.5], ["a", "a", "b", "c", "c"], "PatientID", k=1, target=2 / 3)
        >>> c.thresholds["max"].value, c.thresholds["mean"].value, c.num_groups   # max: .75, .25, .5; mean: .5, .25, .25
        (0.5, 0.25, 3)
    """
    if not isinstance(level, str) or not level:
        raise InputError(f"level must name what a group is (e.g. 'PatientID'); got {level!r}")
    k = _check_k(k)
    per_group = group_scores(scores, groups, k)
    thresholds = {}
    for aggregation in AGGREGATIONS:
        name = aggregation_name(aggregation, k)
        values = torch.tensor([g[name] for g in per_group.values()], dtype=torch.float64)
        thresholds[name] = calibrate_threshold(values, None, "normal_quantile", target)
    return GroupCalibration(level, k, thresholds, len(per_group))
