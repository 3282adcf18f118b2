"""Convert a dissolver run written by dia_augment 0.1 (``checkpoint/latest.json``) to the run engine's format.

The weights, the EMA, the optimiser and every generator state carry over, so the converted run
resumes (``resume=True`` / ``--resume``) exactly where the old one stopped. Usage::

    python -m dia_augment.train.convert runs/old_dissolver
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import torch

from dia_augment.errors import CheckpointError, RunFolderError
from dia_augment.train.checkpoint import begin_checkpoint, finish_checkpoint
from dia_augment.train.config import DissolverTrainConfig
from dia_augment.train.run_folder import data_record, start_run
from dia_augment.utils.io import atomic_save_tensors, load_tensors, read_json
from dia_augment.utils.random import derived_generator

__all__ = ["convert_run"]


def convert_run(out_dir: str | os.PathLike) -> Path:
    """Rewrite the dissolver run in ``out_dir`` from the 0.1 layout into the run engine's; returns its checkpoint.

    Raises:
        RunFolderError: ``out_dir`` holds no run in the 0.1 layout.
        CheckpointError: its last checkpoint is incomplete or inconsistent (the message names the file).
    """
    out = Path(out_dir)
    manifest = out / "checkpoint" / "latest.json"
    if not manifest.is_file():
        raise RunFolderError(f"{out} holds no dissolver run of dia_augment 0.1 (no {manifest})")
    folder = manifest.parent / str(read_json(manifest, "checkpoint manifest", fields={"folder": str})["folder"])
    state = read_json(folder / "state.json", "checkpoint state",
                      fields={"step": int, "epoch": int, "batch_in_epoch": int, "world_size": int, "config": dict,
                              "optimizer": dict, "ema_optimization_step": int})
    old, world = state["config"], state["world_size"]
    settings = {k: v for k, v in old.items() if k not in ("channels", "num_images", "steps", "batch_size")}
    config = DissolverTrainConfig(**settings, train_steps=old.get("steps"), batch_size=old["batch_size"] * world)
    num_train = old["num_images"] - config.holdout_size(old["num_images"])
    order = derived_generator(config.seed, "order")  # the order generator at the start of the current epoch
    for _ in range(state["epoch"]):
        torch.randperm(num_train, generator=order)
    order_state = order.get_state()
    rng = [load_tensors(folder / f"rng_rank{r}.safetensors", "generator states") for r in range(world)]
    if state["batch_in_epoch"] and not torch.equal(torch.randperm(num_train, generator=order), rng[0]["perm"]):
        raise CheckpointError(f"{folder}: the saved data order does not follow from the run's seed; cannot convert it")
    scalars: dict[str, dict] = {}
    for name, value in state["optimizer"]["scalars"].items():
        _, index, key = name.split(".", 2)
        scalars.setdefault(index, {})[key] = value
    tmp = begin_checkpoint(out, state["step"])
    for r, tensors in enumerate(rng):
        cuda = {k.replace("torch_cuda_", "cuda."): v for k, v in tensors.items() if k.startswith("torch_cuda_")}
        atomic_save_tensors({"noise": tensors["noise_generator"], "torch_cpu": tensors["torch_cpu"], **cuda},
                            tmp / f"rng-rank{r}.safetensors")
    finish_checkpoint(tmp, {
        "unet.safetensors": load_tensors(folder / "unet.safetensors", "UNet weights"),
        "ema.safetensors": load_tensors(folder / "ema.safetensors", "EMA weights"),
        "optimizer.safetensors": load_tensors(folder / "optimizer.safetensors", "optimizer state"),
        "optimizer.json": {"param_groups": state["optimizer"]["param_groups"], "scalars": scalars},
        "order.safetensors": {"order_state": order_state},
        "state.json": {"step": state["step"], "epoch": state["epoch"], "step_in_epoch": state["batch_in_epoch"],
                       "world_size": world, "elapsed_s": state.get("elapsed_s", 0.0),
                       "ema_optimization_step": state["ema_optimization_step"]},
        "config.json": config.to_dict(),
    })
    size = (old["channels"], old["resolution"], old["resolution"])
    start_run(out, "dissolver", config.to_dict(), data_record(None, old["num_images"], size))
    shutil.rmtree(manifest.parent)
    (out / "train_config.json").unlink(missing_ok=True)
    return out / "checkpoints" / f"step-{state['step']:08d}"


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) < 2:
        sys.exit("usage: python -m dia_augment.train.convert RUN_DIR [RUN_DIR ...]")
    for path in sys.argv[1:]:
        print(f"converted {path}: {convert_run(path)}")
