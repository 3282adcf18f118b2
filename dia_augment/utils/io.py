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
import secrets
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dia_augment.errors import CheckpointError, InputError, MissingCheckpointError

__all__ = ["atomic_open", "atomic_write_json", "atomic_save_tensors", "load_tensors", "read_json", "check_record",
           "check_format", "existing_file", "JsonlLogger", "CheckpointError", "is_hub_id"]


def is_hub_id(name: str) -> bool:
    """Whether ``name`` reads as a Hugging Face hub id (``org/name``) rather than a local path.

    Examples:
        >>> is_hub_id("google/ddpm-cifar10-32"), is_hub_id("./runs/dissolver"), is_hub_id("/tmp/x/y")
        (True, False, False)
    """
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", name) is not None and not os.path.exists(name)


def existing_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a :class:`~pathlib.Path`, raising :class:`MissingCheckpointError` when it is not a file.

    Args:
        path: the file.
        what: how the error message calls it (``"pretrained weights"``, ``"training config"``).

    Examples:
        >>> existing_file("/nonexistent/w.safetensors", "weights")
        Traceback (most recent call last):
        ...
        dia_augment.errors.MissingCheckpointError: weights not found: /nonexistent/w.safetensors
    """
    path = Path(path)
    if not path.is_file():
        raise MissingCheckpointError(f"{what} not found: {path}")
    return path


@contextlib.contextmanager
def _temp_beside(path: Path) -> Iterator[str]:
    """Yield a temp file name beside ``path``; move it onto ``path`` (fsynced) if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp")
    # created as a plain open() creates a file: mode 0o666 less the umask, which the system applies,
    # so the process's umask is never read or changed; O_EXCL never takes over an existing file
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    mode = stat.S_IMODE(os.stat(tmp).st_mode)
    try:
        yield tmp
        os.chmod(tmp, mode)  # a writer that replaced the file (safetensors writes 0600) gets it back
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
        raise InputError(f"mode must be 'w' or 'wb'; got {mode!r}")
    with _temp_beside(Path(path)) as tmp, open(tmp, mode) as f:
        yield f


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def read_json(path: str | os.PathLike, what: str = "file",
              fields: Mapping[str, type | tuple[type, ...]] | None = None) -> Any:
    """Read a JSON file, raising :class:`CheckpointError` naming the file when it is missing or corrupt.

    Args:
        path: the file.
        what: how the error messages call it (``"training config"``, ``"checkpoint state"``).
        fields: when given, the file must hold a JSON object with each of these keys, of the
            given type(s); the error names the file and the field.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "state.json"
        >>> atomic_write_json(p, {"step": "3"})
        >>> read_json(p, "checkpoint state", fields={"step": int})
        Traceback (most recent call last):
        ...
        dia_augment.errors.CheckpointError: checkpoint state ...state.json: field 'step' must be int; got str '3'
    """
    path = existing_file(path, what)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{what} {path} is corrupt (not valid JSON): {err}") from err
    return data if fields is None else check_record(data, fields, f"{what} {path}")


def check_format(record: Any, where: str, what: str, format: str, version: int, version_key: str = "version",
                 fix: str = "", hint: str = "") -> dict[str, Any]:
    """Check the format and version a saved record declares: the one versioning rule of every saved folder.

    A folder this library writes names what it is (``format``) and the layout of its files
    (``version_key``); a reader accepts its own format at its own version, and refuses anything
    else with a :class:`CheckpointError` naming the file, what was found and, for another version,
    the version of the library that wrote it and how to get a readable one.

    Args:
        record: the JSON object read from the file.
        where: the file, for the message.
        what: what the folder should be (``"dissolve cache"``, ``"AnomalyDetector folder"``).
        format: the expected ``record["format"]``.
        version: the expected ``record[version_key]``.
        version_key: the record's version field.
        fix: how to get a folder of this version (appended to the version error).
        hint: appended to the format error (what the file looks like instead).

    Examples:
        >>> check_format({"format": "demo", "version": 2}, "x.json", "demo folder", "demo", 2)["version"]
        2
        >>> check_format({"format": "demo", "version": 1, "package_version": "0.0.9"}, "x.json", "demo folder", "demo", 2,
        ...              fix="build it again")
        Traceback (most recent call last):
        ...
        dia_augment.errors.CheckpointError: x.json: demo folder of version 1 (written by dia_augment 0.0.9); this version reads version 2: build it again
    """
    if not isinstance(record, dict) or record.get("format") != format:
        found = record.get("format") if isinstance(record, dict) else None
        article = "an" if what[:1].lower() in "aeiou" else "a"
        raise CheckpointError(f"{where} is not {article} {what}: its format is {found!r}, not {format!r}{hint}")
    if record.get(version_key) != version:
        writer = f" (written by dia_augment {record['package_version']})" if record.get("package_version") else ""
        raise CheckpointError(f"{where}: {what} of {version_key} {record.get(version_key)!r}{writer}; this version "
                              f"reads {version_key} {version}{': ' + fix if fix else ''}")
    return record


def check_record(data: Any, fields: Mapping[str, type | tuple[type, ...]], where: str) -> dict[str, Any]:
    """Check that ``data`` is a JSON object (a record read from a file) holding ``fields`` of their types.

    ``int`` fields reject ``bool``; ``float`` fields accept ints. (A config dataclass is checked by
    :func:`dia_augment.utils.config.check_fields`.)

    Args:
        data: the object read from the file.
        fields: field name -> its type (or types).
        where: names the file (and the part of it) in the error message.

    Returns:
        ``data``, for chaining.

    Raises:
        CheckpointError: not an object, a missing field, or a field of the wrong type.

    Examples:
        >>> check_record({"step": 3, "lr": 1}, {"step": int, "lr": float}, "state.json")
        {'step': 3, 'lr': 1}
        >>> check_record({"step": True}, {"step": int}, "state.json")
        Traceback (most recent call last):
        ...
        dia_augment.errors.CheckpointError: state.json: field 'step' must be int; got bool True
    """
    if not isinstance(data, dict):
        raise CheckpointError(f"{where} must hold a JSON object; got {type(data).__name__}")
    missing = [name for name in fields if name not in data]
    if missing:
        raise CheckpointError(f"{where} is missing the field(s) {missing} (it has {sorted(data)})")
    for name, kind in fields.items():
        declared = kind if isinstance(kind, tuple) else (kind,)
        kinds = (*declared, int) if float in declared else declared
        value = data[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            expected = " or ".join(k.__name__ for k in declared)
            raise CheckpointError(f"{where}: field {name!r} must be {expected}; got {type(value).__name__} {value!r}")
    return data


def atomic_save_tensors(tensors: Mapping[str, torch.Tensor], path: str | os.PathLike,
                        metadata: Mapping[str, str] | None = None) -> None:
    """Save a flat dict of tensors as safetensors, atomically.

    Tensors are made contiguous and moved to CPU; shared storage is cloned.
    """
    with _temp_beside(Path(path)) as tmp:
        save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}, tmp,
                  metadata=dict(metadata) if metadata else None)


def load_tensors(path: str | os.PathLike, what: str = "checkpoint",
                 keys: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """Load a safetensors file, raising :class:`CheckpointError` that names the file on any problem.

    Args:
        path: the ``.safetensors`` file.
        what: how the error messages call it.
        keys: tensors the file must hold; a missing one is an error naming the file and the tensor.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
        >>> atomic_save_tensors({"a": torch.zeros(2)}, p)
        >>> load_tensors(p, "weights", keys=["a", "b"])
        Traceback (most recent call last):
        ...
        dia_augment.errors.CheckpointError: weights ...w.safetensors lacks the tensor(s) ['b'] (it holds ['a'])
    """
    path = existing_file(path, what)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{what} {path} is corrupt or not a safetensors file: {err}") from err
    missing = [key for key in keys or () if key not in tensors]
    if missing:
        raise CheckpointError(f"{what} {path} lacks the tensor(s) {missing} (it holds {sorted(tensors)})")
    return tensors


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
