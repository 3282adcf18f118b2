"""The one convention for config dataclasses: typed fields, validation, JSON, help text.

A config is a frozen dataclass whose docstring's ``Args:`` section documents every field. A
field's ``metadata`` may hold ``choices`` (allowed values) and ``min`` (inclusive lower bound of a
number). :func:`check_fields` (called from ``__post_init__``) checks every field against its
type annotation and metadata, raising :class:`~dia_augment.errors.ConfigError` that names
``Class.field``: ints must be ints (``2.5`` is rejected, never truncated), floats accept ints,
pairs are two-element sequences (stored as tuples). :func:`config_to_dict` /
:func:`config_from_dict` are the JSON form (pairs as lists); :func:`field_help` feeds the command
line, whose options :mod:`dia_augment.cli._config_options` generates from the fields.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any

from dia_augment.errors import ConfigError

__all__ = ["JsonConfig", "check_fields", "config_to_dict", "config_from_dict", "field_help", "field_types", "unwrap_optional"]


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type annotation of each field of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``(inner type, optional)`` of ``X | None`` (or ``(tp, False)``)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


#: The scalar field types: what each accepts (never a bool for a number) and how its error names it.
_SCALARS = {bool: (bool, "true or false"), int: (int, "an integer"), float: ((int, float), "a number"),
            str: (str, "a string")}


def _coerce(value: Any, tp: Any, where: str) -> Any:
    tp, optional = unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where} must not be None")
    if typing.get_origin(tp) is tuple:
        items = typing.get_args(tp)
        if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or len(value) != len(items):
            raise ConfigError(f"{where} must be a pair of {items[0].__name__}s; got {value!r}")
        return tuple(_coerce(v, t, where) for v, t in zip(value, items))
    if tp in _SCALARS:
        accepted, expected = _SCALARS[tp]
        if not isinstance(value, accepted) or (isinstance(value, bool) and tp is not bool):
            raise ConfigError(f"{where} must be {expected}; got {value!r}")
        return float(value) if tp is float else value
    return value


def check_fields(config: Any) -> None:
    """Coerce and check every field of a (frozen) config dataclass in place.

    Raises:
        ConfigError: a value of the wrong type, outside its ``choices``, or below its ``min``.

    Examples:
        >>> @dataclasses.dataclass(frozen=True)
        ... class C:
        ...     n: int = dataclasses.field(default=1, metadata={"min": 1})
        ...     def __post_init__(self):
        ...         check_fields(self)
        >>> C(n=2.5)
        Traceback (most recent call last):
        ...
        dia_augment.errors.ConfigError: C.n must be an integer; got 2.5
    """
    cls = type(config)
    types_ = field_types(cls)
    for f in dataclasses.fields(cls):
        where = f"{cls.__name__}.{f.name}"
        value = _coerce(getattr(config, f.name), types_[f.name], where)
        object.__setattr__(config, f.name, value)
        if value is None:
            continue
        choices, low = f.metadata.get("choices"), f.metadata.get("min")
        if choices is not None and value not in choices:
            raise ConfigError(f"{where} must be one of {tuple(choices)}; got {value!r}")
        if low is not None and any(v < low for v in (value if isinstance(value, tuple) else (value,))):
            raise ConfigError(f"{where} must be >= {low}; got {value!r}")


def config_to_dict(config: Any) -> dict[str, Any]:
    """The JSON form of a config: every field, pairs as lists.

    Examples:
        >>> from dia_augment.train.config import TrainConfig
        >>> config_to_dict(TrainConfig())["crop_scale"]
        [0.08, 1.0]
    """
    return {f.name: list(v) if isinstance(v := getattr(config, f.name), tuple) else v for f in dataclasses.fields(config)}


def config_defaults(cls: type) -> dict[str, Any]:
    """The JSON form of a config class's field defaults (fields without one are left out).

    Examples:
        >>> from dia_augment.train.config import DissolverTrainConfig
        >>> config_defaults(DissolverTrainConfig)["betas"]
        [0.9, 0.99]
    """
    return {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
            for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def config_from_dict(cls: type, data: Any, source: str = "config") -> Any:
    """Rebuild a config from :func:`config_to_dict` output; ``source`` names the file in errors.

    Raises:
        ConfigError: not a JSON object, an unknown field, a missing required field, or a bad
            value (the message names ``source`` and the field).

    Examples:
        >>> from dia_augment.train.config import TrainConfig
        >>> config_from_dict(TrainConfig, {"epochs": "2"}, "run/config.json")
        Traceback (most recent call last):
        ...
        dia_augment.errors.ConfigError: run/config.json: TrainConfig.epochs must be an integer; got '2'
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a {cls.__name__} must be a JSON object; got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown {cls.__name__} fields {unknown}")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{source}: {cls.__name__} is missing the field(s) {missing}")
    try:
        return cls(**data)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def field_help(cls: type) -> dict[str, str]:
    """Each field's help text, from the ``Args:`` section of the class docstring.

    Examples:
        >>> from dia_augment.train.config import TrainConfig
        >>> field_help(TrainConfig)["crop_scale"]
        "range of the SimCLR crop's area."
    """
    doc = cls.__doc__ or ""
    section = doc.split("Args:", 1)[1] if "Args:" in doc else ""
    section = re.split(r"\n\s*\n\s*\w[\w ]*:\n", section, maxsplit=1)[0]
    helps: dict[str, str] = {}
    name = None
    for line in section.splitlines():
        match = re.match(r"\s{8}(\w+): (.*)", line)
        if match:
            name = match.group(1)
            helps[name] = match.group(2).strip()
        elif name and line.strip():
            helps[name] += " " + line.strip()
    return {name: text.replace("``", "") for name, text in helps.items()}


class JsonConfig:
    """The JSON form every config dataclass shares: :meth:`to_dict` and :meth:`from_dict`."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (:func:`config_to_dict`)."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> Any:
        """Rebuild from :meth:`to_dict` output (unknown keys or bad values raise a ``ConfigError``)."""
        return config_from_dict(cls, data, source)
