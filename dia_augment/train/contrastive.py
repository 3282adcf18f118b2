"""Amplifying training: SimCLR, CSI or DIA training of a :class:`DIAResNet` on the run engine."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from accelerate import DistributedDataParallelKwargs
from torch import Tensor

from dia_augment.augmentation.cache import CachedDissolving, DissolveCache, build_dissolve_cache, step_grid
from dia_augment.augmentation.random_dissolving import RandomDissolving
from dia_augment.augmentation.simclr import make_simclr_augmentation
from dia_augment.errors import CheckpointError, ConfigError, MissingFileError
from dia_augment.filters.base import Dissolver
from dia_augment.models.dia_resnet import DIAResNet, build_model
from dia_augment.models.pretrained import load_pretrained_backbone
from dia_augment.train.checkpoint import latest_checkpoint, read_checkpoint_file
from dia_augment.train.config import TrainConfig
from dia_augment.train.data import ImageSource
from dia_augment.train.engine import Engine
from dia_augment.train.optim import LARS, gradual_warmup_cosine_schedule, warmup_cosine_schedule
from dia_augment.train.step import build_rows, training_loss
from dia_augment.utils.device import module_device
from dia_augment.utils.io import atomic_save_tensors, atomic_write_json, load_tensors, read_json
from dia_augment.utils.random import derive_seed, step_curriculum

__all__ = ["train_model", "load_model", "ContrastiveTrainer"]


def _make_optimizer(model: DIAResNet, config: TrainConfig) -> torch.optim.Optimizer:
    cls = LARS if config.optimizer == "lars" else torch.optim.SGD
    return cls(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


class ContrastiveTrainer(Engine):
    """The amplifying objective's trainer on the run engine (see :func:`train_model`)."""

    kind = "contrastive"
    checkpoint_each_epoch = True

    def __init__(self, config: TrainConfig, images: ImageSource, dissolver: Dissolver | None = None,
                 out_dir: str | os.PathLike = "runs/train", resume: bool = False, overwrite: bool = False,
                 data_source: str | None = None,
                 data_options: dict[str, Any] | None = None, log_with: str | list[str] | None = None) -> None:
        if not isinstance(config, TrainConfig):
            raise ConfigError(f"config must be a TrainConfig; got {type(config).__name__}")
        if config.mode == "dia" and dissolver is None:
            raise ConfigError("mode 'dia' needs a dissolver")
        super().__init__(config, images, out_dir, resume, overwrite, data_source, data_options, log_with)
        channels = self.data_info["channels"]
        if config.in_channels not in (None, channels):
            raise ConfigError(f"config.in_channels = {config.in_channels} but the images have {channels} channel(s): "
                              f"load them with channels={config.in_channels} (--channels {config.in_channels})"
                              + (" as the paper's code converts every image to RGB" if config.in_channels == 3 else ""))
        if config.augmentation == "reference" and channels != 3:
            raise ConfigError(f"augmentation 'reference' works on 3-channel images and these have {channels}: load them "
                              "with channels=3 (--channels 3), as the paper's code converts every image to RGB")
        self.config = dataclasses.replace(config, in_channels=channels)
        self.dissolver = dissolver if config.mode == "dia" else None

    def accelerator_kwargs(self) -> list:
        return [DistributedDataParallelKwargs(find_unused_parameters=self.config.mode == "simclr")]

    def setup(self) -> None:
        config = self.config
        model = self.build_seeded(lambda: build_model(config.model, config.in_channels, config.width,
                                                      config.num_shifts, config.proj_dim, config.input_normalisation))
        if config.sync_batchnorm and self.world > 1:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if config.pretrained:
            load_pretrained_backbone(model, config.pretrained)
        self.channels_last = config.channels_last if config.channels_last is not None else self.precision == "bf16"
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if config.compile:
            model.compile()  # in place: the module, its state_dict and its checkpoints stay as they are
        optimizer = _make_optimizer(model, config)
        if config.lr_schedule == "gradual_warmup_cosine":
            self.scheduler = gradual_warmup_cosine_schedule(optimizer, self.steps_per_epoch, config.epochs,
                                                            config.warmup_epochs)
        else:
            warmup_steps = min(round(config.warmup_epochs * self.steps_per_epoch), self.total_steps)
            self.scheduler = warmup_cosine_schedule(optimizer, self.total_steps, warmup_steps)
        self.model, self.optimizer = self.prepare(model, optimizer)
        self.generators = {"generator": self.generator("augment")}
        self.augment = make_simclr_augmentation(config.augmentation, config.image_size, config.crop_scale).to(self.device)
        self.dissolve = None
        if self.dissolver is not None:
            dissolver = self.dissolver
            if dissolver.mixed_precision is None and self.precision == "bf16":
                # the step's precision with the weights held in bf16, on a copy: the caller's dissolver is not changed
                dissolver = copy.deepcopy(dissolver)
                dissolver.mixed_precision = "bf16"
            else:  # the caller's dissolver, its device, mode and gradient flags given back by release()
                self._borrowed = (dissolver, module_device(dissolver), dissolver.training,
                                  [p.requires_grad for p in dissolver.parameters()])
            dissolver = dissolver.to(self.device).eval().requires_grad_(False)
            self.dissolver = dissolver
            if config.dissolve_cache is None:
                self.dissolve = RandomDissolving(dissolver, config.step_range, p=1.0, generator=self.generators["generator"])
            else:
                self.dissolve = CachedDissolving(self._cache(dissolver), config.step_range,
                                                 generator=self.generators["generator"])

    def release(self) -> None:
        """Give the caller's dissolver back as it came: its device, training mode and gradient flags."""
        borrowed = getattr(self, "_borrowed", None)
        if borrowed is None:
            return
        dissolver, device, training, flags = borrowed
        dissolver.to(device).train(training)
        for parameter, flag in zip(dissolver.parameters(), flags):
            parameter.requires_grad_(flag)
        self._borrowed = None

    def _cache(self, dissolver: Dissolver) -> DissolveCache:
        """The run's dissolve cache, built (or its build resumed; a complete one is checked and reused).

        A folder holding a cache of another dissolver, other images or another grid is refused.
        """
        config = self.config
        steps = step_grid(config.step_range or dissolver.default_step_range, config.cache_steps)
        with self._dissolve_context(), torch.no_grad():  # the views as the live dissolve computes them
            return build_dissolve_cache(dissolver, self.dataset, config.dissolve_cache, steps, config.cache_draws,
                                        seed=derive_seed(config.seed, "dissolve-cache"), progress=config.progress)

    def _dissolve_context(self) -> Any:
        """The dissolve runs in the step's precision unless the dissolver has one of its own."""
        own = self.dissolver is not None and self.dissolver.mixed_precision is not None
        return contextlib.nullcontext() if own else self.autocast()

    def train_step(self, batch: Tensor) -> dict[str, Tensor]:
        config = self.config
        if self.dissolve is not None:  # the paper's curricula follow its 1-based epoch
            self.dissolve.step_beta = step_curriculum(config.step_curriculum, self.epoch + 1)
        rows = build_rows(batch, self.augment, config.shifts, config.shift, self.dissolve, self.generators["generator"],
                          image_offset=self.rank * batch.shape[0], dissolve_all_views=config.dissolve_all_views,
                          dissolve_context=self._dissolve_context, indices=self.batch_indices)
        if self.channels_last:
            rows = rows._replace(images=rows.images.contiguous(memory_format=torch.channels_last))
        with self.autocast():
            parts = training_loss(self.model, rows, config.temperature, config.shift_loss_weight,
                                  config.shift_loss_on_dissolved, config.loss_mode, config.loss_normalisation)
        self.optimizer.zero_grad(set_to_none=True)
        self.backward_and_step(parts.total)
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        return {"loss": parts.total, "loss_contrastive": parts.contrastive, "loss_shift": parts.shift,
                "lr": torch.tensor(lr)}

    def model_tensors(self) -> dict[str, dict[str, Tensor]]:
        return {"model.safetensors": self.accelerator.unwrap_model(self.model).state_dict()}

    def load_model_tensors(self, folder: Path, state: dict[str, Any]) -> None:
        try:
            self.accelerator.unwrap_model(self.model).load_state_dict(read_checkpoint_file(folder, "model.safetensors"))
        except RuntimeError as err:
            raise CheckpointError(f"{folder / 'model.safetensors'} does not fit the model: {err}") from err

    def save_final(self) -> None:
        atomic_save_tensors(self.accelerator.unwrap_model(self.model).state_dict(), self.out_dir / "model.safetensors")
        atomic_write_json(self.out_dir / "config.json", self.config.to_dict())


def train_model(config: TrainConfig, images: ImageSource, dissolver: Dissolver | None = None,
                out_dir: str | os.PathLike = "runs/train", resume: bool = False, overwrite: bool = False,
                data_source: str | None = None, data_options: dict[str, Any] | None = None,
                log_with: str | list[str] | None = None) -> DIAResNet:
    """Train a :class:`DIAResNet` on normal images with the SimCLR, CSI or DIA objective.

    Each step takes ``config.batch_size`` images (split evenly over the processes), builds their
    views with :func:`~dia_augment.train.step.build_rows` (DIA dissolves the batch once through
    ``RandomDissolving(p=1)``, with a step per image) and minimises NT-Xent plus the shift
    cross-entropy with SGD (or LARS), a per-step linear warm-up and cosine decay. The last
    incomplete batch of an epoch is dropped. With several processes (``torchrun`` or
    ``accelerate launch``) the contrastive negatives span the global batch; batch-norm
    statistics stay per process.

    The run engine (:class:`~dia_augment.train.engine.Engine`) checkpoints at the end of each
    epoch (and every ``config.checkpoint_every`` steps), keeping only the last checkpoint, and
    a resumed run ends with the same weights as an uninterrupted one. No checkpoint is ever
    chosen on test data. At the end ``out_dir`` holds ``model.safetensors`` and ``config.json``
    (read by :func:`load_model`), ``metrics.jsonl``, ``loss.png`` and ``run.json``.

    Args:
        config: the run's settings.
        images: ``(N, C, H, W)`` float tensor in ``[0, 1]`` of normal images, or a torch Dataset
            of ``(C, H, W)`` images or ``(image, label)`` pairs (labels are ignored).
        dissolver: the dissolver of a ``"dia"`` run (required there, ignored otherwise); it is
            frozen and run without gradients.
        out_dir: the run folder.
        resume: continue the run in ``out_dir`` from its last checkpoint (start fresh if none);
            the settings and data must be the same.
        overwrite: replace a run already in ``out_dir``.
        data_source: where the images came from, recorded in ``run.json``.
        data_options: the options the images were read with, recorded in ``run.json``.
        log_with: experiment trackers that also get the losses, the learning rate, images/s and the
            loss curve: ``"tensorboard"``, ``"wandb"``, ``"mlflow"``, ``"all"`` (every one installed) or
            several; a tracker whose package is missing raises before any work. They do not change
            the training.

    Returns:
        The trained model (on the training device, in eval mode).

    Raises:
        ConfigError: settings that do not fit the data or the processes, or a tracker that is not installed.
        RunFolderError: ``out_dir`` holds a run and neither ``resume`` nor ``overwrite`` is set,
            or ``resume`` with other settings (the message names the fields).

    Examples:
        >>> import tempfile
        >>> cfg = TrainConfig(mode="csi", width=2, proj_dim=8, image_size=8, epochs=1, batch_size=4, progress=False)
        >>> model = train_model(cfg, torch.rand(8, 1, 8, 8), out_dir=tempfile.mkdtemp())
        >>> model.feature_dim
        16
    """
    trainer = ContrastiveTrainer(config, images, dissolver, out_dir, resume, overwrite, data_source, data_options,
                                 log_with)
    trainer.run()
    return trainer.accelerator.unwrap_model(trainer.model).eval()


def load_model(path: str | os.PathLike) -> tuple[DIAResNet, TrainConfig]:
    """Rebuild a trained model from what :func:`train_model` saved.

    Args:
        path: a run's output folder (its final ``model.safetensors``, or else its last
            checkpoint), or one checkpoint folder.

    Returns:
        ``(model, config)``, the model in eval mode on CPU.

    Raises:
        MissingFileError: ``path`` does not exist.
        CheckpointError: nothing loadable at ``path``, or weights that do not fit the config.

    Examples:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> cfg = TrainConfig(mode="simclr", width=2, image_size=8, epochs=1, batch_size=4, progress=False)
        >>> trained = train_model(cfg, torch.rand(4, 1, 8, 8), out_dir=out)
        >>> model, config = load_model(out)
        >>> config.mode, torch.equal(model.shift_head.weight, trained.shift_head.weight)
        ('simclr', True)
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"no trained model at {path}: the folder does not exist")
    folder = path if (path / "model.safetensors").is_file() else latest_checkpoint(path) or path
    if not (folder / "model.safetensors").is_file():
        raise CheckpointError(f"no trained model at {path}: expected model.safetensors and config.json, or a checkpoint")
    source = folder / "config.json"
    try:
        config = TrainConfig.from_dict(read_json(source, what="training config"), source=str(source))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"training config {source} is invalid: {err}") from err
    model = build_model(config.model, config.in_channels or 3, config.width, config.num_shifts, config.proj_dim)
    try:
        model.load_state_dict(load_tensors(folder / "model.safetensors", what="model weights"))
    except RuntimeError as err:
        raise CheckpointError(f"model weights {folder / 'model.safetensors'} do not fit the config: {err}") from err
    return model.eval(), config
