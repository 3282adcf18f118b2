"""A run on patients: the calibration hold-out is whole patients, ``score`` rebuilds it, and scores per patient."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from dia_augment.cli import main
from dia_augment.data import load_one_class
from dia_augment.data.options import DataOptions
from dia_augment.detect import AnomalyDetector, calibration_indices
from dia_augment.detect.groups import group_scores
from dia_augment.detect.run_data import FINGERPRINTS_FILE, recorded_options, split_training
from dia_augment.utils.fingerprint import fingerprint_overlap, image_fingerprints
from dia_augment.utils.io import load_tensors


def _manifest(root):
    """6 normal training patients (3 slices each); test: 2 normal patients, 2 with 2 abnormal slices of 3."""
    rng = np.random.default_rng(0)
    rows = ["path,label,group,split"]
    for p in range(10):
        split = "train" if p < 6 else "test"
        for s in range(3):
            abnormal = p >= 8 and s < 2
            pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
            pixels = pixels if abnormal else pixels // 3
            name = f"p{p}_s{s}.png"
            Image.fromarray(pixels).save(root / name)
            rows.append(f"{name},{'lesion' if abnormal else 'normal'},p{p},{split}")
    (root / "scans.csv").write_text("\n".join(rows) + "\n")
    return root / "scans.csv"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("grouped")
    manifest = _manifest(root)
    argv = ["train", "--data", f"manifest:{manifest}", "--normal-class", "normal", "--mode", "csi", "--width", "2",
            "--image-size", "8", "--epochs", "1", "--batch-size", "4", "--calibration-fraction", "0.34",
            "--num-views", "2", "--shift-loss-weight", "0", "--mixed-precision", "no", "--no-progress",
            "--out", str(root / "run")]
    assert main(argv) == 0
    return root, manifest


def test_the_hold_out_is_whole_patients_and_no_patient_is_on_both_sides(run):
    root, manifest = run
    options = recorded_options(root / "run")
    assert options.calibration_by == "group" and options.calibration_fraction == 0.34
    train = load_one_class(f"manifest:{manifest}", "train", "normal")
    assert train.group_level == "group" and len(set(train.groups)) == 6
    rest, held = calibration_indices(len(train), 0.34, 0, train.groups)
    held_groups = {train.groups[i] for i in held.tolist()}
    rest_groups = {train.groups[i] for i in rest.tolist()}
    assert len(held_groups) == 2 and held_groups.isdisjoint(rest_groups)  # round(0.34 x 6) = 2 whole patients
    assert len(held) == 6 and len(rest) == 12
    # the model was trained on exactly the other patients' images: the recorded fingerprints are theirs
    trained = load_tensors(root / "run" / FINGERPRINTS_FILE)["fingerprints"]
    assert trained.shape[0] == 12
    assert not bool(fingerprint_overlap(image_fingerprints(train.images[held]), trained).any())
    detector = AnomalyDetector.from_pretrained(root / "run" / "detector", progress=False)
    assert detector.threshold.num_normal == 6 and detector.provenance["num_train"] == 12
    assert detector.group_calibration.level == "group" and detector.group_calibration.num_groups == 2
    assert detector.provenance["calibration_by"] == "group"
    card = (root / "run" / "detector" / "README.md").read_text()
    assert "drawn by group: 2 of 6 whole groups (6 images), so that no group has images both in training" in card
    assert "Per group: group: top3_mean of the slice scores above" in card


def test_split_training_needs_the_groups_of_a_grouped_hold_out(run):
    root, manifest = run
    options = recorded_options(root / "run")
    train = load_one_class(f"manifest:{manifest}", "train", "normal")
    images, calibration = split_training(train.images, options, train.groups)
    assert (images.shape[0], calibration.shape[0]) == (12, 6)
    from dia_augment.errors import RunFolderError

    with pytest.raises(RunFolderError, match="drew its calibration hold-out by group"):
        split_training(train.images, options)
    assert split_training(train.images, DataOptions("x", calibration_fraction=0.34))[1].shape[0] == 6  # per image: 6 of 18


def test_score_rebuilds_the_same_split_and_reports_the_auroc_per_patient(run, capsys):
    root, manifest = run
    # other views: the detector is fitted here, on the split rebuilt from the record
    assert main(["score", "--checkpoint", str(root / "run"), "--num-views", "3", "--mixed-precision", "no",
                 "--out", str(root / "eval3"), "--save-detector", "--no-progress"]) == 0
    fitted = AnomalyDetector.from_pretrained(root / "eval3" / "detector", progress=False)
    own = AnomalyDetector.from_pretrained(root / "run" / "detector", progress=False)
    assert fitted.provenance["num_train"] == own.provenance["num_train"] == 12
    assert fitted.threshold.num_normal == 6 and fitted.group_calibration.num_groups == 2
    assert fitted.provenance["calibration"] == own.provenance["calibration"]
    capsys.readouterr()
    assert main(["score", "--checkpoint", str(root / "run"), "--out", str(root / "eval"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    scores = load_tensors(root / "eval" / "scores.safetensors")["scores"]
    test = load_one_class(f"manifest:{manifest}", "test", "normal")
    per_patient = group_scores(scores, test.groups, 3)
    labels = {g: int(any(label for label, h in zip(test.labels.tolist(), test.groups) if h == g)) for g in per_patient}
    expected = roc_auc_score([labels[g] for g in per_patient], [per_patient[g]["top3_mean"] for g in per_patient])
    group = metrics["group"]
    assert (group["level"], group["aggregation"], group["num_groups"]) == ("group", "top3_mean", 4)
    assert (group["num_normal_groups"], group["num_anomalous_groups"]) == (2, 2)
    assert group["auroc"] == pytest.approx(expected)
    threshold = own.group_calibration.thresholds["top3_mean"].value
    flagged = [per_patient[g]["top3_mean"] > threshold for g in per_patient]
    assert group["threshold_sensitivity"] == pytest.approx(np.mean([f for f, g in zip(flagged, per_patient) if labels[g]]))
    assert f"per group (top3_mean of the image scores): AUROC {expected:.4f}" in printed
    # the detector's own threshold, evaluated on the labelled test split, is in metrics.json and the model card
    flagged_images = scores > own.threshold.value
    far = float(flagged_images[test.labels == 0].float().mean())
    assert metrics["threshold_false_alarm_rate"] == pytest.approx(far)
    card = (root / "run" / "detector" / "README.md").read_text()
    assert (f"On the labelled test split ({int((test.labels == 0).sum())} normal, {int(test.labels.sum())} anomalous "
            f"images): false-alarm rate {far:.1%}") in card
    assert f"| auroc per group (top3_mean of the slice scores) | {expected:.4f} (4 groups) |" in card
    assert torch.equal(scores, own.score(test.images))


def test_the_score_commands_plots_say_which_way_is_anomalous(run, monkeypatch):
    import os

    import dia_augment.score.metrics as metrics_module

    root, _ = run
    drawn = {}
    real = metrics_module.write_png

    def capture(figure, path):
        texts = [t.get_text() for t in figure.texts] + [x for ax in figure.axes for x in (ax.get_title(), ax.get_xlabel())]
        drawn[os.path.basename(path)] = " | ".join(texts)
        real(figure, path)

    monkeypatch.setattr(metrics_module, "write_png", capture)
    assert main(["score", "--checkpoint", str(root / "run"), "--out", str(root / "plots"), "--no-progress"]) == 0
    assert sorted(drawn) == ["roc.png", "score_histogram.png"]
    assert all("higher = more anomalous" in text for text in drawn.values()), drawn
