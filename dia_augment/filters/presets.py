"""UNet size presets and the noise schedule of DDPM dissolvers.

| preset  | block_out_channels      | layers | attention        | params (3 ch, 32 px) | use |
| ------- | ----------------------- | ------ | ---------------- | -------------------- | --- |
| micro   | (16, 32)                | 1      | none             | ~0.1 M               | unit tests |
| tiny    | (32, 64, 64)            | 1      | none             | ~1.1 M               | CPU training, demos |
| paper   | (128, 256, 256, 256)    | 2      | at the 2nd level | ~36 M                | GPU; the DDPM CIFAR-10 layout |
"""

from __future__ import annotations

from typing import Any

from diffusers import DDPMScheduler, UNet2DModel

__all__ = ["UNET_PRESETS", "unet_config", "make_unet", "make_scheduler"]

UNET_PRESETS: dict[str, dict[str, Any]] = {
    "micro": {
        "block_out_channels": (16, 32),
        "layers_per_block": 1,
        "down_block_types": ("DownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "UpBlock2D"),
        "norm_num_groups": 8,
    },
    "tiny": {
        "block_out_channels": (32, 64, 64),
        "layers_per_block": 1,
        "down_block_types": ("DownBlock2D", "DownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "UpBlock2D", "UpBlock2D"),
        "norm_num_groups": 16,
    },
    "paper": {
        "block_out_channels": (128, 256, 256, 256),
        "layers_per_block": 2,
        "down_block_types": ("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        "norm_num_groups": 32,
        "dropout": 0.1,
    },
}


def unet_config(preset: str, resolution: int, channels: int = 3) -> dict[str, Any]:
    """The ``UNet2DModel`` config of a preset at a resolution and channel count.

    Args:
        preset: ``"micro"``, ``"tiny"`` or ``"paper"``.
        resolution: the square working resolution (``sample_size``); must be divisible by
            ``2 ** (number of blocks - 1)``.
        channels: image channels (1 or 3).

    Examples:
        >>> unet_config("tiny", 32, 1)["block_out_channels"]
        (32, 64, 64)
    """
    if preset not in UNET_PRESETS:
        raise ValueError(f"unknown UNet preset {preset!r}; choose from {sorted(UNET_PRESETS)}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels}")
    config = dict(UNET_PRESETS[preset])
    factor = 2 ** (len(config["block_out_channels"]) - 1)
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < factor or resolution % factor:
        raise ValueError(f"resolution {resolution!r} must be a positive multiple of {factor} for the {preset!r} preset")
    config.update(sample_size=resolution, in_channels=channels, out_channels=channels)
    return config


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
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule="squaredcos_cap_v2",
        clip_sample=True,
        prediction_type="epsilon",
    )
