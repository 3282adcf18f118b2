"""UNet size presets and the noise schedule of DDPM dissolvers.

| preset          | block_out_channels   | layers | attention                  | params (3 ch) | GMACs at 32 px | use |
| --------------- | -------------------- | ------ | -------------------------- | ------------- | -------------- | --- |
| `micro`         | (16, 32)             | 1      | none                       | ~0.1 M        |                | unit tests |
| `tiny`          | (32, 64, 64)         | 1      | none                       | 1.06 M        | 0.245          | CPU training, demos |
| `dia-reference` | (64, 128, 256, 512)  | 1      | every level and the middle | 43.9 M        | 2.14           | GPU; closest to the paper's UNet |
| `ddpm-cifar10`  | (128, 256, 256, 256) | 2      | at the 2nd level           | 35.7 M        | 6.05           | GPU; the DDPM CIFAR-10 layout |

``dia-reference`` is the closest diffusers ``UNet2DModel`` to the paper code's network,
``denoising_diffusion_pytorch.Unet(dim=64, dim_mults=(1, 2, 4, 8))`` (36.3 M parameters, 1.85
GMACs at 32 px counted the same way): the same widths per resolution on the way up (512, 256,
128, 64 at 4, 8, 16, 32 px) with two ResNet blocks each, attention at every level and in the
middle. It differs in ways diffusers cannot express: softmax attention where the reference uses
linear attention at the levels, one ResNet block per level on the way down (the reference has
two, at the narrower widths 64, 64, 128, 256), no weight-standardised convolutions, a 3x3
input convolution (7x7 in the reference). See ``docs/fidelity.md``.
"""

from __future__ import annotations

from typing import Any

from diffusers import DDPMScheduler, UNet2DModel

from dia_augment.errors import ConfigError

__all__ = ["UNET_PRESETS", "unet_config", "make_unet", "make_scheduler"]

UNET_PRESETS: dict[str, dict[str, Any]] = {
    "micro": dict(block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
                  down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2),
    "tiny": dict(block_out_channels=(32, 64, 64), layers_per_block=1, norm_num_groups=16,
                 down_block_types=("DownBlock2D",) * 3, up_block_types=("UpBlock2D",) * 3),
    "dia-reference": dict(block_out_channels=(64, 128, 256, 512), layers_per_block=1, norm_num_groups=8,
                          attention_head_dim=32, down_block_types=("AttnDownBlock2D",) * 4,
                          up_block_types=("AttnUpBlock2D",) * 4),
    "ddpm-cifar10": dict(block_out_channels=(128, 256, 256, 256), layers_per_block=2, norm_num_groups=32, dropout=0.1,
                         down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D")),
}


def unet_config(preset: str, resolution: int, channels: int = 3) -> dict[str, Any]:
    """The ``UNet2DModel`` config of a preset at a resolution and channel count.

    Args:
        preset: a name of :data:`UNET_PRESETS` (``"micro"``, ``"tiny"``, ``"dia-reference"``,
            ``"ddpm-cifar10"``).
        resolution: the square working resolution (``sample_size``); must be divisible by
            ``2 ** (number of blocks - 1)``.
        channels: image channels (1 or 3).

    Examples:
        >>> unet_config("tiny", 32, 1)["block_out_channels"]
        (32, 64, 64)
    """
    if preset not in UNET_PRESETS:
        raise ConfigError(f"unknown UNet preset {preset!r}; choose from {list(UNET_PRESETS)}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3; got {channels}")
    config = dict(UNET_PRESETS[preset])
    factor = 2 ** (len(config["block_out_channels"]) - 1)
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < factor or resolution % factor:
        raise ConfigError(f"resolution {resolution!r} must be a positive multiple of {factor} for the {preset!r} preset")
    return dict(config, sample_size=resolution, in_channels=channels, out_channels=channels)


def make_unet(preset: str, resolution: int, channels: int = 3) -> UNet2DModel:
    """A freshly initialised ``UNet2DModel`` of a preset (seed with ``torch.manual_seed`` first).

    Examples:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> sum(p.numel() for p in make_unet("micro", 16, 1).parameters()) > 0
        True
    """
    return UNet2DModel(**unet_config(preset, resolution, channels))


def make_scheduler(num_train_timesteps: int = 1000) -> DDPMScheduler:
    """The paper's schedule: cosine (``squaredcos_cap_v2``), 1000 steps, x0 clipped to [-1, 1].

    Examples:
        >>> make_scheduler().config.beta_schedule
        'squaredcos_cap_v2'
    """
    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2", clip_sample=True,
                         prediction_type="epsilon")
