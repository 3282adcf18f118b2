"""Recipes for the four data sets of the DIA paper, in the layouts their users download.

==========  ==========================================  =================  ====================  ==========================
recipe      layout under ``root``                       normal             anomaly               split
==========  ==========================================  =================  ====================  ==========================
sarscov2    ``COVID/``, ``non-COVID/`` (Kaggle,         non-COVID          COVID                 seeded, 80 / 20 per class
            plameneduardo/sarscov2-ctscan-dataset)
aptos2019   ``train.csv`` (``id_code,diagnosis``) and   grade 0 (no DR)    grades 1 to 4         seeded, 80 / 20 per grade
            ``train_images/<id_code>.png`` (Kaggle
            aptos2019-blindness-detection)
kermany_oct ``{train,test}/{NORMAL,CNV,DME,DRUSEN}/``   NORMAL             CNV, DME, DRUSEN      official train / test
            under ``root``, ``root/OCT2017``,
            ``root/OCT2017 `` or ``root/CellData/OCT``
            (Kaggle paultimothymooney/kermany2018)
kvasir      ``kvasir-dataset-v2/<8 class folders>``     normal-cecum,      the 5 other classes   seeded, 80 / 20 per class
            (Simula), ``root`` or its parent            normal-pylorus,
                                                        normal-z-line
==========  ==========================================  =================  ====================  ==========================

The seeded split is that of :mod:`dia_augment.data.split`: each class is shuffled with ``seed``
and its name, ``floor(train_fraction * n)`` of its images are its train share; train holds the
normal classes' train share, test the held-out share of every class.

Every recipe is called alike, ``recipe(root, split, load_size=None, channels=None,
train_fraction=0.8, seed=0, group_by=None, train_anomalies=False)``, and documents only its
``root``. The other arguments:

- ``split``: ``"train"`` (normal images only) or ``"test"`` (also ``"val"`` for Kermany OCT, when present);
- ``load_size``: the side images are resized to when read (bilinear, antialiased, aspect ignored),
  or ``None`` to keep the files' size;
- ``channels``: 1 or 3, or ``None`` to keep the files' channels;
- ``train_fraction``: the train share of each class (of each grade for APTOS 2019);
- ``seed``: the split seed;
- ``group_by``: a regular expression giving each file's patient (see
  :func:`~dia_augment.data.split.file_groups`): split by patient instead of per image;
- ``train_anomalies``: the train split also holds the anomalous classes' training images
  (target 1), for a contaminated training set (:mod:`dia_augment.data.contamination`).

Kvasir has no "normal" class as such. Its eight classes are three anatomical landmarks seen in
healthy patients (``normal-cecum``, ``normal-pylorus``, ``normal-z-line``), three pathological
findings (``esophagitis``, ``polyps``, ``ulcerative-colitis``) and two views after polyp removal
(``dyed-lifted-polyps``, ``dyed-resection-margins``). The recipe takes the three landmark
classes together as normal (healthy tissue) and the other five as anomalies (disease or an
intervention), so that the test asks "is anything wrong in this image", not "which landmark".
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dia_augment.data.folder import (
    OneClassImageFiles,
    OneClassImageFolder,
    has_split_folders,
    require_files,
    seeded_split_files,
)
from dia_augment.data.split import file_groups, warn_per_image_split
from dia_augment.errors import ConfigError, DataError, MissingFileError

__all__ = [
    "Recipe",
    "RECIPES",
    "sarscov2",
    "aptos2019",
    "kermany_oct",
    "kvasir",
    "APTOS_CLASS_NAMES",
    "KERMANY_CLASS_NAMES",
    "KVASIR_CLASS_NAMES",
    "KVASIR_NORMAL_CLASSES",
]

#: APTOS 2019 diagnosis grades 0 to 4, in order.
APTOS_CLASS_NAMES = ("no_dr", "mild", "moderate", "severe", "proliferative_dr")
#: The class folders of Kermany retinal OCT.
KERMANY_CLASS_NAMES = ("CNV", "DME", "DRUSEN", "NORMAL")
#: The eight class folders of Kvasir v2.
KVASIR_CLASS_NAMES = (
    "dyed-lifted-polyps",
    "dyed-resection-margins",
    "esophagitis",
    "normal-cecum",
    "normal-pylorus",
    "normal-z-line",
    "polyps",
    "ulcerative-colitis",
)
#: The Kvasir classes taken as normal: the anatomical landmarks of healthy patients.
KVASIR_NORMAL_CLASSES = ("normal-cecum", "normal-pylorus", "normal-z-line")


def _require_folders(root: Path, names: tuple[str, ...], what: str) -> None:
    if not root.is_dir():
        raise MissingFileError(f"{what} folder not found: {root}")
    missing = [n for n in names if not (root / n).is_dir()]
    if missing:
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataError(f"{root} is not a {what} folder: missing {missing} (sub-folders found: {found})")


def sarscov2(
    root: str | os.PathLike,
    split: str,
    load_size: int | None = None,
    channels: int | None = None,
    train_fraction: float = 0.8,
    seed: int = 0,
    group_by: str | None = None,
    train_anomalies: bool = False,
) -> OneClassImageFolder:
    """SARS-CoV-2 CT (Soares et al. 2020): normal = ``non-COVID``, anomaly = ``COVID``; seeded split.

    The arguments after ``root`` are those of every recipe (:mod:`dia_augment.data.recipes`).

    Args:
        root: the folder holding ``COVID/`` and ``non-COVID/``.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for cls in ("COVID", "non-COVID"):
        ...     (root / cls).mkdir()
        ...     for i in range(5):
        ...         Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / cls / f"{i}.png")
        >>> len(sarscov2(root, "train")), sarscov2(root, "test").labels.tolist()
        (4, [1, 0])
    """
    root = Path(root)
    _require_folders(root, ("COVID", "non-COVID"), "SARS-CoV-2 CT")
    if group_by is None:
        warn_per_image_split("SARS-CoV-2 CT", "it holds several CT slices per patient and its file names carry no patient id")
    return OneClassImageFolder(
        root, split, "non-COVID", load_size, channels, train_fraction, seed, layout="classes", group_by=group_by,
        train_anomalies=train_anomalies,
    )


def aptos2019(
    root: str | os.PathLike,
    split: str,
    load_size: int | None = None,
    channels: int | None = None,
    train_fraction: float = 0.8,
    seed: int = 0,
    group_by: str | None = None,
    train_anomalies: bool = False,
) -> OneClassImageFiles:
    """APTOS 2019 blindness detection: normal = grade 0 (no DR), anomaly = grades 1 to 4; seeded split.

    Only the labelled ``train.csv`` part of the competition data is used (``test.csv`` has no
    labels); each grade is split on its own.

    The arguments after ``root`` are those of every recipe (:mod:`dia_augment.data.recipes`).

    Args:
        root: the folder holding ``train.csv`` and ``train_images/``.

    Raises:
        FileNotFoundError: ``train.csv`` or ``train_images/`` is missing.
        DataError: a malformed ``train.csv`` (columns, grades) or image files it names are missing.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "train_images").mkdir()
        >>> rows = [(f"id{i}", i % 2) for i in range(10)]
        >>> for name, _ in rows:
        ...     Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "train_images" / f"{name}.png")
        >>> _ = (root / "train.csv").write_text("id_code,diagnosis\\n" + "".join(f"{a},{b}\\n" for a, b in rows))
        >>> len(aptos2019(root, "train")), aptos2019(root, "test").labels.tolist()
        (4, [0, 1])
    """
    root = Path(root)
    table, images = root / "train.csv", root / "train_images"
    for path in (table, images):
        if not path.exists():
            raise MissingFileError(
                f"APTOS 2019 {path.name} not found in {root} (expected train.csv and train_images/)"
            )
    by_grade: dict[str, list[Path]] = {name: [] for name in APTOS_CLASS_NAMES}
    with open(table, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"id_code", "diagnosis"} <= set(reader.fieldnames):
            raise DataError(f"{table} must have the columns id_code and diagnosis; got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            grade = (row["diagnosis"] or "").strip()
            if grade not in {str(g) for g in range(len(APTOS_CLASS_NAMES))}:
                raise DataError(f"{table} line {line}: diagnosis must be 0 to 4; got {grade!r}")
            by_grade[APTOS_CLASS_NAMES[int(grade)]].append(images / f"{row['id_code'].strip()}.png")
    every = [p for files in by_grade.values() for p in files]
    require_files(every, "image", str(table))
    if not by_grade[APTOS_CLASS_NAMES[0]]:
        raise DataError(f"{table} lists no image of grade 0 (the normal class)")
    groups = None
    if group_by is not None:
        groups = dict(zip(every, file_groups([p.name for p in every], group_by, where=str(table))))
    paths, names = seeded_split_files(
        by_grade, split, (APTOS_CLASS_NAMES[0],), train_fraction, seed, groups, train_anomalies
    )
    return OneClassImageFiles(paths, names, APTOS_CLASS_NAMES, (APTOS_CLASS_NAMES[0],), load_size, channels)


def _kermany_root(root: Path) -> Path:
    candidates = (root, root / "OCT2017", root / "OCT2017 ", root / "CellData" / "OCT")
    for candidate in candidates:
        if has_split_folders(candidate):
            return candidate
    _require_folders(root, (), "Kermany OCT")
    raise DataError(
        f"no train/ and test/ folders found in {root}, {root / 'OCT2017'} or {root / 'CellData' / 'OCT'} "
        "(expected the Kaggle kermany2018 layout)"
    )


def kermany_oct(
    root: str | os.PathLike,
    split: str,
    load_size: int | None = None,
    channels: int | None = None,
    train_fraction: float = 0.8,
    seed: int = 0,
    group_by: str | None = None,
    train_anomalies: bool = False,
) -> OneClassImageFolder:
    """Kermany retinal OCT: normal = ``NORMAL``, anomaly = ``CNV``, ``DME``, ``DRUSEN``; official split.

    The arguments after ``root`` are those of every recipe (:mod:`dia_augment.data.recipes`);
    ``train_fraction`` and ``seed`` are accepted for a uniform signature and ignored, and
    ``group_by`` is refused: the data set comes with its own train / test (and val) folders.

    Args:
        root: the folder holding ``train/`` and ``test/``, or ``OCT2017/`` (also with the trailing
            space of the Kaggle archive) or ``CellData/OCT/``.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for split in ("train", "test"):
        ...     for cls in ("NORMAL", "CNV"):
        ...         (root / "OCT2017" / split / cls).mkdir(parents=True)
        ...         Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "OCT2017" / split / cls / "a.jpeg")
        >>> len(kermany_oct(root, "train")), kermany_oct(root, "test").labels.tolist()
        (1, [1, 0])
    """
    if group_by is not None:
        raise ConfigError("Kermany OCT comes with its own train / test split: group_by does not apply")
    base = _kermany_root(Path(root))
    return OneClassImageFolder(
        base, split, "NORMAL", load_size, channels, layout="splits", train_anomalies=train_anomalies
    )


def kvasir(
    root: str | os.PathLike,
    split: str,
    load_size: int | None = None,
    channels: int | None = None,
    train_fraction: float = 0.8,
    seed: int = 0,
    group_by: str | None = None,
    train_anomalies: bool = False,
) -> OneClassImageFolder:
    """Kvasir v2: normal = the three ``normal-*`` landmark classes together, anomaly = the other five; seeded split.

    See the module docstring for why. Class folders other than the eight of Kvasir v2 are
    read as further anomaly classes.

    The arguments after ``root`` are those of every recipe (:mod:`dia_augment.data.recipes`).

    Args:
        root: ``kvasir-dataset-v2/`` or the folder holding it.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp()) / "kvasir-dataset-v2"
        >>> for cls in KVASIR_NORMAL_CLASSES + ("polyps",):
        ...     (root / cls).mkdir(parents=True)
        ...     for i in range(5):
        ...         Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / cls / f"{i}.jpg")
        >>> len(kvasir(root.parent, "train")), kvasir(root.parent, "test").labels.tolist()
        (12, [0, 0, 0, 1])
    """
    root = Path(root)
    if not any((root / c).is_dir() for c in KVASIR_NORMAL_CLASSES) and (root / "kvasir-dataset-v2").is_dir():
        root = root / "kvasir-dataset-v2"
    _require_folders(root, KVASIR_NORMAL_CLASSES, "Kvasir v2")
    return OneClassImageFolder(
        root, split, KVASIR_NORMAL_CLASSES, load_size, channels, train_fraction, seed, layout="classes",
        group_by=group_by, train_anomalies=train_anomalies,
    )


@dataclass(frozen=True)
class Recipe:
    """A paper data set: how to open it, and its one-class protocol in words."""

    name: str
    title: str
    normal: str
    anomaly: str
    split: str
    open: Callable[..., OneClassImageFiles]


#: The recipes by name, as used in ``load_one_class("name:/path/to/root", ...)``.
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("sarscov2", "SARS-CoV-2 CT", "non-COVID", "COVID", "seeded 80/20 per class", sarscov2),
        Recipe("aptos2019", "APTOS 2019", "grade 0 (no DR)", "grades 1-4", "seeded 80/20 per grade", aptos2019),
        Recipe("kermany_oct", "Kermany retinal OCT", "NORMAL", "CNV, DME, DRUSEN", "official train/test", kermany_oct),
        Recipe("kvasir", "Kvasir v2", "normal-cecum + normal-pylorus + normal-z-line", "the 5 other classes",
               "seeded 80/20 per class", kvasir),
    )
}
