"""The training configurations: frozen dataclasses, the single source of every default.

:class:`TrainConfig` configures the amplifying (contrastive) training, :class:`DissolverTrainConfig`
the training of a DDPM dissolver. Both follow :mod:`dia_augment.utils.config`: each field is typed,
documented in the ``Args:`` section (the command line's help text), and may carry ``choices`` or a
``min`` in its metadata; ``dia-augment train`` and ``dia-augment train-dissolver`` generate one
option per field. To add a field, declare it here with its default (and metadata), document it
under ``Args:``, and read it where it is used: the command line picks it up by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dia_augment.errors import ConfigError
from dia_augment.filters.presets import UNET_PRESETS, unet_config
from dia_augment.models.dia_resnet import MODEL_NAMES, NORMALISATIONS
from dia_augment.augmentation.simclr import AUGMENTATIONS
from dia_augment.shift.transforms import NUM_SHIFTS, SHIFT_KINDS
from dia_augment.utils.config import JsonConfig, check_fields
from dia_augment.utils.precision import PRECISIONS
from dia_augment.train.losses import LOSS_MODES, LOSS_NORMALISATIONS
from dia_augment.utils.random import STEP_CURRICULA

__all__ = ["TrainConfig", "DissolverTrainConfig", "TRAIN_MODES", "OPTIMIZERS", "LR_SCHEDULES",
           "DENOISING_LOSSES"]

#: ``simclr``: two views, no shifts; ``csi``: two views x K shifts; ``dia``: CSI plus the dissolved view.
TRAIN_MODES = ("simclr", "csi", "dia")
OPTIMIZERS = ("sgd", "lars")
#: ``warmup_cosine``: linear warm-up from 0, then cosine to 0; ``gradual_warmup_cosine``: the paper
#: code's, from ``lr`` up to 10 x ``lr`` over the warm-up epochs, then a cosine over all the epochs.
LR_SCHEDULES = ("warmup_cosine", "gradual_warmup_cosine")
#: The dissolver's training losses: L1 (the paper's) or L2 between the predicted and the true noise.
DENOISING_LOSSES = ("l1", "l2")


def _choices(default: Any, choices: tuple) -> Any:
    return field(default=default, metadata={"choices": choices})


def _at_least(default: Any, low: float) -> Any:
    return field(default=default, metadata={"min": low})


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Everything that defines an amplifying training run (with the data, the dissolver and the seed).

    Args:
        mode: ``"simclr"``, ``"csi"`` or ``"dia"``.
        shift: shift kind, ``"rotation"`` or ``"cutperm"`` (unused in ``simclr`` mode).
        num_shifts: K, shifted copies per view (``csi`` / ``dia``).
        model: ``"resnet18"`` (CIFAR stem) or ``"resnet18_imagenet"``.
        input_normalisation: ``"imagenet"`` (ImageNet statistics for ``resnet18_imagenet`` on 3-channel images,
            ``(x - 0.5) / 0.5`` otherwise) or ``"half"`` (``(x - 0.5) / 0.5`` always, the paper's code).
        width: first-stage width of the ResNet (64 = standard).
        in_channels: image channels; ``None`` takes them from the data.
        proj_dim: projection size.
        image_size: side of the SimCLR crop, i.e. the model's input size.
        crop_scale: range of the SimCLR crop's area.
        augmentation: the SimCLR augmentation of every row: ``"library"`` (kornia's: crop, then colour jitter in a
            random order of four operations, then grayscale; 1-channel images keep one channel) or ``"reference"``
            (the paper's code: its HSV colour jitter, grayscale, then its affine-grid crop; 3-channel images only).
            The test-time views follow the same semantics.
        epochs: passes over the data.
        batch_size: images per step over all processes (each image gives 2 or 3 views x K rows).
        drop_last: drop an epoch's last partial batch; ``--no-drop-last`` trains on it and counts it in the
            schedule, as the paper's code (one process only).
        lr: peak learning rate.
        momentum: SGD / LARS momentum.
        weight_decay: weight decay.
        optimizer: ``"sgd"`` or ``"lars"`` (LARS as the paper's code: every parameter, trust 0.001).
        lr_schedule: ``"warmup_cosine"`` (linear warm-up from 0 to ``lr``, then cosine to 0) or
            ``"gradual_warmup_cosine"`` (the paper's: from ``lr`` up to 10 x ``lr`` over the warm-up, then a
            cosine over all the epochs).
        warmup_epochs: warm-up length (fractions allowed); the schedule is applied per step.
        temperature: NT-Xent temperature.
        loss_mode: ``"shifted_removed"`` (an anchor's own dissolved copy is neither positive nor negative, the
            paper's default) or ``"naive"`` (it is a negative).
        loss_normalisation: ``"reference"`` (the NT-Xent sum over the clean anchors divided by the row count,
            as the paper's code) or ``"anchor_mean"`` (the mean over anchors: 1.5 x the DIA term).
        shift_loss_weight: weight of the shift cross-entropy (``csi`` / ``dia``).
        shift_loss_on_dissolved: train the shift head on the dissolved rows too (every row, as the reference
            code does); ``--no-shift-loss-on-dissolved`` keeps it to the clean rows.
        dissolve_all_views: apply the dissolver to the two clean views as well, as the paper's code does for its
            blur baselines (its blur ignores the flag that spares the clean views); ``dia`` mode only.
        step_range: ``(low, high)`` range of the dissolving (diffusion) step; ``None`` uses the
            dissolver's ``default_step_range``.
        step_curriculum: how the step is drawn in ``step_range``: ``"uniform"`` or one of the paper code's Beta
            curricula (``beta_by_epoch``, ``beta_by_epoch_reversed``, ``beta_skewed``, ``beta_skewed_reversed``).
        dissolve_cache: a folder for a dissolve cache (``dia`` mode): the dissolver dissolves every training image
            once, at ``cache_steps`` steps spread over the step range with ``cache_draws`` noise draws each, and the
            steps read their dissolved views from there (built on first use, reused afterwards, refused when the
            dissolver or the images changed); ``None``: dissolve live at every step.
        cache_steps: the steps of the cache's grid.
        cache_draws: the noise draws per step of the cache (1 for a deterministic dissolver).
        seed: seeds the model initialisation, the data order and every augmentation draw.
        mixed_precision: ``"auto"`` (bf16 where the hardware runs it natively: a CPU with AMX or AVX-512 BF16, a
            CUDA device with bf16; float32 otherwise), ``"no"`` (float32), ``"fp16"`` (CUDA) or ``"bf16"``: the model
            runs under ``torch.autocast`` with float32 outputs, and so does a ``dia`` run's dissolve unless the
            dissolver has a precision of its own; ``run.json`` records what ``auto`` became.
        channels_last: lay out the model's weights and the step's rows as ``channels_last`` (NHWC); ``None``: when the
            run is in bf16 (where oneDNN's and cuDNN's bf16 convolutions want it).
        compile: compile the model with ``torch.compile`` (the first steps pay the compile time).
        sync_batchnorm: synchronise batch-norm statistics across processes (``torch.nn.SyncBatchNorm``), as the
            paper's code does on several GPUs; no effect on one process.
        checkpoint_every: also checkpoint every this many optimiser steps (0: at the end of each epoch only).
        log_every: log the mean losses every this many optimiser steps.
        num_workers: DataLoader worker processes that read the images (0: the main process).
        pretrained: a local ResNet-18 weights file for the backbone, or ``None``.
        progress: show a progress bar.

    Examples:
        >>> cfg = TrainConfig(mode="csi", epochs=2)
        >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    mode: str = _choices("dia", TRAIN_MODES)
    shift: str = _choices("rotation", SHIFT_KINDS)
    num_shifts: int = field(default=NUM_SHIFTS, metadata={"choices": tuple(range(1, NUM_SHIFTS + 1))})
    model: str = _choices("resnet18", tuple(MODEL_NAMES))
    input_normalisation: str = _choices("imagenet", NORMALISATIONS)
    width: int = _at_least(16, 1)
    in_channels: int | None = _choices(None, (1, 3))
    proj_dim: int = _at_least(128, 1)
    image_size: int = _at_least(32, 1)
    crop_scale: tuple[float, float] = (0.08, 1.0)
    augmentation: str = _choices("library", AUGMENTATIONS)
    epochs: int = _at_least(10, 1)
    batch_size: int = _at_least(32, 1)
    drop_last: bool = True
    lr: float = 0.1
    momentum: float = _at_least(0.9, 0)
    weight_decay: float = _at_least(1e-6, 0)
    optimizer: str = _choices("sgd", OPTIMIZERS)
    lr_schedule: str = _choices("warmup_cosine", LR_SCHEDULES)
    warmup_epochs: float = _at_least(1.0, 0)
    temperature: float = 0.5
    loss_mode: str = _choices("shifted_removed", LOSS_MODES)
    loss_normalisation: str = _choices("reference", LOSS_NORMALISATIONS)
    shift_loss_weight: float = _at_least(1.0, 0)
    shift_loss_on_dissolved: bool = True
    dissolve_all_views: bool = False
    step_range: tuple[int, int] | None = _at_least(None, 0)
    step_curriculum: str = _choices("uniform", STEP_CURRICULA)
    dissolve_cache: str | None = None
    cache_steps: int = _at_least(8, 2)
    cache_draws: int = _at_least(1, 1)
    seed: int = 0
    mixed_precision: str = _choices("auto", PRECISIONS)
    channels_last: bool | None = None
    compile: bool = False
    sync_batchnorm: bool = False
    checkpoint_every: int = _at_least(0, 0)
    log_every: int = _at_least(1, 1)
    num_workers: int = _at_least(0, 0)
    pretrained: str | None = None
    progress: bool = True

    #: Fields a resumed run may change: they do not change the sequence of updates.
    RESUMABLE = ("checkpoint_every", "log_every", "num_workers", "progress")

    def __post_init__(self) -> None:
        check_fields(self)
        for name in ("lr", "temperature"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"TrainConfig.{name} must be positive; got {getattr(self, name)!r}")
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ConfigError(f"TrainConfig.crop_scale must satisfy 0 < low <= high <= 1; got {self.crop_scale}")
        if self.step_range is not None and not self.step_range[0] < self.step_range[1]:
            raise ConfigError(f"TrainConfig.step_range must be (low, high) with 0 <= low < high; got {self.step_range}")
        if self.dissolve_all_views and self.mode != "dia":
            raise ConfigError(f"TrainConfig.dissolve_all_views needs mode 'dia'; got mode {self.mode!r}")
        if self.dissolve_cache is not None and self.mode != "dia":
            raise ConfigError(f"TrainConfig.dissolve_cache needs mode 'dia'; got mode {self.mode!r}")

    @classmethod
    def reference(cls, **overrides: Any) -> TrainConfig:
        """The paper code's recipe (its README's command and its defaults), with ``overrides`` on top.

        DIA with rotation, ``resnet18_imagenet`` (width 64) at 224 px, batch 32, 1000 epochs, LARS
        (every parameter, trust 0.001, eps 1e-8) around SGD with momentum 0.9 and weight decay
        1e-6, lr 0.1 warmed up to 10 x over 10 epochs then a cosine over the epochs, NT-Xent at
        temperature 0.5 in ``shifted_removed`` mode with the paper's normalisation, the shift loss
        on every row, steps uniform in ``[30, 100)``, crop scale ``(0.08, 1)``, the paper code's
        augmentation (its HSV jitter, grayscale, then its affine crop) on RGB images
        (``in_channels=3``: load the images with ``channels=3``), inputs normalised
        ``(x - 0.5) / 0.5``, the last partial batch of an epoch trained on, and synchronised batch
        norm across processes. For the blur baselines add ``dissolve_all_views=True`` (the
        reference blurs every view). The rest of the recipe is outside this config: the data
        (RGB, every normal training image: no calibration hold-out), the dissolver (online weights,
        the reference's input range) and the evaluation (:meth:`ScoreConfig.reference
        <dia_augment.score.ScoreConfig.reference>`); ``dia-augment train --recipe reference`` sets
        all of it, and ``docs/fidelity.md`` lists what cannot be set.

        Examples:
            >>> cfg = TrainConfig.reference(epochs=2)
            >>> cfg.optimizer, cfg.lr_schedule, cfg.warmup_epochs, cfg.epochs, cfg.image_size, cfg.augmentation
            ('lars', 'gradual_warmup_cosine', 10.0, 2, 224, 'reference')
        """
        recipe = dict(mode="dia", shift="rotation", num_shifts=NUM_SHIFTS, model="resnet18_imagenet", width=64,
                      proj_dim=128, image_size=224, crop_scale=(0.08, 1.0), epochs=1000, batch_size=32, lr=0.1,
                      momentum=0.9, weight_decay=1e-6, optimizer="lars", lr_schedule="gradual_warmup_cosine",
                      warmup_epochs=10.0, temperature=0.5, loss_mode="shifted_removed", loss_normalisation="reference",
                      shift_loss_weight=1.0, shift_loss_on_dissolved=True, step_range=(30, 100),
                      step_curriculum="uniform", in_channels=3, augmentation="reference", input_normalisation="half",
                      drop_last=False, sync_batchnorm=True)
        return cls(**{**recipe, **overrides})

    @property
    def shifts(self) -> int:
        """Shifted copies per view actually used: 1 in ``simclr`` mode, else ``num_shifts``."""
        return 1 if self.mode == "simclr" else self.num_shifts


@dataclass(frozen=True)
class DissolverTrainConfig(JsonConfig):
    """Everything that defines a dissolver training run (with the normal images).

    Give exactly one of ``train_steps`` and ``epochs``.

    Args:
        resolution: the dissolver's working resolution; images are resized to it (bilinear).
        antialias: antialias that resize (the reference's DDPM learns from a bilinear tensor resize without
            antialias: ``--no-antialias``, or :meth:`reference`; dissolving sets its own, ``DDPMDissolving(antialias=...)``).
        preset: the UNet size, ``"micro"``, ``"tiny"``, ``"dia-reference"`` (the closest to the paper's UNet) or
            ``"ddpm-cifar10"``.
        train_steps: the number of optimiser steps.
        epochs: the number of passes over the training images (the last partial batch is dropped).
        batch_size: images per optimiser step over all processes.
        lr: Adam's learning rate.
        betas: Adam's betas.
        grad_clip: the maximal gradient norm.
        loss: ``"l1"`` (the paper's) or ``"l2"``.
        ema_decay: the EMA's decay (0 keeps the raw weights).
        checkpoint_every: write a checkpoint every this many optimiser steps (and at the end).
        eval_every: run the readiness check every this many optimiser steps; ``None``: after each epoch.
        log_every: log the mean training loss and images/s every this many optimiser steps.
        holdout: the share of images held out for the readiness check (at least 4 images).
        grid_images: how many held-out images the dissolve grids show (0: no grids).
        seed: seeds the model's initialisation, the held-out split and every random draw.
        mixed_precision: ``"auto"`` (bf16 where the hardware runs it natively, else float32), ``"no"``, ``"fp16"``
            or ``"bf16"``.
        num_workers: DataLoader worker processes that read the images (0: the main process).
        progress: show a progress bar.

    Examples:
        >>> DissolverTrainConfig(train_steps=10).holdout_size(100)
        5
    """

    resolution: int = 32
    antialias: bool = True
    preset: str = _choices("tiny", tuple(sorted(UNET_PRESETS)))
    train_steps: int | None = _at_least(None, 1)
    epochs: int | None = _at_least(None, 1)
    batch_size: int = _at_least(32, 1)
    lr: float = 8e-5
    betas: tuple[float, float] = _at_least((0.9, 0.99), 0)
    grad_clip: float = 1.0
    loss: str = _choices("l1", DENOISING_LOSSES)
    ema_decay: float = _at_least(0.999, 0)
    checkpoint_every: int = _at_least(500, 1)
    eval_every: int | None = _at_least(None, 1)
    log_every: int = _at_least(10, 1)
    holdout: float = 0.05
    grid_images: int = _at_least(8, 0)
    seed: int = 0
    mixed_precision: str = _choices("auto", PRECISIONS)
    num_workers: int = _at_least(0, 0)
    progress: bool = True

    #: Fields a resumed run may change: the run's length and how often it logs, evaluates and checkpoints.
    RESUMABLE = ("train_steps", "epochs", "checkpoint_every", "eval_every", "log_every", "grid_images", "num_workers",
                 "progress")

    def __post_init__(self) -> None:
        check_fields(self)
        try:
            unet_config(self.preset, self.resolution, 1)
        except ValueError as err:
            raise ConfigError(f"DissolverTrainConfig.resolution: {err}") from err
        if (self.train_steps is None) == (self.epochs is None):
            raise ConfigError(f"give exactly one of train_steps and epochs; got train_steps={self.train_steps}, "
                              f"epochs={self.epochs}")
        for name in ("lr", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"DissolverTrainConfig.{name} must be positive; got {getattr(self, name)}")
        if not all(b < 1.0 for b in self.betas):
            raise ConfigError(f"DissolverTrainConfig.betas must be two numbers in [0, 1); got {self.betas}")
        if not self.ema_decay <= 1.0:
            raise ConfigError(f"DissolverTrainConfig.ema_decay must be in [0, 1]; got {self.ema_decay}")
        if not 0.0 < self.holdout <= 0.5:
            raise ConfigError(f"DissolverTrainConfig.holdout must be a fraction in (0, 0.5]; got {self.holdout}")

    @classmethod
    def reference(cls, **overrides: Any) -> DissolverTrainConfig:
        """The paper code's DDPM recipe (``diffusion_models/train_eval_ddpm.py``), with ``overrides`` on top.

        32 px, images resized as tensors from the file's resolution with a bilinear resize without
        antialias (``ToTensor``, flip, ``Resize`` under its torchvision), the closest diffusers UNet
        to its network (``dia-reference``), Adam 8e-5 with betas (0.9, 0.99), L1 loss, clipping
        1.0, 312 500 optimiser steps of 512 images (its batch of 256 with 2 accumulation steps:
        the same gradient), an EMA of 0.9995 per step (its 0.995 every 10 steps). Load the images
        without ``--load-size`` so that the one resize is this one.

        Examples:
            >>> cfg = DissolverTrainConfig.reference(train_steps=10)
            >>> cfg.antialias, cfg.preset, cfg.batch_size, cfg.train_steps
            (False, 'dia-reference', 512, 10)
        """
        recipe = dict(resolution=32, antialias=False, preset="dia-reference", train_steps=312_500, batch_size=512,
                      lr=8e-5, betas=(0.9, 0.99), grad_clip=1.0, loss="l1", ema_decay=0.9995)
        return cls(**{**recipe, **overrides})

    def holdout_size(self, num_images: int) -> int:
        """The number of held-out images among ``num_images``: ``holdout`` of them, at least 4."""
        return max(4, round(self.holdout * num_images))
