"""Command-line options generated from a config dataclass: one ``--field-name`` per field.

The type comes from the field's annotation (``bool`` fields get ``--name`` / ``--no-name``; pairs
take two values), the choices from its metadata, the help text from the class docstring's ``Args:``
section and the default from the field itself, so nothing is written twice.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from dia_augment.utils.config import unwrap_optional, field_help, field_types

__all__ = ["add_config_options", "config_from_args"]


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
