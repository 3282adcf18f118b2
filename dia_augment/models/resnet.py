"""ResNet-18 backbone (BasicBlock, [2, 2, 2, 2]) with a CIFAR or an ImageNet stem and a width multiplier.

Module names follow the usual ResNet layout (``conv1``, ``bn1``, ``layer1`` ... ``layer4``, each
block with ``conv1``, ``bn1``, ``conv2``, ``bn2`` and an optional ``downsample``), so that
ImageNet weights stored under those names load without renaming.
"""

from __future__ import annotations

from torch import Tensor, nn

from dia_augment.errors import ConfigError
from dia_augment.utils.checks import check_int

__all__ = ["BasicBlock", "ResNet18Backbone", "STEMS"]

#: ``"cifar"``: 3x3 conv, stride 1, no max-pool (small images); ``"imagenet"``: 7x7 conv,
#: stride 2, then a 3x3 max-pool with stride 2 (224 px images).
STEMS = ("cifar", "imagenet")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut.

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: stride of the first convolution and of the shortcut.

    Shape:
        - input: :math:`(B, C_{in}, H, W)`
        - output: :math:`(B, C_{out}, H / s, W / s)`

    Examples:
        >>> import torch
        >>> BasicBlock(4, 8, stride=2)(torch.rand(1, 4, 8, 8)).shape
        torch.Size([1, 8, 4, 4])
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class ResNet18Backbone(nn.Module):
    """ResNet-18 up to the global average pool: ``(B, C, H, W) -> (B, 8 * width)``.

    Args:
        stem: ``"cifar"`` or ``"imagenet"`` (see :data:`STEMS`).
        in_channels: image channels.
        width: channels of the first stage (64 is the standard ResNet-18); the stages have
            ``width``, ``2 width``, ``4 width`` and ``8 width`` channels.

    Shape:
        - input: :math:`(B, C, H, W)` (already normalised)
        - output: :math:`(B, 8 \\cdot width)`

    Examples:
        >>> import torch
        >>> ResNet18Backbone("cifar", in_channels=1, width=4)(torch.rand(2, 1, 8, 8)).shape
        torch.Size([2, 32])
    """

    def __init__(self, stem: str = "cifar", in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ConfigError(f"stem must be one of {STEMS}; got {stem!r}")
        check_int(width, "width", error=ConfigError)
        check_int(in_channels, "in_channels", error=ConfigError)
        self.stem = stem
        self.width = width
        if stem == "cifar":
            self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        planes = [width, 2 * width, 4 * width, 8 * width]
        self.layer1 = self._stage(width, planes[0], stride=1)
        self.layer2 = self._stage(planes[0], planes[1], stride=2)
        self.layer3 = self._stage(planes[1], planes[2], stride=2)
        self.layer4 = self._stage(planes[2], planes[3], stride=2)
        self.out_features = planes[3]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(in_planes: int, planes: int, stride: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x)))).mean(dim=(-2, -1))
