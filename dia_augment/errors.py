"""The package's error vocabulary.

Every error the library raises for a caller's mistake is one of these classes. Each subclasses
the built-in exception a caller already catches (``ValueError``, ``TypeError``,
``FileNotFoundError``, ``RuntimeError``), so ``except ValueError`` keeps working, and all of them
subclass :class:`DiaError`, which the command line turns into a one-line message (exit status 2
for a usage mistake, 1 for a failure) instead of a traceback.

Messages name the argument, file or field at fault and say what to do.

Examples:
    >>> from dia_augment.errors import DiaError, InputError
    >>> try:
    ...     raise InputError("images must be in [0, 1]; got values in [0, 255] (divide by 255)")
    ... except ValueError as error:
    ...     isinstance(error, DiaError), str(error)
    (True, 'images must be in [0, 1]; got values in [0, 255] (divide by 255)')
"""

from __future__ import annotations

__all__ = [
    "DiaError",
    "InputError",
    "InputTypeError",
    "ConfigError",
    "DataError",
    "MissingFileError",
    "CheckpointError",
    "MissingCheckpointError",
    "RunFolderError",
]


class DiaError(Exception):
    """Base of every error the library raises on purpose; ``exit_code`` is the CLI's exit status."""

    exit_code: int = 1


class InputError(DiaError, ValueError):
    """A value passed to a public function is wrong: shape, range, NaN, empty, out of bounds."""

    exit_code = 2


class InputTypeError(DiaError, TypeError):
    """A value passed to a public function has the wrong type or dtype."""

    exit_code = 2


class ConfigError(DiaError, ValueError):
    """A configuration (a dataclass, a command's options, a config file's fields) is invalid."""

    exit_code = 2


class DataError(DiaError, ValueError):
    """A data set on disk cannot be used as asked; the message names the file or folder and the problem."""


class MissingFileError(DiaError, FileNotFoundError):
    """A file or folder the caller named does not exist."""

    exit_code = 2


class CheckpointError(DiaError, RuntimeError):
    """A checkpoint, saved model or detector folder is missing, corrupt, or of the wrong kind."""


class MissingCheckpointError(CheckpointError, MissingFileError):
    """A checkpoint, saved model or detector folder the caller named does not exist.

    Both a :class:`CheckpointError` and a :class:`MissingFileError` (so a ``FileNotFoundError``):
    code that catches either keeps working, and the command line treats it as a usage mistake.
    """

    exit_code = 2


class RunFolderError(DiaError, RuntimeError):
    """An output folder holds another run (or a finished one) and would be overwritten or mixed."""

    exit_code = 2

