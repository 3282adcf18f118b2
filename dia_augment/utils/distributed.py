"""Across processes (``torch.distributed``): rank and size, all-gathers, and shares of work.

The contrastive loss gathers its negatives with :func:`all_gather_with_grad`; the scorer splits
its batches and rows with :func:`row_shares` and gathers uneven shares with :func:`gather_rows`.
On one process (torch.distributed not initialised) every function is the identity.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["world_size", "rank", "all_gather_with_grad", "all_gather_no_grad", "row_shares", "gather_rows"]


def world_size() -> int:
    """Processes in the default group (1 when torch.distributed is not initialised)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 when torch.distributed is not initialised)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _AllGather(torch.autograd.Function):
    """Concatenate every process's tensor along dim 0; the backward sums the gradients of all
    processes and returns this process's slice (so that, with gradients averaged across
    processes as DistributedDataParallel does, the result is the gradient of the mean loss)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.rank, ctx.rows = dist.get_rank(), x.shape[0]
        return _gather(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def all_gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` from every process along dim 0, keeping the graph (identity in one process).

    Every process must pass a tensor of the same shape.

    Shape:
        - x: :math:`(N, *)`
        - output: :math:`(W N, *)`, rank 0's rows first

    Examples:
        >>> x = torch.rand(3, 2, requires_grad=True)
        >>> all_gather_with_grad(x) is x
        True
    """
    return x if world_size() == 1 else _AllGather.apply(x)


def all_gather_no_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` from every process along dim 0, without a graph (identity in one process).

    Examples:
        >>> all_gather_no_grad(torch.arange(3)).tolist()
        [0, 1, 2]
    """
    return x if world_size() == 1 else _gather(x)


def _gather(x: Tensor) -> Tensor:
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def row_shares(n: int, world: int) -> list[tuple[int, int]]:
    """``[first, last)`` of each process's consecutive share of ``n`` items (the first ones one longer).

    Examples:
        >>> row_shares(5, 2), row_shares(1, 3)
        ([(0, 3), (3, 5)], [(0, 1), (1, 1), (1, 1)])
    """
    size, extra = divmod(n, world)
    bounds = [r * size + min(r, extra) for r in range(world + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def gather_rows(rows: Tensor, counts: list[int]) -> Tensor:
    """Concatenate every process's ``rows`` in rank order, ``counts[r]`` of them from process ``r``.

    The processes may hold different numbers of rows (the trailing shape must agree): each pads its
    rows to ``max(counts)`` for the all-gather, and the padding is dropped. On one process, ``rows``.

    Args:
        rows: this process's rows.
        counts: the number of rows of every process, the same list on all of them.

    Shape:
        - rows: :math:`(counts[rank], *)`
        - output: :math:`(\\sum counts, *)`

    Examples:
        >>> gather_rows(torch.arange(3), [3]).tolist()
        [0, 1, 2]
    """
    if len(counts) == 1:
        return rows
    padded = rows.new_zeros((max(counts), *rows.shape[1:]))
    padded[: rows.shape[0]] = rows
    parts = all_gather_no_grad(padded).split(max(counts))
    return torch.cat([part[:count] for part, count in zip(parts, counts)])
