"""Where a training run keeps its checkpoints: the one reading of that layout below the trainers.

A run folder holds its checkpoints as ``checkpoints/step-XXXXXXXX/`` (the step count, 8
digits), each complete one with a ``manifest.json`` written last; an interrupted write leaves a
temporary folder that does not count. :mod:`dia_augment.train.checkpoint` writes them; a
dissolver saved without its online weights reads them from the run it was trained in
(``DDPMDissolving.from_pretrained(..., weights="online")``), so both take the layout from here.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CHECKPOINT_DIR", "CHECKPOINT_PREFIX", "checkpoint_name", "latest_checkpoint"]

#: Subfolder of a run's output folder that holds its checkpoints.
CHECKPOINT_DIR = "checkpoints"
#: The name of a checkpoint folder before its step count.
CHECKPOINT_PREFIX = "step-"


def checkpoint_name(step: int) -> str:
    """The folder name of the checkpoint after ``step`` optimiser steps.

    Examples:
        >>> checkpoint_name(40)
        'step-00000040'
    """
    return f"{CHECKPOINT_PREFIX}{step:08d}"


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The complete checkpoint with the most steps in the run folder ``out_dir`` (``None`` if there is none).

    Only folders with a ``manifest.json`` count; temporary folders of an interrupted write are ignored.

    Examples:
        >>> import pathlib, tempfile
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> for step in (3, 12):
        ...     (run / CHECKPOINT_DIR / checkpoint_name(step)).mkdir(parents=True)
        ...     _ = (run / CHECKPOINT_DIR / checkpoint_name(step) / "manifest.json").write_text("{}")
        >>> (run / CHECKPOINT_DIR / checkpoint_name(20)).mkdir()  # no manifest: incomplete
        >>> latest_checkpoint(run).name, latest_checkpoint(run / "none")
        ('step-00000012', None)
    """
    root = Path(out_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if p.name.startswith(CHECKPOINT_PREFIX) and (p / "manifest.json").is_file()]
    return max(done, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):])) if done else None
