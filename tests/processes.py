"""Run a test's worker on several CPU processes (gloo) and wait for them, with a deadline."""

from __future__ import annotations

import time
from typing import Callable

import torch.multiprocessing as mp


def run_processes(worker: Callable, args: tuple, nprocs: int = 2, timeout_s: float = 180) -> None:
    """Start ``worker(rank, *args)`` on ``nprocs`` processes and wait; kill them and fail after ``timeout_s``.

    Spawned, not forked: a fork after torch has started its thread pools can deadlock the children.
    """
    context = mp.start_processes(worker, args=args, nprocs=nprocs, join=False, start_method="spawn")
    deadline = time.monotonic() + timeout_s
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise AssertionError(f"the {nprocs} gloo processes did not finish within {timeout_s:g} s")
