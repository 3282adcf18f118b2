"""The SimCLR augmentation of the amplifying objective, with random parameters per row."""

from __future__ import annotations

from collections.abc import Sequence

import kornia.augmentation as K
import torch
from torch import Tensor, nn

from dia_augment.errors import ConfigError
from dia_augment.utils.checks import check_int, check_pair, check_images, check_probability

__all__ = ["AUGMENTATIONS", "SimCLRAugmentation", "make_simclr_augmentation"]

#: The SimCLR augmentations: ``library`` (:class:`SimCLRAugmentation`, kornia's operations: crop, jitter,
#: grayscale) and ``reference`` (:class:`~dia_augment.augmentation.reference.ReferenceSimCLRAugmentation`, the
#: paper code's: its HSV jitter, grayscale, then its affine-grid crop, on 3-channel images).
AUGMENTATIONS = ("library", "reference")


class SimCLRAugmentation(nn.Module):
    r"""Random resized crop, colour jitter and grayscale, each row with its own random parameters.

    The crop runs first (so the colour operations work on the smaller output), then colour
    jitter with probability ``p_jitter`` and grayscale with probability ``p_gray``. One-channel
    images get brightness and contrast jitter only (saturation, hue and grayscale do not apply).
    The randomness comes from ``generator`` when given: a seed is drawn from it and the kornia
    calls run under :func:`torch.random.fork_rng`, so the global RNG is left untouched and the
    same generator state gives the same output on CPU and on CUDA.

    Args:
        output_size: side of the square output.
        crop_scale: range of the crop's area as a fraction of the image.
        crop_ratio: range of the crop's aspect ratio.
        jitter: brightness, contrast, saturation, hue strengths.
        p_jitter: probability of the colour jitter for each row.
        p_gray: probability of the grayscale conversion for each row (3-channel images).

    Shape:
        - images: :math:`(N, C, H, W)` in ``[0, 1]``, C in {1, 3}
        - output: :math:`(N, C, S, S)` in ``[0, 1]``, on the images' device

    Examples:
        >>> aug = SimCLRAugmentation(8)
        >>> x = torch.rand(4, 3, 16, 16)
        >>> a = aug(x, generator=torch.Generator().manual_seed(0))
        >>> b = aug(x, generator=torch.Generator().manual_seed(0))
        >>> a.shape, torch.equal(a, b)
        (torch.Size([4, 3, 8, 8]), True)
    """

    def __init__(self, output_size: int, crop_scale: tuple[float, float] = (0.08, 1.0),
                 crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
                 jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1), p_jitter: float = 0.8,
                 p_gray: float = 0.2) -> None:
        super().__init__()
        check_int(output_size, "output_size", error=ConfigError)
        crop_scale = check_pair(crop_scale, "crop_scale", low=0, high=1)
        crop_ratio = check_pair(crop_ratio, "crop_ratio", low=0)
        if not isinstance(jitter, Sequence) or len(jitter) != 4 or min(float(j) for j in jitter) < 0:
            raise ConfigError(f"jitter must be 4 non-negative strengths (brightness, contrast, saturation, hue); got {jitter!r}")
        if float(jitter[3]) > 0.5:
            raise ConfigError(f"hue jitter must be in [0, 0.5]; got {jitter[3]}")
        self.output_size, self.p_jitter = output_size, check_probability(p_jitter, "p_jitter")
        self.p_gray = check_probability(p_gray, "p_gray")
        b, c, s, h = (float(j) for j in jitter)
        self.crop = K.RandomResizedCrop((output_size, output_size), scale=crop_scale, ratio=crop_ratio)
        self.jitter_rgb = K.ColorJitter(b, c, s, h, p=self.p_jitter)
        self.jitter_grey = K.ColorJitter(b, c, 0.0, 0.0, p=self.p_jitter)
        self.grayscale = K.RandomGrayscale(p=self.p_gray)

    def _augment(self, images: Tensor) -> Tensor:
        x = self.crop(images)
        return self.grayscale(self.jitter_rgb(x)) if images.shape[1] == 3 else self.jitter_grey(x)

    def forward(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_images(images)
        if generator is None:
            return self._augment(images).clamp(0, 1)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
        with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
            torch.manual_seed(seed)
            out = self._augment(images)
        return out.clamp(0, 1)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, p_jitter={self.p_jitter}, p_gray={self.p_gray}"


def make_simclr_augmentation(kind: str, output_size: int, crop_scale: tuple[float, float] = (0.08, 1.0)) -> nn.Module:
    """The SimCLR augmentation :data:`AUGMENTATIONS` names, called as ``augment(rows, generator=g)``.

    Examples:
        >>> type(make_simclr_augmentation("reference", 8)).__name__
        'ReferenceSimCLRAugmentation'
    """
    if kind == "library":
        return SimCLRAugmentation(output_size, crop_scale=crop_scale)
    if kind == "reference":
        from dia_augment.augmentation.reference import ReferenceSimCLRAugmentation

        return ReferenceSimCLRAugmentation(output_size, crop_scale=crop_scale)
    raise ConfigError(f"augmentation must be one of {AUGMENTATIONS}; got {kind!r}")
