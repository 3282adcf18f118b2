"""Random generators: every random entry point takes a ``generator`` or a seed.

One seed derivation serves the whole package: :func:`derive_seed` turns a run's seed and a tag
(``"order"``, ``"augment/0"``, ...) into an independent seed, so that every stream of a run
(data order, augmentation draws per process, held-out split) is reproducible on its own.
:func:`draw_steps` is the one place a dissolving (diffusion) step ``t`` is drawn; the step
curricula of the paper's code (:func:`step_curriculum`) set the distribution it draws from.
"""

from __future__ import annotations

import hashlib
import math

import torch
from torch import Tensor

from dia_augment.errors import InputError, InputTypeError

__all__ = ["make_generator", "derive_seed", "derived_generator", "draw_steps", "step_curriculum", "STEP_CURRICULA"]

#: The paper code's ``--diffusion_scheduler`` choices: the distribution of ``u`` in
#: ``t = low + floor(u * (high - low))``, uniform or a Beta whose parameters may follow the epoch.
STEP_CURRICULA = ("uniform", "beta_by_epoch", "beta_by_epoch_reversed", "beta_skewed", "beta_skewed_reversed")


def make_generator(generator: torch.Generator | int | None,
                   device: torch.device | str = "cpu") -> torch.Generator | None:
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


def draw_steps(count: int, step_range: tuple[int, int], generator: torch.Generator | None = None,
               device: torch.device | str | None = None, beta: tuple[float, float] | None = None) -> Tensor:
    """Draw ``count`` diffusion steps from the half-open ``step_range``, as int64.

    Uniformly by default; with ``beta = (a, b)``, as the paper's code draws them under a Beta
    curriculum: ``t = low + floor(u * (high - low))`` with ``u ~ Beta(a, b)`` (see
    :func:`step_curriculum`). The draw happens on the generator's device (CPU for the global
    RNG) and the result is moved to ``device``, so the same generator state gives the same
    steps everywhere.

    Examples:
        >>> draw_steps(4, (30, 100), torch.Generator().manual_seed(0)).tolist()
        [34, 89, 93, 60]
        >>> bool((draw_steps(1000, (30, 100), torch.Generator().manual_seed(0), beta=(20.0, 2.0)) >= 80).float().mean() > 0.5)
        True
    """
    draw_device = generator.device if generator is not None else torch.device("cpu")
    low, high = step_range
    if beta is None:
        steps = torch.randint(low, high, (count,), generator=generator, device=draw_device)
    else:
        u = _draw_beta(count, beta[0], beta[1], generator, draw_device)
        steps = (low + torch.floor(u * (high - low))).long().clamp(low, high - 1)
    return steps if device is None else steps.to(device)


def _draw_gamma(count: int, shape: float, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Gamma(shape, 1) draws from ``generator`` (Marsaglia and Tsang's method), float64."""
    a = shape + 1.0 if shape < 1 else shape
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(count, dtype=torch.float64, device=device)
    todo = torch.arange(count, device=device)
    while todo.numel():
        x = torch.randn(todo.numel(), generator=generator, dtype=torch.float64, device=device)
        u = torch.rand(todo.numel(), generator=generator, dtype=torch.float64, device=device)
        v = (1 + c * x) ** 3
        accept = (v > 0) & (torch.log(u) < 0.5 * x * x + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        out[todo[accept]] = d * v[accept]
        todo = todo[~accept]
    if shape < 1:  # Gamma(a) = Gamma(a + 1) * U^(1 / a)
        out = out * torch.rand(count, generator=generator, dtype=torch.float64, device=device) ** (1.0 / shape)
    return out


def _draw_beta(count: int, a: float, b: float, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Beta(a, b) draws from ``generator`` as X / (X + Y), X ~ Gamma(a), Y ~ Gamma(b); float64 in [0, 1]."""
    if not (a > 0 and b > 0):
        raise InputError(f"Beta parameters must be positive; got ({a}, {b})")
    x, y = _draw_gamma(count, a, generator, device), _draw_gamma(count, b, generator, device)
    return x / (x + y)


def step_curriculum(name: str, epoch: int) -> tuple[float, float] | None:
    """The Beta parameters of the paper code's step curriculum at a (1-based) epoch; ``None`` for uniform.

    As the reference's ``--diffusion_scheduler``:

    - ``uniform``: ``u ~ U(0, 1)`` (the default);
    - ``beta_by_epoch``: a 30-epoch cycle, ``e = epoch % 30``: ``Beta(20, 1.2 e + 2)`` for
      ``e < 15``, then ``Beta(1.2 (29 - e) + 2, 20)``: the mean of ``u`` slides from 0.86
      (strong steps) at the start of each cycle down to 0.09 (weak steps) at its end;
    - ``beta_by_epoch_reversed``: the same with the two parameters swapped;
    - ``beta_skewed``: ``Beta(1, 1.7)`` (weak steps more often); ``beta_skewed_reversed``: ``Beta(1.7, 1)``.

    Args:
        name: one of :data:`STEP_CURRICULA`.
        epoch: the 1-based epoch (the reference's numbering).

    Examples:
        >>> step_curriculum("beta_by_epoch", 1), step_curriculum("beta_by_epoch", 16)
        ((20.0, 3.2), (17.6, 20.0))
        >>> step_curriculum("uniform", 5) is None
        True
    """
    if name not in STEP_CURRICULA:
        raise InputError(f"step curriculum must be one of {STEP_CURRICULA}; got {name!r}")
    if name == "uniform":
        return None
    if name.startswith("beta_skewed"):
        pair = (1.0, 1.7)
    else:
        period, mean_value = 30, 20.0
        slope = (mean_value - 2) / period * 2
        e = epoch % period
        pair = (mean_value, slope * e + 2) if e < period / 2 else (slope * (period - e - 1) + 2, mean_value)
    pair = (round(pair[0], 10), round(pair[1], 10))
    return pair[::-1] if name.endswith("_reversed") else pair
