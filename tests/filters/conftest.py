from __future__ import annotations

import pytest
import torch

from dia_augment.filters import DDPMDissolving
from dia_augment.filters.presets import make_scheduler, make_unet


def constant_eps_unet(channels: int, resolution: int, value: float) -> torch.nn.Module:
    """A real diffusers UNet whose noise prediction is the constant ``value`` everywhere."""
    torch.manual_seed(0)
    unet = make_unet("micro", resolution, channels)
    with torch.no_grad():
        unet.conv_out.weight.zero_()
        unet.conv_out.bias.fill_(value)
    return unet


@pytest.fixture
def micro_dissolver() -> DDPMDissolving:
    torch.manual_seed(0)
    return DDPMDissolving(make_unet("micro", 8, 1), make_scheduler())


@pytest.fixture
def micro_dissolver_rgb() -> DDPMDissolving:
    torch.manual_seed(1)
    return DDPMDissolving(make_unet("micro", 8, 3), make_scheduler())
