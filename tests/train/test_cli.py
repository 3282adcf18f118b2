import argparse

import pytest
import torch

from dia_augment.cli import main
from dia_augment.cli.train import resolve_objective
from dia_augment.data import load_one_class
from dia_augment.detect import AnomalyDetector, build_detector, split_calibration
from dia_augment.filters.base import ResizeDissolving
from dia_augment.score import ScoreConfig
from dia_augment.train import TrainConfig, load_model, train_model


def test_cli_run_equals_library_run(tmp_path):
    args = ["train", "--data", "embedded", "--load-size", "8", "--mode", "dia", "--dissolver", "resize",
            "--dissolver-resolution", "4", "--width", "2", "--image-size", "8", "--epochs", "1",
            "--batch-size", "200", "--lr", "0.05", "--seed", "3", "--no-progress", "--out", str(tmp_path / "cli")]
    assert main(args) == 0
    model, config = load_model(tmp_path / "cli")
    assert (config.mode, config.shift, config.width, config.seed, config.in_channels) == ("dia", "rotation", 2, 3, 3)
    images = load_one_class("embedded", "train", load_size=8).images
    # the command holds a seeded 20 % of the normal images out of training, for the detector's threshold
    rest, calibration = split_calibration(images, 0.2, seed=0)
    config = TrainConfig(mode="dia", width=2, image_size=8, epochs=1, batch_size=200, lr=0.05, seed=3, progress=False)
    expected = train_model(config, rest, ResizeDissolving(4), out_dir=tmp_path / "lib")
    for k, v in expected.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    # ... and saves the detector that build_detector makes from the same pieces
    detector = AnomalyDetector.from_pretrained(tmp_path / "cli" / "detector", progress=False)
    reference = build_detector(expected, config, rest, calibration, ScoreConfig(seed=3), progress=False)
    assert detector.threshold.value == pytest.approx(reference.threshold.value, rel=1e-5)
    assert detector.threshold.num_normal == len(calibration) == 120
    test = load_one_class("embedded", "test", load_size=8).images[:6]
    torch.testing.assert_close(detector.score(test), reference.score(test), rtol=1e-5, atol=1e-5)


def _ns(**kw):
    base = dict(training_type=None, mode="dia", dissolver=None, shift="rotation")
    base.update(kw)
    return argparse.Namespace(**base)


def test_resolve_objective():
    assert resolve_objective(_ns(training_type="diffusion_cutperm")) == ("dia", "ddpm", "cutperm")
    assert resolve_objective(_ns(training_type="rotation")) == ("csi", None, "rotation")
    assert resolve_objective(_ns(mode="csi", dissolver="gaussian")) == ("csi", None, "rotation")
    assert resolve_objective(_ns(dissolver="median", shift="cutperm")) == ("dia", "median", "cutperm")
    with pytest.raises(ValueError, match="needs --dissolver"):
        resolve_objective(_ns())


def test_a_contaminated_run_records_its_ratio_and_scores_on_the_clean_test_split(tmp_path, capsys):
    import json

    out = tmp_path / "run"
    args = ["train", "--data", "embedded", "--load-size", "8", "--mode", "csi", "--width", "2", "--image-size", "8",
            "--epochs", "1", "--batch-size", "200", "--contamination-ratio", "0.2", "--calibration-fraction", "0",
            "--no-progress", "--out", str(out)]
    assert main(args) == 0
    run = json.loads((out / "run.json").read_text())
    # 600 normal training images + int(0.2 * 600 / 0.8) = 150 anomalous ones
    assert run["data"]["source"] == "embedded (contamination_ratio=0.2)" and run["data"]["num_images"] == 750
    capsys.readouterr()
    score = ["score", "--data", "embedded", "--load-size", "8", "--contamination-ratio", "0.2", "--num-views", "1",
             "--checkpoint", str(out), "--out", str(tmp_path / "score")]
    assert main(score) == 0
    assert "was trained on" not in capsys.readouterr().err  # the same source as the run's: no warning
    metrics = json.loads((tmp_path / "score" / "metrics.json").read_text())
    test = load_one_class("embedded", "test", load_size=8)  # the test split is never contaminated
    assert (metrics["num_normal"], metrics["num_anomaly"]) == (int((test.labels == 0).sum()), int(test.labels.sum()))
    assert metrics["num_train"] == 750  # the scorer's statistics come from the run's (contaminated) training set
