"""Run a detector over image files: ``predictions.csv``, a score histogram and a gallery of the top-k.

Files are read and scored in batches (never all at once). A file that cannot be used (not an
image, unreadable, another channel count or size than the detector takes) is listed in the CSV
with the reason and skipped; nothing is silently resized: ``convert=True`` brings such files to
the detector's input and the CSV's ``note`` says so per file. Every output is written
atomically, so an interrupted run never leaves a half-written ``predictions.csv``.

Scores are anomaly scores: higher = more anomalous; ``anomalous`` is ``score > threshold``.
"""

from __future__ import annotations

import csv
import glob
import heapq
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from dia_augment.data.decode import IMAGE_EXTENSIONS, convert_channels, read_image, resize_square
from dia_augment.detect.detector import AnomalyDetector
from dia_augment.detect.figures import save_gallery
from dia_augment.errors import DataError, DiaError, InputError, MissingFileError
from dia_augment.localize.maps import MAP_METHODS
from dia_augment.score.metrics import save_score_histogram
from dia_augment.utils.checks import check_int
from dia_augment.utils.io import atomic_open, atomic_save_tensors, atomic_write_json

__all__ = ["CSV_COLUMNS", "PredictSummary", "collect_image_files", "predict_files"]

CSV_COLUMNS = ("path", "score", "anomalous", "status", "note")
CSV_FILE, HISTOGRAM_FILE, GALLERY_FILE, SUMMARY_FILE = "predictions.csv", "score_histogram.png", "top_anomalies.png", "summary.json"
MAPS_FILE = "top_anomaly_maps.safetensors"


def collect_image_files(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """The files named by ``inputs``: files as given, folders recursively (image endings only), globs.

    Args:
        inputs: file paths, folder paths, or glob patterns (``**`` recurses).

    Returns:
        The files, in the order given (each folder's and glob's files sorted), without duplicates.

    Raises:
        MissingFileError: an input that is no file, no folder, and a glob matching nothing;
            checked for every input before any image is read.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("a.png", "sub/b.PNG", "sub/notes.txt"):
        ...     (root / name).parent.mkdir(exist_ok=True); _ = (root / name).write_bytes(b"")
        >>> [p.relative_to(root).as_posix() for p in collect_image_files([root])]
        ['a.png', 'sub/b.PNG']
    """
    found: dict[Path, None] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        elif path.is_file():
            files = [path]
        else:
            files = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not files:
                raise MissingFileError(f"--images {item}: no such file or folder, and no file matches it as a glob")
        found.update(dict.fromkeys(files))
    if not found:
        raise MissingFileError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {', '.join(map(str, inputs))}")
    return list(found)


@dataclass
class PredictSummary:
    """What :func:`predict_files` did: counts, the threshold and the files written."""

    num_files: int
    num_scored: int
    num_skipped: int
    num_anomalous: int
    threshold: dict[str, Any]
    outputs: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"{self.num_scored} images scored, {self.num_anomalous} called anomalous, {self.num_skipped} skipped "
            f"(see {self.outputs.get('csv')})"
        )


def _load(path: Path, detector: AnomalyDetector, convert: bool) -> tuple[Tensor | None, str]:
    """The image ready for the detector, or ``None`` and the reason; the note says what was converted."""
    try:
        image = read_image(path)
    except (DiaError, OSError, ValueError) as err:
        return None, " ".join(str(err).split())
    notes = []
    c, h, w = image.shape
    if c != detector.channels:
        if not convert:
            return None, f"{c}-channel image; the detector takes {detector.channels}-channel images (--convert converts)"
        image = convert_channels(image, detector.channels)
        notes.append(f"converted from {c} to {detector.channels} channels")
    if (h, w) != detector.input_size:
        th, tw = detector.input_size
        if not convert or th != tw:
            return None, f"{h} x {w} pixels; the detector takes {th} x {tw} (--convert resizes)"
        image = resize_square(image, th)
        notes.append(f"resized from {h} x {w}")
    return image, "; ".join(notes)


def _batches(paths: list[Path], detector: AnomalyDetector, convert: bool, batch_size: int) -> Iterator[list[tuple[Path, Tensor | None, str]]]:
    for start in range(0, len(paths), batch_size):
        yield [(p, *_load(p, detector, convert)) for p in paths[start : start + batch_size]]


def predict_files(
    detector: AnomalyDetector,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    convert: bool = False,
    batch_size: int = 64,
    top_k: int = 16,
    maps: str | None = None,
    map_options: dict[str, Any] | None = None,
    progress: bool = True,
) -> PredictSummary:
    """Score image files with a calibrated detector and write the CSV, the histogram and the gallery.

    Args:
        detector: a calibrated detector.
        inputs: files, folders (recursive) or globs (:func:`collect_image_files`).
        out: the output folder: ``predictions.csv`` (path, score, anomalous, status, note),
            ``score_histogram.png`` (threshold marked), ``top_anomalies.png`` (the ``top_k``
            highest scores) and ``summary.json``.
        convert: bring files of another channel count or size to the detector's input
            (recorded per file in ``note``) instead of skipping them.
        batch_size: files read and scored at a time.
        top_k: images in the gallery.
        maps: an anomaly-map method (:data:`~dia_augment.localize.MAP_METHODS`) to draw over
            the gallery's images; their maps are also saved to ``top_anomaly_maps.safetensors``
            (``maps`` :math:`(k, H, W)` in the gallery's order, listed in ``summary.json``).
        map_options: keyword arguments of :meth:`AnomalyDetector.anomaly_map` (``dissolver``,
            ``step``, ``samples``, ...).
        progress: show a progress bar.

    Raises:
        InputError: the detector has no threshold.
        MissingFileError: an input names nothing.
        DataError: no file could be scored (the CSV lists why, file by file).
    """
    threshold = detector.calibrated_threshold()
    batch_size, top_k = check_int(batch_size, "batch_size"), check_int(top_k, "top_k")
    if maps is not None and maps not in MAP_METHODS:
        raise InputError(f"maps must be one of {MAP_METHODS}; got {maps!r}")
    paths = collect_image_files(inputs)
    out = Path(out)
    rows: list[dict[str, Any]] = []
    top: list[tuple[float, int]] = []  # a min-heap of (score, row) for the gallery
    with tqdm(total=len(paths), desc="predict", unit="img", disable=not progress) as bar:
        for batch in _batches(paths, detector, convert, batch_size):
            usable = [image for _, image, _ in batch if image is not None]
            scores = iter(detector.score(torch.stack(usable)).tolist()) if usable else iter(())
            for path, image, note in batch:
                if image is None:
                    rows.append({"path": str(path), "score": "", "anomalous": "", "status": "skipped", "note": note})
                    continue
                score = next(scores)
                rows.append({"path": str(path), "score": f"{score:.6g}", "anomalous": str(score > threshold.value).lower(),
                             "status": "ok", "note": note, "_score": score})
                heapq.heappush(top, (score, len(rows) - 1))
                if len(top) > top_k:
                    heapq.heappop(top)
            bar.update(len(batch))

    with atomic_open(out / CSV_FILE) as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    scored = [row["_score"] for row in rows if row["status"] == "ok"]
    summary = PredictSummary(
        num_files=len(rows),
        num_scored=len(scored),
        num_skipped=len(rows) - len(scored),
        num_anomalous=sum(s > threshold.value for s in scored),
        threshold={**threshold.to_dict(), "description": threshold.describe()},
        outputs={"csv": str(out / CSV_FILE)},
    )
    if scored:
        save_score_histogram(
            out / HISTOGRAM_FILE, scored, threshold=threshold.value,
            threshold_label=f"threshold (false-alarm rate {threshold.false_alarm_rate:.1%} on calibration)",
            title=f"{len(scored)} images, {summary.num_anomalous} above the threshold",
        )
        best = sorted(top, reverse=True)
        images = [_load(Path(rows[i]["path"]), detector, convert)[0] for _, i in best]
        captions = [f"{Path(rows[i]['path']).name}\n{s:.4g}" + (" (anomalous)" if s > threshold.value else "") for s, i in best]
        overlays = None
        if maps is not None:
            overlays = detector.anomaly_map(torch.stack(images), maps, **(map_options or {}))
            atomic_save_tensors({"maps": overlays.contiguous()}, out / MAPS_FILE)
            summary.outputs.update(maps=str(out / MAPS_FILE), map_method=maps,
                                   map_paths=[rows[i]["path"] for _, i in best])
        title = f"top {len(best)} anomaly scores (higher = more anomalous)" + (f"; {maps} maps" if maps else "")
        save_gallery(out / GALLERY_FILE, images, captions, title=title, overlays=overlays)
        summary.outputs.update(histogram=str(out / HISTOGRAM_FILE), gallery=str(out / GALLERY_FILE))
    atomic_write_json(out / SUMMARY_FILE, {**summary.__dict__, "method": detector.method})
    if not scored:
        raise DataError(f"none of the {len(rows)} files could be scored; the first: {rows[0]['path']}: {rows[0]['note']}")
    return summary
