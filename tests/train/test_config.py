"""The config surface: frozen dataclasses checked field by field, one JSON form, and a command line
generated from the fields (every field reachable, help from the docstring, defaults shown)."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from dia_augment.cli import build_parser
from dia_augment.cli._config_options import add_config_options, config_from_args
from dia_augment.errors import CheckpointError, ConfigError
from dia_augment.train import DissolverTrainConfig, TrainConfig, load_model
from dia_augment.utils.config import config_from_dict, field_help


@pytest.mark.parametrize("cls", [TrainConfig, DissolverTrainConfig])
def test_every_field_is_documented_and_round_trips_through_json(cls):
    config = cls() if cls is TrainConfig else cls(train_steps=5)
    assert set(field_help(cls)) == {f.name for f in dataclasses.fields(cls)}
    assert cls.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(step_range=(25.5, 100)), "TrainConfig.step_range must be an integer; got 25.5"),
        (dict(step_range=(100, 30)), "TrainConfig.step_range must be"),
        (dict(step_range=(-1, 30)), "TrainConfig.step_range must be >= 0"),
        (dict(epochs=2.0), "TrainConfig.epochs must be an integer"),
        (dict(width=True), "TrainConfig.width must be an integer"),
        (dict(lr="0.1"), "TrainConfig.lr must be a number"),
        (dict(crop_scale=0.5), "TrainConfig.crop_scale must be a pair"),
        (dict(crop_scale=(0.5, 1.5)), "TrainConfig.crop_scale must satisfy"),
        (dict(num_shifts=5), r"TrainConfig.num_shifts must be one of \(1, 2, 3, 4\)"),
        (dict(shift_loss_on_dissolved=1), "TrainConfig.shift_loss_on_dissolved must be true or false"),
    ],
)
def test_bad_values_raise_a_config_error_naming_the_field(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_a_config_file_of_the_wrong_type_or_without_its_keys_names_the_file_and_field(tmp_path):
    with pytest.raises(ConfigError, match=r"run/config\.json: TrainConfig\.epochs must be an integer; got '3'"):
        config_from_dict(TrainConfig, {"epochs": "3"}, "run/config.json")
    with pytest.raises(ConfigError, match=r"run/config\.json: a TrainConfig must be a JSON object; got list"):
        config_from_dict(TrainConfig, [], "run/config.json")
    with pytest.raises(ConfigError, match=r"unknown TrainConfig fields \['colour'\]"):
        config_from_dict(TrainConfig, {"colour": 1}, "run/config.json")
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "config.json").write_text(json.dumps({"mode": "dia", "width": "wide"}))
    with pytest.raises(CheckpointError, match=r"config\.json.*TrainConfig\.width must be an integer; got 'wide'"):
        load_model(tmp_path)


def _subparser(name):
    parser = build_parser()
    return next(a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction)).choices[name]


@pytest.mark.parametrize("command, cls", [("train", TrainConfig), ("train-dissolver", DissolverTrainConfig)])
def test_every_field_is_an_option_with_its_default_and_help(command, cls):
    parser = _subparser(command)
    options = {a.dest: a for a in parser._actions}
    for f in dataclasses.fields(cls):
        assert f.name in options, f.name
        assert options[f.name].default == f.default, f.name
        assert options[f.name].help == field_help(cls)[f.name], f.name
    assert "(default: %(default)s)" in parser.formatter_class(prog="x")._get_help_string(options["seed"])


def test_the_command_line_reproduces_the_examples_config():
    """examples/train_csi.py sets crop_scale (0.5, 1); `dia-augment train` can now say so."""
    parser = argparse.ArgumentParser()
    add_config_options(parser, TrainConfig)
    args = parser.parse_args(["--crop-scale", "0.5", "1", "--epochs", "3", "--step-range", "30", "60",
                              "--shift-loss-on-dissolved", "--weight-decay", "0.0005", "--no-progress"])
    assert config_from_args(TrainConfig, args) == TrainConfig(
        crop_scale=(0.5, 1.0), epochs=3, step_range=(30, 60), shift_loss_on_dissolved=True, weight_decay=5e-4,
        progress=False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--step-range", "25.5", "100"])  # not truncated: refused
