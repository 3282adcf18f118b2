"""``--config FILE``, ``--print-config`` and exact replay of ``dia-augment train`` and ``train-dissolver``.

A run replayed with ``--config RUN/run.json --out NEW`` (or ``--config RUN/config.json`` with the same
data options) must end with the same weights, bit for bit; options given on the command line win
over the file, the file wins over ``--recipe`` and the defaults; a bad file is one line on stderr
naming the file and the option.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dia_augment.cli import main
from dia_augment.utils.io import load_tensors

#: A tiny DIA run on the embedded images (8 px, width 2, one epoch of two steps), with a resize dissolver.
TINY = ["--data", "embedded", "--load-size", "8", "--mode", "dia", "--dissolver", "resize", "--dissolver-resolution",
        "4", "--width", "2", "--image-size", "8", "--epochs", "1", "--batch-size", "200", "--seed", "3",
        "--no-progress"]


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    """The run every replay must reproduce."""
    out = tmp_path_factory.mktemp("original") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def _run(path: Path) -> dict:
    return json.loads((path / "run.json").read_text())


def _assert_same_files(a: Path, b: Path, *names: str) -> None:
    for name in names:
        first, second = load_tensors(a / name), load_tensors(b / name)
        assert first.keys() == second.keys(), name
        for key, tensor in first.items():
            assert torch.equal(tensor, second[key]), f"{name}: {key}"


def _printed(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def _write(folder: Path, name: str, data) -> Path:
    path = folder / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


# ---- replay ----------------------------------------------------------------------------------
def test_a_run_replayed_from_its_run_json_has_the_same_weights_detector_and_record(original, tmp_path):
    replay = tmp_path / "replay"
    assert main(["train", "--config", str(original / "run.json"), "--out", str(replay)]) == 0
    _assert_same_files(original, replay, "model.safetensors", "detector/model.safetensors",
                       "detector/statistics.safetensors", "train_fingerprints.safetensors")
    first, second = _run(original), _run(replay)
    for key in ("config", "data", "command", "mixed_precision_used", "step"):
        assert first[key] == second[key], key
    assert first["data"]["options"]["calibration_fraction"] == 0.2 and first["data"]["options"]["load_size"] == 8
    assert first["command"]["options"]["dissolver"] == "resize" and first["command"]["options"]["seed"] == 3
    assert (original / "score_config.json").read_text() == (replay / "score_config.json").read_text()
    thresholds = [json.loads((f / "detector" / "config.json").read_text())["threshold"] for f in (original, replay)]
    assert thresholds[0] == thresholds[1]


def test_config_json_with_the_same_data_options_replays_the_run(original, tmp_path):
    replay = tmp_path / "replay"
    argv = ["train", "--config", str(original / "config.json"), "--data", "embedded", "--load-size", "8",
            "--dissolver", "resize", "--dissolver-resolution", "4", "--out", str(replay)]
    assert main(argv) == 0
    _assert_same_files(original, replay, "model.safetensors")
    assert _run(original)["config"] == _run(replay)["config"]


def test_print_config_of_a_run_is_its_record_and_reads_back_the_same(original, tmp_path, capsys):
    printed = _printed(capsys, "train", "--config", str(original / "run.json"), "--print-config")
    assert printed == {**_run(original)["command"]["options"], "log_with": None}
    assert list(printed)[:3] == ["data", "normal_class", "data_seed"]  # the order of --help
    copy = _write(tmp_path, "printed.json", printed)
    assert _printed(capsys, "train", "--config", str(copy), "--print-config") == printed
    assert not (tmp_path / "run").exists()


def test_a_run_recorded_without_its_command_replays_from_its_config_data_options_and_score_settings(original, tmp_path,
                                                                                                      capsys):
    """Runs written before the command record: run.json's config and data options, and score_config.json beside it."""
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    record = _run(original)
    del record["command"]
    _write(legacy, "run.json", record)
    score = {**json.loads((original / "score_config.json").read_text()), "num_views": 3, "hflip": False}
    _write(legacy, "score_config.json", score)
    printed = _printed(capsys, "train", "--config", str(legacy / "run.json"), "--dissolver", "resize",
                       "--dissolver-resolution", "4", "--print-config")
    assert {k: printed[k] for k in ("data", "load_size", "calibration_fraction", "normal_class", "data_seed")} == {
        "data": "embedded", "load_size": 8, "calibration_fraction": 0.2, "normal_class": "normal", "data_seed": 0}
    assert printed["num_views"] == 3 and printed["hflip"] is False and printed["recipe"] is None
    assert {k: printed[k] for k in record["config"]} == record["config"]
    # a dia run needs its dissolver again: the old record does not hold it
    assert main(["train", "--config", str(legacy / "run.json"), "--out", str(tmp_path / "run")]) == 2
    assert f"--config {legacy / 'run.json'}: --mode dia needs --dissolver" in capsys.readouterr().err
    # the reference recipe is the only one that sets the score's shift: its score_config.json names it
    _write(legacy, "score_config.json", {**score, "shift": "rotation"})
    printed = _printed(capsys, "train", "--config", str(legacy / "run.json"), "--print-config")
    assert printed["recipe"] == "reference" and printed["dissolver_weights"] == "online"
    assert printed["optimizer"] == record["config"]["optimizer"] == "sgd"  # the recorded config wins over the recipe


# ---- precedence ------------------------------------------------------------------------------
def test_the_command_line_wins_over_the_file_which_wins_over_the_recipe_and_the_defaults(tmp_path, capsys):
    path = _write(tmp_path, "config.json", {"data": "embedded", "epochs": 3, "width": 2, "load-size": 8,
                                             "crop_scale": [0.5, 1], "slices": [2, None], "log_with": "tensorboard"})
    printed = _printed(capsys, "train", "--config", str(path), "--epochs", "5", "--print-config")
    assert (printed["epochs"], printed["width"], printed["load_size"]) == (5, 2, 8)
    assert printed["crop_scale"] == [0.5, 1.0] and printed["slices"] == [2, None]
    assert printed["log_with"] == ["tensorboard"] and printed["lr"] == 0.1 and printed["recipe"] is None
    # a recipe given on the command line: the file's values still win over it, the rest follows it
    printed = _printed(capsys, "train", "--recipe", "reference", "--config", str(path), "--print-config")
    assert (printed["epochs"], printed["width"], printed["optimizer"], printed["channels"]) == (3, 2, "lars", 3)
    # a recipe named in the file: the same
    recipe = _write(tmp_path, "recipe.json", {"recipe": "reference", "optimizer": "sgd"})
    printed = _printed(capsys, "train", "--config", str(recipe), "--epochs", "2", "--print-config")
    assert (printed["optimizer"], printed["epochs"], printed["lr_schedule"], printed["calibration_fraction"]) == (
        "sgd", 2, "gradual_warmup_cosine", 0.0)
    # an option given on the command line at its default value still wins over the file
    printed = _printed(capsys, "train", "--config", str(path), "--width", "16", "--print-config")
    assert printed["width"] == 16


def test_train_dissolver_reads_a_config_file_too(tmp_path, capsys):
    path = _write(tmp_path, "config.json",
                  {"data": "embedded", "train_steps": 7, "preset": "micro", "betas": [0.5, 0.9]})
    printed = _printed(capsys, "train-dissolver", "--config", str(path), "--resolution", "8", "--print-config")
    assert (printed["train_steps"], printed["preset"], printed["resolution"], printed["betas"]) == (7, "micro", 8,
                                                                                                   [0.5, 0.9])
    assert printed["epochs"] is None and printed["lr"] == 8e-05 and "load_size" not in printed


def _image_folder(root: Path) -> Path:
    for cls, count in (("normal", 15), ("lesion", 5)):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            pixels = np.random.default_rng(i).integers(0, 256, (12, 12), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


def test_a_dissolver_run_records_its_data_options_and_replays_bit_for_bit(tmp_path):
    data = _image_folder(tmp_path / "data")
    original, replay = tmp_path / "original", tmp_path / "replay"
    argv = ["train-dissolver", "--data", str(data), "--normal-class", "normal", "--resolution", "8", "--preset",
            "micro", "--train-steps", "2", "--batch-size", "4", "--grid-images", "0", "--no-progress"]
    assert main([*argv, "--out", str(original)]) == 0
    assert main(["train-dissolver", "--config", str(original / "run.json"), "--out", str(replay)]) == 0
    for weights in ("dissolver/unet/diffusion_pytorch_model.safetensors",
                    "dissolver/unet_online/diffusion_pytorch_model.safetensors"):
        _assert_same_files(original, replay, weights)
    first, second = _run(original), _run(replay)
    assert first["data"] == second["data"] and first["config"] == second["config"]
    assert first["data"]["options"]["data"] == str(data) and first["data"]["options"]["normal_class"] == "normal"
    assert first["command"] == second["command"] and first["command"]["name"] == "train-dissolver"


def test_a_dissolver_run_recorded_without_data_options_still_resumes(tmp_path):
    data = _image_folder(tmp_path / "data")
    out = tmp_path / "run"
    argv = ["train-dissolver", "--data", str(data), "--normal-class", "normal", "--resolution", "8", "--preset",
            "micro", "--batch-size", "4", "--grid-images", "0", "--no-progress", "--out", str(out)]
    assert main([*argv, "--train-steps", "1"]) == 0
    record = _run(out)
    del record["data"]["options"]
    _write(out, "run.json", record)  # as the command wrote it before it recorded data options
    assert main([*argv, "--train-steps", "2", "--resume"]) == 0
    assert _run(out)["step"] == 2 and "options" not in _run(out)["data"]


# ---- mistakes --------------------------------------------------------------------------------
BAD_FILES = [
    ("unknown-option", {"data": "embedded", "epoch": 3}, ["unknown option(s) ['epoch']"]),
    ("wrong-type", {"epochs": "ten"}, ["epochs must be an integer; got 'ten'"]),
    ("out-of-range", {"data": "embedded", "mode": "csi", "epochs": 0}, ["TrainConfig.epochs must be >= 1; got 0"]),
    ("bad-choice", {"optimizer": "adam"}, ["optimizer must be one of"]),
    ("bad-pair", {"crop_scale": [0.5]}, ["crop_scale must be a pair"]),
    ("null", {"epochs": None}, ["epochs must not be null"]),
    ("run-folder-option", {"out": "elsewhere"}, ["--out cannot be set in a config file"]),
    ("not-an-object", [1, 2], ["must hold a JSON object"]),
    ("not-json", "{oops", ["not a JSON file"]),
    ("another-kind-of-run", {"kind": "dissolver", "config": {}, "data": {}},
     ["records a dissolver run", "dia-augment train-dissolver"]),
]


@pytest.mark.parametrize("content, names", [pytest.param(c, n, id=i) for i, c, n in BAD_FILES])
def test_a_bad_config_file_is_one_line_naming_the_file_and_the_option(content, names, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIA_AUGMENT_DEBUG", raising=False)
    _write(tmp_path, "config.json", content)
    assert main(["train", "--config", "config.json", "--out", "run"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    assert lines[0].startswith("dia-augment train: error: --config config.json")
    for name in names:
        assert name in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "--config", "missing.json", "--out", "run"], "--config file not found: missing.json"),
    (["train", "--out", "run"], "--data is required: give it on the command line or in the --config file"),
    (["train-dissolver", "--data", "embedded", "--train-steps", "1"], "--out is required"),
])
def test_a_missing_file_data_or_run_folder_is_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIA_AUGMENT_DEBUG", raising=False)
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_a_replay_into_its_own_folder_is_refused_like_any_run(original, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    assert main(["train", "--config", str(copy / "run.json"), "--out", str(copy)]) == 2
    assert "already holds a finished contrastive run" in capsys.readouterr().err
