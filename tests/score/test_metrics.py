"""One-class metrics with the package's sign convention: anomaly scores, anomalies positive."""

import os

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from dia_augment.score import (POSITIVE_CLASS, aupr, auroc, best_f1, evaluate, fpr_at_tpr, per_class_auroc,
                               save_roc_curve, sensitivity_at_specificity, specificity_at_sensitivity)


def test_auroc_separable_and_reversed():
    scores = torch.tensor([0.1, 0.2, 0.3, 0.8, 0.9])  # anomaly scores: the anomalies highest
    labels = torch.tensor([0, 0, 0, 1, 1])
    assert auroc(scores, labels) == 1.0
    assert auroc(-scores, labels) == 0.0
    assert auroc(np.array([0.5, 0.5, 0.5]), [0, 1, 1]) == 0.5  # all tied


def test_auroc_counts_pairs():
    # anomalies 0.5, 0.9, 0.6; normals 0.4, 0.7 -> pairs won by the anomaly: 0.5 > 0.4 (1), 0.9 > both (2),
    # 0.6 > 0.4 (1) -> 4 / 6
    assert auroc([0.4, 0.7, 0.5, 0.9, 0.6], [0, 0, 1, 1, 1]) == pytest.approx(4 / 6)


def test_aupr_finds_the_anomalies():
    # ranking from the top: a (P = 1/1), n, a (P = 2/3), n -> AP = (1 + 2/3) / 2
    assert aupr([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx(5 / 6)
    assert aupr([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    # the same ranking read with normal positive would give another number: this is AUPR of the anomalies
    assert aupr([0.9, 0.8, 0.7, 0.6], [0, 1, 0, 1]) == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_operating_points_by_hand():
    anomalies = [0.05 * i for i in range(1, 21)]  # 0.05 .. 1.0; 95 % of them flagged at threshold 0.10
    normals = [0.12, 0.5, 0.07, 0.01]  # 0.12 and 0.5 are >= 0.10 -> 2 of 4 normals flagged
    scores, labels = anomalies + normals, [1] * 20 + [0] * 4
    assert fpr_at_tpr(scores, labels) == 0.5
    assert specificity_at_sensitivity(scores, labels) == 0.5
    assert fpr_at_tpr(scores, labels, tpr=1.0) == 0.75  # threshold 0.05 also flags 0.07
    assert fpr_at_tpr(scores, labels, tpr=0.5) == pytest.approx(0.0)  # threshold 0.55 flags no normal
    # specificity >= 0.75 allows one normal flagged (0.5): threshold 0.15 flags it and the 18 anomalies >= 0.15
    assert sensitivity_at_specificity(scores, labels, specificity=0.75) == pytest.approx(18 / 20)
    # specificity 1: threshold above 0.5 -> 0.55 .. 1.0, 10 anomalies
    assert sensitivity_at_specificity(scores, labels, specificity=1.0) == pytest.approx(10 / 20)


def test_best_f1_by_hand():
    # flag >= 0.6: TP 2 (0.9, 0.6), FP 1 (0.7), FN 1 (0.2) -> F1 = 2 * 2/3 * 2/3 / (4/3) = 2/3
    # flag >= 0.2: TP 3, FP 2 -> P 3/5, R 1 -> F1 = 0.75 (the best)
    f1, threshold = best_f1([0.9, 0.7, 0.6, 0.3, 0.2, 0.1], [1, 0, 1, 0, 1, 0])
    assert f1 == pytest.approx(0.75) and threshold == pytest.approx(0.2)


def test_per_class_auroc_by_hand():
    scores = [0.1, 0.3, 0.5, 0.2, 0.4, 0.9, 0.8, 0.05, 0.7]
    labels = [0, 0, 0, 1, 1, 1, 1, 1, 1]
    classes = [0, 0, 0, 1, 1, 2, 2, 3, 3]
    # class 1 (0.2, 0.4) vs normals (0.1, 0.3, 0.5): pairs won by the anomaly: 0.2 > 0.1 (1), 0.4 > 0.1, 0.3 (2) -> 3 / 6
    # class 2 (0.9, 0.8): above every normal -> 1.0
    # class 3 (0.05, 0.7): 0.05 below all, 0.7 above all -> 3 / 6
    out = per_class_auroc(scores, labels, classes, ["normal", "a", "b", "c"])
    assert out == {"a": pytest.approx(0.5), "b": 1.0, "c": pytest.approx(0.5)}
    assert list(per_class_auroc(scores, labels, torch.tensor(classes))) == ["1", "2", "3"]


def test_evaluate_collects_everything():
    scores = torch.tensor([0.1, 0.3, 0.5, 0.2, 0.4, 0.9, 0.8, 0.05, 0.7])
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1, 1])
    classes = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3, 3])
    m = evaluate(scores, labels, classes, ["normal", "a", "b", "c"])
    assert m["auroc"] == pytest.approx(auroc(scores, labels)) == pytest.approx(12 / 18)
    assert m["aupr"] == pytest.approx(aupr(scores, labels))
    assert m["fpr_at_95_tpr"] == pytest.approx(fpr_at_tpr(scores, labels))
    assert m["sensitivity_at_95_specificity"] == pytest.approx(sensitivity_at_specificity(scores, labels))
    assert m["specificity_at_95_sensitivity"] == pytest.approx(specificity_at_sensitivity(scores, labels))
    assert (m["best_f1"], m["best_f1_threshold"]) == pytest.approx(best_f1(scores, labels))
    assert (m["num_normal"], m["num_anomaly"]) == (3, 6)
    assert m["positive_class"] == POSITIVE_CLASS and "anomalous" in POSITIVE_CLASS
    assert m["per_class_auroc"] == {"a": pytest.approx(0.5), "b": 1.0, "c": pytest.approx(0.5)}
    one_class = evaluate(scores[:5], labels[:5], classes[:5], ["normal", "a", "b", "c"])
    assert "per_class_auroc" not in one_class  # a single anomaly class: the same as auroc


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="both normal .0. and anomalous .1."):
        auroc([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="labels must be 0 .normal. or 1 .anomaly.; got values \\[0, 2\\]"):
        auroc([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="scores contains NaN"):
        aupr([0.1, float("nan")], [0, 1])
    with pytest.raises(ValueError, match="one label per score"):
        auroc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="scores must be 1-D"):
        auroc(torch.zeros(2, 2), [0, 1])
    with pytest.raises(ValueError, match="tpr must be a number in"):
        fpr_at_tpr([0.1, 0.2], [0, 1], tpr=0.0)
    with pytest.raises(ValueError, match="specificity must be a number in"):
        sensitivity_at_specificity([0.1, 0.2], [0, 1], specificity=95)
    with pytest.raises(ValueError, match="sensitivity must be a number in"):
        specificity_at_sensitivity([0.1, 0.2], [0, 1], sensitivity=-0.1)
    with pytest.raises(ValueError, match="classes must have one entry per score"):
        per_class_auroc([0.1, 0.2], [0, 1], [0])
    with pytest.raises(ValueError, match="class index 5 is outside class_names"):
        per_class_auroc([0.1, 0.2], [0, 1], [0, 5], ["n", "a"])


def test_save_roc_curve_writes_a_png_atomically(tmp_path):
    path = tmp_path / "sub" / "roc.png"
    save_roc_curve(path, torch.tensor([0.1, 0.2, 0.9, 0.7]), torch.tensor([0, 0, 1, 1]), title="toy")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(path).shape == (450, 450, 4)  # 4.5 in x 100 dpi, RGBA
    assert os.listdir(path.parent) == ["roc.png"]  # no temp file left behind
    with pytest.raises(ValueError, match="both normal"):
        save_roc_curve(tmp_path / "bad.png", [0.1, 0.2], [1, 1])
    assert not (tmp_path / "bad.png").exists()
