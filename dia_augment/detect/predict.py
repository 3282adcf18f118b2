"""Run a detector over files: per-image and per-group scores, a histogram and a gallery of the top-k.

Files are read by the reader training used, :func:`~dia_augment.data.items.iter_items`: images
(PNG, JPEG, BMP, TIFF), DICOM files (single or multi-frame, with or without a suffix), NIfTI
volumes (one image per slice) and CSV manifests (``manifest:PATH`` or ``PATH.csv``), with the
detector's recorded reading by default (window, slice axis and range, load size, channels:
:class:`~dia_augment.detect.reading.Reading`), in batches, never all at once. A file that
cannot be used is listed with the reader's own reason (missing, not an image, corrupt, no pixel
data) or why it does not fit the detector (another channel count or size; ``convert=True``
brings such files to the detector's input and the CSV's ``note`` says so per file).

Scores are anomaly scores: **higher = more anomalous**; ``anomalous`` is ``score > threshold``.
Beside the per-image rows, ``groups.csv`` holds one row per group (a NIfTI or multi-frame file's
``volume``, a DICOM ``SeriesInstanceUID``, ``StudyInstanceUID`` and ``PatientID``, a manifest's
``group``) with the max, mean and top-k mean of its images' scores and a call at the group
threshold the detector holds for that level (calibrated on the calibration hold-out's groups;
``uncalibrated`` otherwise; :mod:`dia_augment.detect.groups`).

The outputs are written at the end, each atomically, under the folder's lock
(:func:`~dia_augment.utils.lock.run_folder_lock`): a run that fails or is interrupted, or in
which no image could be scored, writes none of them.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from dia_augment.data.decode import convert_channels, prepare_image, read_item, resize_square
from dia_augment.data.items import Item, expand_inputs, read_files
from dia_augment.data.medical import is_dicom, is_nifti
from dia_augment.detect.detector import AnomalyDetector
from dia_augment.detect.figures import save_gallery
from dia_augment.detect.groups import AGGREGATIONS, DEFAULT_AGGREGATION, DEFAULT_GROUP_K, aggregation_name, group_scores
from dia_augment.utils.lock import run_folder_lock
from dia_augment.detect.reading import Reading
from dia_augment.errors import DataError, InputError, InputTypeError
from dia_augment.localize.maps import MAP_METHODS
from dia_augment.score.metrics import save_score_histogram
from dia_augment.utils.checks import check_int
from dia_augment.utils.io import atomic_open, atomic_save_tensors, atomic_write_json

__all__ = ["CSV_COLUMNS", "SCORE_COLUMN", "GROUP_LEVELS", "PredictSummary", "predict_files"]

#: The score column of ``predictions.csv``: its name says which way is anomalous.
SCORE_COLUMN = "score (higher = more anomalous)"
#: The columns of ``predictions.csv``, before the group columns of the files read.
CSV_COLUMNS = ("path", "index", SCORE_COLUMN, "anomalous", "status", "note")
#: The groups an image can belong to, from the widest (a manifest's group, a patient) to the narrowest (a volume).
GROUP_LEVELS = ("group", "PatientID", "StudyInstanceUID", "SeriesInstanceUID", "volume")
CSV_FILE, GROUPS_FILE, HISTOGRAM_FILE, GALLERY_FILE, SUMMARY_FILE = (
    "predictions.csv", "groups.csv", "score_histogram.png", "top_anomalies.png", "summary.json")
MAPS_FILE = "top_anomaly_maps.safetensors"
UNCALIBRATED = "uncalibrated"


@dataclass
class PredictSummary:
    """What :func:`predict_files` did: counts, the threshold, the reading, the groups and the files written."""

    num_files: int
    num_images: int
    num_scored: int
    num_skipped: int
    num_anomalous: int
    threshold: dict[str, Any]
    reading: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        groups = "".join(
            f"; {g['num_groups']} {level} group(s), "
            + (f"{g['num_anomalous']} called anomalous" if g["calibrated"] else UNCALIBRATED)
            for level, g in self.groups.items())
        return (
            f"{self.num_scored} images scored, {self.num_anomalous} called anomalous, {self.num_skipped} skipped "
            f"(of {self.num_images} images in {self.num_files} files){groups} (see {self.outputs.get('csv')})"
        )


def _fit(item: Item, detector: AnomalyDetector, convert: bool) -> tuple[Tensor | None, str]:
    """The item's image ready for the detector, or ``None`` and why; the note says what was converted."""
    if item.image is None:
        return None, item.reason or "not read"
    image, notes = item.image, []
    c, h, w = image.shape
    if c != detector.channels:
        if not convert:
            return None, f"{c}-channel image; the detector takes {detector.channels}-channel images (--convert converts)"
        image = convert_channels(image, detector.channels)
        notes.append(f"converted from {c} to {detector.channels} channels")
    if (h, w) != detector.input_size:
        th, tw = detector.input_size
        if not convert or th != tw:
            return None, f"{h} x {w} pixels; the detector takes {th} x {tw} (--convert resizes, or --load-size)"
        image = resize_square(image, th)
        notes.append(f"resized from {h} x {w}")
    return image, "; ".join(notes)


def _name(path: str, index: int | None) -> str:
    return Path(path).name + ("" if index is None else f" [{index}]")


def _as_read(path: str, index: int | None, reading: Reading, channels: int) -> Tensor:
    """The image as read, at the file's own resolution (the window and slicing applied; no resize)."""
    image = prepare_image(read_item(path, index, reading.read_options()), None, reading.channels)
    return convert_channels(image, channels) if image.shape[0] != channels else image


def _scan_map(heat: Tensor, size: tuple[int, int]) -> Tensor:
    """An ``(h, w)`` map brought to the scan's ``size`` (bilinear): the detector's input is the scan resized."""
    if tuple(heat.shape) == tuple(size):
        return heat
    return F.interpolate(heat[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]


def _group_rows(rows: list[dict[str, Any]], levels: list[str], detector: AnomalyDetector, k: int,
                aggregation: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """One row per group of every level, and per level: the number of groups, of anomalous ones, and the threshold."""
    name = aggregation_name(aggregation, k)
    out, summary = [], {}
    for level in levels:
        members = [r for r in rows if r.get(level)]
        scored = [r for r in members if r["status"] == "ok"]
        skipped: dict[str, int] = {}
        for r in members:
            if r["status"] != "ok":
                skipped[r[level]] = skipped.get(r[level], 0) + 1
        per_group = group_scores([r["_score"] for r in scored], [r[level] for r in scored], k) if scored else {}
        calibration = detector.group_calibration
        threshold = None if calibration is None else calibration.threshold(level, aggregation, k)
        anomalous = 0
        for group, values in per_group.items():
            call = UNCALIBRATED if threshold is None else str(values[name] > threshold.value).lower()
            anomalous += call == "true"
            out.append({"level": level, "group": group, "num_images": values["num_images"],
                        "num_skipped": skipped.get(group, 0), "max": f"{values['max']:.6g}",
                        "mean": f"{values['mean']:.6g}", name: f"{values[name]:.6g}", "score": name,
                        "threshold": "" if threshold is None else f"{threshold.value:.6g}", "anomalous": call})
        for group, count in skipped.items():
            if group not in per_group:
                out.append({"level": level, "group": group, "num_images": 0, "num_skipped": count,
                            "anomalous": "", "score": name})
        summary[level] = {"num_groups": len(per_group), "num_anomalous": anomalous, "calibrated": threshold is not None,
                          "score": name, "threshold": None if threshold is None else threshold.value}
    return out, summary


def predict_files(
    detector: AnomalyDetector,
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    reading: Reading | None = None,
    convert: bool = False,
    batch_size: int = 64,
    top_k: int = 16,
    group_k: int | None = None,
    group_score: str = DEFAULT_AGGREGATION,
    maps: str | None = None,
    map_options: dict[str, Any] | None = None,
    progress: bool = True,
) -> PredictSummary:
    """Score files with a calibrated detector and write the CSVs, the histogram and the gallery into ``out``.

    Args:
        detector: a calibrated detector.
        inputs: files, folders (recursive), glob patterns and manifests (``"manifest:PATH"`` or
            ``PATH.csv``); see :func:`~dia_augment.data.items.expand_inputs`.
        out: the output folder: ``predictions.csv`` (one row per image: path, index of the frame or
            slice, score, anomalous, status, note, and the image's groups), ``groups.csv`` (one row
            per group: level, group, counts, max, mean, top-k mean, the score called on, threshold,
            anomalous), ``score_histogram.png`` (threshold marked), ``top_anomalies.png`` (the
            ``top_k`` highest scores, as read, at the scan's resolution) and ``summary.json``.
        reading: how to read files (window, slicing, load size, channels); ``None``: the detector's
            recorded reading (:meth:`Reading.of_detector <dia_augment.detect.reading.Reading.of_detector>`).
        convert: bring images of another channel count or size to the detector's input
            (recorded per image in ``note``) instead of skipping them.
        batch_size: images read and scored at a time.
        top_k: images in the gallery.
        group_k: the ``k`` of the groups' top-k mean; ``None``: the detector's group calibration's
            (else 3).
        group_score: the group score each group is called on: ``"max"``, ``"mean"`` or ``"topk"``.
        maps: an anomaly-map method (:data:`~dia_augment.localize.MAP_METHODS`) to draw over
            the gallery's images; their maps are also saved to ``top_anomaly_maps.safetensors``:
            ``maps`` :math:`(k, H, W)` at the detector's input size and ``scan_map_{i}`` at the
            scan's resolution, in the gallery's order (listed in ``summary.json``).
        map_options: keyword arguments of :meth:`AnomalyDetector.anomaly_map` (``dissolver``,
            ``step``, ``samples``, ...).
        progress: show progress bars (reading and scoring, then the maps' work).

    Raises:
        InputError: the detector has no threshold, or a bad option.
        MissingFileError: an input names nothing (checked before any file is read).
        RunFolderError: another process writes into ``out``.
        DataError: no image could be scored (the message names the first file and why); nothing
            is written.
    """
    if not isinstance(detector, AnomalyDetector):
        raise InputTypeError(f"detector must be an AnomalyDetector; got {type(detector).__name__}")
    detector.calibrated_threshold()  # an uncalibrated detector is refused before any file is read
    batch_size, top_k = check_int(batch_size, "batch_size"), check_int(top_k, "top_k", minimum=0)
    calibration = detector.group_calibration
    group_k = check_int(group_k, "group_k") if group_k is not None else (calibration.k if calibration else DEFAULT_GROUP_K)
    if group_score not in AGGREGATIONS:
        raise InputError(f"group_score must be one of {AGGREGATIONS}; got {group_score!r}")
    if maps is not None and maps not in MAP_METHODS:
        raise InputError(f"maps must be one of {MAP_METHODS}; got {maps!r}")
    reading = reading if reading is not None else Reading.of_detector(detector)
    if not isinstance(reading, Reading):
        raise InputTypeError(f"reading must be a Reading; got {type(reading).__name__}")
    files = expand_inputs(inputs)  # a missing input fails here, before anything is read or written
    with run_folder_lock(out, "dia-augment predict") as out:
        return _predict(detector, files, out, reading, convert, batch_size, top_k, group_k, group_score, maps,
                        map_options, progress)


def _predict(detector: AnomalyDetector, files: list, out: Path, reading: Reading, convert: bool, batch_size: int,
             top_k: int, group_k: int, group_score: str, maps: str | None, map_options: dict[str, Any] | None,
             progress: bool) -> PredictSummary:
    threshold = detector.calibrated_threshold()
    cut = threshold.value
    rows: list[dict[str, Any]] = []
    top: list[tuple[float, int, Tensor]] = []  # a min-heap of (score, row, image) for the gallery
    medical = False
    stream = read_files(files, reading.read_options(), reading.load_size, reading.channels)
    with tqdm(total=len(files), desc="predict", unit="file", disable=not progress) as bar:
        last = None
        while batch := list(itertools.islice(stream, batch_size)):
            fitted = [_fit(item, detector, convert) for item in batch]
            usable = [image for image, _ in fitted if image is not None]
            scores = iter(detector.score(torch.stack(usable)).tolist()) if usable else iter(())
            for item, (image, note) in zip(batch, fitted):
                medical = medical or (item.ok and (is_dicom(item.path) or is_nifti(item.path)))
                row = {"path": str(item.path), "index": "" if item.index is None else item.index, **item.groups,
                       "_index": item.index}
                if image is None:
                    row.update({SCORE_COLUMN: "", "anomalous": "", "status": "skipped", "note": note})
                else:
                    score = next(scores)
                    row.update({SCORE_COLUMN: f"{score:.6g}", "anomalous": str(score > cut).lower(), "status": "ok",
                                "note": note, "_score": score})
                    heapq.heappush(top, (score, len(rows), image))
                    if len(top) > top_k:
                        heapq.heappop(top)
                rows.append(row)
                if item.path != last:  # a file is done when the next one starts
                    if last is not None:
                        bar.update(1)
                    last = item.path
            bar.set_postfix(images=len(rows))
        if last is not None:
            bar.update(1)
    scored = [row["_score"] for row in rows if row["status"] == "ok"]
    if not scored:
        first = rows[0] if rows else {"path": "-", "note": "no image"}
        raise DataError(f"none of the {len(rows)} images of {len(files)} files could be scored; the first: "
                        f"{first['path']}: {first['note']}")
    if medical and reading.window in (None, "file"):
        warnings.warn("the detector was trained without an explicit --window: each DICOM file is read with its own "
                      "header window (else its min-max), so files whose headers differ from the training files' are "
                      "read differently; train with an explicit window (e.g. --window lung)", stacklevel=3)

    levels = [level for level in GROUP_LEVELS if any(row.get(level) for row in rows)]
    group_rows, group_summary = _group_rows(rows, levels, detector, group_k, group_score)

    # the long work before any file is written: the gallery's images as read, and their maps
    best = sorted(top, key=lambda entry: (entry[0], -entry[1]), reverse=True)
    as_read = [_as_read(rows[i]["path"], rows[i]["_index"], reading, detector.channels) for _, i, _ in best]
    captions = [f"{_name(rows[i]['path'], rows[i]['_index'])}\n{s:.4g}" + (" (anomalous)" if s > cut else "")
                for s, i, _ in best]
    overlays = model_maps = None
    if maps is not None and best:
        model_maps = detector.anomaly_map(torch.stack([image for _, _, image in best]), maps, progress=progress,
                                          **(map_options or {}))
        overlays = [_scan_map(heat, tuple(image.shape[-2:])) for heat, image in zip(model_maps, as_read)]

    summary = PredictSummary(
        num_files=len(files),
        num_images=len(rows),
        num_scored=len(scored),
        num_skipped=len(rows) - len(scored),
        num_anomalous=sum(s > cut for s in scored),
        threshold={**threshold.to_dict(), "description": threshold.describe()},
        reading=reading.to_dict(),
        groups=group_summary,
        outputs={"csv": str(out / CSV_FILE)},
    )
    columns = [*CSV_COLUMNS, *levels]
    with atomic_open(out / CSV_FILE) as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    if levels:
        name = aggregation_name(group_score, group_k)
        group_columns = ["level", "group", "num_images", "num_skipped", "max", "mean", aggregation_name("topk", group_k),
                         "score", "threshold", "anomalous"]
        with atomic_open(out / GROUPS_FILE) as f:
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(group_columns + [name])), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(group_rows)
        summary.outputs["groups"] = str(out / GROUPS_FILE)
    if model_maps is not None:
        atomic_save_tensors({"maps": model_maps.contiguous(),
                             **{f"scan_map_{i}": heat.contiguous() for i, heat in enumerate(overlays)}}, out / MAPS_FILE)
        summary.outputs.update(maps=str(out / MAPS_FILE), map_method=maps,
                               map_paths=[rows[i]["path"] for _, i, _ in best],
                               map_indices=[rows[i]["_index"] for _, i, _ in best],
                               scan_sizes=[list(image.shape[-2:]) for image in as_read])
    save_score_histogram(
        out / HISTOGRAM_FILE, scored, threshold=cut,
        threshold_label=f"threshold (false-alarm rate {threshold.false_alarm_rate:.1%} on calibration)",
        title=f"{len(scored)} images, {summary.num_anomalous} above the threshold",
    )
    summary.outputs["histogram"] = str(out / HISTOGRAM_FILE)
    if best:
        title = f"top {len(best)} anomaly scores (higher = more anomalous), as read" + (f"; {maps} maps" if maps else "")
        save_gallery(out / GALLERY_FILE, as_read, captions, title=title, overlays=overlays)
        summary.outputs["gallery"] = str(out / GALLERY_FILE)
    atomic_write_json(out / SUMMARY_FILE, {**summary.__dict__, "method": detector.method,
                                           "score": "anomaly score: higher = more anomalous"})
    return summary

