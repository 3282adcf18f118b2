"""The seeded train / test splits used for data sets without an official split.

Per-class split (the default). The files of each class are sorted by path and shuffled with a
generator seeded from ``(seed, class name)``; the first ``floor(train_fraction * n)`` files of a class go to train
and the rest to test. The train split of a one-class task keeps the normal classes' share only;
the test split holds the held-out share of every class. Seeding each class by its own name makes
a class's split independent of which other classes are present.

Grouped split (``group_by``), so that no patient is in both train and test. Every file gets a
group (a patient id, from a manifest column, a DICOM header element or a regular expression on
its path, see :func:`file_groups`). The sorted distinct groups are shuffled with a generator seeded from
``seed``; the first ``floor(train_fraction * G)`` of the ``G`` groups (at least one, at most
``G - 1``) are the train groups, the others the test groups, for every class at once: a
patient's normal and abnormal images land on the same side. Train keeps the normal images of
the train groups, test every image of the test groups. ``train_fraction`` is thus a share of
patients, not of images.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import torch

from dia_augment.data.medical import dicom_tag
from dia_augment.errors import ConfigError, DataError

__all__ = [
    "SPLITS",
    "check_split",
    "derive_seed",
    "split_indices",
    "split_class",
    "check_seeded_split",
    "split_groups",
    "file_groups",
    "group_level",
    "PatientLeakageWarning",
    "warn_per_image_split",
]

T = TypeVar("T")

#: The names of the splits a data source may have.
SPLITS = ("train", "val", "test")

# The prefix of a group_by that reads a DICOM header element.
_DICOM_PREFIX = "dicom:"
# Absorbs float round-off in train_fraction * n (e.g. 0.29 * 100 = 28.999...).
_FLOOR_EPS = 1e-9


def check_split(split: str, splits: Collection[str]) -> None:
    """Check that ``split`` is one of the ``splits`` a data source has.

    Examples:
        >>> check_split("val", ("train", "test"))
        Traceback (most recent call last):
        ...
        dia_augment.errors.ConfigError: split must be one of ('train', 'test'); got 'val'
    """
    if split not in splits:
        raise ConfigError(f"split must be one of {splits}; got {split!r}")


def derive_seed(seed: int, *tags: str) -> int:
    """A 63-bit seed derived from ``seed`` and string tags, stable across runs and platforms.

    Examples:
        >>> derive_seed(0, "a") == derive_seed(0, "a") != derive_seed(0, "b")
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an int; got {type(seed).__name__}")
    digest = hashlib.sha256("\x1f".join([str(seed), *tags]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _check_fraction(train_fraction: float) -> None:
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)):
        raise ConfigError(f"train_fraction must be a float in (0, 1); got {type(train_fraction).__name__}")
    if not 0.0 < float(train_fraction) < 1.0:
        raise ConfigError(f"train_fraction must be in (0, 1); got {train_fraction}")


def split_indices(n: int, train_fraction: float, seed: int, tag: str = "") -> tuple[list[int], list[int]]:
    """Split ``range(n)`` into seeded train and test index lists (each sorted).

    Args:
        n: the number of items.
        train_fraction: the share for train, in ``(0, 1)``; train gets ``floor(train_fraction * n)`` items.
        seed: the split seed.
        tag: mixed into the seed (the class name), so that classes are shuffled independently.

    Examples:
        >>> train, test = split_indices(10, 0.8, seed=0)
        >>> len(train), len(test), sorted(train + test) == list(range(10))
        (8, 2, True)
    """
    _check_fraction(train_fraction)
    generator = torch.Generator().manual_seed(derive_seed(seed, "split", tag))
    order = torch.randperm(n, generator=generator).tolist()
    n_train = math.floor(train_fraction * n + _FLOOR_EPS)
    return sorted(order[:n_train]), sorted(order[n_train:])


def check_seeded_split(split: str) -> None:
    """Check that ``split`` is one side of a seeded split: ``"train"`` or ``"test"``.

    Examples:
        >>> check_seeded_split("val")
        Traceback (most recent call last):
        ...
        dia_augment.errors.ConfigError: split must be 'train' or 'test' for a seeded split; got 'val'
    """
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test' for a seeded split; got {split!r}")


def split_class(items: Sequence[T], split: str, train_fraction: float, seed: int, class_name: str) -> list[T]:
    """The ``split`` ("train" or "test") share of one class's items (sorted first, so order-free).

    Examples:
        >>> split_class(["c", "a", "b", "d", "e"], "test", 0.8, 0, "x")
        ['e']
        >>> split_class(["a", "b", "c", "d", "e"], "test", 0.8, 0, "x")
        ['e']
    """
    check_seeded_split(split)
    ordered = sorted(items)
    train, test = split_indices(len(ordered), train_fraction, seed, class_name)
    return [ordered[i] for i in (train if split == "train" else test)]


class PatientLeakageWarning(UserWarning):
    """A per-image split of a data set with many images per patient: one patient may be in train and test."""


def warn_per_image_split(name: str, why: str) -> None:
    """Warn (:class:`PatientLeakageWarning`) that data set ``name`` is split per image although ``why``."""
    warnings.warn(
        f"{name} is split per image although {why}: slices of one patient can fall in both train and test "
        "and make the test easier than it is; pass group_by (--group-by) with a patient id where you have one",
        PatientLeakageWarning,
        stacklevel=3,
    )


def file_groups(
    names: Sequence[str],
    group_by: str,
    columns: Mapping[str, Sequence[str]] | None = None,
    where: str = "data",
    paths: Sequence[Path] | None = None,
) -> list[str]:
    r"""The group (patient) of each file: a column's values, a DICOM tag, or a regular expression's match in its path.

    ``group_by`` naming one of ``columns`` (a manifest's columns) takes that column;
    ``"dicom:KEYWORD"`` reads a header element of each (DICOM) file, e.g. ``"dicom:PatientID"``.
    Otherwise it is a regular expression searched in each name (``re.search``); the group is its
    first capture group when it has one, else the whole match, e.g. ``"^([^/]+)/"`` for a folder
    per patient or ``"patient(\d+)"`` for an id in the file name.

    Args:
        names: the files' paths as strings (relative to the data folder, or as written in a manifest).
        group_by: a column name, ``"dicom:KEYWORD"`` or a regular expression.
        columns: the manifest's columns, name to one value per file.
        where: the data source, for error messages.
        paths: the files themselves, needed for ``"dicom:KEYWORD"``.

    Raises:
        ConfigError: ``group_by`` is neither a column nor a valid regular expression.
        DataError: a file the expression does not match, or an empty group value (the message names it).

    Examples:
        >>> file_groups(["p01_s1.png", "p01_s2.png", "p02_s1.png"], r"^(p\d+)_")
        ['p01', 'p01', 'p02']
        >>> file_groups(["a.png", "b.png"], "patient", {"patient": ["x", "y"]})
        ['x', 'y']
    """
    if not isinstance(group_by, str) or not group_by:
        raise ConfigError(f"group_by must be a column name or a regular expression; got {group_by!r}")
    if columns is not None and group_by in columns:
        groups = [str(v).strip() for v in columns[group_by]]
        empty = [n for n, g in zip(names, groups) if not g]
        if empty:
            raise DataError(f"{where}: {len(empty)} row(s) have an empty {group_by!r} value, e.g. {empty[0]}")
        return groups
    if group_by.startswith(_DICOM_PREFIX):
        if paths is None:
            raise ConfigError(f"group_by {group_by!r} reads the files' DICOM headers: {where} gives no files")
        return [dicom_tag(path, group_by[len(_DICOM_PREFIX) :]) for path in paths]
    try:
        pattern = re.compile(group_by)
    except re.error as err:
        known = f"a column of {where} ({', '.join(columns)}) or " if columns else ""
        raise ConfigError(f"group_by must be {known}a regular expression; {group_by!r} is neither ({err})") from err
    groups = []
    for name in names:
        match = pattern.search(name)
        if match is None or not (match.group(1) if pattern.groups else match.group(0)):
            raise DataError(f"{where}: group_by {group_by!r} finds no group in the file {name}")
        groups.append(match.group(1) if pattern.groups else match.group(0))
    return groups


def group_level(group_by: str | None) -> str:
    """What a group of ``group_by`` is, named as :func:`~dia_augment.data.items.iter_items` names it for new files.

    ``"dicom:KEYWORD"`` groups by that header element (``"PatientID"``, ``"SeriesInstanceUID"``);
    a column or a regular expression gives a ``"group"`` (the key of a manifest's ``group``
    column); no grouping at all is ``"volume"`` (each file, for sources that hold volumes).

    Examples:
        >>> group_level("dicom:PatientID"), group_level("patient_id"), group_level(r"^(p\\d+)_"), group_level(None)
        ('PatientID', 'group', 'group', 'volume')
    """
    if group_by is None:
        return "volume"
    if group_by.startswith(_DICOM_PREFIX):
        return group_by[len(_DICOM_PREFIX) :]
    return "group"


def split_groups(groups: Sequence[str], train_fraction: float, seed: int, tag: str = "groups") -> tuple[list[int], list[int]]:
    """Split items by group: the indices (sorted) of the items of the train groups and of the test groups.

    Args:
        groups: the group of each item.
        train_fraction: the share of *groups* for train, in ``(0, 1)``.
        seed: the split seed.
        tag: mixed into the seed, so that another split of the same groups (the calibration
            hold-out, ``"calibration"``) is drawn independently of the train / test split.

    Raises:
        DataError: fewer than two groups.

    Examples:
        >>> groups = ["a", "a", "b", "c", "c", "d", "e"]
        >>> train, test = split_groups(groups, 0.6, seed=0)
        >>> sorted(train + test) == list(range(7)), len({groups[i] for i in train})  # floor(0.6 * 5) groups
        (True, 3)
        >>> {groups[i] for i in train} & {groups[i] for i in test}
        set()
    """
    _check_fraction(train_fraction)
    distinct = sorted(set(groups))
    if len(distinct) < 2:
        raise DataError(f"a grouped split needs at least 2 groups; got {len(distinct)} ({distinct})")
    generator = torch.Generator().manual_seed(derive_seed(seed, "split", tag))
    order = torch.randperm(len(distinct), generator=generator).tolist()
    n_train = min(max(math.floor(train_fraction * len(distinct) + _FLOOR_EPS), 1), len(distinct) - 1)
    train_groups = {distinct[i] for i in order[:n_train]}
    train = [i for i, g in enumerate(groups) if g in train_groups]
    test = [i for i, g in enumerate(groups) if g not in train_groups]
    return train, test
