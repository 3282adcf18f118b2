"""Random generators: every random entry point takes a ``generator`` or a seed.

One seed derivation serves the whole package: :func:`derive_seed` turns a run's seed and a tag
(``"order"``, ``"augment/0"``, ...) into an independent seed, so that every stream of a run
(data order, augmentation draws per process, held-out split) is reproducible on its own.
:func:`draw_steps` is the one place a dissolving (diffusion) step ``t`` is drawn.
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from dia_augment.errors import InputTypeError

__all__ = ["make_generator", "derive_seed", "derived_generator", "draw_steps"]


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
        raise InputTypeError(f"generator must be a torch.Generator, an int seed or None; got {type(generator).__name__}")
    return torch.Generator(device=device).manual_seed(generator)


def derive_seed(seed: int, tag: str) -> int:
    """A seed in ``[0, 2**63)`` for the stream ``tag`` of a run seeded with ``seed``.

    Examples:
        >>> derive_seed(0, "order") == derive_seed(0, "order") != derive_seed(0, "augment/0")
        True
    """
    digest = hashlib.sha256(f"{seed}\x1f{tag}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def derived_generator(seed: int, tag: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with :func:`derive_seed` ``(seed, tag)``.

    Examples:
        >>> derived_generator(0, "order").initial_seed() == derive_seed(0, "order")
        True
    """
    return torch.Generator(device=device).manual_seed(derive_seed(seed, tag))


def draw_steps(
    count: int,
    step_range: tuple[int, int],
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw ``count`` diffusion steps uniformly from the half-open ``step_range``, as int64.

    The draw happens on the generator's device (CPU for the global RNG) and the result is moved
    to ``device``, so the same generator state gives the same steps everywhere.

    Examples:
        >>> draw_steps(4, (30, 100), torch.Generator().manual_seed(0)).tolist()
        [34, 89, 93, 60]
    """
    draw_device = generator.device if generator is not None else torch.device("cpu")
    steps = torch.randint(step_range[0], step_range[1], (count,), generator=generator, device=draw_device)
    return steps if device is None else steps.to(device)
