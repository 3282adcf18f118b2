import os

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from dia_augment.score import aupr, auroc, evaluate, fpr_at_tpr, per_class_auroc, save_roc_curve


def test_auroc_separable_and_reversed():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.2, 0.1])
    labels = torch.tensor([0, 0, 0, 1, 1])
    assert auroc(scores, labels) == 1.0
    assert auroc(-scores, labels) == 0.0
    assert auroc(np.array([0.5, 0.5, 0.5]), [0, 1, 1]) == 0.5  # all tied


def test_auroc_counts_pairs():
    # normals 0.6, 0.3; anomalies 0.5, 0.1, 0.4 -> pairs won: 0.6 beats all 3, 0.3 beats 0.1 -> 4 / 6
    assert auroc([0.6, 0.3, 0.5, 0.1, 0.4], [0, 0, 1, 1, 1]) == pytest.approx(4 / 6)


def test_aupr_by_hand():
    # ranking: n (P = 1/1), a, n (P = 2/3), a -> AP = (1 + 2/3) / 2
    assert aupr([0.9, 0.8, 0.7, 0.6], [0, 1, 0, 1]) == pytest.approx(5 / 6)
    assert aupr([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 1.0


def test_fpr_at_95_tpr_by_hand():
    normals = [0.05 * i for i in range(1, 21)]  # 0.05 .. 1.0; 95% TPR = 19 of 20 -> threshold 0.10
    anomalies = [0.12, 0.5, 0.07, 0.01]  # 0.12 and 0.5 are >= 0.10 -> FPR 2 / 4
    scores = normals + anomalies
    labels = [0] * 20 + [1] * 4
    assert fpr_at_tpr(scores, labels) == 0.5
    assert fpr_at_tpr(scores, labels, tpr=1.0) == 0.75  # threshold 0.05 also accepts 0.07
    assert fpr_at_tpr(scores, labels, tpr=0.5) == pytest.approx(0.0)  # threshold 0.55 accepts none
    assert fpr_at_tpr([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0


def test_per_class_auroc_by_hand():
    scores = [0.9, 0.7, 0.5, 0.8, 0.6, 0.1, 0.2, 0.95, 0.3]
    labels = [0, 0, 0, 1, 1, 1, 1, 1, 1]
    classes = [0, 0, 0, 1, 1, 2, 2, 3, 3]
    # class 1 (0.8, 0.6) vs normals (0.9, 0.7, 0.5), pairs won by the normal:
    #   0.9 beats both (2), 0.7 beats 0.6 (1), 0.5 beats none (0) -> 3 / 6
    # class 2 (0.1, 0.2): every normal wins -> 1.0
    # class 3 (0.95, 0.3): 0.3 lost to all 3 normals, 0.95 beats all -> 3 / 6
    out = per_class_auroc(scores, labels, classes, ["normal", "a", "b", "c"])
    assert out == {"a": pytest.approx(0.5), "b": 1.0, "c": pytest.approx(0.5)}
    assert list(per_class_auroc(scores, labels, torch.tensor(classes))) == ["1", "2", "3"]


def test_evaluate_collects_everything():
    scores = torch.tensor([0.9, 0.7, 0.5, 0.8, 0.6, 0.1, 0.2, 0.95, 0.3])
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1, 1])
    classes = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3, 3])
    m = evaluate(scores, labels, classes, ["normal", "a", "b", "c"])
    assert m["auroc"] == pytest.approx(auroc(scores, labels))
    assert m["auroc"] == pytest.approx(12 / 18)
    assert m["aupr"] == pytest.approx(aupr(scores, labels))
    assert m["fpr_at_95_tpr"] == pytest.approx(fpr_at_tpr(scores, labels))
    assert (m["num_normal"], m["num_anomaly"]) == (3, 6)
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
    with pytest.raises(ValueError, match="classes must have one entry per score"):
        per_class_auroc([0.1, 0.2], [0, 1], [0])
    with pytest.raises(ValueError, match="class index 5 is outside class_names"):
        per_class_auroc([0.1, 0.2], [0, 1], [0, 5], ["n", "a"])


def test_save_roc_curve_writes_a_png_atomically(tmp_path):
    path = tmp_path / "sub" / "roc.png"
    save_roc_curve(path, torch.tensor([0.9, 0.8, 0.1, 0.3]), torch.tensor([0, 0, 1, 1]), title="toy")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(path).shape == (450, 450, 4)  # 4.5 in x 100 dpi, RGBA
    assert os.listdir(path.parent) == ["roc.png"]  # no temp file left behind
    with pytest.raises(ValueError, match="both normal"):
        save_roc_curve(tmp_path / "bad.png", [0.1, 0.2], [1, 1])
    assert not (tmp_path / "bad.png").exists()
