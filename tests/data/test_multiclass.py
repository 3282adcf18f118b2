"""The unlabelled multi-class setting: every class normal, another source's test images the anomalies."""

import json

import numpy as np
import pytest
import torch

from dia_augment.cli import main
from dia_augment.data import load_one_class
from dia_augment.data.options import DataOptions, load_split
from dia_augment.errors import ConfigError, DataError


def _npz(path, seed, channels=1, size=8, classes=3):
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", 24), ("val", 6), ("test", 12)):
        shape = (n, size, size) if channels == 1 else (n, size, size, 3)
        arrays[f"{split}_images"] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % classes)[:, None].astype(np.int64)
    np.savez(path, **arrays)


def test_every_class_is_normal_and_keeps_its_class(tmp_path):
    _npz(tmp_path / "a.npz", 0)
    train = load_one_class(str(tmp_path / "a.npz"), "train", "all")
    assert train.images.shape[0] == 24 and int(train.labels.sum()) == 0 and train.normal_class == "all"
    assert train.classes.tolist() == [i % 3 for i in range(24)]
    test = load_one_class(str(tmp_path / "a.npz"), "test", "all")
    assert test.images.shape[0] == 12 and int(test.labels.sum()) == 0
    embedded = load_one_class("embedded", "test", "all", load_size=8)
    assert int(embedded.labels.sum()) == 0 and embedded.images.shape[0] == 400
    with pytest.raises(ConfigError, match="contamination_ratio does not apply"):
        load_one_class(str(tmp_path / "a.npz"), "train", "all", contamination_ratio=0.1)


def test_the_other_sources_test_images_are_the_anomalies(tmp_path):
    _npz(tmp_path / "a.npz", 0)
    _npz(tmp_path / "b.npz", 1, channels=3, classes=2)
    options = DataOptions(str(tmp_path / "a.npz"), "all", ood_data=str(tmp_path / "b.npz"))
    test = load_split(options, "test")
    b = load_one_class(str(tmp_path / "b.npz"), "test", "all", channels=1)
    assert test.images.shape == (24, 1, 8, 8) and test.labels.tolist() == [0] * 12 + [1] * 12
    assert torch.equal(test.images[12:], b.images)  # converted to the normal images' channel count
    assert test.class_names[3:] == [f"{tmp_path / 'b.npz'}:{name}" for name in b.class_names]
    assert test.classes[12:].tolist() == [3 + i % 2 for i in range(12)]
    assert load_split(options, "train").images.shape[0] == 24  # the train split has no anomalies
    _npz(tmp_path / "c.npz", 2, size=6)
    with pytest.raises(DataError, match="pass load_size"):
        load_split(DataOptions(str(tmp_path / "a.npz"), "all", ood_data=str(tmp_path / "c.npz")), "test")


def test_train_on_every_class_and_score_against_another_data_set(tmp_path):
    _npz(tmp_path / "a.npz", 0)
    _npz(tmp_path / "b.npz", 1, channels=3, classes=2)
    assert main(["train", "--data", str(tmp_path / "a.npz"), "--normal-class", "all", "--mode", "csi", "--width", "2",
                 "--image-size", "8", "--epochs", "1", "--batch-size", "4", "--num-views", "1", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 0
    assert main(["score", "--checkpoint", str(tmp_path / "run"), "--ood-data", str(tmp_path / "b.npz"),
                 "--out", str(tmp_path / "eval"), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert (metrics["num_normal"], metrics["num_anomaly"], metrics["num_train"]) == (12, 12, 19)  # 5 of 24 held out
    assert metrics["normal_class"] == "all" and metrics["data_options"]["ood_data"] == str(tmp_path / "b.npz")
    assert set(metrics["per_class_auroc"]) == {f"{tmp_path / 'b.npz'}:{name}" for name in ("0", "1")}


def test_train_records_the_ood_source_and_score_uses_it(tmp_path):
    _npz(tmp_path / "a.npz", 0)
    _npz(tmp_path / "b.npz", 1, channels=3, classes=2)
    assert main(["train", "--data", str(tmp_path / "a.npz"), "--normal-class", "all", "--ood-data", str(tmp_path / "b.npz"),
                 "--mode", "csi", "--width", "2", "--image-size", "8", "--epochs", "1", "--batch-size", "4",
                 "--num-views", "1", "--no-progress", "--out", str(tmp_path / "run")]) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["data"]["options"]["ood_data"] == str(tmp_path / "b.npz")
    assert main(["score", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "eval"), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert (metrics["num_normal"], metrics["num_anomaly"]) == (12, 12)  # the recorded source's 12 test images


def test_ood_data_is_an_option_of_the_commands_that_score_only(capsys):
    with pytest.raises(SystemExit):
        main(["train-dissolver", "--data", "embedded", "--ood-data", "x.npz", "--out", "unused"])
    assert "unrecognized arguments: --ood-data" in capsys.readouterr().err
