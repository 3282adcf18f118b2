"""``OneClassData`` (a one-class split held in memory) and the base class of the one-class datasets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from dia_augment.errors import ConfigError, DataError, InputError, InputTypeError
from dia_augment.utils.checks import check_images

__all__ = ["OneClassData", "OneClassDataset", "NORMAL", "ANOMALY"]

#: The target of a normal image.
NORMAL = 0
#: The target of an anomalous image.
ANOMALY = 1


@dataclass
class OneClassData:
    """One split of a one-class anomaly detection task, held in memory.

    Args:
        images: float images in ``[0, 1]``.
        labels: 0 = normal, 1 = anomaly.
        classes: the original class of each image, an index into ``class_names``
            (for per-class AUROC).
        class_names: the names of the original classes.
        normal_class: the name of the normal class (several joined by ``"+"``).
        groups: the group (patient, volume) of each image, one string per image, or ``None`` when the
            source names none: a manifest's ``group`` column or ``group_by`` column, the ``group_by``
            of a folder (a regular expression on the path, or a DICOM header element such as
            ``dicom:PatientID``), else the file itself for a source holding volumes (NIfTI files,
            multi-frame DICOM files), so that the slices of one volume stay together.
        group_level: what a group is, the key :func:`~dia_augment.data.items.iter_items` gives the
            same grouping of new files under: a DICOM keyword (``"PatientID"``), ``"volume"`` (the
            file) or ``"group"`` (a manifest column or a regular expression); ``None`` without groups.

    Shape:
        - images: :math:`(N, C, H, W)`
        - labels: :math:`(N,)` int64
        - classes: :math:`(N,)` int64

    Examples:
        >>> d = OneClassData(torch.zeros(3, 1, 4, 4), torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2]),
        ...                  ["ok", "a", "b"], "ok")
        >>> len(d), d.counts()
        (3, {'ok': 1, 'a': 1, 'b': 1})
        >>> OneClassData(torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]), torch.tensor([0, 1]), ["ok", "a"], "ok",
        ...              groups=["p1", "p1"], group_level="PatientID").groups
        ['p1', 'p1']
    """

    images: Tensor
    labels: Tensor
    classes: Tensor
    class_names: list[str]
    normal_class: str
    groups: list[str] | None = None
    group_level: str | None = None

    def __post_init__(self) -> None:
        check_images(self.images)
        n = self.images.shape[0]
        if self.groups is not None:
            if not isinstance(self.groups, (list, tuple)):
                raise InputTypeError(f"groups must be a list of one string per image, or None; got {type(self.groups).__name__}")
            if len(self.groups) != n:
                raise InputError(f"groups must hold one group per image ({n}); got {len(self.groups)}")
            self.groups = [str(g) for g in self.groups]
            if any(not g for g in self.groups):
                raise InputError("groups must not hold an empty group name")
            self.group_level = self.group_level or "group"
        else:
            self.group_level = None
        for name in ("labels", "classes"):
            value = getattr(self, name)
            if not isinstance(value, Tensor) or value.shape != (n,):
                shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise InputError(f"{name} must be a ({n},) tensor to match {n} images; got {shape}")
            if value.is_floating_point() or value.dtype == torch.bool:
                raise InputTypeError(f"{name} must be an integer tensor; got dtype {value.dtype}")
            setattr(self, name, value.long())
        if not bool(((self.labels == NORMAL) | (self.labels == ANOMALY)).all()):
            raise InputError("labels must be 0 (normal) or 1 (anomaly)")
        self.class_names = [str(c) for c in self.class_names]
        in_range = (self.classes >= 0) & (self.classes < len(self.class_names))
        if not bool(in_range.all()):
            raise InputError(f"classes must index class_names (0 to {len(self.class_names) - 1})")

    def __len__(self) -> int:
        return self.images.shape[0]

    def counts(self) -> dict[str, int]:
        """The number of images of each original class (in ``class_names`` order, zeros left out)."""
        bins = torch.bincount(self.classes, minlength=len(self.class_names)).tolist()
        return {name: count for name, count in zip(self.class_names, bins) if count}


class OneClassDataset(Dataset):
    """Base of the one-class datasets: item ``i`` is ``(image, target)``, target 0 normal / 1 anomaly.

    Subclasses call ``super().__init__`` with the original class of every item and implement
    :meth:`load_image`.

    Args:
        classes: the original class of each item, an index into ``class_names``.
        class_names: the names of the original classes.
        normal_classes: the names of the classes that count as normal.

    Attributes:
        classes: ``(N,)`` int64, as given.
        labels: ``(N,)`` int64, 0 for items of a normal class and 1 for the others.
        groups: the group of each item (see :class:`OneClassData`), or ``None``; set by subclasses.
        group_level: what a group is (see :class:`OneClassData`).
    """

    groups: list[str] | None = None
    group_level: str | None = None

    def __init__(self, classes: Tensor, class_names: Sequence[str], normal_classes: Sequence[str]) -> None:
        self.class_names = [str(c) for c in class_names]
        self.normal_classes = tuple(str(c) for c in normal_classes)
        missing = [c for c in self.normal_classes if c not in self.class_names]
        if not self.normal_classes or missing:
            raise ConfigError(f"normal class {missing or '(none)'} is not among the classes found: {self.class_names}")
        self.classes = classes.long()
        normal = torch.tensor([self.class_names.index(c) for c in self.normal_classes], dtype=torch.long)
        self.labels = (~torch.isin(self.classes, normal)).long()

    def load_image(self, index: int) -> Tensor:
        """The ``(C, H, W)`` float image of item ``index``."""
        raise NotImplementedError

    @property
    def normal_class(self) -> str:
        """The normal class name (several joined by ``"+"``)."""
        return "+".join(self.normal_classes)

    def __len__(self) -> int:
        return int(self.classes.shape[0])

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for a dataset of {len(self)} items")
        index = index % len(self)
        return self.load_image(index), int(self.labels[index])

    def to_data(self, progress: bool | None = None, indices: Tensor | None = None) -> OneClassData:
        """Load every item, or the items ``indices`` in that order, into one :class:`OneClassData`.

        Args:
            progress: show a progress bar (``None``: only on a terminal).
            indices: the items to load (int64); ``None`` loads them all.

        Shape:
            - indices: :math:`(M,)`

        Raises:
            ValueError: nothing to load, or the images differ in size or channels
                (pass ``load_size`` / ``channels``).
        """
        chosen = torch.arange(len(self)) if indices is None else torch.as_tensor(indices, dtype=torch.long)
        if len(chosen) == 0:
            raise DataError(f"{type(self).__name__} is empty: nothing to load")
        images: list[Tensor] = []
        disable = None if progress is None else not progress
        for i in tqdm(chosen.tolist(), desc="loading images", disable=disable, leave=False):
            image = self.load_image(i)
            if images and image.shape != images[0].shape:
                first = int(chosen[0])
                raise DataError(
                    f"item {i} has shape {tuple(image.shape)} but item {first} has {tuple(images[0].shape)}: "
                    "pass load_size and channels to bring every image to one size"
                )
            images.append(image)
        groups = None if self.groups is None else [self.groups[i] for i in chosen.tolist()]
        return OneClassData(
            torch.stack(images), self.labels[chosen], self.classes[chosen], list(self.class_names), self.normal_class,
            groups, self.group_level if groups is not None else None,
        )
