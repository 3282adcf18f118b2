"""Command-line options generated from a config dataclass, and config files of a command's options.

:func:`add_config_options` adds one ``--field-name`` per field of a config dataclass. The type
comes from the field's annotation (``bool`` fields get ``--name`` / ``--no-name``; pairs take two
values), the choices from its metadata, the help text from the class docstring's ``Args:`` section
and the default from the field itself, so nothing is written twice.

:func:`add_config_file_options` gives a training command ``--config FILE`` and ``--print-config``.
A config file is a JSON object of the command's option names (``"epochs": 2``, ``"load_size": 8``;
pairs as lists), what ``--print-config`` prints; a run's ``run.json`` (its config, its data options,
the settings of the command that made it, and ``score_config.json`` beside it) or ``config.json``
(the config's fields) are read as such files. Options given on the command line win over the
file, the file wins over ``--recipe``, and ``--recipe`` over the defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dia_augment.errors import ConfigError, MissingFileError
from dia_augment.utils.config import unwrap_optional, field_help, field_types

__all__ = ["add_config_options", "config_from_args", "add_config_file_options", "apply_config_file",
           "naming_the_file", "resolved_options", "print_config", "record_command", "COMMAND_LINE_ONLY"]

#: Options a config file cannot set: where the run goes and what to do with a folder holding one.
COMMAND_LINE_ONLY = ("out", "resume", "overwrite", "config", "print_config", "help")
#: The key of ``run.json`` that holds the options of the command that made the run (what replays it).
COMMAND_RECORD = "command"
#: The options a run's record leaves out: trackers do not change a run, so a replay does not inherit them.
_NOT_RECORDED = ("log_with",)
#: Data options a run records that no option sets: the command derives them (from ``--data-seed``, the data).
_DERIVED_DATA_OPTIONS = ("calibration_seed", "calibration_by")
_GIVEN = "_given_options"
_FROM_FILE = "_config_file_options"
_ACTIONS = "_option_actions"


def add_config_options(parser: argparse.ArgumentParser, cls: type, only: tuple[str, ...] | None = None,
                       title: str | None = None) -> None:
    """Add one option per field of the config dataclass ``cls`` (or of its fields ``only``) to ``parser``.

    Examples:
        >>> from dia_augment.train.config import TrainConfig
        >>> parser = argparse.ArgumentParser()
        >>> add_config_options(parser, TrainConfig)
        >>> args = parser.parse_args(["--crop-scale", "0.5", "1", "--no-progress"])
        >>> config_from_args(TrainConfig, args).crop_scale, args.progress
        ((0.5, 1.0), False)
    """
    helps, types = field_help(cls), field_types(cls)
    group = parser.add_argument_group(title or f"{cls.__name__} (the run's settings)")
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": f.default, "help": helps.get(f.name, "")}
        tp, _ = unwrap_optional(types[f.name])
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif getattr(tp, "__origin__", None) is tuple:
            kwargs.update(nargs=2, type=tp.__args__[0], metavar=("LOW", "HIGH"))
        else:
            kwargs.update(type=tp, choices=f.metadata.get("choices"))
        group.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """Build ``cls`` from the parsed options of :func:`add_config_options` (``overrides`` win)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **overrides})


# ---- config files ------------------------------------------------------------------------------
def _records_given(action: argparse.Action) -> None:
    """Make ``action`` note its destination in the namespace when the command line gives it."""
    base = type(action)

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001, N807
        base.__call__(self, parser, namespace, values, option_string)
        setattr(namespace, _GIVEN, getattr(namespace, _GIVEN, frozenset()) | {self.dest})

    action.__class__ = type(base.__name__, (base,), {"__call__": __call__})


def add_config_file_options(parser: argparse.ArgumentParser, recipe: dict[str, Any] | None = None) -> None:
    """Add ``--config FILE`` and ``--print-config``; call it after every other option of the command.

    Every option then notes when the command line gives it, so that :func:`apply_config_file` lets
    it win over the file.

    Args:
        parser: the command's parser.
        recipe: what ``--recipe reference`` sets (option name -> value), applied by
            :func:`apply_config_file` when the file names the recipe.

    Examples:
        >>> parser = argparse.ArgumentParser()
        >>> _ = parser.add_argument("--epochs", type=int, default=10)
        >>> _ = parser.add_argument("--width", type=int, default=16)
        >>> add_config_file_options(parser)
        >>> import json, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "config.json"
        >>> _ = path.write_text(json.dumps({"epochs": 3, "width": 2}))
        >>> args = apply_config_file(parser.parse_args(["--config", str(path), "--width", "8"]), "train")
        >>> args.epochs, args.width
        (3, 8)
        >>> resolved_options(args)
        {'epochs': 3, 'width': 8}
    """
    group = parser.add_argument_group("config files and replay")
    group.add_argument("--config", default=None, metavar="FILE",
                       help="read the options from a JSON file: an object of option names (what --print-config "
                       "prints), or a run's run.json (replays the run: its settings, data and detector options) or "
                       "config.json; options given on the command line win over the file")
    group.add_argument("--print-config", action="store_true",
                       help="print the resolved options as JSON (the form --config reads) and exit without training")
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest != argparse.SUPPRESS}
    for action in actions.values():
        if not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            _records_given(action)
    parser.set_defaults(**{_GIVEN: frozenset(), _ACTIONS: (actions, dict(recipe or {}))})


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def resolved_options(args: argparse.Namespace, record: bool = False) -> dict[str, Any]:
    """The command's options as a config file holds them (what ``--print-config`` prints).

    Every option but those of :data:`COMMAND_LINE_ONLY`, in the order of ``--help``; pairs as lists.
    ``record=True`` also leaves out the trackers (what a run records for its replay).
    """
    actions, _ = getattr(args, _ACTIONS)
    skip = (*COMMAND_LINE_ONLY, *(_NOT_RECORDED if record else ()))
    return {dest: _json_value(getattr(args, dest)) for dest in actions if dest not in skip}


def print_config(args: argparse.Namespace) -> None:
    """Print :func:`resolved_options` as indented JSON on stdout."""
    print(json.dumps(resolved_options(args), indent=2))


def record_command(out_dir: str | Path, command: str, args: argparse.Namespace) -> None:
    """Record the command's options in the run's ``run.json`` (``"command"``), what ``--config RUN/run.json`` replays.

    Written once the run has trained (``run.json`` exists); by the main process only.
    """
    from dia_augment.utils.distributed import rank
    from dia_augment.utils.io import atomic_write_json, read_json

    path = Path(out_dir) / "run.json"
    if rank() != 0 or not path.is_file():
        return
    run = read_json(path, what="run record")
    run[COMMAND_RECORD] = {"name": command, "options": resolved_options(args, record=True)}
    atomic_write_json(path, run)


def _read_file(path: Path) -> Any:
    if not path.is_file():
        raise MissingFileError(f"--config file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"--config {path}: not a JSON file ({err})") from err


def _is_run_record(data: dict[str, Any]) -> bool:
    return isinstance(data.get("config"), dict) and isinstance(data.get("data"), dict) and "kind" in data


def _from_run_record(data: dict[str, Any], path: Path, command: str, kind: str, options: set[str],
                     score_options: tuple[str, ...]) -> dict[str, Any]:
    """The options of a run record: its config, data options, ``score_config.json`` beside it and recorded command."""
    if data["kind"] != kind:
        other = {"contrastive": "train", "dissolver": "train-dissolver"}.get(data["kind"], "another command")
        raise ConfigError(f"--config {path} records a {data['kind']} run, not a {kind} run: replay it with "
                          f"dia-augment {other}")
    values = dict(data["config"])
    from dia_augment.data.options import DataOptions

    defaults = DataOptions("").to_dict()
    for name, value in (data["data"].get("options") or {}).items():
        if name in _DERIVED_DATA_OPTIONS or (name not in options and value == defaults.get(name)):
            continue
        values[name] = value
    score = path.parent / "score_config.json"
    if score_options and score.is_file():
        recorded = _read_file(score)
        if isinstance(recorded, dict):  # its other fields (seed, shift, batch_size...) are not these options
            values.update({k: v for k, v in recorded.items() if k in score_options})
            if recorded.get("shift") is not None and "recipe" in options:  # only the reference recipe sets it
                values["recipe"] = "reference"
    command_record = data.get(COMMAND_RECORD)
    if isinstance(command_record, dict) and command_record.get("name") == command:
        values.update(command_record.get("options") or {})
    return values


def _convert(action: argparse.Action, value: Any, where: str) -> Any:
    """A JSON value of a config file as the command line's parsing of ``action`` gives it."""
    if value is None:
        if action.default is None:
            return None
        raise ConfigError(f"{where} must not be null")
    if isinstance(action, (argparse.BooleanOptionalAction, argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false; got {value!r}")
        return value
    if action.nargs in ("+", "*"):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where} must be a value or a list of values; got {value!r}")
        return [_convert_one(action, item, where) for item in items]
    if action.nargs == 2:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"{where} must be a pair [LOW, HIGH]; got {value!r}")
        return tuple(_convert_one(action, item, where) for item in value)
    if isinstance(value, list) and action.dest == "slices":  # recorded as [start, stop]
        if len(value) != 2 or not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in value):
            raise ConfigError(f"{where} must be [START, STOP] (ints or null); got {value!r}")
        return tuple(value)
    return _convert_one(action, value, where)


def _convert_one(action: argparse.Action, value: Any, where: str) -> Any:
    kind = action.type
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{where} must be an integer; got {value!r}")
    elif kind is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where} must be a number; got {value!r}")
        value = float(value)
    elif kind in (None, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string; got {value!r}")
    else:  # a parsing function of the command line (a window, a ratio, START:STOP): given its text
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where}: cannot read {value!r}")
        try:
            value = kind(str(value))
        except (argparse.ArgumentTypeError, ValueError, TypeError) as err:
            raise ConfigError(f"{where}: {err}") from err
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"{where} must be one of {tuple(action.choices)}; got {value!r}")
    return value


def apply_config_file(args: argparse.Namespace, command: str, kind: str | None = None,
                      score_options: tuple[str, ...] = ()) -> argparse.Namespace:
    """The options of ``args`` with those of its ``--config`` file: the command line's win, the file's win over
    ``--recipe`` and the defaults.

    Args:
        args: the parsed options of a command that called :func:`add_config_file_options`.
        command: the command's name (``"train"``), for messages and a run's recorded command.
        kind: the kind of run the command makes (``"contrastive"``, ``"dissolver"``): a ``run.json``
            of another kind is refused.
        score_options: the options a run's ``score_config.json`` (beside its ``run.json``) sets.

    Returns:
        A new namespace (``args`` when there is no file).

    Raises:
        MissingFileError: the file does not exist.
        ConfigError: the file is not a JSON object, names an unknown option or one of
            :data:`COMMAND_LINE_ONLY`, or holds a value of the wrong type (the message names the file
            and the option).
    """
    if getattr(args, "config", None) is None:
        return args
    path = Path(args.config)
    data = _read_file(path)
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path} must hold a JSON object of option names; got a {type(data).__name__}")
    actions, recipe = getattr(args, _ACTIONS)
    options = {dest for dest in actions if dest not in COMMAND_LINE_ONLY}
    if _is_run_record(data):
        values = _from_run_record(data, path, command, kind or "", options, score_options)
    else:
        values = {str(k).replace("-", "_"): v for k, v in data.items()}
    fixed = sorted(k for k in values if k in COMMAND_LINE_ONLY)
    if fixed:
        raise ConfigError(f"--config {path}: {', '.join('--' + k.replace('_', '-') for k in fixed)} cannot be set in a "
                          "config file; give it on the command line")
    unknown = sorted(k for k in values if k not in options)
    if unknown:
        raise ConfigError(f"--config {path}: unknown option(s) {unknown} of dia-augment {command} (a config file holds "
                          f"option names, as --print-config prints them)")
    given = getattr(args, _GIVEN)
    merged = vars(args).copy()
    for dest, value in values.items():
        if dest not in given:
            merged[dest] = _convert(actions[dest], value, f"--config {path}: {dest}")
    if merged.get("recipe") is not None and "recipe" not in given:  # the file's recipe, under the file's options
        for name, value in recipe.items():
            if name in actions and name not in given and name not in values and merged[name] == actions[name].default:
                merged[name] = tuple(value) if isinstance(value, list) else value
    merged[_FROM_FILE] = frozenset(values) - given
    return argparse.Namespace(**merged)


@contextlib.contextmanager
def naming_the_file(args: argparse.Namespace) -> Iterator[None]:
    """Prefix ``--config FILE:`` to a :class:`ConfigError` raised inside that names an option the file set.

    Building a config from the options checks their ranges and how they fit together; an error
    about a value that came from the file then names the file too.
    """
    try:
        yield
    except ConfigError as err:
        message, names = str(err), getattr(args, _FROM_FILE, frozenset())
        if any(re.search(rf"\b{re.escape(name)}\b", message) for name in names) and args.config not in message:
            raise ConfigError(f"--config {args.config}: {message}") from err
        raise
