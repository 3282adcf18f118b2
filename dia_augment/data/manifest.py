"""A CSV manifest as a data source: one row per file, ``path,label[,group][,split]``.

The format most medical data sets ship. The header must name the columns; other columns may
follow (an ``age``, a ``patient_id``: any of them can be the grouping column).

- ``path``: an image, DICOM or NIfTI file, relative to the manifest's folder (or absolute);
  a DICOM file without a ``.dcm`` suffix is recognised by its ``DICM`` marker.
- ``label``: the file's class name; ``normal_class`` says which class(es) are normal.
- ``group`` (optional): the patient (or study) the file belongs to. Without ``group_by`` a
  present ``group`` column is used for the split, so no patient is in both train and test.
- ``split`` (optional): ``train``, ``val`` or ``test`` for every row: the data set's own split,
  used as it is (train keeps its normal rows); a group found in two splits is warned about.

Without a ``split`` column the split is seeded (:mod:`dia_augment.data.split`): by group when a
group is given (``group_by`` or the ``group`` column), per class otherwise.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dia_augment.data.folder import OneClassImageFiles, class_names_of, one_class_files, require_files, seeded_split_files
from dia_augment.data.medical import ReadOptions
from dia_augment.data.split import SPLITS, PatientLeakageWarning, file_groups, group_level
from dia_augment.errors import ConfigError, DataError, MissingFileError

__all__ = ["Manifest", "read_manifest", "OneClassManifest", "MANIFEST_SPLITS"]

#: The values of a manifest's ``split`` column.
MANIFEST_SPLITS = SPLITS
_REQUIRED = ("path", "label")


@dataclass(frozen=True)
class Manifest:
    """The rows of a manifest file: resolved paths, and every column's values as written.

    Attributes:
        file: the manifest file.
        paths: each row's file, resolved against the manifest's folder.
        columns: column name to one stripped value per row (``path`` as written, ``label``, ...).
    """

    file: Path
    paths: list[Path]
    columns: dict[str, list[str]]

    @property
    def labels(self) -> list[str]:
        """Each row's class name."""
        return self.columns["label"]


def read_manifest(path: str | os.PathLike, *, require_labels: bool = True, check_files: bool = True) -> Manifest:
    """Read and check a CSV manifest (see the module docstring); every file it lists must exist, unless told otherwise.

    Args:
        path: the ``.csv`` file.
        require_labels: the ``label`` column is required (a manifest to train or test on); without,
            only ``path`` is (a manifest of files to score).
        check_files: every listed file must exist; without, missing files are left for the reader
            to report (:func:`~dia_augment.data.items.iter_items`).

    Raises:
        MissingFileError: the manifest does not exist.
        DataError: no ``path`` or (with ``require_labels``) ``label`` column, no rows, an empty path
            or label, a ``split`` value other than train / val / test, or (with ``check_files``)
            listed files that are missing (the first five named).

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "a.png").touch()
        >>> _ = (root / "m.csv").write_text("path,label,group\\na.png,normal,p1\\n")
        >>> m = read_manifest(root / "m.csv")
        >>> m.paths == [root / "a.png"], m.labels, m.columns["group"]
        (True, ['normal'], ['p1'])
    """
    file = Path(path)
    if not file.is_file():
        raise MissingFileError(f"manifest not found: {file}")
    with open(file, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [name.strip() for name in reader.fieldnames or []]
        required = _REQUIRED if require_labels else _REQUIRED[:1]
        if any(c not in fields for c in required):
            what = "columns path and label" if require_labels else "column path"
            raise DataError(f"manifest {file} needs the {what} (header row); got {fields}")
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    if not rows:
        raise DataError(f"manifest {file} lists no files")
    columns = {name: [row.get(name, "") for row in rows] for name in fields}
    for name in required:
        empty = [line for line, value in enumerate(columns[name], start=2) if not value]
        if empty:
            raise DataError(f"manifest {file} line {empty[0]}: the {name} is empty")
    if "split" in columns:
        bad = [(line, v) for line, v in enumerate(columns["split"], start=2) if v not in MANIFEST_SPLITS]
        if bad:
            raise DataError(f"manifest {file} line {bad[0][0]}: split must be one of {MANIFEST_SPLITS}; got {bad[0][1]!r}")
    paths = [Path(p) if Path(p).is_absolute() else file.parent / p for p in columns["path"]]
    if check_files:
        require_files(paths, "file", f"manifest {file}")
    return Manifest(file, paths, columns)


def _check_official_split(manifest: Manifest, groups: list[str] | None) -> None:
    if groups is None:
        return
    sides: dict[str, set[str]] = {}
    for group, side in zip(groups, manifest.columns["split"]):
        sides.setdefault(group, set()).add(side)
    crossing = sorted(g for g, s in sides.items() if len(s) > 1)
    if crossing:
        warnings.warn(
            f"manifest {manifest.file}: {len(crossing)} group(s) appear in more than one split, e.g. {crossing[:3]}",
            PatientLeakageWarning,
            stacklevel=3,
        )


class OneClassManifest(OneClassImageFiles):
    """A one-class dataset over the files of a CSV manifest (see :mod:`dia_augment.data.manifest`).

    Args:
        manifest: the ``.csv`` file.
        split: ``"train"`` (normal files only) or ``"test"``; ``"val"`` with a ``split`` column.
        normal_class: the normal label, or several.
        load_size: the side images are resized to when read (bilinear, antialiased, aspect ignored),
            or ``None`` to keep each file's size.
        channels: 1 or 3, or ``None`` to keep each file's channels.
        train_fraction: the train share (of groups when grouped, else of each class).
        seed: the split seed.
        group_by: a column of the manifest or a regular expression on the ``path`` as written
            (see :func:`~dia_augment.data.split.file_groups`); ``None`` uses the ``group``
            column when there is one.
        read_options: the window and NIfTI slicing of DICOM and NIfTI files.
        train_anomalies: the train split also holds the anomalous rows' files (target 1), from
            which a contaminated training set is drawn (:mod:`dia_augment.data.contamination`).

    Attributes:
        groups: each item's group (the ``group_by`` column's, or the ``group`` column's), or ``None`` when
            the split is not grouped (then each volume's file, when the files hold volumes).
        group_level: ``"group"`` for a column or a regular expression, the keyword of ``dicom:KEYWORD``.

    Raises:
        DataError: see :func:`read_manifest`; fewer than two groups.
        ConfigError: a ``normal_class`` that is not a label of the manifest, a split the manifest lacks.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> rows = [(f"{i}.png", "ok" if i < 6 else "bad", f"p{i // 2}") for i in range(10)]
        >>> for name, _, _ in rows:
        ...     Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / name)
        >>> _ = (root / "m.csv").write_text("path,label,group\\n" + "".join(",".join(r) + "\\n" for r in rows))
        >>> train, test = OneClassManifest(root / "m.csv", "train", "ok"), OneClassManifest(root / "m.csv", "test", "ok")
        >>> set(train.groups).isdisjoint(test.groups), len(train) + len(test) <= 10
        (True, True)
    """

    def __init__(
        self,
        manifest: str | os.PathLike,
        split: str,
        normal_class: str | Sequence[str],
        load_size: int | None = None,
        channels: int | None = None,
        train_fraction: float = 0.8,
        seed: int = 0,
        group_by: str | None = None,
        read_options: ReadOptions | None = None,
        train_anomalies: bool = False,
    ) -> None:
        table = read_manifest(manifest)
        normal_classes = class_names_of(normal_class)
        class_names = sorted(set(table.labels))
        unknown = [c for c in normal_classes if c not in class_names]
        if unknown or not normal_classes:
            raise ConfigError(f"normal class {unknown or '(none)'} is not a label of manifest {table.file}; labels: {class_names}")
        if group_by is None and "group" in table.columns:
            group_by = "group"
        groups = None
        if group_by is not None:
            groups = file_groups(table.columns["path"], group_by, table.columns, f"manifest {table.file}", table.paths)
        group_of = dict(zip(table.paths, groups)) if groups is not None else None
        if "split" in table.columns:
            if split not in set(table.columns["split"]):
                raise ConfigError(f"manifest {table.file} has no {split!r} rows (its splits: {sorted(set(table.columns['split']))})")
            _check_official_split(table, groups)
            rows = zip(table.paths, table.labels, table.columns["split"])
            paths, names = one_class_files(
                ((p, c) for p, c, s in rows if s == split), split, normal_classes, train_anomalies
            )
        else:
            files: dict[str, list[Path]] = {c: [] for c in class_names}
            for p, c in zip(table.paths, table.labels):
                files[c].append(p)
            paths, names = seeded_split_files(
                files, split, normal_classes, train_fraction, seed, group_of, train_anomalies
            )
        self.manifest = table.file
        self.split = split
        super().__init__(paths, names, class_names, normal_classes, load_size, channels, read_options)
        if group_of is not None:
            self.set_groups([group_of[p] for p in self.paths], group_level(group_by))
