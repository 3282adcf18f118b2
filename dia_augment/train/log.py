"""The training log: ``metrics.jsonl`` records, trimmed on resume, and the loss curve beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dia_augment.utils.io import atomic_open

__all__ = ["trim_log", "save_loss_curve"]


def trim_log(path: str | os.PathLike, step: int) -> list[dict[str, Any]]:
    """Keep the records of the first ``step`` optimiser steps (those after a checkpoint are redone).

    A line torn by a crash is dropped with them; a missing log is an empty one.

    Returns:
        The records kept.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> _ = p.write_text('{"step": 1}\\n{"step": 2}\\n{"st')
        >>> trim_log(p, 1), p.read_text()
        ([{'step': 1}], '{"step": 1}\\n')
    """
    path = Path(path)
    if not path.is_file():
        return []
    kept = []
    for line in path.read_text().splitlines(keepends=True):
        try:
            record = json.loads(line)
            if line.endswith("\n") and record["step"] <= step:
                kept.append(record)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    with atomic_open(path) as f:
        f.writelines(json.dumps(r) + "\n" for r in kept)
    return kept


def save_loss_curve(metrics: str | os.PathLike, path: str | os.PathLike, title: str = "training loss") -> None:
    """Plot every ``loss*`` value of the ``"train"`` records of a ``metrics.jsonl`` against the step, as a PNG.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "loss": 2.0}\\n')
        >>> save_loss_curve(d / "metrics.jsonl", d / "loss.png")
        >>> (d / "loss.png").read_bytes()[:4]
        b'\\x89PNG'
    """
    from dia_augment.utils.figures import new_figure, write_png

    records = [json.loads(line) for line in Path(metrics).read_text().splitlines() if line.strip()]
    train = [r for r in records if r.get("kind") == "train"]
    figure = new_figure(5.0, 3.2)
    ax = figure.add_subplot(1, 1, 1)
    keys = sorted({k for r in train for k in r if k.startswith("loss")})
    for key in keys:
        ax.plot([r["step"] for r in train if key in r], [r[key] for r in train if key in r], lw=1, label=key)
    ax.set(xlabel="optimiser step", ylabel="loss")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if keys:
        ax.legend(fontsize=7)
    write_png(figure, path)
