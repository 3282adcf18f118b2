"""One-class detection metrics: AUROC, AUPR, operating points, per-class AUROC, and figures.

Conventions, the package's one sign convention: ``labels`` are 0 = normal and 1 = anomaly, and
``scores`` are **anomaly scores: higher = more anomalous** (as every score of the package).
**The anomalous images are the positive class** throughout: AUROC is the probability that a
random anomaly outscores a random normal image (the same number as CSI's AUROC with normal as
positive and its normality score); AUPR is the average precision of finding the anomalies; the
FPR at 95 % TPR is the share of normal images flagged when 95 % of the anomalies are; a
sensitivity is a share of anomalies flagged, a specificity a share of normal images not flagged.
AUROC and AUPR come from scikit-learn (``roc_auc_score``, ``average_precision_score``), the
curves from ``roc_curve`` and ``precision_recall_curve``.

An operating point is read at a threshold ``tau`` that flags ``score >= tau``; the thresholds
walked are the distinct scores (``roc_curve``'s points), without interpolation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from dia_augment.errors import InputError
from dia_augment.utils.checks import ArrayLike, as_numpy, check_scores
from dia_augment.utils.figures import new_figure, write_png

__all__ = ["POSITIVE_CLASS", "auroc", "aupr", "fpr_at_tpr", "sensitivity_at_specificity", "specificity_at_sensitivity",
           "best_f1", "per_class_auroc", "evaluate", "save_roc_curve", "save_score_histogram"]

#: What every metric of this module treats as positive, recorded beside the metrics.
POSITIVE_CLASS = "anomalous (label 1); scores: higher = more anomalous"


def _as_arrays(scores: ArrayLike, labels: ArrayLike, need_both: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert to (float64 scores, bool is-anomalous) numpy arrays."""
    s, y = check_scores(scores, "scores"), as_numpy(labels)
    if y.ndim != 1 or y.shape[0] != s.shape[0]:
        raise InputError(f"labels must be 1-D with one label per score ({s.shape[0]}); got shape {y.shape}")
    if s.size == 0:
        raise InputError("scores is empty")
    if not np.isin(y, (0, 1)).all():
        raise InputError(f"labels must be 0 (normal) or 1 (anomaly); got values {sorted(set(np.unique(y).tolist()))}")
    anomalous = y == 1
    if need_both and (anomalous.all() or not anomalous.any()):
        raise InputError(
            f"labels must contain both normal (0) and anomalous (1) images; got {int((~anomalous).sum())} normal "
            f"and {int(anomalous.sum())} anomalous"
        )
    return s, anomalous


def _rate(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 < float(value) <= 1.0):
        raise InputError(f"{name} must be a number in (0, 1]; got {value!r}")
    return float(value)


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve, anomalies (label 1) positive.

    Args:
        scores: one anomaly score per image, higher = more anomalous.
        labels: 0 = normal, 1 = anomaly; both must occur.

    Examples:
        >>> auroc([0.1, 0.2, 0.9, 0.7], [0, 0, 1, 1])
        1.0
        >>> auroc([0.1, 0.8, 0.5, 0.7], [0, 0, 1, 1])
        0.5
    """
    s, anomalous = _as_arrays(scores, labels)
    return float(roc_auc_score(anomalous, s))


def aupr(scores: ArrayLike, labels: ArrayLike) -> float:
    """Average precision (area under the precision-recall curve) of finding the anomalies.

    Args:
        scores: one anomaly score per image, higher = more anomalous.
        labels: 0 = normal, 1 = anomaly; both must occur.

    Examples:
        >>> aupr([0.9, 0.1, 0.5], [1, 0, 1])  # ranks: anomaly, anomaly, normal -> (1 + 1) / 2
        1.0
        >>> aupr([0.9, 0.5, 0.1], [1, 0, 1])  # ranks: anomaly, normal, anomaly -> (1 + 2/3) / 2
        0.8333...
    """
    s, anomalous = _as_arrays(scores, labels)
    return float(average_precision_score(anomalous, s))


def _roc(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s, anomalous = _as_arrays(scores, labels)
    return roc_curve(anomalous, s, drop_intermediate=False)


def fpr_at_tpr(scores: ArrayLike, labels: ArrayLike, tpr: float = 0.95) -> float:
    """The share of normal images flagged at the first threshold that flags ``tpr`` of the anomalies.

    Walking the threshold down from the highest score, the first point whose true-positive rate
    (anomalies flagged) reaches ``tpr``; ties are handled as ``sklearn.metrics.roc_curve``
    handles them (one point per distinct score).

    Args:
        scores: one anomaly score per image, higher = more anomalous.
        labels: 0 = normal, 1 = anomaly; both must occur.
        tpr: the target true-positive rate, in ``(0, 1]``.

    Examples:
        >>> fpr_at_tpr([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [1, 0, 1, 0, 1, 0], tpr=2 / 3)  # threshold 0.3
        0.6666...
    """
    tpr = _rate(tpr, "tpr")
    fpr_curve, tpr_curve, _ = _roc(scores, labels)
    # TPR reaches 1 at the last point, so a first index always exists; the tiny slack absorbs
    # round-off in targets like 2 / 3.
    return float(fpr_curve[int(np.argmax(tpr_curve >= tpr - 1e-12))])


def sensitivity_at_specificity(scores: ArrayLike, labels: ArrayLike, specificity: float = 0.95) -> float:
    """The largest share of anomalies flagged while at least ``specificity`` of the normal images are not.

    Args:
        scores: one anomaly score per image, higher = more anomalous.
        labels: 0 = normal, 1 = anomaly; both must occur.
        specificity: the specificity to hold, in ``(0, 1]``.

    Examples:
        >>> sensitivity_at_specificity([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [1, 0, 1, 0, 1, 0], specificity=2 / 3)
        0.3333...
    """
    specificity = _rate(specificity, "specificity")
    fpr_curve, tpr_curve, _ = _roc(scores, labels)
    return float(tpr_curve[fpr_curve <= 1 - specificity + 1e-12].max())


def specificity_at_sensitivity(scores: ArrayLike, labels: ArrayLike, sensitivity: float = 0.95) -> float:
    """The share of normal images not flagged at the first threshold that flags ``sensitivity`` of the anomalies.

    Args:
        scores: one anomaly score per image, higher = more anomalous.
        labels: 0 = normal, 1 = anomaly; both must occur.
        sensitivity: the sensitivity to reach, in ``(0, 1]``.

    Examples:
        >>> specificity_at_sensitivity([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [1, 0, 1, 0, 1, 0], sensitivity=2 / 3)
        0.3333...
    """
    return 1.0 - fpr_at_tpr(scores, labels, _rate(sensitivity, "sensitivity"))


def best_f1(scores: ArrayLike, labels: ArrayLike) -> tuple[float, float]:
    """The best F1 of flagging anomalies over all thresholds, and that threshold (flag ``score >= threshold``).

    Shown for orientation: the threshold is chosen on the labels it is evaluated on, so its F1 is
    optimistic; never use it as a detector's threshold (calibrate on held-out normals instead).

    Args:
        scores: one anomaly score per image, higher = more anomalous.
        labels: 0 = normal, 1 = anomaly; both must occur.

    Returns:
        ``(f1, threshold)``.

    Examples:
        >>> best_f1([0.1, 0.2, 0.8, 0.3], [0, 0, 1, 1])  # threshold 0.3 flags both anomalies only
        (1.0, 0.3)
    """
    s, anomalous = _as_arrays(scores, labels)
    precision, recall, thresholds = precision_recall_curve(anomalous, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)[:-1]
    best = int(np.argmax(f1))
    return float(f1[best]), float(thresholds[best])


def per_class_auroc(
    scores: ArrayLike, labels: ArrayLike, classes: ArrayLike, class_names: Sequence[str] | None = None
) -> dict[str, float]:
    """AUROC of each anomaly class separately against all the normal images (anomalies positive).

    Args:
        scores: one anomaly score per image, higher = more anomalous.
        labels: 0 = normal, 1 = anomaly.
        classes: the original class index of each image.
        class_names: names for the class indices (default: the indices as strings).

    Returns:
        ``{class name: AUROC}`` for every class that occurs among the anomalies, in index order.

    Examples:
        >>> per_class_auroc([0.1, 0.2, 0.15, 0.9, 0.05, 0.8], [0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 2, 2],
        ...                 ["normal", "mild", "severe"])
        {'mild': 0.75, 'severe': 0.5}
    """
    s, anomalous = _as_arrays(scores, labels)
    c = as_numpy(classes)
    if c.shape != s.shape:
        raise InputError(f"classes must have one entry per score ({s.shape[0]}); got shape {c.shape}")
    result: dict[str, float] = {}
    for index in np.unique(c[anomalous]).tolist():
        if class_names is not None and not 0 <= int(index) < len(class_names):
            raise InputError(f"class index {index} is outside class_names (length {len(class_names)})")
        name = str(class_names[int(index)]) if class_names is not None else str(index)
        keep = ~anomalous | (c == index)
        result[name] = float(roc_auc_score(anomalous[keep], s[keep]))
    return result


def evaluate(
    scores: ArrayLike,
    labels: ArrayLike,
    classes: ArrayLike | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """All the metrics of one evaluation, as a JSON-ready dict (anomalies positive).

    Args:
        scores: one anomaly score per image, higher = more anomalous.
        labels: 0 = normal, 1 = anomaly; both must occur.
        classes: the original class index of each image (optional).
        class_names: names for the class indices (optional).

    Returns:
        ``auroc``, ``aupr``, ``fpr_at_95_tpr``, ``sensitivity_at_95_specificity``,
        ``specificity_at_95_sensitivity``, ``best_f1`` (with ``best_f1_threshold``, chosen on these
        labels), ``num_normal``, ``num_anomaly``, ``positive_class``, and ``per_class_auroc``
        (``{name: AUROC}``) when ``classes`` shows two or more anomaly classes.

    Examples:
        >>> m = evaluate([0.1, 0.2, 0.9, 0.7], [0, 0, 1, 1])
        >>> m["auroc"], m["aupr"], m["fpr_at_95_tpr"], m["sensitivity_at_95_specificity"], m["num_normal"]
        (1.0, 1.0, 0.0, 1.0, 2)
    """
    s, anomalous = _as_arrays(scores, labels)
    y = anomalous.astype(np.int64)
    f1, f1_threshold = best_f1(s, y)
    metrics: dict[str, Any] = {
        "auroc": auroc(s, y),
        "aupr": aupr(s, y),
        "fpr_at_95_tpr": fpr_at_tpr(s, y, 0.95),
        "sensitivity_at_95_specificity": sensitivity_at_specificity(s, y, 0.95),
        "specificity_at_95_sensitivity": specificity_at_sensitivity(s, y, 0.95),
        "best_f1": f1,
        "best_f1_threshold": f1_threshold,
        "num_normal": int((~anomalous).sum()),
        "num_anomaly": int(anomalous.sum()),
        "positive_class": POSITIVE_CLASS,
    }
    if classes is not None:
        per_class = per_class_auroc(s, y, classes, class_names)
        if len(per_class) >= 2:
            metrics["per_class_auroc"] = per_class
    return metrics


def save_roc_curve(path: str | os.PathLike, scores: ArrayLike, labels: ArrayLike, title: str | None = None) -> None:
    """Write the ROC curve (anomalies positive) as a PNG, atomically, with the AUROC in the legend.

    Uses matplotlib's Agg canvas directly, so no display and no global pyplot state are needed.

    Args:
        path: the ``.png`` file to write (its folder is created).
        scores: one anomaly score per image, higher = more anomalous.
        labels: 0 = normal, 1 = anomaly; both must occur.
        title: the figure's title.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "roc.png"
        >>> save_roc_curve(p, [0.1, 0.2, 0.9, 0.7], [0, 0, 1, 1])
        >>> p.read_bytes()[:4]
        b'\\x89PNG'
    """
    s, anomalous = _as_arrays(scores, labels)
    fpr_curve, tpr_curve, _ = roc_curve(anomalous, s)
    figure = new_figure(4.5, 4.5)
    ax = figure.add_subplot()
    ax.plot(fpr_curve, tpr_curve, lw=2, label=f"AUROC = {roc_auc_score(anomalous, s):.4f}")
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false-positive rate (normal images flagged)")
    ax.set_ylabel("true-positive rate (anomalies flagged)")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right")
    write_png(figure, path)


def save_score_histogram(
    path: str | os.PathLike,
    scores: ArrayLike,
    labels: ArrayLike | None = None,
    threshold: float | None = None,
    threshold_label: str = "threshold",
    xlabel: str = "anomaly score (higher = more anomalous)",
    title: str | None = None,
) -> None:
    """Write a histogram of the scores as a PNG, normal and anomalous apart when labelled, threshold marked.

    Args:
        path: the ``.png`` file to write (its folder is created).
        scores: one anomaly score per image, higher = more anomalous.
        labels: 0 = normal, 1 = anomaly, or ``None`` (unlabelled images: one histogram).
        threshold: a vertical line at this score, if given.
        threshold_label: the line's legend entry (say how the threshold was chosen).
        xlabel: the axis label: say which direction is anomalous.
        title: the figure's title.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "hist.png"
        >>> save_score_histogram(p, [0.1, 0.2, 0.9], [0, 0, 1], threshold=0.5)
        >>> p.read_bytes()[:4]
        b'\\x89PNG'
    """
    if labels is None:
        s = _as_arrays(scores, np.zeros(len(scores), dtype=np.int64), need_both=False)[0]
        groups = [("images", s)]
    else:
        s, anomalous = _as_arrays(scores, labels, need_both=False)
        groups = [(name, s[mask]) for name, mask in (("normal", ~anomalous), ("anomalous", anomalous)) if mask.any()]
    edges = np.histogram_bin_edges(s, bins=min(40, max(5, s.size // 4)))
    figure = new_figure(6, 3.6)
    ax = figure.add_subplot()
    for name, values in groups:
        ax.hist(values, bins=edges, alpha=0.6, label=f"{name} ({values.size})")
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=1.5, label=f"{threshold_label}: {threshold:.4g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("images")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    write_png(figure, path)
