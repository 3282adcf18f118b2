"""One reader for training and deployment: files, folders, globs and manifests as a stream of 2-D images.

:func:`iter_items` expands its inputs into files (:func:`expand_inputs`) and reads them one after
the other, lazily, yielding one small :class:`Item` per 2-D image: a PNG, JPEG, BMP or TIFF file
gives one, a DICOM file one per frame, a NIfTI volume one per chosen slice. Each image is read
exactly as the one-class datasets read it for training (:func:`~dia_augment.data.decode.read_item`
with the same :class:`~dia_augment.data.medical.ReadOptions`: window, slice axis and range, then
:func:`~dia_augment.data.decode.prepare_image` with the same size and channels), so that a model
sees at deployment what it was trained on.

An item names its image: the file, the frame or slice, and the groups the file belongs to
(a DICOM file's ``PatientID``, ``StudyInstanceUID`` and ``SeriesInstanceUID``; the ``volume``
of a NIfTI or multi-frame DICOM file, the file itself; a manifest row's ``group``). A file that cannot be read gives an
item without an image and with the reason instead: missing, not an image, DICOM or NIfTI file,
a DICOM file without pixel data, or the decoding library's own message for a truncated or corrupt
file. Items come in file order, so ``itertools.islice`` or a list filled to the batch size batches them.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from dia_augment.data.decode import IMAGE_EXTENSIONS, check_output_format, is_readable_file, prepare_image, read_item
from dia_augment.data.folder import visible_files
from dia_augment.data.manifest import read_manifest
from dia_augment.data.medical import ReadOptions, count_images, dicom_ids, is_dicom, is_nifti
from dia_augment.data.source import parse_source
from dia_augment.errors import DataError, InputError, MissingFileError

__all__ = ["Item", "expand_inputs", "iter_items", "read_files"]

# The errors that make one file (or one of its frames or slices) unreadable; they become an item's reason.
_UNREADABLE = (DataError, InputError, OSError)


@dataclass(frozen=True)
class Item:
    """One 2-D image of an input file, or the reason a file (or a frame or slice of it) gave none.

    Attributes:
        path: the file.
        index: the frame of a DICOM file, the slice of a NIfTI volume (along the canonical axis
            the options name), or ``None`` for a 2-D image, and for a file that could not be opened.
        image: the image, float32 in ``[0, 1]``; ``None`` when it could not be read.
        groups: the groups of the file's images: ``PatientID``, ``StudyInstanceUID``,
            ``SeriesInstanceUID`` (the DICOM header's, those it holds), ``volume`` (a NIfTI file or a
            multi-frame DICOM file: the file), ``group`` (the manifest row's).
        reason: why there is no image, one line naming the file; ``None`` when there is one.

    Shape:
        - image: :math:`(C, H, W)`
    """

    path: Path
    index: int | None
    image: Tensor | None
    groups: dict[str, str]
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the item holds an image."""
        return self.image is not None


def expand_inputs(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[tuple[Path, dict[str, str]]]:
    """The files named by ``inputs``, in the order given, each with the groups its manifest row gives it.

    - a file: the file, whatever it holds (:func:`iter_items` says why it cannot read it);
    - a folder: its files, recursively and sorted, hidden ones left out
      (:func:`~dia_augment.data.folder.visible_files`);
    - ``"manifest:PATH"`` or a path ending in ``.csv``: the files its rows list, missing ones too,
      each with its row's ``group`` when the manifest has that column (a ``label`` column is
      not needed);
    - anything else: a glob pattern (``**`` recurses), its files sorted.

    A file named twice is kept once, with the groups of its first mention.

    Args:
        inputs: one input or a sequence of them.

    Raises:
        MissingFileError: an input that is no file, no folder, no manifest, and a glob matching
            nothing; every input is checked before any file is read.
        DataError: a malformed manifest, or inputs that hold no file at all.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("scans/b.png", "scans/sub/IM0001", "scans/.DS_Store", "a.dcm"):
        ...     (root / name).parent.mkdir(parents=True, exist_ok=True); _ = (root / name).write_bytes(b"")
        >>> _ = (root / "m.csv").write_text("path,group\\na.dcm,P1\\ngone.dcm,P2\\n")
        >>> [(p.relative_to(root).as_posix(), g) for p, g in expand_inputs([root / "scans", f"manifest:{root}/m.csv"])]
        [('scans/b.png', {}), ('scans/sub/IM0001', {}), ('a.dcm', {'group': 'P1'}), ('gone.dcm', {'group': 'P2'})]
    """
    given = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    found: dict[Path, dict[str, str]] = {}
    for item in given:
        text = os.fspath(item)
        source = parse_source(text)
        path = Path(text)
        if source.kind == "manifest":
            table = read_manifest(source.location, require_labels=False, check_files=False)
            groups = table.columns.get("group", [""] * len(table.paths))
            files = [(p, {"group": g} if g else {}) for p, g in zip(table.paths, groups)]
        elif path.is_dir():
            files = [(p, {}) for p in visible_files(path)]
        elif path.is_file():
            files = [(path, {})]
        else:
            files = [(Path(p), {}) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
            if not files:
                raise MissingFileError(
                    f"input {text!r}: no such file, folder or manifest, and no file matches it as a glob"
                )
        for file, groups in files:
            found.setdefault(file, groups)
    if not found:
        raise DataError(f"the inputs {[os.fspath(i) for i in given]} hold no files")
    return list(found.items())


def _reason(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _own_groups(path: Path) -> dict[str, str]:
    """The groups a file names itself: a DICOM header's ids, a NIfTI file's volume."""
    if is_nifti(path):
        return {"volume": str(path)}
    if is_dicom(path):
        return dicom_ids(path)
    return {}


def _file_items(
    path: Path, groups: dict[str, str], options: ReadOptions, load_size: int | None, channels: int | None
) -> Iterator[Item]:
    """The items of one file; after a frame or slice fails, the file's later ones get its reason unread."""
    try:
        if not path.is_file():
            raise MissingFileError(f"file not found: {path}")
        if not is_readable_file(path):
            raise DataError(
                f"{path} is not an image ({', '.join(IMAGE_EXTENSIONS)}), a DICOM file (by name, or the DICM "
                "marker at byte 128) or a NIfTI file (.nii, .nii.gz)"
            )
        groups = {**_own_groups(path), **groups}
        indices = count_images(path, options)
        if indices != [None]:  # a volume: a NIfTI file, a multi-frame DICOM file
            groups.setdefault("volume", str(path))
    except _UNREADABLE as error:
        yield Item(path, None, None, groups, _reason(error))
        return
    failed = None
    for index in indices:
        if failed is None:
            try:
                image = prepare_image(read_item(path, index, options), load_size, channels)
            except _UNREADABLE as error:
                failed = _reason(error)
            else:
                yield Item(path, index, image, dict(groups))
                continue
        yield Item(path, index, None, dict(groups), failed)


def iter_items(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    read_options: ReadOptions | None = None,
    load_size: int | None = None,
    channels: int | None = None,
) -> Iterator[Item]:
    """Read the 2-D images of files, folders, globs and manifests, lazily, file by file (see the module docstring).

    The inputs are expanded and checked when this is called (:func:`expand_inputs`); the files
    are read as the returned iterator is consumed, one at a time.

    Args:
        inputs: files, folders (recursive), glob patterns, ``"manifest:PATH"`` or ``PATH.csv``.
        read_options: the window, NIfTI slice axis and slice range, as for training.
        load_size: the side images are resized to when read (bilinear, antialiased, aspect ignored)
            (the training load size), or ``None`` to keep each file's size.
        channels: 1 or 3, or ``None`` to keep each file's channels.

    Returns:
        An iterator of :class:`Item`: one per frame or slice of a readable file, one with a
        ``reason`` for a file that cannot be read (per frame or slice when its header could be).

    Raises:
        ConfigError: ``load_size`` or ``channels`` is invalid.
        MissingFileError, DataError: see :func:`expand_inputs`.

    Shape:
        - Item.image: :math:`(C, H, W)`, :math:`(channels, load\\_size, load\\_size)` when both are given

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> Image.fromarray(np.full((4, 6), 255, np.uint8)).save(root / "a.png")
        >>> _ = (root / "notes.txt").write_text("not an image")
        >>> items = list(iter_items(root, load_size=2, channels=3))
        >>> [(i.path.name, i.index, i.ok) for i in items], items[0].image.shape
        ([('a.png', None, True), ('notes.txt', None, False)], torch.Size([3, 2, 2]))
        >>> items[1].reason.endswith("is not an image (.png, .jpg, .jpeg, .bmp, .tif, .tiff), a DICOM file (by "
        ...                          "name, or the DICM marker at byte 128) or a NIfTI file (.nii, .nii.gz)")
        True
    """
    check_output_format(load_size, channels)
    return read_files(expand_inputs(inputs), read_options, load_size, channels)


def read_files(
    files: Sequence[tuple[Path, dict[str, str]]],
    read_options: ReadOptions | None = None,
    load_size: int | None = None,
    channels: int | None = None,
) -> Iterator[Item]:
    """The items of files :func:`expand_inputs` gave, lazily (:func:`iter_items` after its expansion).

    For a caller that wants the file count first (a progress bar over files).

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "a.png")
        >>> files = expand_inputs(root)
        >>> len(files), [item.ok for item in read_files(files)]
        (1, [True])
    """
    check_output_format(load_size, channels)
    options = read_options or ReadOptions()
    return (item for path, groups in files for item in _file_items(path, groups, options, load_size, channels))
