"""One-class datasets over image files: a list of files, and class folders on disk."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from dia_augment.data.container import OneClassDataset
from dia_augment.data.decode import IMAGE_EXTENSIONS, check_output_format, prepare_image, read_image
from dia_augment.data.errors import DataError
from dia_augment.data.split import split_class

__all__ = ["OneClassImageFiles", "OneClassImageFolder", "scan_class_folders", "seeded_split_files", "LAYOUTS"]

#: Folder layouts of :class:`OneClassImageFolder`.
LAYOUTS = ("auto", "classes", "splits")
_SPLIT_FOLDERS = ("train", "val", "test")


def _as_names(normal_class: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(normal_class, str):
        return (normal_class,)
    names = tuple(normal_class) if isinstance(normal_class, Sequence) else ()
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"normal_class must be a class name or a sequence of names; got {normal_class!r}")
    return names


def _is_hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def _check_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if not path.is_dir():
        raise NotADirectoryError(f"{what} is not a folder: {path}")
    return path


def scan_class_folders(root: str | os.PathLike) -> dict[str, list[Path]]:
    """Map each class sub-folder of ``root`` to its image files (searched recursively, sorted).

    Hidden files and folders are skipped; sub-folders without images map to empty lists.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        DataError: ``root`` holds no image in any sub-folder.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "a").mkdir(); (root / "a" / "x.png").touch(); (root / "b").mkdir()
        >>> {k: [p.name for p in v] for k, v in scan_class_folders(root).items()}
        {'a': ['x.png'], 'b': []}
    """
    root = _check_dir(Path(root), "data folder")
    found = {
        sub.name: sorted(p for p in sub.rglob("*") if _is_image(p) and not _is_hidden(p.relative_to(sub)))
        for sub in sorted(root.iterdir())
        if sub.is_dir() and not sub.name.startswith(".")
    }
    if not any(found.values()):
        raise DataError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in the class folders of {root} "
            f"(sub-folders: {sorted(found) or 'none'})"
        )
    return found


def seeded_split_files(
    files: dict[str, list[Path]], split: str, normal_classes: Sequence[str], train_fraction: float, seed: int
) -> tuple[list[Path], list[str]]:
    """The files (and their class names) of a seeded one-class split; see :mod:`dia_augment.data.split`.

    ``train`` holds the train share of the normal classes; ``test`` the test share of every class.
    """
    paths: list[Path] = []
    names: list[str] = []
    for name, class_files in files.items():
        if split == "train" and name not in normal_classes:
            continue
        chosen = split_class(class_files, split, train_fraction, seed, name)
        paths += chosen
        names += [name] * len(chosen)
    return paths, names


class OneClassImageFiles(OneClassDataset):
    """A one-class dataset over a list of image files, decoded on access.

    Items are ``(image, target)``: the image a float ``(C, H, W)`` tensor in ``[0, 1]`` (see
    :func:`~dia_augment.data.decode.read_image`), converted to ``channels`` and resized to
    ``image_size`` when given; the target 0 for a normal class, 1 otherwise.

    Args:
        paths: the image files.
        file_classes: the class name of each file.
        class_names: every class name (the order of the ``classes`` indices).
        normal_classes: the names of the normal classes.
        image_size: side of the square output, or ``None`` to keep each file's size.
        channels: 1 or 3, or ``None`` to keep each file's channels.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> Image.fromarray(np.full((4, 4), 255, np.uint8)).save(d / "a.png")
        >>> ds = OneClassImageFiles([d / "a.png"], ["ok"], ["ok", "bad"], ["ok"], image_size=2, channels=3)
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
        image_size: int | None = None,
        channels: int | None = None,
    ) -> None:
        check_output_format(image_size, channels)
        if len(paths) != len(file_classes):
            raise ValueError(f"got {len(paths)} paths but {len(file_classes)} class names")
        class_names = [str(c) for c in class_names]
        unknown = sorted(set(file_classes) - set(class_names))
        if unknown:
            raise ValueError(f"file classes {unknown} are not in class_names {class_names}")
        self.paths = [Path(p) for p in paths]
        self.image_size = image_size
        self.channels = channels
        classes = torch.tensor([class_names.index(c) for c in file_classes], dtype=torch.long)
        super().__init__(classes, class_names, normal_classes)

    def load_image(self, index: int) -> Tensor:
        return prepare_image(read_image(self.paths[index]), self.image_size, self.channels)


class OneClassImageFolder(OneClassImageFiles):
    """A one-class dataset over class folders: ``root/<class>/*`` or ``root/{train,test}/<class>/*``.

    Files ending in .png, .jpg, .jpeg, .bmp, .tif or .tiff (any case) are read, 8-bit or 16-bit,
    grayscale or colour (see :func:`~dia_augment.data.decode.read_image`).

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
        image_size: side of the square output, or ``None`` to keep each file's size.
        channels: 1 or 3, or ``None`` to keep each file's channels.
        train_fraction: the train share of each class in the classes layout.
        seed: the split seed in the classes layout.
        layout: ``"auto"``, ``"classes"`` or ``"splits"``.

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
        image_size: int | None = None,
        channels: int | None = None,
        train_fraction: float = 0.8,
        seed: int = 0,
        layout: str = "auto",
    ) -> None:
        root = _check_dir(Path(root), "data folder")
        normal_classes = _as_names(normal_class)
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}; got {layout!r}")
        if layout == "auto":
            layout = "splits" if (root / "train").is_dir() and (root / "test").is_dir() else "classes"
        if layout == "classes":
            if split not in ("train", "test"):
                raise ValueError(
                    f"split must be 'train' or 'test' for a folder without an official split; got {split!r}"
                )
            per_split = {split: scan_class_folders(root)}
            folder = root
        else:
            if split not in _SPLIT_FOLDERS:
                raise ValueError(f"split must be one of {_SPLIT_FOLDERS}; got {split!r}")
            _check_dir(root / split, f"{split} folder")
            per_split = {s: scan_class_folders(root / s) for s in _SPLIT_FOLDERS if (root / s).is_dir()}
            folder = root / split
        files = per_split[split]
        class_names = sorted({name for found in per_split.values() for name, fs in found.items() if fs})
        unknown = [c for c in normal_classes if c not in files]
        if unknown:
            raise ValueError(f"normal class {unknown} not found in {folder}; classes found: {class_names}")
        empty = [c for c in normal_classes if not files[c]]
        if empty and (layout == "classes" or split == "train"):
            raise DataError(f"the normal class folder(s) {empty} under {folder} hold no images")
        if layout == "classes":
            paths, names = seeded_split_files(files, split, normal_classes, train_fraction, seed)
        else:
            chosen = {c: fs for c, fs in files.items() if split != "train" or c in normal_classes}
            paths = [p for fs in chosen.values() for p in fs]
            names = [c for c, fs in chosen.items() for _ in fs]
        self.root = root
        self.split = split
        self.layout = layout
        super().__init__(paths, names, class_names, normal_classes, image_size, channels)
