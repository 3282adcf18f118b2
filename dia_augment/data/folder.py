"""One-class datasets over image files: a list of files, and class folders on disk.

A file is an image (PNG, JPEG, BMP, TIFF), a DICOM file (one image per frame) or a NIfTI volume
(one image per chosen slice); see :func:`~dia_augment.data.decode.read_item`. Splits are drawn
over files, never over the slices of one file, so a volume is always on one side.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from dia_augment.data.container import OneClassDataset
from dia_augment.data.decode import IMAGE_EXTENSIONS, READABLE_EXTENSIONS, check_output_format, is_readable_file
from dia_augment.data.decode import prepare_image, read_item
from dia_augment.data.medical import ReadOptions, count_images, is_nifti
from dia_augment.data.split import SPLITS, check_seeded_split, check_split, file_groups, group_level, split_class, split_groups
from dia_augment.errors import ConfigError, DataError, InputError, InputTypeError, MissingFileError

__all__ = [
    "OneClassImageFiles",
    "OneClassImageFolder",
    "SkippedFilesWarning",
    "scan_class_folders",
    "visible_files",
    "seeded_split_files",
    "one_class_files",
    "class_names_of",
    "has_split_folders",
    "require_files",
    "LAYOUTS",
]

#: Folder layouts of :class:`OneClassImageFolder`.
LAYOUTS = ("auto", "classes", "splits")
# How many skipped files a warning names.
_SHOWN = 5


class SkippedFilesWarning(UserWarning):
    """Files of a data folder were left out: they are neither images, DICOM nor NIfTI files."""


def class_names_of(normal_class: str | Sequence[str]) -> tuple[str, ...]:
    """One class name, or several, as a tuple of names (the elements are not checked).

    Examples:
        >>> class_names_of("normal"), class_names_of(["a", "b"])
        (('normal',), ('a', 'b'))
    """
    return (normal_class,) if isinstance(normal_class, str) else tuple(normal_class)


def _as_names(normal_class: str | Sequence[str]) -> tuple[str, ...]:
    names = class_names_of(normal_class) if isinstance(normal_class, (str, Sequence)) else ()
    if not names or not all(isinstance(n, str) for n in names):
        raise InputTypeError(f"normal_class must be a class name or a sequence of names; got {normal_class!r}")
    return names


def visible_files(folder: Path) -> list[Path]:
    """The files under ``folder``, recursively and sorted, without hidden files and the files of hidden folders.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp()); (root / ".git").mkdir(); (root / "sub").mkdir()
        >>> for name in ("b.png", ".DS_Store", ".git/config", "sub/a.dcm"):
        ...     _ = (root / name).write_bytes(b"")
        >>> [p.relative_to(root).as_posix() for p in visible_files(root)]
        ['b.png', 'sub/a.dcm']
    """
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _check_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise MissingFileError(f"{what} not found: {path}")
    if not path.is_dir():
        raise DataError(f"{what} is not a folder: {path}")
    return path


def has_split_folders(root: Path) -> bool:
    """Whether ``root`` holds an official split: both a ``train/`` and a ``test/`` folder.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "train").mkdir()
        >>> has_split_folders(root)
        False
        >>> (root / "test").mkdir(); has_split_folders(root)
        True
    """
    return (root / "train").is_dir() and (root / "test").is_dir()


def require_files(paths: Sequence[Path], noun: str, where: str) -> None:
    """Check that every file a table lists exists; the error counts the missing ones and names five.

    Args:
        paths: the files listed.
        noun: what a file is, for the message (``"image"``, ``"file"``).
        where: the table that lists them, for the message.

    Raises:
        DataError: files are missing.

    Examples:
        >>> require_files([Path("missing.png")], "image", "labels.csv")
        Traceback (most recent call last):
        ...
        dia_augment.errors.DataError: 1 image(s) listed in labels.csv are missing, e.g. missing.png
    """
    absent = [p for p in paths if not p.is_file()]
    if absent:
        shown = ", ".join(str(p) for p in absent[:5])
        raise DataError(f"{len(absent)} {noun}(s) listed in {where} are missing, e.g. {shown}")


def one_class_files(
    files: Iterable[tuple[Path, str]], split: str, normal_classes: Sequence[str], train_anomalies: bool = False
) -> tuple[list[Path], list[str]]:
    """The files of one split of a one-class task, and their class names, from ``(path, class)`` pairs.

    ``train`` keeps the files of the normal classes (every file with ``train_anomalies``, for a
    contaminated training set); the other splits keep every file. The order is kept.

    Args:
        files: the split's files, each with its class name.
        split: the split's name.
        normal_classes: the names of the normal classes.
        train_anomalies: ``train`` keeps the anomalous files too.

    Examples:
        >>> pairs = [(Path("a.png"), "ok"), (Path("b.png"), "bad")]
        >>> paths, names = one_class_files(pairs, "train", ["ok"])
        >>> [p.name for p in paths], names, one_class_files(pairs, "test", ["ok"])[1]
        (['a.png'], ['ok'], ['ok', 'bad'])
    """
    chosen = [(path, name) for path, name in files if split != "train" or train_anomalies or name in normal_classes]
    return [path for path, _ in chosen], [name for _, name in chosen]


def scan_class_folders(root: str | os.PathLike) -> dict[str, list[Path]]:
    """Map each class sub-folder of ``root`` to its image, DICOM and NIfTI files (searched recursively, sorted).

    A file is kept when :func:`~dia_augment.data.decode.is_readable_file` says so: its name ends
    in one of :data:`~dia_augment.data.decode.READABLE_EXTENSIONS`, or its content is DICOM
    (a PACS export named ``IM0001`` or by its UID). The other files are skipped, and a
    :class:`SkippedFilesWarning` says how many and names a few. Hidden files and folders are
    skipped without a word; sub-folders without images map to empty lists.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        DataError: ``root`` holds no image in any sub-folder.

    Examples:
        >>> import tempfile, pathlib, warnings
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "a").mkdir(); (root / "a" / "x.png").touch(); (root / "b").mkdir()
        >>> _ = (root / "b" / "notes.txt").write_text("not an image")
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     found = scan_class_folders(root)
        >>> {k: [p.name for p in v] for k, v in found.items()}
        {'a': ['x.png'], 'b': []}
        >>> message = str(caught[0].message)
        >>> message[:9], message.endswith("skipped, e.g. b/notes.txt")
        ('1 file(s)', True)
    """
    root = _check_dir(Path(root), "data folder")
    found: dict[str, list[Path]] = {}
    skipped: list[Path] = []
    for sub in sorted(root.iterdir()):
        if sub.is_dir() and not sub.name.startswith("."):
            found[sub.name] = []
            for path in visible_files(sub):
                (found[sub.name] if is_readable_file(path) else skipped).append(path)
    if skipped:
        shown = ", ".join(p.relative_to(root).as_posix() for p in skipped[:_SHOWN])
        warnings.warn(
            f"{len(skipped)} file(s) in the class folders of {root} are neither images "
            f"({', '.join(IMAGE_EXTENSIONS)}), DICOM files (by name or content) nor NIfTI files (.nii, .nii.gz), and were skipped, e.g. {shown}",
            SkippedFilesWarning,
            stacklevel=2,
        )
    if not any(found.values()):
        raise DataError(
            f"no images ({', '.join(READABLE_EXTENSIONS)}, or DICOM files without a suffix) found in the class "
            f"folders of {root} (sub-folders: {sorted(found) or 'none'}; {len(skipped)} other file(s) skipped)"
        )
    return found


def seeded_split_files(
    files: dict[str, list[Path]],
    split: str,
    normal_classes: Sequence[str],
    train_fraction: float,
    seed: int,
    groups: Mapping[Path, str] | None = None,
    train_anomalies: bool = False,
) -> tuple[list[Path], list[str]]:
    """The files (and their class names) of a seeded one-class split; see :mod:`dia_augment.data.split`.

    ``train`` holds the train share of the normal classes (of every class with
    ``train_anomalies``, for a contaminated training set); ``test`` the test share of every class.
    Without ``groups`` each class is split on its own; with ``groups`` (the group of every file)
    the split is drawn over the groups, for all classes at once. Which files are train or test
    does not depend on ``train_anomalies``.
    """
    check_seeded_split(split)
    if groups is None:
        chosen = [
            (path, name) for name, class_files in files.items()
            for path in split_class(class_files, split, train_fraction, seed, name)
        ]
    else:
        pairs = [(path, name) for name, class_files in files.items() for path in class_files]
        train, test = split_groups([groups[path] for path, _ in pairs], train_fraction, seed)
        chosen = [pairs[i] for i in (train if split == "train" else test)]
    return one_class_files(chosen, split, normal_classes, train_anomalies)


class OneClassImageFiles(OneClassDataset):
    """A one-class dataset over a list of image files, decoded on access.

    Items are ``(image, target)``: the image a float ``(C, H, W)`` tensor in ``[0, 1]`` (see
    :func:`~dia_augment.data.decode.read_item`), converted to ``channels`` and resized to
    ``load_size`` when given; the target 0 for a normal class, 1 otherwise. A multi-frame DICOM
    file gives one item per frame, a NIfTI volume one per chosen slice (``read_options``), in
    order; ``paths[i]`` and ``indices[i]`` name item ``i``'s file and frame or slice (``None``
    for a 2-D image). When the files hold volumes (a NIfTI file, a multi-frame DICOM file), every
    item's group is its file (``groups``, ``group_level = "volume"``), so that a split drawn by
    group (the calibration hold-out) keeps the slices of a volume together; subclasses with a
    ``group_by`` replace it by theirs.

    Args:
        paths: the image files.
        file_classes: the class name of each file.
        class_names: every class name (the order of the ``classes`` indices).
        normal_classes: the names of the normal classes.
        load_size: the side images are resized to when read (bilinear, antialiased, aspect ignored),
            or ``None`` to keep each file's size.
        channels: 1 or 3, or ``None`` to keep each file's channels.
        read_options: the window and NIfTI slicing of DICOM and NIfTI files.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> Image.fromarray(np.full((4, 4), 255, np.uint8)).save(d / "a.png")
        >>> ds = OneClassImageFiles([d / "a.png"], ["ok"], ["ok", "bad"], ["ok"], load_size=2, channels=3)
        >>> image, target = ds[0]
        >>> image.shape, target, image.min().item()
        (torch.Size([3, 2, 2]), 0, 1.0)
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        file_classes: Sequence[str],
        class_names: Sequence[str],
        normal_classes: Sequence[str],
        load_size: int | None = None,
        channels: int | None = None,
        read_options: ReadOptions | None = None,
    ) -> None:
        check_output_format(load_size, channels)
        if len(paths) != len(file_classes):
            raise InputError(f"got {len(paths)} paths but {len(file_classes)} class names")
        class_names = [str(c) for c in class_names]
        unknown = sorted(set(file_classes) - set(class_names))
        if unknown:
            raise InputError(f"file classes {unknown} are not in class_names {class_names}")
        self.read_options = read_options or ReadOptions()
        items = [(Path(p), i, c) for p, c in zip(paths, file_classes) for i in count_images(p, self.read_options)]
        self.paths = [p for p, _, _ in items]
        self.indices = [i for _, i, _ in items]
        self.load_size = load_size
        self.channels = channels
        classes = torch.tensor([class_names.index(c) for _, _, c in items], dtype=torch.long)
        super().__init__(classes, class_names, normal_classes)
        if any(i is not None for i in self.indices) or any(is_nifti(p) for p in self.paths):
            self.set_groups([str(p) for p in self.paths], "volume")

    def set_groups(self, groups: Sequence[str] | None, level: str | None) -> None:
        """Set the group of every item (``None``: no grouping) and what a group is (see :class:`OneClassData`)."""
        if groups is not None and len(groups) != len(self.paths):
            raise InputError(f"got {len(groups)} groups for {len(self.paths)} items")
        self.groups = None if groups is None else [str(g) for g in groups]
        self.group_level = None if groups is None else level

    def load_image(self, index: int) -> Tensor:
        image = read_item(self.paths[index], self.indices[index], self.read_options)
        return prepare_image(image, self.load_size, self.channels)


class OneClassImageFolder(OneClassImageFiles):
    """A one-class dataset over class folders: ``root/<class>/*`` or ``root/{train,test}/<class>/*``.

    Files ending in .png, .jpg, .jpeg, .bmp, .tif or .tiff (any case) are read, 8-bit or 16-bit,
    grayscale or colour (see :func:`~dia_augment.data.decode.read_image`), and DICOM (``.dcm``,
    ``.dicom`` or any file with the DICOM marker) and NIfTI (``.nii``, ``.nii.gz``) files; other
    files are skipped with a :class:`SkippedFilesWarning` (see :func:`scan_class_folders`).

    Layouts:

    - ``"classes"``: ``root/<class>/...``, no official split. Each class is split on its own,
      seeded: ``floor(train_fraction * n)`` of its files (shuffled by ``seed`` and the class name)
      are its train share, the rest its test share. ``split="train"`` gives the normal classes'
      train share; ``split="test"`` the test share of every class (normal and anomalous).
    - ``"splits"``: the official split, ``root/train/<class>/...`` and ``root/test/<class>/...``
      (and ``root/val/<class>/...`` when present). ``split="train"`` gives the normal classes
      of ``train/``; ``"test"`` and ``"val"`` every class of that folder.
    - ``"auto"``: ``"splits"`` when ``root`` has both ``train/`` and ``test/`` folders, else ``"classes"``.

    Class indices follow the sorted class names (the union over the split folders), so they
    agree between splits. Class folders without images are left out.

    Args:
        root: the data folder.
        split: ``"train"``, ``"test"`` (or ``"val"`` in the splits layout).
        normal_class: the name of the normal class folder, or several names.
        load_size: the side images are resized to when read (bilinear, antialiased, aspect ignored),
            or ``None`` to keep each file's size.
        channels: 1 or 3, or ``None`` to keep each file's channels.
        train_fraction: the train share of each class in the classes layout.
        seed: the split seed in the classes layout.
        layout: ``"auto"``, ``"classes"`` or ``"splits"``.
        group_by: a regular expression giving each file's group (patient), searched in its path
            relative to its class folder (see :func:`~dia_augment.data.split.file_groups`): the
            classes layout is then split by group, so that no group is in train and test.
        read_options: the window and NIfTI slicing of DICOM and NIfTI files.
        train_anomalies: the train split also holds the anomalous classes' training images
            (target 1), from which a contaminated training set is drawn
            (:mod:`dia_augment.data.contamination`).

    Raises:
        FileNotFoundError: ``root`` (or the split folder) does not exist.
        DataError: no images, or the normal class folder holds none.
        ValueError: the normal class is not among the class folders (the message lists them).

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for cls, n in (("healthy", 5), ("sick", 5)):
        ...     (root / cls).mkdir()
        ...     for i in range(n):
        ...         Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / cls / f"{i}.png")
        >>> train = OneClassImageFolder(root, "train", "healthy")
        >>> test = OneClassImageFolder(root, "test", "healthy")
        >>> len(train), test.labels.tolist()
        (4, [0, 1])
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str,
        normal_class: str | Sequence[str],
        load_size: int | None = None,
        channels: int | None = None,
        train_fraction: float = 0.8,
        seed: int = 0,
        layout: str = "auto",
        group_by: str | None = None,
        read_options: ReadOptions | None = None,
        train_anomalies: bool = False,
    ) -> None:
        root = _check_dir(Path(root), "data folder")
        normal_classes = _as_names(normal_class)
        if layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {LAYOUTS}; got {layout!r}")
        if layout == "auto":
            layout = "splits" if has_split_folders(root) else "classes"
        if layout == "classes":
            if split not in ("train", "test"):
                raise ConfigError(
                    f"split must be 'train' or 'test' for a folder without an official split; got {split!r}"
                )
            per_split = {split: scan_class_folders(root)}
            folder = root
        else:
            if group_by is not None:
                raise ConfigError(f"{root} has its own train / test folders: group_by applies to a folder without them")
            check_split(split, SPLITS)
            _check_dir(root / split, f"{split} folder")
            per_split = {s: scan_class_folders(root / s) for s in SPLITS if (root / s).is_dir()}
            folder = root / split
        files = per_split[split]
        class_names = sorted({name for found in per_split.values() for name, fs in found.items() if fs})
        unknown = [c for c in normal_classes if c not in files]
        if unknown:
            raise ConfigError(f"normal class {unknown} not found in {folder}; classes found: {class_names}")
        empty = [c for c in normal_classes if not files[c]]
        if empty and (layout == "classes" or split == "train"):
            raise DataError(f"the normal class folder(s) {empty} under {folder} hold no images")
        if layout == "classes":
            groups = None
            if group_by is not None:
                relative = [(p, p.relative_to(root / name).as_posix()) for name, fs in files.items() for p in fs]
                found = file_groups([r for _, r in relative], group_by, where=str(root), paths=[p for p, _ in relative])
                groups = {p: g for (p, _), g in zip(relative, found)}
            paths, names = seeded_split_files(
                files, split, normal_classes, train_fraction, seed, groups, train_anomalies
            )
        else:
            paths, names = one_class_files(
                ((p, c) for c, fs in files.items() for p in fs), split, normal_classes, train_anomalies
            )
        self.root = root
        self.split = split
        self.layout = layout
        super().__init__(paths, names, class_names, normal_classes, load_size, channels, read_options)
        if layout == "classes" and groups is not None:
            self.set_groups([groups[p] for p in self.paths], group_level(group_by))
