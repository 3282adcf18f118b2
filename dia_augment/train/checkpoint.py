"""Crash-safe training checkpoints: safetensors for tensors, JSON for everything else.

A checkpoint of the run engine is a folder ``checkpoints/step-XXXXXXXX/`` (the layout, and
:func:`latest_checkpoint`, are :mod:`dia_augment.utils.run_layout`'s) holding

- the trainer's model files (``model.safetensors``; the dissolver's ``unet`` and ``ema``);
- ``optimizer.safetensors`` + ``optimizer.json``: the optimiser's tensor state (flattened to
  names ``state.<param index>.<key>``) and the rest (parameter groups, scalar state);
- ``rng-rank<r>.safetensors``: each process's generators, plus torch's CPU (and CUDA) RNG states;
- ``order.safetensors``: the data-order generator's state at the start of the epoch;
- ``state.json``: step, epoch, step within the epoch, processes, the scheduler's state;
- ``config.json``: the run's config;
- ``manifest.json``: written last, listing the files.

The folder is written under a temporary name and renamed into place, so a crash (even
``SIGKILL``) leaves either a complete checkpoint or a temporary folder that is ignored and
removed on the next run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dia_augment.utils.io import CheckpointError, atomic_save_tensors, atomic_write_json, load_tensors, read_json
from dia_augment.utils.run_layout import CHECKPOINT_DIR, CHECKPOINT_PREFIX, checkpoint_name, latest_checkpoint

__all__ = ["CHECKPOINT_DIR", "flatten_optimizer_state", "unflatten_optimizer_state", "latest_checkpoint",
           "checkpoint_tmp", "begin_checkpoint", "finish_checkpoint", "remove_stale", "read_checkpoint_file", "rng_tensors",
           "restore_rng"]

_TMP = ".tmp-"


def flatten_optimizer_state(state_dict: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimiser state dict into named tensors and a JSON-ready rest.

    Examples:
        >>> p = torch.nn.Parameter(torch.ones(2))
        >>> opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
        >>> p.grad = torch.ones(2); opt.step()
        >>> tensors, rest = flatten_optimizer_state(opt.state_dict())
        >>> sorted(tensors), rest["param_groups"][0]["lr"]
        (['state.0.momentum_buffer'], 0.1)
    """
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"state.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def unflatten_optimizer_state(tensors: Mapping[str, Tensor], rest: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state`.

    Examples:
        >>> t, r = flatten_optimizer_state({"state": {0: {"step": 3, "buf": torch.ones(1)}}, "param_groups": []})
        >>> unflatten_optimizer_state(t, r)
        {'state': {0: {'buf': tensor([1.]), 'step': 3}}, 'param_groups': []}
    """
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    for index, entry in rest["scalars"].items():
        state.setdefault(int(index), {}).update(entry)
    return {"state": state, "param_groups": list(rest["param_groups"])}


def remove_stale(out_dir: str | os.PathLike, keep: Path | None) -> None:
    """Remove temporary folders and every complete checkpoint except ``keep``."""
    root = Path(out_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith((CHECKPOINT_PREFIX, _TMP + CHECKPOINT_PREFIX)) and p != keep:
            shutil.rmtree(p, ignore_errors=True)


def checkpoint_tmp(out_dir: str | os.PathLike, step: int) -> Path:
    """The temporary folder the checkpoint after ``step`` steps is written into before it is renamed into place."""
    return Path(out_dir) / CHECKPOINT_DIR / f"{_TMP}{checkpoint_name(step)}"


def begin_checkpoint(out_dir: str | os.PathLike, step: int) -> Path:
    """Create (empty) the temporary folder of the checkpoint after ``step`` steps (:func:`checkpoint_tmp`)."""
    tmp = checkpoint_tmp(out_dir, step)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def finish_checkpoint(tmp: Path, files: Mapping[str, Any]) -> Path:
    """Write ``files`` into ``tmp``, then the manifest, then rename the folder into place.

    Args:
        tmp: from :func:`begin_checkpoint` (other processes may already have written into it).
        files: file name -> a dict of tensors (``.safetensors``) or a JSON-ready object (``.json``).

    Returns:
        The final folder.
    """
    for name, content in files.items():
        if name.endswith(".safetensors"):
            atomic_save_tensors(content, tmp / name)
        else:
            atomic_write_json(tmp / name, content)
    atomic_write_json(tmp / "manifest.json", {"files": sorted(p.name for p in tmp.iterdir() if not p.name.startswith("."))})
    final = tmp.parent / tmp.name.removeprefix(_TMP)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return final


def read_checkpoint_file(folder: Path, name: str, keys: Iterable[str] | None = None) -> Any:
    """Read one file of a checkpoint folder (tensors or JSON), naming the file on any problem.

    ``keys``: the tensors (or JSON fields) the file must hold; a missing one is a
    :class:`~dia_augment.errors.CheckpointError` naming the file and the key.
    """
    if name.endswith(".safetensors"):
        return load_tensors(folder / name, what="checkpoint file", keys=keys)
    data = read_json(folder / name, what="checkpoint file")
    missing = [key for key in keys or () if not isinstance(data, dict) or key not in data]
    if missing:
        raise CheckpointError(f"checkpoint file {folder / name} lacks the field(s) {missing}")
    return data


def rng_tensors(generators: Mapping[str, torch.Generator]) -> dict[str, Tensor]:
    """This process's RNG states as named tensors: its generators, torch's CPU RNG and each CUDA device's."""
    states = {name: g.get_state() for name, g in generators.items()}
    states["torch_cpu"] = torch.random.get_rng_state()
    if torch.cuda.is_available():
        states.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return states


def restore_rng(states: Mapping[str, Tensor], generators: Mapping[str, torch.Generator], path: Path) -> None:
    """Inverse of :func:`rng_tensors` (``path`` names the file in errors)."""
    missing = sorted({*generators, "torch_cpu"} - set(states))
    if missing:
        raise CheckpointError(f"{path} is missing the generator state(s) {missing}")
    for name, g in generators.items():
        g.set_state(states[name])
    torch.random.set_rng_state(states["torch_cpu"])
    cuda = [states[k] for k in sorted((k for k in states if k.startswith("cuda.")), key=lambda k: int(k[5:]))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
