"""The paper's blur baselines: Gaussian and median blur in place of the diffusion model."""

from __future__ import annotations

import torch
from kornia.filters import gaussian_blur2d, median_blur
from torch import Tensor

from dia_augment.filters.base import Dissolver

__all__ = ["GaussianDissolving", "MedianDissolving"]

# A sigma this small makes a kernel-7 Gaussian an exact delta in float32: t = 0 is the identity.
_MIN_SIGMA = 1e-3


def _check_kernel_size(kernel_size: int) -> int:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int; got {kernel_size!r}")
    return kernel_size


class GaussianDissolving(Dissolver):
    r"""Gaussian-blur dissolving: the step sets the blur's standard deviation.

    :math:`\sigma(t) = t \cdot \text{sigma\_per\_step}`; with the default 0.02 the default step
    range ``[30, 100)`` gives :math:`\sigma \in [0.6, 2)`, the usual ``(0.1, 2.0)`` range of a
    SimCLR blur, and ``t = 0`` is the identity. Each sample can have its own step; the whole
    batch is blurred in one call.

    Args:
        kernel_size: the odd kernel side (the paper: 7).
        sigma_per_step: the standard deviation added per step, in pixels.
        resolution: optional working resolution (default: the input's).
        border_type: padding mode (``"reflect"``, ``"replicate"``, ``"circular"``, ``"constant"``).

    Shape:
        - images: :math:`(B, C, H, W)`
        - t: int or :math:`(B,)`
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> blur = GaussianDissolving()
        >>> x = torch.rand(2, 3, 16, 16)
        >>> torch.equal(blur(x, 0), x)
        True
        >>> bool(blur(x, 99).std() < x.std())
        True
    """

    def __init__(
        self,
        kernel_size: int = 7,
        sigma_per_step: float = 0.02,
        resolution: int | None = None,
        border_type: str = "reflect",
    ) -> None:
        super().__init__(resolution=resolution)
        self.kernel_size = _check_kernel_size(kernel_size)
        if not sigma_per_step > 0:
            raise ValueError(f"sigma_per_step must be > 0; got {sigma_per_step}")
        self.sigma_per_step = float(sigma_per_step)
        self.border_type = border_type

    def sigma(self, t: Tensor) -> Tensor:
        """The standard deviation of each sample's blur, :math:`(B,)`."""
        return (t.float() * self.sigma_per_step).clamp_min(_MIN_SIGMA)

    def dissolve(self, images: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        sigma = self.sigma(t).to(images.dtype).view(-1, 1).expand(-1, 2)
        return gaussian_blur2d(images, self.kernel_size, sigma, border_type=self.border_type)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, sigma_per_step={self.sigma_per_step}, {super().extra_repr()}"


class MedianDissolving(Dissolver):
    r"""Median-blur dissolving with a fixed kernel (the paper's median baseline).

    A median filter has no continuous strength, so, as in the paper, every step ``t > 0``
    applies the same ``kernel_size`` median and ``t = 0`` is the identity. The interface is
    the same as the other dissolvers, so a trainer can switch backends by name.

    Args:
        kernel_size: the odd kernel side (the paper: 7).
        resolution: optional working resolution (default: the input's).

    Shape:
        - images: :math:`(B, C, H, W)`
        - t: int or :math:`(B,)`
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> x = torch.zeros(1, 1, 9, 9); x[..., 4, 4] = 1.0   # an isolated bright pixel
        >>> MedianDissolving()(x, 50).max().item()
        0.0
    """

    def __init__(self, kernel_size: int = 7, resolution: int | None = None) -> None:
        super().__init__(resolution=resolution)
        self.kernel_size = _check_kernel_size(kernel_size)

    def dissolve(self, images: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        blurred = median_blur(images, self.kernel_size)
        return torch.where((t > 0).view(-1, 1, 1, 1), blurred, images)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, {super().extra_repr()}"
