"""One-class tasks on the official MedMNIST ``.npz`` files."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dia_augment.data.container import OneClassDataset
from dia_augment.data.decode import check_output_format, prepare_image
from dia_augment.data.errors import DataError
from dia_augment.data.folder import class_names_of
from dia_augment.data.medical import to_chw_tensor
from dia_augment.data.split import SPLITS, check_split
from dia_augment.errors import ConfigError, MissingFileError

__all__ = ["MedMNISTOneClass", "MEDMNIST_SPLITS", "MEDMNIST_KNOWN", "medmnist_normal_labels"]

#: The splits of a MedMNIST file.
MEDMNIST_SPLITS = SPLITS

#: Class names and the normal labels of the MedMNIST sets with a standard one-class protocol,
#: keyed by the file name's stem (``retinamnist.npz``, also ``retinamnist_64.npz``).
#:
#: ============  ======================================  ======================
#: file          classes                                 normal
#: ============  ======================================  ======================
#: retinamnist   diabetic retinopathy grade 0 to 4       grade 0
#: breastmnist   0 malignant, 1 normal or benign         1
#: ============  ======================================  ======================
MEDMNIST_KNOWN: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "retinamnist": (("grade0", "grade1", "grade2", "grade3", "grade4"), (0,)),
    "breastmnist": (("malignant", "normal_or_benign"), (1,)),
}


def _known_entry(path: Path) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
    return MEDMNIST_KNOWN.get(path.stem.split("_")[0].lower())


def medmnist_normal_labels(path: Path, normal_class: str | Sequence[str] | None) -> tuple[int, ...] | None:
    """The labels of the normal classes of a MedMNIST file, named by label number or known class name.

    Args:
        path: the ``.npz`` file; its name says which class names are known (:data:`MEDMNIST_KNOWN`).
        normal_class: a label number or class name, several, or ``None`` (passed on as ``None``).

    Raises:
        ConfigError: a name that is neither a label number nor a known class name of the file.

    Examples:
        >>> medmnist_normal_labels(Path("retinamnist_64.npz"), ["grade0", "3"])
        (0, 3)
    """
    if normal_class is None:
        return None
    known = _known_entry(path)
    labels = []
    for name in class_names_of(normal_class):
        if str(name).isdigit():
            labels.append(int(name))
        elif known is not None and name in known[0]:
            labels.append(known[0].index(name))
        else:
            choices = f"a label number or one of {list(known[0])}" if known else "a label number"
            raise ConfigError(f"normal class {name!r} of {path.name} must be {choices}")
    return tuple(labels)


class MedMNISTOneClass(OneClassDataset):
    """A one-class split of a MedMNIST ``.npz`` file (the official keys; nothing is unpickled).

    The file holds ``{train,val,test}_images`` (uint8, ``(N, H, W)`` or ``(N, H, W, 3)``) and
    ``{train,val,test}_labels`` (``(N, 1)``). ``split="train"`` gives the images of the train
    split whose label is in ``normal_labels`` (the whole train split with ``train_anomalies``);
    ``"val"`` and ``"test"`` give the whole split.
    Only the requested split is read; images stay uint8 in memory and are converted per item.

    Args:
        path: the ``.npz`` file.
        split: ``"train"``, ``"val"`` or ``"test"``.
        normal_labels: the labels that count as normal; ``None`` takes them from
            :data:`MEDMNIST_KNOWN` (RetinaMNIST: grade 0; BreastMNIST: 1).
        load_size: the side images are resized to when read (bilinear, antialiased, aspect ignored),
            or ``None`` to keep the file's size.
        channels: 1 or 3, or ``None`` to keep the file's channels.
        class_names: one name per label; ``None`` takes them from :data:`MEDMNIST_KNOWN`, else
            ``"0"``, ``"1"``, ...
        train_anomalies: the train split also holds the images of the other labels (target 1),
            from which a contaminated training set is drawn (:mod:`dia_augment.data.contamination`).

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: not a readable ``.npz``, a missing key, or arrays of the wrong shape or dtype.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.npz"
        >>> arrays = {f"{s}_images": np.full((3, 2, 2), 255, np.uint8) for s in ("train", "val", "test")}
        >>> arrays.update({f"{s}_labels": np.array([[0], [1], [0]], np.uint8) for s in ("train", "val", "test")})
        >>> np.savez(p, **arrays)
        >>> train = MedMNISTOneClass(p, "train", normal_labels=(0,))
        >>> test = MedMNISTOneClass(p, "test", normal_labels=(0,))
        >>> len(train), test.labels.tolist(), train[0][0].tolist()
        (2, [0, 1, 0], [[[1.0, 1.0], [1.0, 1.0]]])
    """

    def __init__(
        self,
        path: str | os.PathLike,
        split: str,
        normal_labels: Sequence[int] | None = None,
        load_size: int | None = None,
        channels: int | None = None,
        class_names: Sequence[str] | None = None,
        train_anomalies: bool = False,
    ) -> None:
        path = Path(path)
        check_split(split, MEDMNIST_SPLITS)
        check_output_format(load_size, channels)
        known = _known_entry(path)
        if normal_labels is None:
            if known is None:
                raise ConfigError(
                    f"normal_labels is needed for {path.name}: the normal labels are known only for "
                    f"{sorted(MEDMNIST_KNOWN)}"
                )
            normal_labels = known[1]
        normal_labels = tuple(int(n) for n in normal_labels)
        images, labels, num_labels = _read_split(path, split)
        if class_names is None:
            class_names = known[0] if known is not None else [str(i) for i in range(num_labels)]
        class_names = [str(c) for c in class_names]
        if len(class_names) < num_labels:
            raise DataError(f"{path.name} has labels up to {num_labels - 1} but only {len(class_names)} class names")
        bad = [n for n in normal_labels if not 0 <= n < len(class_names)]
        if bad:
            raise ConfigError(f"normal labels {bad} are not labels of {path.name} (0 to {len(class_names) - 1})")
        if split == "train" and not train_anomalies:
            keep = np.isin(labels, normal_labels)
            images, labels = images[keep], labels[keep]
        self.path = path
        self.split = split
        self.images = images
        self.load_size = load_size
        self.channels = channels
        normal_names = [class_names[n] for n in normal_labels]
        super().__init__(torch.from_numpy(labels.astype(np.int64)), class_names, normal_names)

    def load_image(self, index: int) -> Tensor:
        return prepare_image(to_chw_tensor(self.images[index]) / 255, self.load_size, self.channels)


def _read_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Read one split's images and labels, and the number of labels (1 + the largest of any split)."""
    if not path.is_file():
        raise MissingFileError(f"MedMNIST file not found: {path}")
    needed = [f"{s}_{kind}" for s in MEDMNIST_SPLITS for kind in ("images", "labels")]
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{path} holds a single array, not a MedMNIST .npz archive")
        with archive:
            missing = [k for k in needed if k not in archive.files]
            found = sorted(archive.files)
            if not missing:
                images = archive[f"{split}_images"]
                all_labels = {s: archive[f"{s}_labels"] for s in MEDMNIST_SPLITS}
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"cannot read {path}: not a valid MedMNIST .npz file ({err})") from err
    if missing:
        raise DataError(f"{path} is not a MedMNIST file: missing keys {missing} (found {found})")
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise DataError(
            f"{path}: {split}_images must be uint8 (N, H, W) or (N, H, W, 3); "
            f"got {images.dtype} {tuple(images.shape)}"
        )
    for s, labels in all_labels.items():
        if labels.ndim != 2 or labels.shape[1] != 1 or labels.dtype.kind not in "iu":
            raise DataError(
                f"{path}: {s}_labels must be integer (N, 1) (multi-label MedMNIST sets are not one-class tasks); "
                f"got {labels.dtype} {tuple(labels.shape)}"
            )
    labels = all_labels[split][:, 0]
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{path}: {split}_images has {images.shape[0]} images but {split}_labels has {labels.shape[0]} labels"
        )
    if any(lab.size and int(lab.min()) < 0 for lab in all_labels.values()):
        raise DataError(f"{path}: labels must be non-negative")
    num_labels = 1 + max((int(lab.max()) for lab in all_labels.values() if lab.size), default=-1)
    return images, labels, num_labels
