"""Optimiser pieces of the trainer: LARS and the learning-rate schedules.

Two schedules, both stepped once per optimiser step:

- :func:`warmup_cosine_schedule`: a linear warm-up from 0 to the base rate, then a cosine to 0;
- :func:`gradual_warmup_cosine_schedule`: the paper code's (CSI's ``GradualWarmupScheduler``
  around ``CosineAnnealingLR``): from the base rate up to ``multiplier`` times it over the
  warm-up epochs, then a cosine over all the epochs from that peak.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from dia_augment.errors import ConfigError

__all__ = ["LARS", "warmup_cosine_factor", "warmup_cosine_schedule", "gradual_warmup_cosine_factor",
           "gradual_warmup_cosine_schedule"]


class LARS(Optimizer):
    r"""SGD with momentum and layer-wise adaptive rate scaling (You et al., 2017), as the paper trains.

    The paper's code (after CSI) wraps ``torch.optim.SGD`` in torchlars' ``LARS``; this is the
    same update in one optimizer. For every parameter tensor :math:`w` with gradient :math:`g`:

    .. math::
        r = \frac{\eta \|w\|}{\|g\| + \lambda \|w\| + \epsilon}
        \ (r = 1 \text{ if } \|w\| = 0 \text{ or } \|g\| = 0), \qquad
        d = r\,(g + \lambda w), \qquad
        v \leftarrow \mu v + d \ (v = d \text{ at the first step}), \qquad
        w \leftarrow w - \text{lr}\, v.

    As in the reference, every parameter is adapted, biases and batch-norm weights included.
    ``exclude_1d=True`` gives the common variant instead: one-dimensional parameters take the
    plain momentum step with neither weight decay nor adaptation.

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        momentum: :math:`\mu` (the reference: 0.9).
        weight_decay: :math:`\lambda` (the reference: 1e-6).
        trust_coefficient: :math:`\eta` (the reference: 0.001).
        eps: :math:`\epsilon` (the reference: 1e-8).
        exclude_1d: leave one-dimensional parameters out of the adaptation and the decay.

    Examples:
        >>> w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))
        >>> opt = LARS([w], lr=1.0, momentum=0.0, trust_coefficient=0.1, eps=0.0)
        >>> w.grad = torch.tensor([[0.0, 10.0]])
        >>> opt.step()
        >>> w.data.tolist()  # step 0.1 * 5 / 10 * grad
        [[3.0, 3.5]]
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0, trust_coefficient: float = 0.001, eps: float = 1e-8,
                 exclude_1d: bool = False) -> None:
        if not (lr > 0 and momentum >= 0 and weight_decay >= 0 and trust_coefficient > 0 and eps >= 0):
            raise ConfigError("LARS needs lr > 0, momentum >= 0, weight_decay >= 0, trust_coefficient > 0 and "
                              f"eps >= 0; got {lr}, {momentum}, {weight_decay}, {trust_coefficient}, {eps}")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient,
                        eps=eps, exclude_1d=bool(exclude_1d))
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
                if not (group.get("exclude_1d", False) and p.ndim <= 1):
                    w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(d)
                    denominator = g_norm + group["weight_decay"] * w_norm + group.get("eps", 0.0)
                    ratio = torch.where((w_norm > 0) & (g_norm > 0), group["trust_coefficient"] * w_norm / denominator,
                                        torch.ones_like(w_norm))
                    d = d.add(p, alpha=group["weight_decay"]) * ratio
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
        raise ConfigError(f"total_steps must be >= 1 and warmup_steps >= 0; got {total_steps}, {warmup_steps}")
    return LambdaLR(optimizer, lambda s: warmup_cosine_factor(s, total_steps, warmup_steps))


def gradual_warmup_cosine_factor(step: int, steps_per_epoch: int, epochs: int, warmup_epochs: int = 10,
                                 multiplier: float = 10.0) -> float:
    r"""Learning-rate factor of the paper code's schedule at optimiser step ``step`` (0-based).

    The reference steps its scheduler after every batch with the fractional epoch
    :math:`e = \text{epoch} - 1 + n / N`, so the update of global step :math:`s` uses
    :math:`e = \max(s - 1, 0) / N`. With :math:`W` warm-up epochs, :math:`E` epochs and
    multiplier :math:`m`:

    .. math::
        f(e) = 1 + (m - 1)\,\frac{e}{W} \quad (e \le W), \qquad
        f(e) = \frac{m}{2}\left(1 + \cos\frac{\pi (e - W)}{E}\right) \quad (e > W).

    With the reference's lr 0.1, :math:`m = 10`, :math:`W = 10`: from 0.1 up to 1.0 over ten
    epochs, then a cosine whose period is all :math:`E` epochs (so it ends just above 0).

    Args:
        step: the optimiser step, 0-based.
        steps_per_epoch: :math:`N`, batches per epoch.
        epochs: :math:`E`.
        warmup_epochs: :math:`W` (0: the cosine from the peak at once).
        multiplier: :math:`m \ge 1`.

    Examples:
        >>> [round(gradual_warmup_cosine_factor(s, 2, 100, warmup_epochs=2), 2) for s in range(6)]
        [1.0, 1.0, 3.25, 5.5, 7.75, 10.0]
        >>> round(gradual_warmup_cosine_factor(101, 2, 100, warmup_epochs=2), 2)  # e = 50: cos(0.48 pi)
        5.31
    """
    if steps_per_epoch < 1 or epochs < 1 or warmup_epochs < 0 or multiplier < 1:
        raise ConfigError("gradual_warmup_cosine_factor needs steps_per_epoch >= 1, epochs >= 1, warmup_epochs >= 0 "
                          f"and multiplier >= 1; got {steps_per_epoch}, {epochs}, {warmup_epochs}, {multiplier}")
    e = max(step - 1, 0) / steps_per_epoch
    if warmup_epochs > 0 and e <= warmup_epochs:
        return 1.0 + (multiplier - 1.0) * e / warmup_epochs
    return 0.5 * multiplier * (1.0 + math.cos(math.pi * (e - warmup_epochs) / epochs))


def gradual_warmup_cosine_schedule(optimizer: Optimizer, steps_per_epoch: int, epochs: int, warmup_epochs: int = 10,
                                   multiplier: float = 10.0) -> LambdaLR:
    """A per-step :class:`~torch.optim.lr_scheduler.LambdaLR` of :func:`gradual_warmup_cosine_factor`.

    Examples:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        >>> sched = gradual_warmup_cosine_schedule(opt, steps_per_epoch=4, epochs=100)
        >>> for _ in range(41):
        ...     opt.step(); sched.step()
        >>> round(opt.param_groups[0]["lr"], 6)  # the peak, 10 x 0.1, after ten epochs
        1.0
    """
    gradual_warmup_cosine_factor(0, steps_per_epoch, epochs, warmup_epochs, multiplier)  # validates
    return LambdaLR(optimizer, lambda s: gradual_warmup_cosine_factor(s, steps_per_epoch, epochs, warmup_epochs, multiplier))
