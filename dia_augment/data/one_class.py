"""``load_one_class``: one entry point for every data source of the library."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dia_augment.data.container import OneClassData, OneClassDataset
from dia_augment.data.contamination import check_contamination_ratio, contaminated_indices, contamination_count
from dia_augment.data.decode import check_output_format, convert_channels
from dia_augment.data.embedded import EMBEDDED_CLASS_NAMES, embedded_data, make_embedded_anomalies, make_embedded_dataset
from dia_augment.data.folder import OneClassImageFolder, class_names_of, has_split_folders, scan_class_folders
from dia_augment.data.manifest import OneClassManifest
from dia_augment.data.medical import ReadOptions
from dia_augment.data.medmnist import MedMNISTOneClass, medmnist_normal_labels
from dia_augment.data.recipes import RECIPES
from dia_augment.data.source import EMBEDDED, describe_sources, parse_source
from dia_augment.errors import ConfigError, InputError, MissingFileError

__all__ = ["open_one_class", "load_one_class", "EMBEDDED", "ALL_CLASSES", "describe_sources"]

#: ``normal_class=ALL_CLASSES``: every class of the source is normal (the unlabelled multi-class setting).
ALL_CLASSES = "all"

_EMBEDDED_DEFAULT_SIZE = 64


def open_one_class(
    source: str | os.PathLike,
    split: str,
    normal_class: str | Sequence[str] | None = None,
    load_size: int | None = None,
    channels: int | None = None,
    seed: int = 0,
    train_fraction: float = 0.8,
    group_by: str | None = None,
    window: str | tuple[float, float] | None = None,
    slice_axis: int = 2,
    slices: tuple[int | None, int | None] | None = None,
    train_anomalies: bool = False,
) -> OneClassDataset:
    """Open a file-backed one-class split as a lazy torch Dataset of ``(image, target)`` items.

    Accepts every source of :func:`load_one_class` except ``"embedded"`` (generated in memory).

    Args:
        source: a class folder, a MedMNIST ``.npz`` file, a CSV manifest (``"manifest:PATH"`` or
            ``PATH.csv``), or ``"recipe:ROOT"`` (see :data:`RECIPES`); :mod:`dia_augment.data.source`.
        split: ``"train"`` (normal images only), ``"test"`` (or ``"val"`` where the source has one).
        normal_class: the normal class: a folder name (or several) for a folder; a label or
            class name for a ``.npz`` (default for RetinaMNIST and BreastMNIST); fixed by a recipe
            (``None``, or the recipe's own choice).
        load_size: the side images are resized to when read (bilinear, antialiased, aspect ignored),
            or ``None`` to keep the files' size.
        channels: 1 or 3, or ``None`` to keep the files' channels.
        seed: the split seed where the source has no official split.
        train_fraction: the train share of each class where the source has no official split
            (of the groups, with ``group_by``).
        group_by: split by group so that no group (patient) is in train and test: a manifest
            column, ``"dicom:PatientID"`` (a DICOM header element), or a regular expression on
            each file's path (relative to its class folder, or as written in the manifest); see
            :func:`~dia_augment.data.split.file_groups`.
            A manifest's ``group`` column is used without it.
        window: the intensity window of DICOM and NIfTI files: ``"lung"``, ``"mediastinum"``,
            ``"brain"``, ``"bone"``, ``"file"``, ``"minmax"``, ``"CENTER,WIDTH"`` or ``None``
            (the file's own, else min-max); see :mod:`dia_augment.data.window`.
        slice_axis: the axis along which NIfTI volumes are sliced into 2-D images, in their closest
            canonical (RAS+) orientation: 2 gives axial slices whatever the file's affine.
        slices: ``(start, stop)``: keep the NIfTI slices ``range(start, stop)`` only.
        train_anomalies: the train split also holds the anomalous images of the training split
            (target 1), from which :func:`load_one_class` draws a contaminated training set; the
            other splits hold them anyway.

    Raises:
        FileNotFoundError: the source does not exist.
        ValueError: a folder without ``normal_class`` (the message lists the classes found),
            or a ``normal_class`` the recipe does not use.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for cls in ("a", "b"):
        ...     (root / cls).mkdir(); Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / cls / "0.png")
        >>> ds = open_one_class(f"{root}", "test", normal_class="a")
        >>> len(ds), ds.labels.tolist()
        (2, [0, 1])
    """
    parsed = parse_source(source)
    options = ReadOptions(window, slice_axis, slices)
    if parsed.kind == "recipe":
        name, root = parsed.name, parsed.location
        dataset = RECIPES[name].open(
            Path(root), split, load_size, channels, train_fraction, seed, group_by, train_anomalies
        )
        if normal_class is not None:
            wanted = class_names_of(normal_class)
            if set(wanted) != set(dataset.normal_classes) and wanted != (dataset.normal_class,):
                raise ConfigError(
                    f"the {name} recipe uses normal class {dataset.normal_class!r}; got normal_class={normal_class!r} "
                    "(open the folder directly to choose another)"
                )
        return dataset
    path = Path(parsed.location)
    if parsed.kind == "embedded":
        raise InputError(f"the '{EMBEDDED}' data set is generated in memory: use load_one_class")
    if not path.exists():
        raise MissingFileError(f"data source not found: {os.fspath(source)!r}; expected {describe_sources()}")
    if parsed.kind != "folder" and group_by is not None and parsed.kind != "manifest":
        raise ConfigError(f"group_by applies to folders, manifests and recipes, not to {path.name}")
    if parsed.kind == "manifest":
        if normal_class is None:
            raise ConfigError(f"normal_class is needed for the manifest {path} (one of its labels)")
        return OneClassManifest(
            path, split, normal_class, load_size, channels, train_fraction, seed, group_by, options, train_anomalies
        )
    if path.is_file():
        if parsed.kind != "npz":
            raise InputError(f"data source {path} is a file but not a MedMNIST .npz or a .csv manifest; expected {describe_sources()}")
        return MedMNISTOneClass(
            path, split, medmnist_normal_labels(path, normal_class), load_size, channels, train_anomalies=train_anomalies
        )
    if normal_class is None:
        folders = [path / "train", path / "test"] if has_split_folders(path) else [path]
        found = sorted({c for folder in folders for c in scan_class_folders(folder)})
        raise ConfigError(f"normal_class is needed for the folder {path}; classes found: {found}")
    return OneClassImageFolder(
        path, split, normal_class, load_size, channels, train_fraction, seed, group_by=group_by, read_options=options,
        train_anomalies=train_anomalies,
    )


def load_one_class(
    source: str | os.PathLike,
    split: str,
    normal_class: str | Sequence[str] | None = None,
    load_size: int | None = None,
    channels: int | None = None,
    seed: int = 0,
    train_fraction: float = 0.8,
    progress: bool | None = None,
    group_by: str | None = None,
    window: str | tuple[float, float] | None = None,
    slice_axis: int = 2,
    slices: tuple[int | None, int | None] | None = None,
    contamination_ratio: float = 0.0,
) -> OneClassData:
    """Load a one-class split into memory: normal images only for ``"train"``, normal and anomalous for ``"test"``.

    With ``contamination_ratio`` r > 0 the training set is contaminated as in the reference code:
    ``int(r * n / (1 - r))`` anomalous images of the training split, drawn with the seed, follow
    its ``n`` normal images (labels 1; see :mod:`dia_augment.data.contamination`).

    Sources:

    - ``"embedded"``: the built-in generated fundus-like set (:mod:`dia_augment.data.embedded`),
      64 px unless ``load_size`` is given, RGB; ``seed`` fixes the images.
    - a folder: ``root/<class>/`` (seeded per-class split) or ``root/{train,test}/<class>/``
      (official split), see :class:`~dia_augment.data.folder.OneClassImageFolder`; ``normal_class``
      is required. Its files may be images, DICOM (``.dcm``) or NIfTI (``.nii``, ``.nii.gz``).
    - a CSV manifest, ``"manifest:PATH"`` or a path ending in ``.csv`` (``path,label[,group][,split]``),
      see :class:`~dia_augment.data.manifest.OneClassManifest`; ``normal_class`` is required.
    - a MedMNIST ``.npz`` file, see :class:`~dia_augment.data.medmnist.MedMNISTOneClass`.
    - ``"sarscov2:ROOT"``, ``"aptos2019:ROOT"``, ``"kermany_oct:ROOT"``, ``"kvasir:ROOT"``:
      the paper's data sets in their downloaded layouts, see :mod:`dia_augment.data.recipes`.

    Args:
        source: one of the above.
        split: ``"train"`` or ``"test"`` (``"val"`` for MedMNIST and folders that have one).
        normal_class: see :func:`open_one_class`; for ``"embedded"`` ``None`` or ``"normal"``.
        load_size: the side images are resized to when read (bilinear, antialiased, aspect ignored),
            or ``None`` to keep their size; needed when the files differ in size. For
            ``"embedded"``: the side of the generated images (64 when ``None``).
        channels: 1 or 3; needed when the files differ in channels.
        seed: the split seed (the generation seed for ``"embedded"``).
        train_fraction: the train share of each class where the source has no official split.
        progress: show a progress bar while decoding (``None``: only on a terminal).
        group_by: split by patient; see :func:`open_one_class`.
        window: the intensity window of DICOM and NIfTI files; see :func:`open_one_class`.
        slice_axis: the NIfTI slicing axis (canonical RAS+ axes; 2: axial).
        slices: ``(start, stop)``: the NIfTI slices to keep.
        contamination_ratio: the share of anomalies in the training set, in ``[0, 1)``; only for
            ``split="train"`` (the test split is never changed). The draw is seeded with ``seed``.

    ``normal_class="all"`` (:data:`ALL_CLASSES`) is the unlabelled multi-class setting of the
    paper's code (``--one_class_idx None``): every image of every class of the split is normal
    (label 0, the original classes kept in ``classes``); the anomalies of a test then come from
    another source (:func:`~dia_augment.data.options.load_split` with ``ood_data``).

    Returns:
        :class:`~dia_augment.data.container.OneClassData`.

    Raises:
        ConfigError: a ``contamination_ratio`` outside ``[0, 1)``, or above 0 for another split than train.
        DataError: contamination asked of a source whose training split holds too few anomalous
            images (the message says how many it holds).

    Examples:
        >>> data = load_one_class("embedded", "test", load_size=16, channels=1)
        >>> data.images.shape, data.counts()
        (torch.Size([400, 1, 16, 16]), {'normal': 200, 'lesions': 200})
        >>> load_one_class("embedded", "train", load_size=16, contamination_ratio=0.2).counts()
        {'normal': 600, 'lesions': 150}
    """
    ratio = check_contamination_ratio(contamination_ratio)
    if normal_class == ALL_CLASSES:
        if ratio:
            raise ConfigError("contamination_ratio does not apply to normal_class='all': every image is normal")
        return _every_class_normal(source, split, load_size, channels, seed, train_fraction, progress, group_by,
                                   window, slice_axis, slices)
    if ratio and split != "train":
        raise ConfigError(
            f"contamination_ratio applies to the train split only (the {split} split is never changed); got {ratio}"
        )
    if parse_source(source).kind == "embedded":
        if group_by is not None:
            raise ConfigError(f"the '{EMBEDDED}' data set has no patients: group_by does not apply")
        if normal_class not in (None, EMBEDDED_CLASS_NAMES[0]):
            raise ConfigError(f"the '{EMBEDDED}' data set's normal class is 'normal'; got {normal_class!r}")
        check_output_format(None, channels)
        size = load_size or _EMBEDDED_DEFAULT_SIZE
        data = make_embedded_dataset(split, size, seed)
        if ratio:
            anomalies = make_embedded_anomalies(contamination_count(ratio, len(data)), size, seed, split="train")[1]
            data = embedded_data(data.images, anomalies)
        if channels is not None:
            data.images = convert_channels(data.images, channels)
        return data
    dataset = open_one_class(
        source, split, normal_class, load_size, channels, seed, train_fraction, group_by, window, slice_axis, slices,
        train_anomalies=bool(ratio),
    )
    indices = contaminated_indices(dataset.labels, ratio, seed, where=os.fspath(source)) if ratio else None
    return dataset.to_data(progress, indices)


def _a_class_of(source: str | os.PathLike) -> str | None:
    """One class a source may name as normal (the first), to open a split holding every class."""
    parsed = parse_source(source)
    path = Path(parsed.location)
    if parsed.kind == "folder" and path.is_dir():
        root = path / "train" if has_split_folders(path) else path
        names = sorted(scan_class_folders(root))
        return names[0] if names else None
    if parsed.kind == "manifest" and path.is_file():
        from dia_augment.data.manifest import read_manifest

        return sorted(set(read_manifest(path).columns["label"]))[0]
    if parsed.kind == "npz" and path.is_file():
        import numpy as np

        with np.load(path) as arrays:
            return str(int(arrays["train_labels"].min()))
    return None


def _every_class_normal(source: str | os.PathLike, split: str, load_size: int | None, channels: int | None, seed: int,
                        train_fraction: float, progress: bool | None, group_by: str | None,
                        window: str | tuple[float, float] | None, slice_axis: int,
                        slices: tuple[int | None, int | None] | None) -> OneClassData:
    """Every image of every class of ``split``, labelled normal (``normal_class="all"``)."""
    if parse_source(source).kind == "embedded":
        check_output_format(None, channels)
        data = make_embedded_dataset(split, load_size or _EMBEDDED_DEFAULT_SIZE, seed)
        if channels is not None:
            data.images = convert_channels(data.images, channels)
    else:
        dataset = open_one_class(source, split, _a_class_of(source), load_size, channels, seed, train_fraction,
                                 group_by, window, slice_axis, slices, train_anomalies=True)
        data = dataset.to_data(progress)
    data.labels = data.labels.new_zeros(data.labels.shape)
    data.normal_class = ALL_CLASSES
    return data
