"""Bad inputs to training: config fields, config files, saved models, run folders and resumed checkpoints.

Checkpoint cases train a micro run of one or two optimiser steps once, then damage a copy.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from dia_augment.errors import CheckpointError, ConfigError, InputError, InputTypeError, MissingFileError, RunFolderError
from dia_augment.filters import GaussianDissolving
from dia_augment.train import DissolverTrainConfig, TrainConfig, load_model, train_dissolver, train_model
from dia_augment.utils.config import config_from_dict
from dia_augment.utils.io import atomic_save_tensors, load_tensors
from tests.bad_inputs import assert_raises_naming, case, images, with_value


#: A contrastive run small enough to train in about a second.
TINY = {"mode": "simclr", "width": 2, "image_size": 8, "epochs": 1, "batch_size": 4, "progress": False}
#: A dissolver run small enough to train in about a second.
MICRO = {"resolution": 8, "preset": "micro", "train_steps": 2, "batch_size": 4, "grid_images": 0, "progress": False}


def config(**changes) -> TrainConfig:
    return TrainConfig(**{**TINY, **changes})


def dissolver_config(**changes) -> DissolverTrainConfig:
    return DissolverTrainConfig(**{**MICRO, **changes})


@functools.cache
def _trained_model() -> Path:
    out = Path(tempfile.mkdtemp()) / "model"
    train_model(config(), images(4, 1, 8), out_dir=out)
    return out


@functools.cache
def _trained_dissolver() -> Path:
    out = Path(tempfile.mkdtemp()) / "dissolver_run"
    train_dissolver(dissolver_config(), images(8, 1, 8), out)
    return out


def copy(source: Path, tmp: Path) -> Path:
    return Path(shutil.copytree(source, tmp / source.name))


def edit_json(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def model_with_config(tmp: Path, change) -> Path:
    folder = copy(_trained_model(), tmp)
    edit_json(folder / "config.json", change)
    return folder


def model_with_weights(tmp: Path, tensors: dict | bytes) -> Path:
    folder = copy(_trained_model(), tmp)
    if isinstance(tensors, bytes):
        (folder / "model.safetensors").write_bytes(tensors)
    else:
        atomic_save_tensors(tensors, folder / "model.safetensors")
    return folder


def first_tensors(n: int) -> dict:
    state = load_tensors(_trained_model() / "model.safetensors")
    return dict(list(state.items())[:n])


def checkpoint_state(run: Path) -> Path:
    states = sorted(run.glob("checkpoints/*/state.json"))
    assert states, f"no checkpoint in {run}"
    return states[-1]


def resume_dissolver_with_state(tmp: Path, change) -> None:
    run = copy(_trained_dissolver(), tmp)
    edit_json(checkpoint_state(run), change)
    train_dissolver(dissolver_config(train_steps=3), images(8, 1, 8), run, resume=True)


CONFIG_CASES = [
    case("mode", lambda tmp: config(mode="supervised"), ConfigError, "TrainConfig.mode", "supervised"),
    case("epochs-zero", lambda tmp: config(epochs=0), ConfigError, "TrainConfig.epochs"),
    case("epochs-float", lambda tmp: config(epochs=2.5), ConfigError, "TrainConfig.epochs", "2.5"),
    case("batch-size-bool", lambda tmp: config(batch_size=True), ConfigError, "TrainConfig.batch_size"),
    case("lr-negative", lambda tmp: config(lr=-0.1), ConfigError, "TrainConfig.lr"),
    case("temperature-zero", lambda tmp: config(temperature=0.0), ConfigError, "TrainConfig.temperature"),
    case("crop-scale-above-one", lambda tmp: config(crop_scale=(0.5, 2.0)), ConfigError, "TrainConfig.crop_scale"),
    case("crop-scale-one-value", lambda tmp: config(crop_scale=(0.5,)), ConfigError, "TrainConfig.crop_scale"),
    case("step-range-non-integer", lambda tmp: config(step_range=(30.5, 100)), ConfigError, "TrainConfig.step_range",
         "30.5"),
    case("step-range-inverted", lambda tmp: config(step_range=(100, 30)), ConfigError, "TrainConfig.step_range"),
    case("num-shifts-five", lambda tmp: config(num_shifts=5), ConfigError, "TrainConfig.num_shifts"),
    case("in-channels-two", lambda tmp: config(in_channels=2), ConfigError, "TrainConfig.in_channels"),
    case("dissolver-resolution-zero", lambda tmp: dissolver_config(resolution=0), ConfigError,
         "DissolverTrainConfig.resolution"),
    case("dissolver-loss", lambda tmp: dissolver_config(loss="l3"), ConfigError, "DissolverTrainConfig.loss", "l3"),
    case("dissolver-steps-float", lambda tmp: dissolver_config(train_steps=2.5), ConfigError,
         "DissolverTrainConfig.train_steps"),
    case("dissolver-holdout", lambda tmp: dissolver_config(holdout=1.5), ConfigError, "DissolverTrainConfig.holdout"),
    case("from-dict-list", lambda tmp: config_from_dict(TrainConfig, [1], "run/config.json"), ConfigError,
         "run/config.json", "JSON object"),
    case("from-dict-unknown-field", lambda tmp: config_from_dict(TrainConfig, {"epoch": 2}, "run/config.json"),
         ConfigError, "run/config.json", "epoch"),
    case("from-dict-string-int", lambda tmp: config_from_dict(TrainConfig, {"epochs": "2"}, "run/config.json"),
         ConfigError, "run/config.json", "TrainConfig.epochs"),
]

MODEL_FILE_CASES = [
    case("load-missing", lambda tmp: load_model(tmp / "no_model"), MissingFileError, "no_model"),
    case("load-empty-folder", lambda tmp: load_model(tmp), CheckpointError, "model.safetensors"),
    case("load-config-list", lambda tmp: load_model(model_with_config(tmp, lambda c: [c])), CheckpointError,
         "config.json"),
    case("load-config-unknown-field", lambda tmp: load_model(model_with_config(tmp, lambda c: {**c, "depth": 3})),
         CheckpointError, "config.json", "depth"),
    case("load-config-wrong-type", lambda tmp: load_model(model_with_config(tmp, lambda c: {**c, "width": "2"})),
         CheckpointError, "config.json", "width"),
    case("load-config-bad-choice", lambda tmp: load_model(model_with_config(tmp, lambda c: {**c, "model": "vit"})),
         CheckpointError, "config.json", "model"),
    case("load-config-corrupt", lambda tmp: load_model(_write(copy(_trained_model(), tmp), "config.json", "{")),
         CheckpointError, "config.json", "JSON"),
    case("load-weights-missing-tensors", lambda tmp: load_model(model_with_weights(tmp, first_tensors(3))),
         CheckpointError, "model.safetensors"),
    case("load-weights-corrupt", lambda tmp: load_model(model_with_weights(tmp, b"\x00" * 16)), CheckpointError,
         "model.safetensors"),
    case("load-weights-other-width",
         lambda tmp: load_model(model_with_config(tmp, lambda c: {**c, "width": 4})), CheckpointError,
         "model.safetensors"),
]

RUN_CASES = [
    case("train-images-nan", lambda tmp: train_model(config(), with_value(images(4, 1, 8), float("nan")), out_dir=tmp),
         InputError, "training images", "NaN"),
    case("train-images-3d", lambda tmp: train_model(config(), images(4, 1, 8)[0], out_dir=tmp), InputError,
         "training images"),
    case("train-images-list", lambda tmp: train_model(config(), [images(1, 1, 8)[0]], out_dir=tmp), InputTypeError,
         "images"),
    case("train-dia-without-dissolver", lambda tmp: train_model(config(mode="dia"), images(4, 1, 8), out_dir=tmp),
         ConfigError, "dissolver"),
    case("train-batch-larger-than-data", lambda tmp: train_model(config(batch_size=8), images(4, 1, 8), out_dir=tmp),
         ConfigError, "batch_size", "8"),
    case("train-channels-mismatch",
         lambda tmp: train_model(config(in_channels=3), images(4, 1, 8), out_dir=tmp), ConfigError, "in_channels"),
    case("train-into-another-run", lambda tmp: train_model(config(), images(4, 1, 8), out_dir=copy(_trained_model(), tmp)),
         RunFolderError, "model"),
    case("train-resume-and-overwrite",
         lambda tmp: train_model(config(), images(4, 1, 8), out_dir=tmp, resume=True, overwrite=True), RunFolderError,
         "resume", "overwrite"),
    case("train-resume-other-settings",
         lambda tmp: train_model(config(lr=0.5), images(4, 1, 8), out_dir=copy(_trained_model(), tmp), resume=True),
         RunFolderError, "lr"),
    case("train-dia-gaussian-images-too-small",
         lambda tmp: train_model(config(mode="dia"), images(4, 1, 2), GaussianDissolving(), out_dir=tmp), InputError,
         "images"),
    case("dissolver-images-nan",
         lambda tmp: train_dissolver(dissolver_config(), with_value(images(8, 1, 8), float("nan")), tmp), InputError,
         "NaN"),
    case("dissolver-too-few-images", lambda tmp: train_dissolver(dissolver_config(), images(2, 1, 8), tmp), InputError,
         "images"),
    case("dissolver-into-another-run",
         lambda tmp: train_dissolver(dissolver_config(), images(8, 1, 8), copy(_trained_dissolver(), tmp)),
         RunFolderError, "dissolver_run"),
    case("dissolver-resume-state-step-string", lambda tmp: resume_dissolver_with_state(tmp, lambda s: {**s, "step": "2"}),
         CheckpointError, "state.json", "step"),
    case("dissolver-resume-state-list", lambda tmp: resume_dissolver_with_state(tmp, lambda s: [s]), CheckpointError,
         "state.json"),
    case("dissolver-resume-state-missing-step",
         lambda tmp: resume_dissolver_with_state(tmp, lambda s: {k: v for k, v in s.items() if k != "step"}),
         CheckpointError, "state.json", "step"),
]


def _write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("call, error, names", CONFIG_CASES + MODEL_FILE_CASES + RUN_CASES)
def test_training_rejects(call, error, names, tmp_path):
    assert_raises_naming(call, tmp_path, error, names)


def test_a_rejected_run_leaves_no_run_folder(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(InputError):
        train_model(config(), with_value(images(4, 1, 8), float("nan")), out_dir=out)
    assert not out.exists(), "the images were checked only after the run folder was created"
