"""One-class detection metrics: AUROC, AUPR, FPR at a TPR, per-class AUROC, and a ROC-curve figure.

Conventions: ``labels`` are 0 = normal and 1 = anomaly, and ``scores`` are higher for more
normal images (as :func:`~dia_augment.score.csi_score`). **Normal is the positive class**
throughout: AUROC is the probability that a random normal image outscores a random anomaly;
AUPR is the average precision of finding the normal images ("AUPR-In"); the FPR at 95% TPR is
the fraction of anomalies accepted when 95% of the normal images are. AUROC and AUPR come from
scikit-learn (``roc_auc_score``, ``average_precision_score``), the ROC curve from ``roc_curve``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from dia_augment.errors import InputError
from dia_augment.utils.checks import ArrayLike, as_numpy, check_scores
from dia_augment.utils.figures import new_figure, write_png

__all__ = ["auroc", "aupr", "fpr_at_tpr", "per_class_auroc", "evaluate", "save_roc_curve", "save_score_histogram"]


def _as_arrays(scores: ArrayLike, labels: ArrayLike, need_both: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert to (float64 scores, bool is-normal) numpy arrays."""
    s, y = check_scores(scores, "scores"), as_numpy(labels)
    if y.ndim != 1 or y.shape[0] != s.shape[0]:
        raise InputError(f"labels must be 1-D with one label per score ({s.shape[0]}); got shape {y.shape}")
    if s.size == 0:
        raise InputError("scores is empty")
    if not np.isin(y, (0, 1)).all():
        raise InputError(f"labels must be 0 (normal) or 1 (anomaly); got values {sorted(set(np.unique(y).tolist()))}")
    normal = y == 0
    if need_both and (normal.all() or not normal.any()):
        raise InputError(
            f"labels must contain both normal (0) and anomalous (1) images; got {int(normal.sum())} normal "
            f"and {int((~normal).sum())} anomalous"
        )
    return s, normal


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve with normal (label 0) as the positive class.

    Args:
        scores: one score per image, higher = more normal.
        labels: 0 = normal, 1 = anomaly; both must occur.

    Examples:
        >>> auroc([0.9, 0.8, 0.1, 0.3], [0, 0, 1, 1])
        1.0
        >>> auroc([0.9, 0.2, 0.5, 0.3], [0, 0, 1, 1])
        0.5
    """
    s, normal = _as_arrays(scores, labels)
    return float(roc_auc_score(normal, s))


def aupr(scores: ArrayLike, labels: ArrayLike) -> float:
    """Average precision (area under the precision-recall curve) of detecting the normal images.

    Args:
        scores: one score per image, higher = more normal.
        labels: 0 = normal, 1 = anomaly; both must occur.

    Examples:
        >>> aupr([0.9, 0.1, 0.5], [0, 0, 1])  # ranks: normal, anomaly, normal -> (1 + 2/3) / 2
        0.8333...
    """
    s, normal = _as_arrays(scores, labels)
    return float(average_precision_score(normal, s))


def fpr_at_tpr(scores: ArrayLike, labels: ArrayLike, tpr: float = 0.95) -> float:
    """The false-positive rate at the first threshold whose TPR reaches ``tpr`` (no interpolation).

    Walking the threshold down from the highest score, this is the fraction of anomalies scoring
    at least as high as the threshold at which at least ``tpr`` of the normal images are
    accepted. Ties are handled as ``sklearn.metrics.roc_curve`` handles them (one point per
    distinct score).

    Args:
        scores: one score per image, higher = more normal.
        labels: 0 = normal, 1 = anomaly; both must occur.
        tpr: the target true-positive rate, in ``(0, 1]``.

    Examples:
        >>> fpr_at_tpr([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], [0, 1, 0, 1, 0, 1], tpr=2 / 3)  # threshold 0.8
        0.3333...
    """
    if isinstance(tpr, bool) or not isinstance(tpr, (int, float)) or not 0.0 < float(tpr) <= 1.0:
        raise InputError(f"tpr must be a number in (0, 1]; got {tpr!r}")
    s, normal = _as_arrays(scores, labels)
    fpr_curve, tpr_curve, _ = roc_curve(normal, s, drop_intermediate=False)
    # TPR reaches 1 at the last point, so a first index always exists; the tiny slack absorbs
    # round-off in targets like 2 / 3.
    index = int(np.argmax(tpr_curve >= float(tpr) - 1e-12))
    return float(fpr_curve[index])


def per_class_auroc(
    scores: ArrayLike, labels: ArrayLike, classes: ArrayLike, class_names: Sequence[str] | None = None
) -> dict[str, float]:
    """AUROC of each anomaly class separately against all the normal images.

    Args:
        scores: one score per image, higher = more normal.
        labels: 0 = normal, 1 = anomaly.
        classes: the original class index of each image.
        class_names: names for the class indices (default: the indices as strings).

    Returns:
        ``{class name: AUROC}`` for every class that occurs among the anomalies, in index order.

    Examples:
        >>> per_class_auroc([0.9, 0.8, 0.85, 0.1, 0.95, 0.2], [0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 2, 2],
        ...                 ["normal", "mild", "severe"])
        {'mild': 0.75, 'severe': 0.5}
    """
    s, normal = _as_arrays(scores, labels)
    c = as_numpy(classes)
    if c.shape != s.shape:
        raise InputError(f"classes must have one entry per score ({s.shape[0]}); got shape {c.shape}")
    result: dict[str, float] = {}
    for index in np.unique(c[~normal]).tolist():
        if class_names is not None and not 0 <= int(index) < len(class_names):
            raise InputError(f"class index {index} is outside class_names (length {len(class_names)})")
        name = str(class_names[int(index)]) if class_names is not None else str(index)
        keep = normal | (c == index)
        result[name] = float(roc_auc_score(normal[keep], s[keep]))
    return result


def evaluate(
    scores: ArrayLike,
    labels: ArrayLike,
    classes: ArrayLike | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """All the metrics of one evaluation, as a JSON-ready dict.

    Args:
        scores: one score per image, higher = more normal.
        labels: 0 = normal, 1 = anomaly; both must occur.
        classes: the original class index of each image (optional).
        class_names: names for the class indices (optional).

    Returns:
        ``auroc``, ``aupr``, ``fpr_at_95_tpr``, ``num_normal``, ``num_anomaly``, and
        ``per_class_auroc`` (``{name: AUROC}``) when ``classes`` shows two or more anomaly classes.

    Examples:
        >>> m = evaluate([0.9, 0.8, 0.1, 0.3], [0, 0, 1, 1])
        >>> m["auroc"], m["aupr"], m["fpr_at_95_tpr"], m["num_normal"]
        (1.0, 1.0, 0.0, 2)
    """
    s, normal = _as_arrays(scores, labels)
    y = (~normal).astype(np.int64)
    metrics: dict[str, Any] = {
        "auroc": auroc(s, y),
        "aupr": aupr(s, y),
        "fpr_at_95_tpr": fpr_at_tpr(s, y, 0.95),
        "num_normal": int(normal.sum()),
        "num_anomaly": int((~normal).sum()),
    }
    if classes is not None:
        per_class = per_class_auroc(s, y, classes, class_names)
        if len(per_class) >= 2:
            metrics["per_class_auroc"] = per_class
    return metrics


def save_roc_curve(path: str | os.PathLike, scores: ArrayLike, labels: ArrayLike, title: str | None = None) -> None:
    """Write the ROC curve (normal = positive) as a PNG, atomically, with the AUROC in the legend.

    Uses matplotlib's Agg canvas directly, so no display and no global pyplot state are needed.

    Args:
        path: the ``.png`` file to write (its folder is created).
        scores: one score per image, higher = more normal.
        labels: 0 = normal, 1 = anomaly; both must occur.
        title: the figure's title.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "roc.png"
        >>> save_roc_curve(p, [0.9, 0.8, 0.1, 0.3], [0, 0, 1, 1])
        >>> p.read_bytes()[:4]
        b'\\x89PNG'
    """
    s, normal = _as_arrays(scores, labels)
    fpr_curve, tpr_curve, _ = roc_curve(normal, s)
    figure = new_figure(4.5, 4.5)
    ax = figure.add_subplot()
    ax.plot(fpr_curve, tpr_curve, lw=2, label=f"AUROC = {roc_auc_score(normal, s):.4f}")
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false-positive rate (anomalies accepted)")
    ax.set_ylabel("true-positive rate (normals accepted)")
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
        scores: one score per image.
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
        s, normal = _as_arrays(scores, labels, need_both=False)
        groups = [(name, s[mask]) for name, mask in (("normal", normal), ("anomalous", ~normal)) if mask.any()]
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
