"""Random generators: every random entry point takes a ``generator`` or a seed."""

from __future__ import annotations

import torch

__all__ = ["make_generator"]


def make_generator(
    generator: torch.Generator | int | None, device: torch.device | str = "cpu"
) -> torch.Generator | None:
    """Return a ``torch.Generator`` from a generator, a seed, or ``None`` (the global RNG).

    Examples:
        >>> g = make_generator(0)
        >>> torch.rand(2, generator=g).tolist() == torch.rand(2, generator=make_generator(0)).tolist()
        True
    """
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise TypeError(f"generator must be a torch.Generator, an int seed or None; got {type(generator).__name__}")
    return torch.Generator(device=device).manual_seed(generator)
