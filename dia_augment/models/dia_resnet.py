"""The amplifying model: a normalising ResNet-18 with a projection head and a shift head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from dia_augment.errors import ConfigError
from dia_augment.models.resnet import ResNet18Backbone
from dia_augment.utils.checks import check_int, check_images

__all__ = ["ModelOutput", "DIAResNet", "build_model", "MODEL_NAMES", "NORMALISATIONS", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: ``build_model`` names -> backbone stem.
MODEL_NAMES = {"resnet18": "cifar", "resnet18_imagenet": "imagenet"}


class ModelOutput(NamedTuple):
    """What :class:`DIAResNet` returns.

    Attributes:
        features: :math:`(B, 8 \\cdot width)` pooled backbone features.
        projection: :math:`(B, proj\\_dim)` projection head output (not normalised).
        shift_logits: :math:`(B, K)` shift classifier logits.
    """

    features: Tensor
    projection: Tensor
    shift_logits: Tensor


class DIAResNet(nn.Module):
    """ResNet-18 with input normalisation, a projection head and a K-way shift classifier.

    The input is an image batch in ``[0, 1]``; ``(x - mean) / std`` is applied inside the
    model (the statistics are buffers, so they follow ``.to(device)`` and are saved with the
    weights). The projection head is ``feat -> feat -> proj_dim`` with a ReLU between.

    Args:
        stem: ``"cifar"`` (3x3 stride-1 stem, no max-pool) or ``"imagenet"`` (7x7 stride-2 stem
            and max-pool, for 224 px images).
        in_channels: 1 or 3.
        width: first-stage channels (64 = standard ResNet-18; 16 or 32 for CPU runs).
        num_shifts: classes of the shift head (K).
        proj_dim: projection size.
        mean: per-channel normalisation mean; default 0.5 per channel (ImageNet statistics are
            what :func:`build_model` uses for ``resnet18_imagenet`` with 3 channels).
        std: per-channel normalisation std; default 0.5 per channel.

    Shape:
        - input: :math:`(B, C, H, W)` in ``[0, 1]``
        - output: :class:`ModelOutput` of :math:`(B, 8 \\cdot width)`, :math:`(B, proj\\_dim)`, :math:`(B, K)`

    Examples:
        >>> model = DIAResNet("cifar", in_channels=1, width=4, proj_dim=8).eval()
        >>> out = model(torch.rand(2, 1, 8, 8))
        >>> tuple(out.features.shape), tuple(out.projection.shape), tuple(out.shift_logits.shape)
        ((2, 32), (2, 8), (2, 4))
    """

    def __init__(self, stem: str = "cifar", in_channels: int = 3, width: int = 64, num_shifts: int = 4,
                 proj_dim: int = 128, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ConfigError(f"in_channels must be 1 or 3; got {in_channels!r}")
        check_int(num_shifts, "num_shifts", error=ConfigError)
        check_int(proj_dim, "proj_dim", error=ConfigError)
        mean = (0.5,) * in_channels if mean is None else tuple(float(m) for m in mean)
        std = (0.5,) * in_channels if std is None else tuple(float(s) for s in std)
        if len(mean) != in_channels or len(std) != in_channels:
            raise ConfigError(f"mean and std need {in_channels} values; got {len(mean)} and {len(std)}")
        if min(std) <= 0:
            raise ConfigError(f"std must be positive; got {std}")
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.in_channels, self.num_shifts = in_channels, num_shifts
        self.backbone = ResNet18Backbone(stem, in_channels, width)
        feat = self.backbone.out_features
        self.projection = nn.Sequential(nn.Linear(feat, feat), nn.ReLU(inplace=True), nn.Linear(feat, proj_dim))
        self.shift_head = nn.Linear(feat, num_shifts)

    @property
    def feature_dim(self) -> int:
        """Size of the pooled feature, ``8 * width``."""
        return self.backbone.out_features

    def forward(self, x: Tensor) -> ModelOutput:
        if not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            check_images(x, channels=(self.in_channels,), check_range=False)
        features = self.backbone((x - self.mean) / self.std)
        return ModelOutput(features, self.projection(features), self.shift_head(features))


#: Input normalisations of :func:`build_model`: ``imagenet`` (ImageNet statistics for the ImageNet stem on 3-channel
#: images, ``(x - 0.5) / 0.5`` otherwise) or ``half`` (``(x - 0.5) / 0.5`` always, as the paper's code).
NORMALISATIONS = ("imagenet", "half")


def build_model(name: str, in_channels: int = 3, width: int = 64, num_shifts: int = 4, proj_dim: int = 128,
                normalisation: str = "imagenet") -> DIAResNet:
    """Build a :class:`DIAResNet` by name.

    The normalisation's statistics are buffers of the model: a saved state dict carries them, so
    a loaded model normalises as it was trained whatever ``normalisation`` rebuilt it.

    Args:
        name: ``"resnet18"`` (CIFAR stem, small images) or ``"resnet18_imagenet"`` (ImageNet stem, 224 px).
        in_channels: 1 or 3.
        width: first-stage channels.
        num_shifts: classes of the shift head.
        proj_dim: projection size.
        normalisation: ``"imagenet"``: ImageNet statistics for ``resnet18_imagenet`` with 3 channels,
            ``(x - 0.5) / 0.5`` otherwise; ``"half"``: ``(x - 0.5) / 0.5`` always (the paper's code).

    Examples:
        >>> build_model("resnet18", in_channels=1, width=4).backbone.stem
        'cifar'
        >>> [round(build_model("resnet18_imagenet", 3, 4, normalisation=n).mean[0, 0, 0, 0].item(), 3) for n in NORMALISATIONS]
        [0.485, 0.5]
    """
    if name not in MODEL_NAMES:
        raise ConfigError(f"unknown model {name!r}; expected one of {sorted(MODEL_NAMES)}")
    if normalisation not in NORMALISATIONS:
        raise ConfigError(f"normalisation must be one of {NORMALISATIONS}; got {normalisation!r}")
    stem = MODEL_NAMES[name]
    imagenet = normalisation == "imagenet" and stem == "imagenet" and in_channels == 3
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if imagenet else (None, None)
    return DIAResNet(stem, in_channels, width, num_shifts, proj_dim, mean=mean, std=std)
