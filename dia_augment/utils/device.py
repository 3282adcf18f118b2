"""The one rule for where a module lives: :func:`module_device`."""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["module_device"]


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``: its first parameter's, else its first buffer's, else the CPU.

    Examples:
        >>> module_device(torch.nn.Linear(2, 2)), module_device(torch.nn.Identity())
        (device(type='cpu'), device(type='cpu'))
        >>> bn = torch.nn.BatchNorm1d(2, affine=False).to("meta")
        >>> module_device(bn)
        device(type='meta')
    """
    first = next(itertools.chain(module.parameters(), module.buffers()), None)
    return torch.device("cpu") if first is None else first.device
