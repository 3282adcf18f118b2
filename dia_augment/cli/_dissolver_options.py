"""The options that pick a dissolver, shared by the commands that show or measure one.

``--dissolver``, ``--dissolver-path``, ``--resolution`` and ``--kernel-size`` mean the same in
``dia-augment dissolve-grid`` and ``dia-augment probe``; :func:`dissolver_from_args` builds the
dissolver they name with :func:`~dia_augment.filters.make_dissolver`.
"""

from __future__ import annotations

import argparse

from dia_augment.filters import DISSOLVER_NAMES, Dissolver

__all__ = ["add_dissolver_options", "dissolver_from_args"]

def add_dissolver_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--dissolver``, ``--dissolver-path``, ``--resolution`` and ``--kernel-size`` to ``parser``.

    Examples:
        >>> parser = argparse.ArgumentParser()
        >>> add_dissolver_options(parser)
        >>> args = parser.parse_args(["--dissolver", "gaussian", "--kernel-size", "5"])
        >>> args.dissolver, args.dissolver_path, args.resolution, args.kernel_size
        ('gaussian', None, None, 5)
    """
    parser.add_argument("--dissolver", required=True, choices=DISSOLVER_NAMES)
    parser.add_argument("--dissolver-path", default=None, help="a saved dissolver directory (ddpm) or pipeline (sd)")
    parser.add_argument("--resolution", type=int, default=None, help="the working resolution (required for resize)")
    parser.add_argument("--kernel-size", type=int, default=None, help="the blur kernel size (gaussian, median)")


def dissolver_from_args(args: argparse.Namespace) -> Dissolver:
    """The dissolver the options of :func:`add_dissolver_options` name.

    ``--kernel-size`` applies to the ``gaussian`` and ``median`` blurs and is ignored by the others.

    Args:
        args: parsed options with ``dissolver``, ``dissolver_path``, ``resolution`` and ``kernel_size``.

    Examples:
        >>> parser = argparse.ArgumentParser()
        >>> add_dissolver_options(parser)
        >>> dissolver_from_args(parser.parse_args(["--dissolver", "median", "--kernel-size", "3"])).kernel_size
        3
        >>> args = parser.parse_args(["--dissolver", "resize", "--resolution", "16", "--kernel-size", "3"])
        >>> dissolver_from_args(args).resolution
        16
    """
    from dia_augment.filters import make_dissolver

    kwargs = {"kernel_size": args.kernel_size} if args.kernel_size is not None and args.dissolver in ("gaussian", "median") else {}
    return make_dissolver(args.dissolver, path=args.dissolver_path, resolution=args.resolution, **kwargs)
