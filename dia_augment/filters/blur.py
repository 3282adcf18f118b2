"""The paper's blur baselines, in two forms.

- **The reference's form** (:class:`ReferenceGaussianBlur`, :class:`ReferenceMedianBlur`;
  ``make_dissolver("gaussian-reference")`` / ``"median-reference"``): what the paper's code
  runs for its ``blurgaussian`` / ``blurmedian`` rows. A fixed kernel 7 whatever the step, zero
  padding; the Gaussian is OpenCV's ``getGaussianKernel(7, 0)``, the kernel of "OpenCV's default
  sigma" ``0.3 * ((7 - 1) / 2 - 1) + 0.8 = 1.4``, which for sizes up to 7 OpenCV takes from a
  fixed table (``[1, 3.5, 7, 9, 7, 3.5, 1] / 32`` for 7) rather than from the formula. The
  reference blurs **every** view, the clean ones included; that is a training option
  (the blur applied to all views), not a property of the filter.
- **Our form** (:class:`GaussianDissolving`, :class:`MedianDissolving`; ``"gaussian"`` /
  ``"median"``): a dissolver like the others, applied to the dissolved view only, whose
  Gaussian sigma follows the step (``sigma = 0.02 t``) with reflect padding, and which is the
  identity at ``t = 0``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d, median_blur
from torch import Tensor

from dia_augment.errors import ConfigError
from dia_augment.filters.base import Dissolver

__all__ = ["GaussianDissolving", "MedianDissolving", "ReferenceGaussianBlur", "ReferenceMedianBlur",
           "opencv_default_gaussian_kernel"]

# A sigma this small makes a kernel-7 Gaussian an exact delta in float32: t = 0 is the identity.
_MIN_SIGMA = 1e-3

# OpenCV's getGaussianKernel(k, sigma <= 0) for odd k <= 7: a fixed table, not the sigma formula.
_OPENCV_SMALL_GAUSSIAN = {1: (1.0,), 3: (0.25, 0.5, 0.25), 5: (0.0625, 0.25, 0.375, 0.25, 0.0625),
                          7: (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125)}

# Padding modes that read pixels inside the image and so need a side longer than the padding.
_INNER_PADDINGS = ("reflect", "circular")


def _check_kernel_size(kernel_size: int) -> int:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ConfigError(f"kernel_size must be a positive odd int; got {kernel_size!r}")
    return kernel_size


def _check_border_type(border_type: str) -> str:
    if border_type not in ("reflect", "replicate", "circular", "constant"):
        raise ConfigError(f"border_type must be reflect, replicate, circular or constant; got {border_type!r}")
    return border_type


def opencv_default_gaussian_kernel(kernel_size: int = 7) -> Tensor:
    """OpenCV's ``getGaussianKernel(kernel_size, 0)``: the 1-d kernel the paper's Gaussian baseline uses.

    With ``sigma <= 0`` OpenCV's nominal sigma is ``0.3 * ((k - 1) / 2 - 1) + 0.8`` (1.4 for
    ``k = 7``), but for odd ``k <= 7`` it returns a fixed table instead of sampling that
    Gaussian; the table is what the reference convolves with. Larger sizes (a bit-exact
    fixed-point Gaussian in OpenCV) are not reproduced.

    Args:
        kernel_size: 1, 3, 5 or 7.

    Shape:
        - output: :math:`(k,)`, float64, sums to 1

    Examples:
        >>> (opencv_default_gaussian_kernel(7) * 32).tolist()
        [1.0, 3.5, 7.0, 9.0, 7.0, 3.5, 1.0]
    """
    if kernel_size not in _OPENCV_SMALL_GAUSSIAN:
        raise ConfigError("the reference Gaussian blur reproduces OpenCV's default kernel for kernel_size 1, 3, 5 or "
                          f"7; got {kernel_size!r}")
    return torch.tensor(_OPENCV_SMALL_GAUSSIAN[kernel_size], dtype=torch.float64)


class GaussianDissolving(Dissolver):
    r"""Our Gaussian-blur dissolving: the step sets the blur's standard deviation.

    Not the paper's baseline (see :class:`ReferenceGaussianBlur`): a dissolver of the
    dissolved view only, with a strength that follows the step.

    :math:`\sigma(t) = t \cdot \text{sigma\_per\_step}`; with the default 0.02 the default step
    range ``[30, 100)`` gives :math:`\sigma \in [0.6, 2)`, the usual ``(0.1, 2.0)`` range of a
    SimCLR blur, and ``t = 0`` is the identity. Each sample can have its own step; the whole
    batch is blurred in one call.

    Args:
        kernel_size: the odd kernel side (the paper: 7).
        sigma_per_step: the standard deviation added per step, in pixels.
        resolution: optional working resolution (default: the input's).
        border_type: padding mode (``"reflect"``, ``"replicate"``, ``"circular"``, ``"constant"``);
            ``"reflect"`` and ``"circular"`` need images (at the working resolution) of at least
            ``kernel_size // 2 + 1`` pixels a side, which is checked before any work.

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

    def __init__(self, kernel_size: int = 7, sigma_per_step: float = 0.02, resolution: int | None = None,
                 border_type: str = "reflect") -> None:
        super().__init__(resolution=resolution)
        self.kernel_size = _check_kernel_size(kernel_size)
        if isinstance(sigma_per_step, bool) or not isinstance(sigma_per_step, (int, float)) or not sigma_per_step > 0:
            raise ConfigError(f"sigma_per_step must be a number > 0; got {sigma_per_step!r}")
        self.sigma_per_step, self.border_type = float(sigma_per_step), _check_border_type(border_type)
        self.min_size = kernel_size // 2 + 1 if border_type in _INNER_PADDINGS else 1
        self._check_resolution()

    def sigma(self, t: Tensor) -> Tensor:
        """The standard deviation of each sample's blur, :math:`(B,)`."""
        return (t.float() * self.sigma_per_step).clamp_min(_MIN_SIGMA)

    def dissolve(self, images: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        sigma = self.sigma(t).to(images.dtype).view(-1, 1).expand(-1, 2)
        return gaussian_blur2d(images, self.kernel_size, sigma, border_type=self.border_type)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, sigma_per_step={self.sigma_per_step}, "
                f"border_type={self.border_type!r}, {super().extra_repr()}")


class MedianDissolving(Dissolver):
    r"""Our median-blur dissolving: a fixed-kernel median (reflect padding) for every step ``t > 0``.

    A median filter has no continuous strength, so every step ``t > 0`` applies the same
    ``kernel_size`` median and ``t = 0`` is the identity. The paper's baseline
    (:class:`ReferenceMedianBlur`) is the same median with zero padding (the border of kornia
    0.6's ``MedianBlur``), without the identity at ``t = 0``, applied to every view.

    Args:
        kernel_size: the odd kernel side (the paper: 7).
        resolution: optional working resolution (default: the input's).
        border_type: padding mode (``"reflect"``, ``"replicate"``, ``"circular"``, ``"constant"``);
            ``"reflect"`` and ``"circular"`` need sides of at least ``kernel_size // 2 + 1``.

    Shape:
        - images: :math:`(B, C, H, W)`
        - t: int or :math:`(B,)`
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> x = torch.zeros(1, 1, 9, 9); x[..., 4, 4] = 1.0   # an isolated bright pixel
        >>> MedianDissolving()(x, 50).max().item()
        0.0
    """

    def __init__(self, kernel_size: int = 7, resolution: int | None = None, border_type: str = "reflect",
                 resize_mode: str = "bilinear") -> None:
        super().__init__(resolution=resolution, resize_mode=resize_mode)
        self.kernel_size, self.border_type = _check_kernel_size(kernel_size), _check_border_type(border_type)
        self.min_size = kernel_size // 2 + 1 if border_type in _INNER_PADDINGS else 1
        self._check_resolution()

    def dissolve(self, images: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        blurred = median_blur(images, self.kernel_size, border_type=self.border_type)
        return torch.where((t > 0).view(-1, 1, 1, 1), blurred, images)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, border_type={self.border_type!r}, {super().extra_repr()}"


class ReferenceGaussianBlur(Dissolver):
    r"""The paper's Gaussian baseline: OpenCV's default kernel 7, zero padding, whatever the step.

    The reference convolves each channel with the outer product of
    :func:`opencv_default_gaussian_kernel` (``[1, 3.5, 7, 9, 7, 3.5, 1] / 32`` for kernel 7, the
    kernel of OpenCV's default sigma 1.4) with zero padding, so borders darken. ``t`` is accepted
    and ignored, so that it can stand in for any dissolver; to blur every view as the reference
    does, apply it to the clean views too (a training option).

    Args:
        kernel_size: 1, 3, 5 or 7 (the paper: 7).
        resolution: optional working resolution (the reference's ``--resize_to_constant``,
            off by default, resizes to 32 px and back with ``resize_mode="nearest"``).
        resize_mode: interpolation of both resizes.

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> x = torch.zeros(1, 1, 9, 9); x[..., 4, 4] = 1.0   # an impulse gives the 2-d kernel
        >>> y = ReferenceGaussianBlur()(x, 0)
        >>> round(y[0, 0, 4, 4].item() * 1024, 4), round(y.sum().item(), 6)  # 9 * 9 / 32**2; the mass is kept
        (81.0, 1.0)
    """

    def __init__(self, kernel_size: int = 7, resolution: int | None = None, resize_mode: str = "bilinear") -> None:
        super().__init__(resolution=resolution, resize_mode=resize_mode)
        self.kernel_size = _check_kernel_size(kernel_size)
        k = opencv_default_gaussian_kernel(kernel_size)
        self.register_buffer("kernel", torch.outer(k, k).float()[None, None], persistent=False)

    def dissolve(self, images: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        b, c, h, w = images.shape
        kernel = self.kernel.to(device=images.device, dtype=images.dtype)
        return F.conv2d(images.reshape(b * c, 1, h, w), kernel, padding=self.kernel_size // 2).reshape(b, c, h, w)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, padding='zeros', {super().extra_repr()}"


class ReferenceMedianBlur(MedianDissolving):
    r"""The paper's median baseline: a kernel-7 median with zero padding, whatever the step.

    The reference's ``kornia.filters.MedianBlur`` (kornia 0.6) pads with zeros; this is
    :class:`MedianDissolving` with ``border_type="constant"`` and without its identity at
    ``t = 0``: ``t`` is accepted and ignored. To blur every view as the reference does, apply
    it to the clean views too (a training option).

    Args:
        kernel_size: the odd kernel side (the paper: 7).
        resolution: optional working resolution (the reference's ``--resize_to_constant``).
        resize_mode: interpolation of both resizes (the reference's: ``"nearest"``).

    Examples:
        >>> x = torch.zeros(1, 1, 9, 9); x[..., 4, 4] = 1.0
        >>> ReferenceMedianBlur()(x, 0).max().item()   # blurred even at t = 0
        0.0
    """

    def __init__(self, kernel_size: int = 7, resolution: int | None = None, resize_mode: str = "bilinear") -> None:
        super().__init__(kernel_size, resolution, border_type="constant", resize_mode=resize_mode)

    def dissolve(self, images: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        return median_blur(images, self.kernel_size, border_type=self.border_type)
