"""The amplifying trainer: SimCLR, CSI or DIA training of a :class:`DIAResNet` with Accelerate."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from dia_augment.augmentation.simclr import SimCLRAugmentation
from dia_augment.filters.base import Dissolver
from dia_augment.models.dia_resnet import DIAResNet, build_model
from dia_augment.models.pretrained import load_pretrained_backbone
from dia_augment.train.checkpoint import (
    CHECKPOINT_DIR,
    begin_checkpoint,
    finish_checkpoint,
    flatten_optimizer_state,
    latest_checkpoint,
    read_checkpoint_file,
    remove_stale,
    restore_rng,
    rng_tensors,
    unflatten_optimizer_state,
)
from dia_augment.train.config import TrainConfig
from dia_augment.train.optim import LARS, warmup_cosine_schedule
from dia_augment.train.step import build_rows, training_loss
from dia_augment.utils.checks import check_images
from dia_augment.utils.io import (
    CheckpointError,
    JsonlLogger,
    atomic_open,
    atomic_save_tensors,
    atomic_write_json,
    load_tensors,
    read_json,
)

__all__ = ["train", "load_model", "ImageSource"]

ImageSource = Tensor | Dataset


class _Images:
    """Index a ``(N, C, H, W)`` tensor or a Dataset of images / ``(image, label)`` pairs by a batch of indices."""

    def __init__(self, images: ImageSource) -> None:
        if isinstance(images, Tensor):
            check_images(images, name="training images")
            self.tensor: Tensor | None = images
            self.dataset = None
            self.length = images.shape[0]
            first = images[:1]
        elif isinstance(images, Dataset):
            self.tensor, self.dataset = None, images
            self.length = len(images)  # type: ignore[arg-type]
            if self.length == 0:
                raise ValueError("the training dataset is empty")
            first = self._item(0).unsqueeze(0)
            check_images(first, name="training dataset item 0")
        else:
            raise TypeError(f"images must be a (N, C, H, W) tensor or a torch Dataset; got {type(images).__name__}")
        self.channels = first.shape[1]
        self.shape = tuple(first.shape[1:])

    def _item(self, index: int) -> Tensor:
        item = self.dataset[index]  # type: ignore[index]
        image = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(image, Tensor) or image.ndim != 3:
            raise ValueError(f"dataset item {index} must be a (C, H, W) tensor or an (image, label) pair")
        return image

    def batch(self, indices: Tensor) -> Tensor:
        if self.tensor is not None:
            return self.tensor[indices]
        images = torch.stack([self._item(int(i)) for i in indices])
        if tuple(images.shape[1:]) != self.shape:
            raise ValueError(f"dataset items must all have shape {self.shape}; got {tuple(images.shape[1:])}")
        return check_images(images, name="training dataset batch")


def _make_optimizer(model: DIAResNet, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "lars":
        return LARS(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def _trim_log(path: Path, step: int) -> None:
    """Keep the records of the first ``step`` steps (those after the checkpoint are redone).

    A line torn by a crash is dropped with them.
    """
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines(keepends=True):
        try:
            if line.endswith("\n") and json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    with atomic_open(path) as f:
        f.writelines(kept)


def _generator_seed(seed: int, rank: int) -> int:
    """Seed of a process's augmentation generator, distinct from the data-order seed."""
    return (seed * 1_000_003 + 7919 * (rank + 1)) % 2**63


def _save_checkpoint(
    accelerator: Accelerator,
    out_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    config: TrainConfig,
    generator: torch.Generator,
    progress: dict,
) -> None:
    tmp = out_dir / CHECKPOINT_DIR / f".tmp-step-{progress['step']:08d}"
    if accelerator.is_main_process:
        tmp = begin_checkpoint(out_dir, progress["step"])
    accelerator.wait_for_everyone()
    atomic_save_tensors(rng_tensors(generator), tmp / f"rng-rank{accelerator.process_index}.safetensors")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        opt_tensors, opt_rest = flatten_optimizer_state(optimizer.state_dict())
        order_state = progress.pop("order_state")
        final = finish_checkpoint(
            tmp,
            {
                "model.safetensors": accelerator.unwrap_model(model).state_dict(),
                "optimizer.safetensors": opt_tensors,
                "optimizer.json": opt_rest,
                "order.safetensors": {"order_state": order_state},
                "state.json": {**progress, "scheduler": scheduler.state_dict(), "world_size": accelerator.num_processes},
                "config.json": config.to_dict(),
            },
        )
        progress["order_state"] = order_state
        remove_stale(out_dir, keep=final)
    accelerator.wait_for_everyone()


def _restore_checkpoint(
    folder: Path,
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    generator: torch.Generator,
) -> dict:
    state = read_checkpoint_file(folder, "state.json")
    if state.get("world_size") != accelerator.num_processes:
        raise CheckpointError(
            f"checkpoint {folder} was written by {state.get('world_size')} processes; resume it with the same number "
            f"(got {accelerator.num_processes})"
        )
    accelerator.unwrap_model(model).load_state_dict(read_checkpoint_file(folder, "model.safetensors"))
    optimizer.load_state_dict(
        unflatten_optimizer_state(
            read_checkpoint_file(folder, "optimizer.safetensors"), read_checkpoint_file(folder, "optimizer.json")
        )
    )
    scheduler.load_state_dict(state.pop("scheduler"))
    restore_rng(read_checkpoint_file(folder, f"rng-rank{accelerator.process_index}.safetensors"), generator)
    state["order_state"] = read_checkpoint_file(folder, "order.safetensors")["order_state"]
    return state


def train(
    config: TrainConfig,
    images: ImageSource,
    dissolver: Dissolver | None = None,
    out_dir: str | os.PathLike = "runs/train",
    resume: bool = False,
) -> DIAResNet:
    """Train a :class:`DIAResNet` on normal images with the SimCLR, CSI or DIA objective.

    Each step takes ``config.batch_size`` images (split evenly over the processes), builds their
    views with :func:`~dia_augment.train.step.build_rows` (DIA dissolves the batch once, with a
    step per image) and minimises NT-Xent plus the shift cross-entropy with SGD (or LARS), a
    per-step linear warm-up and cosine decay. The last incomplete batch of an epoch is dropped.
    With several processes (``torchrun``), the contrastive negatives span the global batch;
    batch-norm statistics stay per process.

    Every random draw comes from seeded generators whose states are checkpointed (the data
    order and each process's augmentation generator), so a run resumed from a checkpoint ends
    with the same weights as an uninterrupted one. Checkpoints are written at the end of each
    epoch (and every ``config.checkpoint_every`` steps); only the last one is kept, and no
    checkpoint is ever chosen on test data. A fresh run (``resume=False``) replaces the
    checkpoints and log of an earlier run in ``out_dir``. At the end ``out_dir`` holds ``model.safetensors``
    and ``config.json`` (read by :func:`load_model`) and ``metrics.jsonl``.

    Args:
        config: the run's settings.
        images: ``(N, C, H, W)`` float tensor in ``[0, 1]`` of normal images, or a torch Dataset
            of ``(C, H, W)`` images or ``(image, label)`` pairs (labels are ignored).
        dissolver: the dissolver of a ``"dia"`` run (required there, ignored otherwise); it is
            frozen and run without gradients.
        out_dir: where checkpoints, logs and the final model go.
        resume: continue from the last complete checkpoint in ``out_dir`` (start fresh if none).

    Returns:
        The trained model (on the training device, in eval mode).

    Examples:
        >>> import tempfile
        >>> cfg = TrainConfig(mode="csi", width=2, image_size=8, epochs=1, batch_size=4, progress=False)
        >>> model = train(cfg, torch.rand(8, 1, 8, 8), out_dir=tempfile.mkdtemp())
        >>> model.feature_dim
        16
    """
    data = _Images(images)
    if config.in_channels not in (None, data.channels):
        raise ValueError(f"config.in_channels = {config.in_channels} but the images have {data.channels} channels")
    config = dataclasses.replace(config, in_channels=data.channels)
    if config.mode == "dia" and dissolver is None:
        raise ValueError("mode 'dia' needs a dissolver")
    if config.mode != "dia":
        dissolver = None
    accelerator = Accelerator(
        # without a GPU, Accelerate only recognises several torchrun processes when told to use the CPU
        cpu=not torch.cuda.is_available(),
        mixed_precision=config.mixed_precision,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=config.mode == "simclr")],
    )
    world, rank = accelerator.num_processes, accelerator.process_index
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the {world} processes")
    local = config.batch_size // world
    steps_per_epoch = data.length // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {data.length} training images")
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = min(round(config.warmup_epochs * steps_per_epoch), total_steps)
    out_dir = Path(out_dir)

    torch.manual_seed(config.seed)
    model = build_model(config.model, config.in_channels, config.width, config.num_shifts, config.proj_dim)
    if config.pretrained:
        load_pretrained_backbone(model, config.pretrained)
    optimizer = _make_optimizer(model, config)
    scheduler = warmup_cosine_schedule(optimizer, total_steps, warmup_steps)
    raw_optimizer = optimizer
    model, optimizer = accelerator.prepare(model, optimizer)
    device = accelerator.device
    if dissolver is not None:
        dissolver = dissolver.to(device).eval().requires_grad_(False)
    augment = SimCLRAugmentation(config.image_size, crop_scale=config.crop_scale).to(device)
    generator = torch.Generator().manual_seed(_generator_seed(config.seed, rank))
    order = torch.Generator().manual_seed(config.seed)

    progress = {"step": 0, "epoch": 0, "step_in_epoch": 0, "order_state": order.get_state()}
    if resume and (found := latest_checkpoint(out_dir)) is not None:
        progress = _restore_checkpoint(found, accelerator, model, raw_optimizer, scheduler, generator)
        order.set_state(progress["order_state"])
    if accelerator.is_main_process:
        remove_stale(out_dir, keep=latest_checkpoint(out_dir) if resume else None)
        _trim_log(out_dir / "metrics.jsonl", progress["step"])
        logger: JsonlLogger | None = JsonlLogger(out_dir / "metrics.jsonl")
    else:
        logger = None
    accelerator.wait_for_everyone()

    bar = tqdm(total=total_steps, initial=progress["step"], disable=not (config.progress and accelerator.is_main_process),
               desc=f"train {config.mode}", unit="step")
    model.train()
    for epoch in range(progress["epoch"], config.epochs):
        progress["order_state"] = order.get_state()
        permutation = torch.randperm(data.length, generator=order)
        for s in range(progress["step_in_epoch"], steps_per_epoch):
            start = time.perf_counter()
            indices = permutation[s * config.batch_size : (s + 1) * config.batch_size][rank * local : (rank + 1) * local]
            batch = data.batch(indices).to(device)
            rows = build_rows(batch, augment, config.shifts, config.shift, dissolver, config.step_range, generator,
                              image_offset=rank * local)
            with accelerator.autocast():
                parts = training_loss(model, rows, config.temperature, config.shift_loss_weight,
                                      config.shift_loss_on_dissolved)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(parts.total)
            optimizer.step()
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            loss = float(parts.total.detach())
            if not math.isfinite(loss):
                raise FloatingPointError(f"the training loss became {loss} at step {progress['step']}; lower the lr")
            progress.update(step=progress["step"] + 1, epoch=epoch, step_in_epoch=s + 1)
            images_per_s = config.batch_size / max(time.perf_counter() - start, 1e-9)
            if logger is not None:
                logger.log({"step": progress["step"], "epoch": epoch, "loss": loss,
                            "loss_contrastive": float(parts.contrastive.detach()), "loss_shift": float(parts.shift.detach()),
                            "lr": lr, "images_per_s": images_per_s})
            bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{images_per_s:.1f}")
            bar.update(1)
            if config.checkpoint_every and progress["step"] % config.checkpoint_every == 0 and s + 1 < steps_per_epoch:
                _save_checkpoint(accelerator, out_dir, model, raw_optimizer, scheduler, config, generator, progress)
        progress.update(epoch=epoch + 1, step_in_epoch=0, order_state=order.get_state())
        _save_checkpoint(accelerator, out_dir, model, raw_optimizer, scheduler, config, generator, progress)
    bar.close()
    if logger is not None:
        logger.close()
    trained = accelerator.unwrap_model(model)
    if accelerator.is_main_process:
        atomic_save_tensors(trained.state_dict(), out_dir / "model.safetensors")
        atomic_write_json(out_dir / "config.json", config.to_dict())
    accelerator.wait_for_everyone()
    return trained.eval()


def load_model(path: str | os.PathLike) -> tuple[DIAResNet, TrainConfig]:
    """Rebuild a trained model from what :func:`train` saved.

    Args:
        path: a run's output folder (its final ``model.safetensors``, or else its last
            checkpoint), or one checkpoint folder.

    Returns:
        ``(model, config)``, the model in eval mode on CPU.

    Raises:
        CheckpointError: nothing loadable at ``path``, or weights that do not fit the config.

    Examples:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> cfg = TrainConfig(mode="simclr", width=2, image_size=8, epochs=1, batch_size=4, progress=False)
        >>> trained = train(cfg, torch.rand(4, 1, 8, 8), out_dir=out)
        >>> model, config = load_model(out)
        >>> config.mode, torch.equal(model.shift_head.weight, trained.shift_head.weight)
        ('simclr', True)
    """
    path = Path(path)
    folder = path
    if not (path / "model.safetensors").is_file():
        folder = latest_checkpoint(path) or path
    if not (folder / "model.safetensors").is_file():
        raise CheckpointError(f"no trained model at {path}: expected model.safetensors and config.json, or a checkpoint")
    try:
        config = TrainConfig.from_dict(read_json(folder / "config.json", what="training config"))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"training config {folder / 'config.json'} is invalid: {err}") from err
    model = build_model(config.model, config.in_channels or 3, config.width, config.num_shifts, config.proj_dim)
    state = load_tensors(folder / "model.safetensors", what="model weights")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"model weights {folder / 'model.safetensors'} do not fit the config: {err}") from err
    return model.eval(), config
