"""Crash-safe file writing and safe loading.

Everything the library writes (checkpoints, configs, logs, figures) goes through a temp file in
the destination folder followed by :func:`os.replace`, so a crash or ``SIGKILL`` never leaves a
half-written file behind: a reader sees the old file or the new one, never a torn one.
Weights are stored as safetensors; nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dia_augment.errors import CheckpointError

__all__ = [
    "atomic_open",
    "atomic_write_json",
    "atomic_save_tensors",
    "load_tensors",
    "read_json",
    "JsonlLogger",
    "CheckpointError",
    "is_hub_id",
]


_UMASK = os.umask(0)
os.umask(_UMASK)


def is_hub_id(name: str) -> bool:
    """Whether ``name`` reads as a Hugging Face hub id (``org/name``) rather than a local path.

    Examples:
        >>> is_hub_id("google/ddpm-cifar10-32"), is_hub_id("./runs/dissolver"), is_hub_id("/tmp/x/y")
        (True, False, False)
    """
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", name) is not None and not os.path.exists(name)


@contextlib.contextmanager
def _temp_beside(path: Path) -> Iterator[str]:
    """Yield a temp file name beside ``path``; move it onto ``path`` (fsynced) if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would make every output private
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path`` and move it onto ``path`` only if the block succeeds.

    Args:
        path: the final destination.
        mode: ``"w"`` (text) or ``"wb"`` (binary).

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_open(d / "a.txt") as f:
        ...     _ = f.write("hello")
        >>> (d / "a.txt").read_text()
        'hello'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb'; got {mode!r}")
    with _temp_beside(Path(path)) as tmp, open(tmp, mode) as f:
        yield f


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """Read a JSON file, raising :class:`CheckpointError` naming the file when it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{what} {path} is corrupt (not valid JSON): {err}") from err


def atomic_save_tensors(
    tensors: Mapping[str, torch.Tensor], path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """Save a flat dict of tensors as safetensors, atomically.

    Tensors are made contiguous and moved to CPU; shared storage is cloned.
    """
    with _temp_beside(Path(path)) as tmp:
        save_file(
            {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()},
            tmp,
            metadata=dict(metadata) if metadata else None,
        )


def load_tensors(path: str | os.PathLike, what: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Load a safetensors file, raising :class:`CheckpointError` that names the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{what} {path} is corrupt or not a safetensors file: {err}") from err


class JsonlLogger:
    """Append one JSON object per line to a metrics log (flushed after every record).

    Args:
        path: the ``.jsonl`` file; created with its folder when missing.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.jsonl"
        >>> log = JsonlLogger(p); log.log({"step": 1, "loss": 0.5}); log.close()
        >>> p.read_text()
        '{"step": 1, "loss": 0.5}\\n'
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a")

    def log(self, record: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(dict(record)) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonlLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
