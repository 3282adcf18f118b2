import json
import sys
import types

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from dia_augment.cli import main
from dia_augment.score import CSIScorer, evaluate
from dia_augment.utils.io import load_tensors
from tests.score.test_scorer import TinyModel


def _write_npz(path, seed=0):
    """A MedMNIST-layout file: 8 px greyscale, labels 0 (normal), 1 and 2 (anomalies)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", 12), ("val", 6), ("test", 18)):
        labels = np.arange(n) % 3
        images = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
        images[labels == 0] //= 2  # normals darker: an easy task
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels[:, None].astype(np.int64)
    np.savez(path, **arrays)


@pytest.fixture
def fake_training(monkeypatch):
    """A stand-in for dia_augment.train.load_model: a tiny model and its training settings."""
    model = TinyModel(channels=1, size=8)
    config = types.SimpleNamespace(mode="csi", shift="rotation", num_shifts=4, image_size=8, in_channels=1)
    seen = []

    def load_model(path):
        seen.append(str(path))
        return model, config

    import dia_augment.train

    monkeypatch.setattr(dia_augment.train, "load_model", load_model)
    return model, seen


def test_score_command_writes_metrics_roc_and_scores(tmp_path, fake_training):
    from dia_augment.data import load_one_class

    model, seen = fake_training
    data = tmp_path / "toy.npz"
    _write_npz(data)
    out = tmp_path / "eval"
    argv = ["score", "--checkpoint", str(tmp_path / "run"), "--data", str(data), "--normal-class", "0"]
    argv += ["--out", str(out), "--num-samples", "2", "--batch-size", "5", "--seed", "3", "--no-progress"]
    assert main(argv + ["--save-scorer"]) == 0
    assert seen == [str(tmp_path / "run")]

    train = load_one_class(str(data), "train", "0", channels=1)
    test = load_one_class(str(data), "test", "0", channels=1)
    scorer = CSIScorer(model, num_samples=2, image_size=8, batch_size=5, seed=3, progress=False).fit(train.images)
    scores = scorer.score(test.images)
    expected = evaluate(scores, test.labels, test.classes, test.class_names)

    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("auroc", "aupr", "fpr_at_95_tpr", "num_normal", "num_anomaly"):
        assert metrics[key] == pytest.approx(expected[key])
    assert metrics["per_class_auroc"] == pytest.approx(expected["per_class_auroc"])
    assert (metrics["num_normal"], metrics["num_anomaly"], metrics["num_train"]) == (6, 12, 4)
    assert metrics["method"] == "csi" and metrics["scorer"]["num_samples"] == 2
    saved = load_tensors(out / "scores.safetensors")
    assert torch.equal(saved["scores"], scores)
    assert torch.equal(saved["labels"], test.labels)
    assert imread(out / "roc.png").shape == (450, 450, 4)
    reloaded = CSIScorer.load(out / "scorer", model, progress=False)
    assert torch.equal(reloaded.score(test.images), scores)


def test_score_command_method_follows_training_mode(tmp_path, fake_training, capsys, monkeypatch):
    model, _ = fake_training
    config = types.SimpleNamespace(mode="simclr", shift="rotation", num_shifts=4, image_size=8, in_channels=1)
    monkeypatch.setattr(sys.modules["dia_augment.train"], "load_model", lambda path: (model, config))
    data = tmp_path / "toy.npz"
    _write_npz(data, seed=1)
    argv = ["score", "--checkpoint", "x", "--data", str(data), "--normal-class", "0", "--out", str(tmp_path / "o")]
    assert main(argv + ["--num-samples", "1", "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["method"] == "simclr"
    assert f"AUROC {metrics['auroc']:.4f}" in capsys.readouterr().out


def test_score_command_end_to_end_with_a_trained_model(tmp_path):
    from dia_augment.data import load_one_class
    from dia_augment.train import TrainConfig, load_model, train_model

    data = tmp_path / "toy.npz"
    _write_npz(data, seed=2)
    normals = load_one_class(str(data), "train", "0", channels=1).images
    config = TrainConfig(mode="csi", width=2, image_size=8, epochs=1, batch_size=4, seed=0, progress=False)
    train_model(config, normals, out_dir=tmp_path / "run")
    out = tmp_path / "eval"
    argv = ["score", "--checkpoint", str(tmp_path / "run"), "--data", str(data), "--normal-class", "0"]
    # one epoch leaves the shift head untrained (CSI would refuse its logits): score the contrastive term
    assert main(argv + ["--out", str(out), "--num-samples", "2", "--method", "simclr", "--no-progress"]) == 0

    model, _ = load_model(tmp_path / "run")
    test = load_one_class(str(data), "test", "0", channels=1)
    scorer = CSIScorer(model, num_samples=2, image_size=8, progress=False).fit(normals)
    expected = scorer.score(test.images, method="simclr")
    assert torch.equal(load_tensors(out / "scores.safetensors")["scores"], expected)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["auroc"] == pytest.approx(evaluate(expected, test.labels)["auroc"])


def test_score_command_falls_back_to_simclr_in_one_line_and_records_it(tmp_path, capsys, monkeypatch):
    import dia_augment.train

    class NegativeShift(TinyModel):
        def forward(self, x):
            out = super().forward(x)
            return out._replace(shift_logits=out.shift_logits - 100.0)

    model = NegativeShift(channels=1, size=8)
    config = types.SimpleNamespace(mode="csi", shift="rotation", num_shifts=4, image_size=8, in_channels=1)
    monkeypatch.setattr(dia_augment.train, "load_model", lambda path: (model, config))
    data = tmp_path / "toy.npz"
    _write_npz(data, seed=3)
    out = tmp_path / "o"
    argv = ["score", "--checkpoint", "x", "--data", str(data), "--normal-class", "0", "--out", str(out)]
    assert main(argv + ["--num-samples", "1", "--no-progress"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "note:" in line]
    assert len(notes) == 1 and "--method simclr" in notes[0] and "mean training logit is <= 0" in notes[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["method"], metrics["method_requested"]) == ("simclr", "csi") and "--method simclr" in metrics["method_note"]
    assert imread(out / "score_histogram.png").shape[-1] == 4


def test_score_refuses_data_of_other_channels_than_the_runs(tmp_path, capsys):
    from dia_augment.data import load_one_class
    from dia_augment.train import TrainConfig, train_model

    data = tmp_path / "toy.npz"
    _write_npz(data, seed=2)
    rgb = load_one_class(str(data), "train", "0", channels=3).images  # the run saw 3-channel images
    config = TrainConfig(mode="csi", width=2, image_size=8, epochs=1, batch_size=4, seed=0, progress=False)
    train_model(config, rgb, out_dir=tmp_path / "run", data_source="rgb-copy")
    argv = ["score", "--checkpoint", str(tmp_path / "run"), "--data", str(data), "--normal-class", "0"]
    assert main(argv + ["--out", str(tmp_path / "eval"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on 3-channel images; the data has 1 channels" in err[0]
    assert not (tmp_path / "eval").exists()


def test_score_warns_in_one_line_when_the_data_source_differs_from_the_runs(tmp_path, capsys):
    from dia_augment.data import load_one_class
    from dia_augment.train import TrainConfig, train_model

    data = tmp_path / "toy.npz"
    _write_npz(data, seed=2)
    normals = load_one_class(str(data), "train", "0").images
    config = TrainConfig(mode="csi", width=2, image_size=8, epochs=1, batch_size=4, seed=0, progress=False)
    train_model(config, normals, out_dir=tmp_path / "run", data_source="elsewhere.npz")
    argv = ["score", "--checkpoint", str(tmp_path / "run"), "--data", str(data), "--normal-class", "0",
            "--out", str(tmp_path / "eval"), "--num-samples", "2", "--method", "simclr", "--no-progress"]
    assert main(argv) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [f"dia-augment score: warning: the model in {tmp_path / 'run'} was trained on 'elsewhere.npz', "
                   f"not on {str(data)!r}"]


def test_score_speed_options_reach_the_scorer_and_bf16_stays_close_to_fp32(tmp_path, fake_training, monkeypatch):
    model, _ = fake_training
    data = tmp_path / "toy.npz"
    _write_npz(data)
    argv = ["score", "--checkpoint", "run", "--data", str(data), "--normal-class", "0", "--num-samples", "2",
            "--batch-size", "5", "--seed", "3", "--no-progress"]
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda module: compiled.append(module) or module)  # no inductor in a unit test
    assert main(argv + ["--out", str(tmp_path / "fp32")]) == 0
    assert main(argv + ["--out", str(tmp_path / "bf16"), "--mixed-precision", "bf16", "--channels-last", "--compile"]) == 0
    assert compiled == [model]
    settings = {name: json.loads((tmp_path / name / "metrics.json").read_text())["scorer"] for name in ("fp32", "bf16")}
    assert (settings["fp32"]["autocast"], settings["fp32"]["channels_last"], settings["fp32"]["compile"]) == (None, False, False)
    assert (settings["bf16"]["autocast"], settings["bf16"]["channels_last"], settings["bf16"]["compile"]) == ("bfloat16", True, True)
    fp32, bf16 = (load_tensors(tmp_path / name / "scores.safetensors")["scores"] for name in ("fp32", "bf16"))
    assert bf16.dtype == torch.float32 and not torch.equal(bf16, fp32)  # the model did run in bf16
    # bf16 rounds the model's inputs and weights to 8 significant bits (unit roundoff 2^-9); measured on
    # this data and 3 other seeds of it: at most 1.2e-3 relative, against 2^-8 = 3.9e-3 allowed here
    torch.testing.assert_close(bf16, fp32, rtol=2**-8, atol=0)
