"""``dia-augment score``: the run's own detector, its data read as training read it, metrics with anomalies positive."""

import json
import warnings

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from dia_augment.cli import main
from dia_augment.detect import AnomalyDetector
from dia_augment.utils.io import load_tensors


def _write_npz(path, seed=0, test_from_train=False):
    """A MedMNIST-layout file: 8 px greyscale, labels 0 (normal), 1 and 2 (anomalies)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", 30), ("val", 6), ("test", 18)):
        labels = np.arange(n) % 3
        images = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
        images[labels == 0] //= 2  # normals darker: an easy task
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels[:, None].astype(np.int64)
    if test_from_train:  # a test split holding the training split's normal images
        arrays["test_images"][:10], arrays["test_labels"][:10] = arrays["train_images"][::3], 0
    np.savez(path, **arrays)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("score_cli")
    data = root / "toy.npz"
    _write_npz(data, seed=2)
    argv = ["train", "--data", str(data), "--normal-class", "0", "--mode", "csi", "--width", "2", "--image-size", "8",
            "--epochs", "1", "--batch-size", "4", "--calibration-fraction", "0.2", "--num-views", "2",
            "--shift-loss-weight", "0", "--no-progress", "--out", str(root / "run")]
    assert main(argv) == 0
    return root, data


def test_score_uses_the_runs_detector_and_the_recorded_data(run, capsys):
    from dia_augment.data import load_one_class

    root, data = run
    out = root / "eval"
    assert main(["score", "--checkpoint", str(root / "run"), "--out", str(out), "--no-progress"]) == 0  # no --data
    detector = AnomalyDetector.from_pretrained(root / "run" / "detector", progress=False)
    test = load_one_class(str(data), "test", "0")
    scores = detector.score(test.images)
    metrics = json.loads((out / "metrics.json").read_text())
    expected = detector.test_metrics(scores, test.labels, test.classes, test.class_names)
    for key in ("auroc", "aupr", "fpr_at_95_tpr", "sensitivity_at_95_specificity", "threshold_false_alarm_rate",
                "threshold_sensitivity"):
        assert metrics[key] == pytest.approx(expected[key]), key
    assert metrics["detector"] == str(root / "run" / "detector") and metrics["num_train"] == 8
    assert metrics["positive_class"].startswith("anomalous") and metrics["training_images_in_test"] == 0
    assert metrics["data_options"]["data"] == str(data) and metrics["score_config"]["num_views"] == 2
    assert torch.equal(load_tensors(out / "scores.safetensors")["scores"], scores)
    assert imread(out / "roc.png").shape == (450, 450, 4) and imread(out / "score_histogram.png").shape[-1] == 4
    # the run's detector now carries the test metrics in its card
    card = (root / "run" / "detector" / "README.md").read_text()
    assert "No test-set metrics" not in card and f"| auroc | {metrics['auroc']:.4f} |" in card
    assert f"AUROC {metrics['auroc']:.4f}" in capsys.readouterr().out


def test_other_views_are_fitted_on_exactly_the_training_images(run):
    from dia_augment.data import load_one_class
    from dia_augment.detect import split_calibration
    from dia_augment.score import ScoreConfig
    from dia_augment.train import load_model

    root, data = run
    out = root / "eval3"
    assert main(["score", "--checkpoint", str(root / "run"), "--num-views", "3", "--out", str(out),
                 "--save-detector", "--no-progress"]) == 0
    fitted = AnomalyDetector.from_pretrained(out / "detector", progress=False)
    assert fitted.views.num_views == 3 and fitted.config.seed == 0  # the run's seed, the options given here
    normals = load_one_class(str(data), "train", "0").images
    trained, held = split_calibration(normals, 0.2, 0)
    model, config = load_model(root / "run")
    expected = AnomalyDetector.fit(model, trained, held, ScoreConfig(num_views=3), image_size=8, mode="csi",
                                   progress=False)
    torch.testing.assert_close(fitted.train_features, expected.train_features)  # not the 20 % held out
    assert fitted.threshold == expected.threshold
    assert json.loads((out / "metrics.json").read_text())["detector"] == "fitted here on the training images"


def test_a_test_split_holding_training_images_is_refused_unless_forced(run, capsys):
    root, _ = run
    leaky = root / "leaky.npz"
    _write_npz(leaky, seed=2, test_from_train=True)
    argv = ["score", "--checkpoint", str(root / "run"), "--data", str(leaky), "--no-progress"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv + ["--out", str(root / "leak")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "of the 18 images of the test split are images the model was trained on" in err[0]
    assert "--force" in err[0] and not (root / "leak").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv + ["--out", str(root / "leak"), "--force"]) == 0
    leaked = json.loads((root / "leak" / "metrics.json").read_text())["training_images_in_test"]
    assert 0 < leaked <= 8  # the training split's normals among the test images, less the 2 held out


def test_an_option_contradicting_the_record_wins_with_a_warning_naming_both(run, capsys):
    root, data = run
    out = root / "seed5"
    assert main(["score", "--checkpoint", str(root / "run"), "--data-seed", "5", "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "--data-seed 5 differs from the 0 the model was trained with; using the one given" in err
    assert json.loads((out / "metrics.json").read_text())["data_options"]["data_seed"] == 5


def test_score_refuses_data_of_other_channels_than_the_runs(run, capsys):
    root, data = run
    argv = ["score", "--checkpoint", str(root / "run"), "--channels", "3", "--out", str(root / "rgb"), "--no-progress"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on 1-channel images; the data has 3 channels" in err[0]


def test_a_simclr_run_is_scored_with_the_simclr_score_and_a_degenerate_head_falls_back_in_one_line(tmp_path, capsys):
    data = tmp_path / "toy.npz"
    _write_npz(data, seed=1)
    base = ["train", "--data", str(data), "--normal-class", "0", "--width", "2", "--image-size", "8", "--epochs", "1",
            "--batch-size", "4", "--calibration-fraction", "0", "--no-progress"]
    assert main(base + ["--mode", "simclr", "--out", str(tmp_path / "simclr")]) == 0
    assert main(["score", "--checkpoint", str(tmp_path / "simclr"), "--num-views", "1", "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["method"] == "simclr"
    # one epoch with no shift loss: the shift head's mean logits of shifts 0, 1, 2 are negative for this seed
    assert main(base + ["--mode", "csi", "--shift-loss-weight", "0", "--seed", "1", "--out", str(tmp_path / "csi")]) == 0
    capsys.readouterr()
    assert main(["score", "--checkpoint", str(tmp_path / "csi"), "--num-views", "1", "--out", str(tmp_path / "c"),
                 "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())
    notes = [line for line in capsys.readouterr().out.splitlines() if "note:" in line]
    assert metrics["method"] == "simclr" and "--method simclr" in metrics["method_note"]
    assert len(notes) == 1 and "--method simclr" in notes[0] and "mean training logit is <= 0" in notes[0]
    assert main(["score", "--checkpoint", str(tmp_path / "csi"), "--num-views", "1", "--no-fallback",
                 "--out", str(tmp_path / "k"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "k" / "metrics.json").read_text())["method"] == "csi"  # the reference keeps CSI


def test_score_speed_options_reach_the_detector_and_bf16_stays_close_to_fp32(run, monkeypatch):
    root, _ = run
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda module: compiled.append(module) or module)  # no inductor in a unit test
    # the SimCLR score, a cosine in [-1, 1]: CSI's 1 / mean-logit weights of a one-epoch head would magnify rounding
    argv = ["score", "--checkpoint", str(root / "run"), "--batch-size", "5", "--method", "simclr", "--no-progress"]
    assert main(argv + ["--out", str(root / "fp32"), "--mixed-precision", "no"]) == 0
    assert main(argv + ["--out", str(root / "bf16"), "--mixed-precision", "bf16", "--channels-last", "--compile"]) == 0
    assert len(compiled) == 1
    settings = {n: json.loads((root / n / "metrics.json").read_text())["score_config"] for n in ("fp32", "bf16")}
    assert (settings["fp32"]["mixed_precision"], settings["fp32"]["channels_last"]) == ("no", False)
    assert (settings["bf16"]["mixed_precision"], settings["bf16"]["channels_last"], settings["bf16"]["compile"]) == (
        "bf16", True, True)
    fp32, bf16 = (load_tensors(root / n / "scores.safetensors")["scores"] for n in ("fp32", "bf16"))
    assert bf16.dtype == torch.float32 and not torch.equal(bf16, fp32)  # the model did run in bf16
    # bf16 rounds the model's inputs and weights to 8 significant bits (unit roundoff 2^-9); a cosine of 128-d
    # projections through a width-2 ResNet moves by a few of them
    torch.testing.assert_close(bf16, fp32, rtol=0, atol=2**-6)
