"""The seeded per-class train / test split used for data sets without an official split.

Protocol: the files of each class are sorted by path and shuffled with a generator seeded from
``(seed, class name)``; the first ``floor(train_fraction * n)`` files of a class go to train
and the rest to test. The train split of a one-class task keeps the normal classes' share only;
the test split holds the held-out share of every class. Seeding each class by its own name makes
a class's split independent of which other classes are present.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import TypeVar

import torch

__all__ = ["derive_seed", "split_indices", "split_class"]

T = TypeVar("T")

# Absorbs float round-off in train_fraction * n (e.g. 0.29 * 100 = 28.999...).
_FLOOR_EPS = 1e-9


def derive_seed(seed: int, *tags: str) -> int:
    """A 63-bit seed derived from ``seed`` and string tags, stable across runs and platforms.

    Examples:
        >>> derive_seed(0, "a") == derive_seed(0, "a") != derive_seed(0, "b")
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    digest = hashlib.sha256("\x1f".join([str(seed), *tags]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def split_indices(n: int, train_fraction: float, seed: int, tag: str = "") -> tuple[list[int], list[int]]:
    """Split ``range(n)`` into seeded train and test index lists (each sorted).

    Args:
        n: the number of items.
        train_fraction: the share for train, in ``(0, 1)``; train gets ``floor(train_fraction * n)`` items.
        seed: the split seed.
        tag: mixed into the seed (the class name), so that classes are shuffled independently.

    Examples:
        >>> train, test = split_indices(10, 0.8, seed=0)
        >>> len(train), len(test), sorted(train + test) == list(range(10))
        (8, 2, True)
    """
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)):
        raise TypeError(f"train_fraction must be a float in (0, 1); got {type(train_fraction).__name__}")
    if not 0.0 < float(train_fraction) < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1); got {train_fraction}")
    generator = torch.Generator().manual_seed(derive_seed(seed, "split", tag))
    order = torch.randperm(n, generator=generator).tolist()
    n_train = math.floor(train_fraction * n + _FLOOR_EPS)
    return sorted(order[:n_train]), sorted(order[n_train:])


def split_class(items: Sequence[T], split: str, train_fraction: float, seed: int, class_name: str) -> list[T]:
    """The ``split`` ("train" or "test") share of one class's items (sorted first, so order-free).

    Examples:
        >>> split_class(["c", "a", "b", "d", "e"], "test", 0.8, 0, "x")
        ['e']
        >>> split_class(["a", "b", "c", "d", "e"], "test", 0.8, 0, "x")
        ['e']
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' for a seeded split; got {split!r}")
    ordered = sorted(items)
    train, test = split_indices(len(ordered), train_fraction, seed, class_name)
    return [ordered[i] for i in (train if split == "train" else test)]
