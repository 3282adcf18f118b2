"""A run folder's lock: one writer at a time.

Two commands writing into one folder (two ``predict --out runs/x`` started by mistake, a
``score --out`` while another runs) interleave their files. :func:`run_folder_lock` takes the
folder's lock file, ``.dia-augment.lock``, created atomically (``O_CREAT | O_EXCL``) with the
holder's pid, host and command; a second writer is refused with one line naming them. A lock
left by a process that no longer runs (killed, crashed: its pid is gone on this host) is stale
and taken over. The lock is removed when the block ends, whatever the way, and a folder the
lock created is removed again when nothing else was written into it.

The same process may take a folder's lock again inside the block (a command that calls
another): the inner block neither takes nor frees it. Under a launcher (``accelerate launch``,
``torchrun``: ``RANK`` set) the process of rank 0 holds it for all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from dia_augment.errors import RunFolderError

__all__ = ["LOCK_FILE", "run_folder_lock", "lock_holder"]

#: The lock file's name inside a run folder.
LOCK_FILE = ".dia-augment.lock"


def _alive(pid: int) -> bool:
    """Whether a process with ``pid`` runs on this host (a process of another user counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_holder(folder: str | os.PathLike) -> dict | None:
    """The lock record of ``folder`` (pid, host, command, started), or ``None`` when it is not locked.

    Examples:
        >>> import tempfile
        >>> lock_holder(tempfile.mkdtemp()) is None
        True
    """
    path = Path(folder) / LOCK_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
        return record if isinstance(record, dict) else {"pid": None}
    except json.JSONDecodeError:
        return {"pid": None}  # a lock being written, or a torn one: held by someone


def _is_stale(record: dict) -> bool:
    pid = record.get("pid")
    if not isinstance(pid, int):
        return False
    return record.get("host") == socket.gethostname() and not _alive(pid)


def _take_over(path: Path, stale: dict) -> None:
    """Move a stale lock aside; put it back if another process took the lock meanwhile (it is then theirs)."""
    aside = path.with_name(f"{path.name}.stale-{os.getpid()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # another process moved it first
    try:
        moved = json.loads(aside.read_text())
    except (OSError, json.JSONDecodeError):
        moved = None
    if moved != stale:  # a live lock taken after the stale one was read: give it back
        with contextlib.suppress(OSError):
            os.link(aside, path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(aside)


@contextlib.contextmanager
def run_folder_lock(folder: str | os.PathLike, command: str) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block (created with the folder when missing); yields the folder.

    Args:
        folder: the output folder (``--out``).
        command: what writes into it, for the refusal's message (``"dia-augment predict"``).

    Raises:
        RunFolderError: another running process holds the lock; the message names its pid and command.

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "out"
        >>> with run_folder_lock(folder, "dia-augment predict"):
        ...     lock_holder(folder)["pid"] == os.getpid()
        True
        >>> lock_holder(folder) is None, folder.exists()   # freed; the empty folder it created is gone
        (True, False)
    """
    folder = Path(folder)
    if int(os.environ.get("RANK", "0") or 0) > 0:  # a launcher's other processes: rank 0 holds the lock for the run
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "started": time.time()}
    own = False
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = lock_holder(folder)
            if holder is None:
                continue  # freed meanwhile
            if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
                break  # this process holds it already (a command inside a command)
            if _is_stale(holder):
                _take_over(path, holder)
                continue
            who = f"pid {holder['pid']}" if isinstance(holder.get("pid"), int) else "another process"
            where = f" on {holder['host']}" if holder.get("host") not in (None, socket.gethostname()) else ""
            what = f" ({holder['command']}{where})" if holder.get("command") else where
            raise RunFolderError(f"{folder} is in use by {who}{what}: wait for it to finish, or write into another "
                                 f"folder (a stale lock of a process that no longer runs is taken over; else remove "
                                 f"{path})")
        else:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            own = True
            break
    else:
        raise RunFolderError(f"could not take the lock {path}: other processes keep taking it")
    try:
        yield folder
    finally:
        if own:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            if created:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: nothing was written
