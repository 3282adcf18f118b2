"""The ``dia-augment`` command line.

Every module in this package that defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int`` becomes a sub-command (``dia-augment NAME ...``).

A mistake of the user's never shows a traceback: :func:`main` turns every
:class:`~dia_augment.errors.DiaError` (and a missing or unreadable file) into one line on
stderr, ``dia-augment NAME: error: ...``, and exits with 2 for a usage mistake or 1 for a
failure; a warning is one line too (``dia-augment NAME: warning: ...``). ``--debug`` (or the
environment variable ``DIA_AUGMENT_DEBUG=1``) shows the traceback and Python's own warnings.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from dia_augment._version import __version__
from dia_augment.errors import DiaError

__all__ = ["main", "build_parser"]

_USER_ERRORS = (DiaError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, pointing to ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Option help with its default, except for on / off flags (``--no-progress``: "default: True" would mislead)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with one sub-command per command module."""
    parser = _Parser(prog="dia-augment",
                     description="Dissolving Is Amplifying: dissolving augmentations and one-class anomaly detection.")
    parser.add_argument("--version", action="version", version=f"dia_augment {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if not all(hasattr(module, a) for a in ("NAME", "HELP", "add_arguments", "run")):
            continue
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP,
                                 formatter_class=_Help)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dia-augment`` and ``python -m dia_augment``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 0
    debug = args.debug or os.environ.get("DIA_AUGMENT_DEBUG", "") not in ("", "0")

    def one_line(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        print(f"dia-augment {args.command}: warning: {' '.join(str(message).split())}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            if not debug:  # a warning is one line too, without the source line under it
                warnings.showwarning = one_line
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"dia-augment {args.command}: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as error:
        if debug:
            raise
        code = getattr(error, "exit_code", 2 if isinstance(error, FileNotFoundError) else 1)
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"dia-augment {args.command}: error: {message} (--debug shows the traceback)", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
