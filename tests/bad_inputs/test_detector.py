"""Bad inputs to ``AnomalyDetector`` and threshold calibration: arguments, images, damaged detector folders."""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from dia_augment.detect import AnomalyDetector, build_detector, calibrate_threshold, split_calibration
from dia_augment.detect.export import ScoringGraph
from dia_augment.detect.groups import aggregation_name, group_scores
from dia_augment.detect.predict import predict_files
from dia_augment.errors import CheckpointError, ConfigError, InputError, InputTypeError, MissingFileError
from dia_augment.models import build_model
from dia_augment.score import ScoreConfig
from dia_augment.utils.io import atomic_save_tensors, load_tensors
from tests.bad_inputs import assert_raises_naming, case, images, with_value


def fit(**kwargs) -> AnomalyDetector:
    torch.manual_seed(0)
    config = {"num_views": 2, "method": "simclr", **kwargs.pop("config", {})}
    options = {"image_size": 8, "progress": False, **kwargs}
    normal = options.pop("normal", images(6, 1, 12))
    model = options.pop("model", build_model("resnet18", in_channels=1, width=2))
    return AnomalyDetector.fit(model, normal, config=ScoreConfig(**config), **options)


@functools.cache
def _saved() -> Path:
    """A calibrated detector saved once; cases damage copies of it."""
    folder = Path(tempfile.mkdtemp()) / "detector"
    fit(calibration=images(4, 1, 12, seed=1)).save_pretrained(folder)
    return folder


def copy(tmp: Path) -> Path:
    return Path(shutil.copytree(_saved(), tmp / "detector"))


@functools.cache
def _fitted() -> AnomalyDetector:
    return AnomalyDetector.from_pretrained(_saved(), progress=False)


def edit_config(tmp: Path, change) -> Path:
    folder = copy(tmp)
    path = folder / "config.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return folder


def drop_tensor(tmp: Path, file: str, key: str) -> Path:
    folder = copy(tmp)
    tensors = load_tensors(folder / file)
    atomic_save_tensors({k: v for k, v in tensors.items() if k != key}, folder / file)
    return folder


def without(key: str):
    return lambda config: {k: v for k, v in config.items() if k != key}


def load(folder: Path) -> AnomalyDetector:
    return AnomalyDetector.from_pretrained(folder, progress=False)


x12 = images(3, 1, 12, seed=2)

FOLDER_CASES = [
    case("missing-folder", lambda tmp: load(tmp / "no_detector"), MissingFileError, "no_detector"),
    case("a-file", lambda tmp: load(_touch(tmp / "detector.json")), CheckpointError, "detector.json", "folder"),
    case("empty-folder", lambda tmp: load(tmp), CheckpointError, "config.json"),
    case("config-corrupt", lambda tmp: load(_write(copy(tmp), "config.json", "{")), CheckpointError, "config.json",
         "JSON"),
    case("config-list", lambda tmp: load(edit_config(tmp, lambda c: [c])), CheckpointError, "config.json"),
    case("config-other-format", lambda tmp: load(edit_config(tmp, lambda c: {**c, "format": "x"})), CheckpointError,
         "config.json", "format"),
    case("config-training-run", lambda tmp: load(edit_config(tmp, lambda c: {"mode": "dia"})), CheckpointError,
         "config.json", "build_detector"),
    case("config-other-layout", lambda tmp: load(edit_config(tmp, lambda c: {**c, "layout_version": 99})),
         CheckpointError, "layout", "99"),
    case("config-missing-model", lambda tmp: load(edit_config(tmp, without("model"))), CheckpointError,
         "config.json", "model"),
    case("config-missing-preprocessing", lambda tmp: load(edit_config(tmp, without("preprocessing"))),
         CheckpointError, "config.json", "preprocessing"),
    case("config-width-string",
         lambda tmp: load(edit_config(tmp, lambda c: {**c, "model": {**c["model"], "width": "2"}})), CheckpointError,
         "config.json", "width"),
    case("weights-missing", lambda tmp: load(_remove(copy(tmp), "model.safetensors")), CheckpointError,
         "model.safetensors"),
    case("weights-wrong-width",
         lambda tmp: load(edit_config(tmp, lambda c: {**c, "model": {**c["model"], "width": 4}})), CheckpointError,
         "model.safetensors"),
    case("statistics-missing-tensor", lambda tmp: load(drop_tensor(tmp, "statistics.safetensors", "view_boxes")),
         CheckpointError, "statistics.safetensors", "view_boxes"),
    case("statistics-corrupt", lambda tmp: load(_write(copy(tmp), "statistics.safetensors", "x")), CheckpointError,
         "statistics.safetensors"),
]

INPUT_CASES = [
    case("fit-model-function", lambda tmp: fit(model=lambda y: y), InputTypeError, "model"),
    case("fit-method", lambda tmp: fit(config={"method": "knn"}), ConfigError, "ScoreConfig.method", "knn"),
    case("fit-nan", lambda tmp: fit(normal=with_value(images(6, 1, 12), float("nan"))), InputError,
         "normal_train_images", "NaN"),
    case("fit-not-square", lambda tmp: fit(normal=images(6, 1, 12, 10), image_size=None), InputError,
         "normal_train_images", "image_size"),
    case("fit-calibration-size", lambda tmp: fit(calibration=images(4, 1, 10)), InputError, "calibration", "10 x 10"),
    case("fit-batch-size", lambda tmp: fit(config={"batch_size": 0}), ConfigError, "ScoreConfig.batch_size"),
    case("score-channels", lambda tmp: _fitted().score(images(2, 3, 12)), InputError, "images", "channel"),
    case("score-size", lambda tmp: _fitted().score(images(2, 1, 16)), InputError, "images", "16 x 16"),
    case("score-range", lambda tmp: _fitted().score(x12 * 255), InputError, "images", "[0, 1]"),
    case("score-uint8", lambda tmp: _fitted().score(x12.to(torch.uint8)), InputTypeError, "images", "uint8"),
    case("predict-uncalibrated", lambda tmp: fit().predict(x12), InputError, "threshold", "calibrate"),
    case("calibrate-labels-length", lambda tmp: _fitted().calibrate(x12, torch.tensor([0, 1])), InputError,
         "labels"),
    case("calibrate-f1-without-anomalies", lambda tmp: _fitted().calibrate(x12, mode="f1"), InputError, "anomal"),
    case("threshold-mode", lambda tmp: calibrate_threshold([0.1, 0.2], None, "median"), InputError, "mode", "median"),
    case("threshold-empty", lambda tmp: calibrate_threshold([], None), InputError, "normal_scores", "empty"),
    case("threshold-nan", lambda tmp: calibrate_threshold([0.1, float("nan")], None), InputError, "NaN"),
    case("threshold-target", lambda tmp: calibrate_threshold([0.1, 0.2], None, target=1.5), InputError, "target"),
    case("calibrate-groups-length", lambda tmp: _fitted().calibrate(x12, groups=["p1"]), InputError, "groups", "3"),
    case("split-calibration-one-group", lambda tmp: split_calibration(x12, 0.5, groups=["p1"] * 3), InputError,
         "1 group", "at least 2"),
    case("split-calibration-groups-length", lambda tmp: split_calibration(x12, 0.5, groups=["p1", "p2"]), InputError,
         "groups", "(3)"),
    case("build-detector-patient-on-both-sides",
         lambda tmp: build_detector(build_model("resnet18", 1, width=2), None, images(4, 1, 12), x12,
                                    ScoreConfig(num_views=1), groups=["a", "a", "b", "b"],
                                    calibration_groups=["b", "c", "c"], group_level="PatientID", progress=False),
         InputError, "PatientID", "'b'", "both in training and in the calibration"),
    case("group-aggregation", lambda tmp: aggregation_name("median"), InputError, "aggregation", "median"),
    case("group-top-k", lambda tmp: group_scores([0.1], ["a"], k=0), InputError, "top-k", "0"),
    case("predict-group-score", lambda tmp: predict_files(_fitted(), [tmp], tmp / "out", group_score="median"),
         InputError, "group_score", "median"),
    case("export-not-a-detector", lambda tmp: ScoringGraph("detector"), InputTypeError, "detector", "str"),
]


def _touch(path: Path) -> Path:
    path.write_text("{}")
    return path


def _write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder


def _remove(folder: Path, name: str) -> Path:
    (folder / name).unlink()
    return folder


@pytest.mark.parametrize("call, error, names", FOLDER_CASES + INPUT_CASES)
def test_detector_rejects(call, error, names, tmp_path):
    assert_raises_naming(call, tmp_path, error, names)
