"""Optimiser pieces of the trainer: LARS and the warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["LARS", "warmup_cosine_factor", "warmup_cosine_schedule"]


class LARS(Optimizer):
    r"""SGD with momentum and layer-wise adaptive rate scaling (You et al., 2017), as CSI trains.

    For every parameter tensor with more than one dimension, the update direction
    :math:`d = g + \lambda w` is rescaled by the trust ratio
    :math:`\eta \|w\| / \|d\|` (1 when either norm is 0) before the momentum step
    :math:`v \leftarrow \mu v + d,\ w \leftarrow w - \text{lr}\, v`. Biases and batch-norm
    parameters (one dimension) take the plain SGD step, without weight decay.

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        momentum: :math:`\mu`.
        weight_decay: :math:`\lambda`.
        trust_coefficient: :math:`\eta`.

    Examples:
        >>> w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))
        >>> opt = LARS([w], lr=1.0, momentum=0.0, trust_coefficient=0.1)
        >>> w.grad = torch.tensor([[0.0, 10.0]])
        >>> opt.step()
        >>> w.data.tolist()  # step 0.1 * 5 / 10 * grad
        [[3.0, 3.5]]
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
    ) -> None:
        if lr <= 0 or momentum < 0 or weight_decay < 0 or trust_coefficient <= 0:
            raise ValueError(
                "LARS needs lr > 0, momentum >= 0, weight_decay >= 0 and trust_coefficient > 0; "
                f"got {lr}, {momentum}, {weight_decay}, {trust_coefficient}"
            )
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "trust_coefficient": trust_coefficient}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if p.ndim > 1:
                    d = d.add(p, alpha=group["weight_decay"])
                    w_norm, d_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(d)
                    ratio = torch.where(
                        (w_norm > 0) & (d_norm > 0), group["trust_coefficient"] * w_norm / d_norm, torch.ones_like(w_norm)
                    )
                    d = d * ratio
                if group["momentum"] > 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = d.clone()
                    else:
                        state["momentum_buffer"].mul_(group["momentum"]).add_(d)
                    d = state["momentum_buffer"]
                p.add_(d, alpha=-group["lr"])
        return loss


def warmup_cosine_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate factor at ``step``: linear warm-up to 1, then cosine decay to 0 at ``total_steps``.

    The factor applies to the update of step ``step`` (0-based): ``(step + 1) / warmup_steps``
    during warm-up, then ``0.5 (1 + cos(pi (step - warmup_steps) / (total_steps - warmup_steps)))``.

    Examples:
        >>> [round(warmup_cosine_factor(s, 6, 2), 3) for s in range(6)]
        [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay = max(total_steps - warmup_steps, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup_steps, decay) / decay))


def warmup_cosine_schedule(optimizer: Optimizer, total_steps: int, warmup_steps: int) -> LambdaLR:
    """A per-step :class:`~torch.optim.lr_scheduler.LambdaLR` of :func:`warmup_cosine_factor`.

    Examples:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        >>> sched = warmup_cosine_schedule(opt, total_steps=6, warmup_steps=2)
        >>> opt.param_groups[0]["lr"]
        0.05
    """
    if total_steps < 1 or warmup_steps < 0:
        raise ValueError(f"total_steps must be >= 1 and warmup_steps >= 0; got {total_steps}, {warmup_steps}")
    return LambdaLR(optimizer, lambda s: warmup_cosine_factor(s, total_steps, warmup_steps))
