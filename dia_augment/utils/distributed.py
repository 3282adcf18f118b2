"""Gathering across processes: a differentiable all-gather for the contrastive negatives."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["world_size", "rank", "all_gather_with_grad", "all_gather_no_grad"]


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
