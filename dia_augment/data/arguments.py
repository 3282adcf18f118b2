"""The command-line options of the data sources, shared by every command that reads ``--data``.

A command adds them with :func:`add_data_arguments` and passes :func:`data_kwargs` of its parsed
arguments, for the split it loads, to :func:`~dia_augment.data.load_one_class`::

    add_data_arguments(parser)
    ...
    train = load_one_class(args.data, "train", args.normal_class, **data_kwargs(args))
    test = load_one_class(args.data, "test", args.normal_class, **data_kwargs(args, "test"))
"""

from __future__ import annotations

import argparse
from typing import Any

from dia_augment.data.contamination import check_contamination_ratio
from dia_augment.data.options import source_name
from dia_augment.data.window import WINDOW_PRESETS, parse_window

__all__ = ["add_data_arguments", "data_kwargs", "data_source", "parse_slices", "window_option"]


def parse_slices(text: str) -> tuple[int | None, int | None]:
    """Parse ``START:STOP`` (either may be empty, negative counts from the end) into a pair.

    Examples:
        >>> parse_slices("10:50"), parse_slices(":-5"), parse_slices("3:")
        ((10, 50), (None, -5), (3, None))
    """
    start, sep, stop = text.partition(":")
    try:
        if not sep:
            raise ValueError(text)
        return (int(start) if start.strip() else None, int(stop) if stop.strip() else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--slices must be START:STOP (ints, either may be empty); got {text!r}") from None


def window_option(text: str) -> str:
    """The ``--window`` option's type: ``text`` if :func:`~dia_augment.data.window.parse_window` reads it.

    Examples:
        >>> window_option("lung"), window_option("40,400")
        ('lung', '40,400')
    """
    try:
        parse_window(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _ratio(text: str) -> float:
    try:
        return check_contamination_ratio(float(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_data_arguments(parser: argparse.ArgumentParser, test_split: bool = False) -> None:
    """Add ``--group-by``, ``--window``, ``--channels``, ``--slice-axis``, ``--slices`` and ``--contamination-ratio``.

    Args:
        parser: the command's parser.
        test_split: also add ``--ood-data SOURCE`` (another source's test images as the test
            split's anomalies, :attr:`~dia_augment.data.options.DataOptions.ood_data`), for the
            commands whose test split is scored. It is not a :func:`data_kwargs` entry: the
            command passes ``args.ood_data`` to its ``DataOptions``.

    Examples:
        >>> parser = argparse.ArgumentParser()
        >>> add_data_arguments(parser)
        >>> data_kwargs(parser.parse_args(["--group-by", "patient", "--window", "lung", "--slices", "5:"]))
        {'channels': None, 'group_by': 'patient', 'window': 'lung', 'slice_axis': 2, 'slices': (5, None)}
        >>> data_kwargs(parser.parse_args(["--contamination-ratio", "0.1"]))["contamination_ratio"]
        0.1
    """
    group = parser.add_argument_group("data splitting, contamination and medical formats")
    group.add_argument(
        "--group-by",
        default=None,
        help="split by patient so that none is in train and test: a manifest column, dicom:PatientID (a DICOM "
        "header element), or a regular expression on each file's path whose first group is the patient id "
        "(a manifest's 'group' column is used without it)",
    )
    group.add_argument(
        "--window",
        type=window_option,
        default=None,
        help=f"intensity window of DICOM / NIfTI files: {', '.join(WINDOW_PRESETS)}, file, minmax or CENTER,WIDTH "
        "(default: the file's own window, else min-max)",
    )
    group.add_argument("--channels", type=int, choices=(1, 3), default=None,
                       help="convert the images to this many channels (default: as stored; the paper's code reads every "
                       "image as RGB: --channels 3)")
    group.add_argument("--slice-axis", type=int, choices=(0, 1, 2), default=2, help="axis along which NIfTI volumes are sliced")
    group.add_argument(
        "--slices", type=parse_slices, default=None, metavar="START:STOP", help="keep these NIfTI slices only (default all; write --slices=-4: for a negative start)"
    )
    group.add_argument(
        "--contamination-ratio",
        type=_ratio,
        default=0.0,
        metavar="R",
        help="mix anomalies into the training set: int(R n / (1 - R)) anomalous images of the training split, "
        "drawn with --data-seed, join its n normal ones (R in [0, 1); the test split is never changed)",
    )
    if test_split:
        group.add_argument(
            "--ood-data", default=None, metavar="SOURCE",
            help="another data set whose test images (every class) are the test split's anomalies: the unlabelled "
            "multi-class setting, with --normal-class all",
        )


def data_kwargs(args: argparse.Namespace, split: str = "train") -> dict[str, Any]:
    """The :func:`~dia_augment.data.load_one_class` keyword arguments of the options :func:`add_data_arguments` adds.

    ``contamination_ratio`` is among them for the train split only, and only when it is not 0.

    Args:
        args: the parsed arguments.
        split: the split the arguments are for.

    Examples:
        >>> parser = argparse.ArgumentParser()
        >>> add_data_arguments(parser)
        >>> args = parser.parse_args(["--contamination-ratio", "0.2"])
        >>> data_kwargs(args)["contamination_ratio"], "contamination_ratio" in data_kwargs(args, "test")
        (0.2, False)
    """
    kwargs = {"channels": args.channels, "group_by": args.group_by, "window": args.window, "slice_axis": args.slice_axis,
              "slices": args.slices}
    if split == "train" and args.contamination_ratio:
        kwargs["contamination_ratio"] = args.contamination_ratio
    return kwargs


def data_source(args: argparse.Namespace) -> str:
    """The training data's source as a run records it: ``--data``, with the contamination ratio when it is not 0
    (so a run trained on contaminated data and one trained on clean data name different sources).

    Examples:
        >>> parser = argparse.ArgumentParser()
        >>> _ = parser.add_argument("--data")
        >>> add_data_arguments(parser)
        >>> data_source(parser.parse_args(["--data", "scans/", "--contamination-ratio", "0.1"]))
        'scans/ (contamination_ratio=0.1)'
    """
    return source_name(args.data, args.contamination_ratio)
