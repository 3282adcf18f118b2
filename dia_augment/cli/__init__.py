"""The ``dia-augment`` command line.

Every module in this package that defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int`` becomes a sub-command (``dia-augment NAME ...``).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from dia_augment import __version__

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with one sub-command per command module."""
    parser = argparse.ArgumentParser(
        prog="dia-augment",
        description="Dissolving Is Amplifying: dissolving augmentations and one-class anomaly detection.",
    )
    parser.add_argument("--version", action="version", version=f"dia_augment {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if not all(hasattr(module, a) for a in ("NAME", "HELP", "add_arguments", "run")):
            continue
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dia-augment`` and ``python -m dia_augment``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 0
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
