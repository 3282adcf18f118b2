"""A run folder records what made it, and one policy decides when it may be reused.

``run.json`` (written when a run starts and again when it finishes) holds the run's kind
(``"contrastive"`` or ``"dissolver"``), the package version, the data (source, image count,
channels, image size), the config and whether it finished. :func:`open_run` applies the policy
shared by both trainers:

- an empty (or new) folder starts a fresh run;
- a folder holding a run is never overwritten silently: ``resume=True`` (``--resume``) continues
  it, which needs the same settings and data (the error names every field that differs, apart
  from those the config lists as ``RESUMABLE``), and ``overwrite=True`` (``--overwrite``) removes
  its outputs first.

:func:`check_run_fits` lets a consumer (``score``, ``predict``) refuse a model whose channels or
image size do not fit its data, and warn when the data source differs.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from dia_augment.errors import RunFolderError
from dia_augment.train.log import TRACKER_PROJECT
from dia_augment.utils.io import atomic_write_json, read_json

__all__ = ["RUN_FILE", "OUTPUTS", "data_record", "read_run", "open_run", "start_run", "finish_run", "check_run_fits",
           "differences"]

RUN_FILE = "run.json"
#: Everything a training run writes into its folder (``overwrite=True`` removes these, nothing else),
#: the trackers' folders included (TensorBoard's ``dia-augment/``, W&B's ``wandb/``).
OUTPUTS = ("run.json", "checkpoints", "metrics.jsonl", "loss.png", "model.safetensors", "config.json",
           "dissolver", "grids", "readiness.png", TRACKER_PROJECT, "wandb")


def data_record(source: str | None, num_images: int, shape: tuple[int, ...],
                options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``run.json`` records of the training data: its source, image count, channels, size and reading.

    ``options`` are the data options the images were read with (``--data``, the normal class, the
    split seed, the window, slices, load size, channels, grouping, the calibration hold-out...), so
    that ``score``, ``predict`` and export read new images the same way; a run given none records none.

    Examples:
        >>> data_record("embedded", 200, (3, 32, 32))
        {'source': 'embedded', 'num_images': 200, 'channels': 3, 'image_size': [32, 32]}
        >>> data_record("scans/", 8, (1, 32, 32), {"window": "lung"})["options"]
        {'window': 'lung'}
    """
    record = {"source": source, "num_images": int(num_images), "channels": int(shape[0]), "image_size": list(shape[1:])}
    return record if options is None else {**record, "options": dict(options)}


def read_run(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run record of a folder, or ``None`` when it has none (the error names a corrupt file)."""
    path = Path(out_dir) / RUN_FILE
    if not path.exists():
        return None
    return read_json(path, what="run record", fields={"kind": str, "data": dict, "config": dict, "finished": bool})


def differences(saved: dict[str, Any], current: dict[str, Any], ignore: tuple[str, ...] = (),
                defaults: dict[str, Any] | None = None) -> list[str]:
    """``"name (saved A, now B)"`` for every key whose value differs, except ``ignore``; a key that ``saved``
    lacks (a field added since it was written) counts as its value in ``defaults``.

    Examples:
        >>> differences({"lr": 8e-05, "seed": 0}, {"lr": 0.001, "seed": 0, "antialias": True}, defaults={"antialias": True})
        ['lr (saved 8e-05, now 0.001)']
    """
    saved = {**(defaults or {}), **saved}
    return [f"{k} (saved {saved.get(k)!r}, now {v!r})" for k, v in current.items()
            if k not in ignore and saved.get(k) != v]


def _holds_a_run(out: Path) -> bool:
    return any((out / name).exists() for name in OUTPUTS)


def open_run(out_dir: str | os.PathLike, kind: str, config: dict[str, Any], data: dict[str, Any],
             resumable: tuple[str, ...], resume: bool = False, overwrite: bool = False,
             defaults: dict[str, Any] | None = None) -> bool:
    """Apply the run-folder policy; returns whether an earlier run is continued (:func:`start_run` records it).

    Args:
        out_dir: the run's folder (created if missing).
        kind: ``"contrastive"`` or ``"dissolver"``.
        config: the run's config (JSON form).
        data: from :func:`data_record`.
        resumable: config fields a resumed run may change.
        resume: continue the run in ``out_dir`` (or start afresh when it holds none).
        overwrite: remove the outputs of the run in ``out_dir`` and start afresh.
        defaults: the config's field defaults (JSON form), for fields a run written before them lacks.

    Raises:
        RunFolderError: the folder holds a run and neither ``resume`` nor ``overwrite`` is set, or
            ``resume`` with another kind of run, other settings or other data (naming each field),
            or both ``resume`` and ``overwrite``.
    """
    out = Path(out_dir)
    if resume and overwrite:
        raise RunFolderError("resume and overwrite exclude each other: pass one of them")
    saved = read_run(out)
    continued = False
    if _holds_a_run(out) and not overwrite:
        if not resume:
            state = "a finished" if saved and saved["finished"] else "an unfinished"
            raise RunFolderError(f"{out} already holds {state} {saved['kind'] if saved else 'training'} run; continue "
                                 "it with resume=True (--resume), replace it with overwrite=True (--overwrite), or "
                                 "choose another folder")
        if saved is not None:
            if saved["kind"] != kind:
                raise RunFolderError(f"cannot resume {out}: it holds a {saved['kind']} run, not a {kind} run")
            different = differences(saved["data"], data) + differences(saved["config"], config, resumable, defaults)
            if different:
                raise RunFolderError(f"cannot resume {out}: the run's settings or data differ: {'; '.join(different)}; "
                                     "keep them, or start afresh with overwrite=True (--overwrite) or in another "
                                     "folder")
        continued = True
    elif overwrite:
        for path in (out / name for name in OUTPUTS):
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return continued


def start_run(out_dir: str | os.PathLike, kind: str, config: dict[str, Any], data: dict[str, Any],
              **extra: Any) -> None:
    """Write ``run.json`` for a run that starts or continues (after :func:`open_run` allowed it).

    ``extra`` records what the run decided at its start (``mixed_precision_used``: what ``auto`` became).
    """
    from dia_augment._version import __version__

    record = {"kind": kind, "package_version": __version__, "data": data, "config": config, "finished": False, **extra}
    atomic_write_json(Path(out_dir) / RUN_FILE, record)


def finish_run(out_dir: str | os.PathLike, step: int) -> None:
    """Mark the run in ``out_dir`` finished after ``step`` optimiser steps."""
    record = read_run(out_dir)
    if record is None:
        raise RunFolderError(f"{out_dir} holds no run record ({RUN_FILE}) to finish")
    atomic_write_json(Path(out_dir) / RUN_FILE, {**record, "finished": True, "step": int(step)})


def check_run_fits(run_dir: str | os.PathLike, channels: int | None = None, image_size: tuple[int, int] | None = None,
                   source: str | None = None) -> dict[str, Any] | None:
    """Refuse data whose channels or image size differ from a run's training data; warn on another source.

    A folder without ``run.json`` (written before dia_augment 0.2) is not checked.

    Args:
        run_dir: the run's folder.
        channels: the channels of the data about to be used.
        image_size: its ``(H, W)``.
        source: its source (as given to ``--data``).

    Returns:
        The run record, or ``None`` when the folder has none.

    Raises:
        RunFolderError: the channels or image size differ (the message names both values).

    Examples:
        >>> import tempfile
        >>> check_run_fits(tempfile.mkdtemp(), channels=1) is None
        True
    """
    record = read_run(run_dir)
    if record is None:
        return None
    data = record["data"]
    if channels is not None and data.get("channels") not in (None, channels):
        raise RunFolderError(f"the model in {run_dir} was trained on {data['channels']}-channel images; "
                             f"the data has {channels} channels")
    if image_size is not None and data.get("image_size") not in (None, list(image_size)):
        raise RunFolderError(f"the model in {run_dir} was trained on {tuple(data['image_size'])} images; "
                             f"the data has {tuple(image_size)} images (resize them, e.g. with --load-size)")
    if source is not None and data.get("source") not in (None, source):
        warnings.warn(f"the model in {run_dir} was trained on {data['source']!r}, not on {source!r}", stacklevel=2)
    return record
