"""``DataOptions``: every option a one-class data set is read with, recorded by a run and read again.

A training run records them (``run.json``, ``data.options``) so that ``score``, ``predict`` and
export read images exactly as training read them; :func:`load_split` reads a split with them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

__all__ = ["DataOptions", "load_split", "source_name"]


def source_name(data: str, contamination_ratio: float = 0.0) -> str:
    """The training data's source as a run records it: the source, with the contamination ratio when it is not 0
    (so a run trained on contaminated data and one trained on clean data name different sources).

    Examples:
        >>> source_name("scans/", 0.1), source_name("scans/")
        ('scans/ (contamination_ratio=0.1)', 'scans/')
    """
    return f"{data} (contamination_ratio={contamination_ratio:g})" if contamination_ratio else data


@dataclass(frozen=True)
class DataOptions:
    """The options a one-class data set was read with (the keyword arguments of ``load_one_class`` and the hold-out).

    Args:
        data: the source (``--data``).
        normal_class: the normal class (``None``: the source's own).
        data_seed: the split seed of sources without an official split.
        load_size: the side the files were resized to when loading (``None``: as stored).
        channels: the channel count they were converted to (``None``: as stored).
        group_by: the grouping that kept each patient on one side of the split.
        window: the intensity window of DICOM / NIfTI files.
        slice_axis: the axis NIfTI volumes were sliced along.
        slices: the NIfTI slices kept (``[start, stop]``).
        contamination_ratio: the share of anomalies mixed into the training set.
        calibration_fraction: the share of the normal training images held out of training for the
            threshold (0: none).
        calibration_seed: the seed of that hold-out.
        ood_data: another source whose test images (every class) are the anomalies of the test split
            (the unlabelled multi-class setting: ``normal_class="all"``, ``--ood-data SOURCE``).
        calibration_by: how the calibration hold-out was drawn: ``None`` per image, else whole groups
            of this level (``"PatientID"``, ``"group"``, ``"volume"``: see
            :class:`~dia_augment.data.OneClassData`'s ``group_level``), so that ``score`` draws the
            same hold-out again (:func:`~dia_augment.detect.run_data.split_training`). Left out of
            :meth:`to_dict` when ``None``, so that the records of earlier runs read the same.
    """

    data: str
    normal_class: str | None = None
    data_seed: int = 0
    load_size: int | None = None
    channels: int | None = None
    group_by: str | None = None
    window: str | None = None
    slice_axis: int = 2
    slices: tuple[int | None, int | None] | None = None
    contamination_ratio: float = 0.0
    calibration_fraction: float = 0.0
    calibration_seed: int = 0
    ood_data: str | None = None
    calibration_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (recorded in ``run.json`` under ``data.options``).

        Examples:
            >>> "calibration_by" in DataOptions("scans/").to_dict(), DataOptions("s", calibration_by="PatientID").to_dict()["calibration_by"]
            (False, 'PatientID')
        """
        record = asdict(self)
        record["slices"] = None if self.slices is None else list(self.slices)
        if self.calibration_by is None:
            del record["calibration_by"]
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> DataOptions:
        """Rebuild from :meth:`to_dict` (unknown keys are ignored: a later version may record more)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        if values.get("slices") is not None:
            values["slices"] = tuple(values["slices"])
        return cls(**values)

    def load_kwargs(self, split: str) -> dict[str, Any]:
        """The keyword arguments of :func:`~dia_augment.data.load_one_class` for ``split``."""
        kwargs: dict[str, Any] = dict(load_size=self.load_size, channels=self.channels, seed=self.data_seed,
                                      group_by=self.group_by, window=self.window, slice_axis=self.slice_axis,
                                      slices=self.slices)
        if split == "train" and self.contamination_ratio:
            kwargs["contamination_ratio"] = self.contamination_ratio
        return kwargs

    @property
    def source(self) -> str:
        """The source as a run records it (:func:`source_name`)."""
        return source_name(self.data, self.contamination_ratio)


def load_split(options: DataOptions, split: str) -> Any:
    """A split of the data read with ``options`` (:func:`~dia_augment.data.load_one_class`).

    With ``options.ood_data`` the test split also holds every test image of that source, labelled
    anomalous (its classes named ``SOURCE:CLASS``), read at the same size and converted to the same
    channels.
    """
    from dia_augment.data.container import OneClassData
    from dia_augment.data.decode import convert_channels
    from dia_augment.data.one_class import ALL_CLASSES, load_one_class
    from dia_augment.errors import DataError

    data = load_one_class(options.data, split, options.normal_class, **options.load_kwargs(split))
    if options.ood_data is None or split == "train":
        return data
    kwargs = options.load_kwargs(split)
    kwargs["channels"] = None
    ood = load_one_class(options.ood_data, split, ALL_CLASSES, **kwargs)
    images = convert_channels(ood.images, data.images.shape[1])
    if images.shape[-2:] != data.images.shape[-2:]:
        raise DataError(f"the {options.ood_data} images are {tuple(images.shape[-2:])} and the {options.data} images "
                        f"{tuple(data.images.shape[-2:])}: pass load_size (--load-size) to read both at one size")
    offset = len(data.class_names)
    grouped = data.groups is not None and ood.groups is not None and data.group_level == ood.group_level
    groups = [*data.groups, *(f"{options.ood_data}:{g}" for g in ood.groups)] if grouped else None
    return OneClassData(torch.cat([data.images, images]), torch.cat([data.labels, torch.ones_like(ood.labels)]),
                        torch.cat([data.classes, ood.classes + offset]),
                        [*data.class_names, *(f"{options.ood_data}:{name}" for name in ood.class_names)],
                        data.normal_class, groups, data.group_level if grouped else None)
