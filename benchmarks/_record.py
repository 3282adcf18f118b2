"""What every committed result line carries besides its figures: how it was made.

A line of ``benchmarks/results/*.jsonl`` is one cell of an experiment. :func:`provenance` gives the
fields a reader needs to trust and rerun it: the command, the git commit (with ``+dirty`` when the
work tree had uncommitted changes), the library version, the device and thread count, and the
time it was written; the script adds the cell's own seed, precision and wall time.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def git_commit(folder: Path = ROOT) -> str:
    """The commit of the checkout holding ``folder`` (this work tree by default), ``+dirty`` when it has
    uncommitted changes to tracked files, ``"unknown"`` outside a checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def device_name() -> str:
    """The CUDA card's name, or the CPU's model name."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return "cpu: " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "cpu: " + (platform.processor() or platform.machine())


def provenance() -> dict[str, Any]:
    """The command, commit, version, device, threads and date of a result line."""
    import torch

    import dia_augment

    return {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "version": dia_augment.__version__,
        "torch": torch.__version__,
        "device": device_name(),
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line (the file and its folder are created), flushed to disk at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of ``path`` (none when it does not exist); blank lines are skipped."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
