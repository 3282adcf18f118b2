"""The training configuration, saved as JSON beside every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from dia_augment.models.dia_resnet import MODEL_NAMES
from dia_augment.shift.transforms import NUM_SHIFTS, SHIFT_KINDS

__all__ = ["TrainConfig", "TRAIN_MODES", "OPTIMIZERS", "MIXED_PRECISION"]

#: ``simclr``: two views, no shifts; ``csi``: two views x K shifts; ``dia``: CSI plus the dissolved view.
TRAIN_MODES = ("simclr", "csi", "dia")
OPTIMIZERS = ("sgd", "lars")
MIXED_PRECISION = ("no", "fp16", "bf16")


@dataclass
class TrainConfig:
    """Everything that defines a training run (with the data, the dissolver and the seed).

    Args:
        mode: ``"simclr"``, ``"csi"`` or ``"dia"``.
        shift: shift kind, ``"rotation"`` or ``"cutperm"`` (unused in ``simclr`` mode).
        num_shifts: K, shifted copies per view (``csi`` / ``dia``).
        model: ``"resnet18"`` (CIFAR stem) or ``"resnet18_imagenet"``.
        width: first-stage width of the ResNet (64 = standard).
        in_channels: image channels; ``None`` takes them from the data.
        proj_dim: projection size.
        image_size: side of the SimCLR crop, i.e. the model's input size.
        crop_scale: range of the SimCLR crop's area.
        epochs: passes over the data.
        batch_size: images per step over all processes (each image gives 2 or 3 views x K rows).
        lr: peak learning rate.
        momentum: SGD / LARS momentum.
        weight_decay: weight decay.
        optimizer: ``"sgd"`` or ``"lars"``.
        warmup_epochs: linear warm-up length (fractions allowed), then cosine decay per step.
        temperature: NT-Xent temperature.
        shift_loss_weight: weight of the shift cross-entropy (``csi`` / ``dia``).
        shift_loss_on_dissolved: also train the shift head on the dissolved rows; by default
            it sees the clean rows only, as in the reference code.
        step_range: ``(low, high)`` range of the dissolving step; ``None`` uses the
            dissolver's ``default_step_range``.
        seed: seeds the model initialisation, the data order and every augmentation draw.
        mixed_precision: ``"no"``, ``"fp16"`` or ``"bf16"`` (through Accelerate).
        checkpoint_every: also checkpoint every this many steps (0: at the end of each epoch only).
        pretrained: a local ResNet-18 weights file for the backbone, or ``None``.
        progress: show a progress bar.

    Examples:
        >>> cfg = TrainConfig(mode="csi", epochs=2)
        >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    mode: str = "dia"
    shift: str = "rotation"
    num_shifts: int = NUM_SHIFTS
    model: str = "resnet18"
    width: int = 16
    in_channels: int | None = None
    proj_dim: int = 128
    image_size: int = 32
    crop_scale: tuple[float, float] = (0.08, 1.0)
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-6
    optimizer: str = "sgd"
    warmup_epochs: float = 1.0
    temperature: float = 0.5
    shift_loss_weight: float = 1.0
    shift_loss_on_dissolved: bool = False
    step_range: tuple[int, int] | None = None
    seed: int = 0
    mixed_precision: str = "no"
    checkpoint_every: int = 0
    pretrained: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        choices = {"mode": TRAIN_MODES, "shift": SHIFT_KINDS, "model": tuple(MODEL_NAMES), "optimizer": OPTIMIZERS,
                   "mixed_precision": MIXED_PRECISION}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"TrainConfig.{name} must be one of {allowed}; got {getattr(self, name)!r}")
        positive = ("num_shifts", "width", "proj_dim", "image_size", "epochs", "batch_size")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int; got {value!r}")
        if self.num_shifts > NUM_SHIFTS:
            raise ValueError(f"TrainConfig.num_shifts must be at most {NUM_SHIFTS}; got {self.num_shifts}")
        if self.in_channels not in (None, 1, 3):
            raise ValueError(f"TrainConfig.in_channels must be 1, 3 or None; got {self.in_channels!r}")
        for name in ("lr", "temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrainConfig.{name} must be positive; got {getattr(self, name)!r}")
        for name in ("momentum", "weight_decay", "warmup_epochs", "shift_loss_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0; got {getattr(self, name)!r}")
        if isinstance(self.checkpoint_every, bool) or not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0:
            raise ValueError(f"TrainConfig.checkpoint_every must be an int >= 0; got {self.checkpoint_every!r}")
        self.crop_scale = (float(self.crop_scale[0]), float(self.crop_scale[1]))
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ValueError(f"TrainConfig.crop_scale must satisfy 0 < low <= high <= 1; got {self.crop_scale}")
        if self.step_range is not None:
            low, high = (int(v) for v in self.step_range)
            if not 0 <= low < high:
                raise ValueError(f"TrainConfig.step_range must be (low, high) with 0 <= low < high; got {self.step_range}")
            self.step_range = (low, high)

    @property
    def shifts(self) -> int:
        """Shifted copies per view actually used: 1 in ``simclr`` mode, else ``num_shifts``."""
        return 1 if self.mode == "simclr" else self.num_shifts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys raise a ``ValueError``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}")
        values = dict(data)
        for name in ("crop_scale", "step_range"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)
