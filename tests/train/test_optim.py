import math

import pytest
import torch

from dia_augment.train.checkpoint import flatten_optimizer_state, unflatten_optimizer_state
from dia_augment.train.optim import (
    LARS,
    gradual_warmup_cosine_factor,
    gradual_warmup_cosine_schedule,
    warmup_cosine_factor,
    warmup_cosine_schedule,
)


def _torchlars_sgd_reference(params, grads_per_step, lr, momentum, weight_decay, trust, eps):
    """torchlars' LARS around torch.optim.SGD, written out: every parameter is adapted."""
    params = [p.detach().clone() for p in params]
    buffers = [None] * len(params)
    for grads in grads_per_step:
        for i, (w, g) in enumerate(zip(params, grads)):
            w_norm, g_norm = float(w.norm()), float(g.norm())
            rate = trust * w_norm / (g_norm + weight_decay * w_norm + eps) if w_norm > 0 and g_norm > 0 else 1.0
            d = (g + weight_decay * w) * rate
            buffers[i] = d.clone() if buffers[i] is None else momentum * buffers[i] + d
            params[i] = w - lr * buffers[i]
    return params


def test_lars_matches_the_reference_update_rule_on_every_parameter():
    gen = torch.Generator().manual_seed(0)
    shapes = [(4, 3), (4,), (2, 2, 3, 3), (1,)]
    params = [torch.nn.Parameter(torch.randn(sh, generator=gen, dtype=torch.float64)) for sh in shapes]
    with torch.no_grad():
        params[3].zero_()  # a zero parameter: rate 1, the plain SGD step
    grads = [[torch.randn(sh, generator=gen, dtype=torch.float64) for sh in shapes] for _ in range(3)]
    grads[1][1].zero_()  # a zero gradient: rate 1, decay only
    expected = _torchlars_sgd_reference(params, grads, lr=0.7, momentum=0.9, weight_decay=0.05, trust=0.001, eps=1e-8)
    opt = LARS(params, lr=0.7, momentum=0.9, weight_decay=0.05)  # the defaults: trust 0.001, eps 1e-8, all params
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        opt.step()
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.data, e, rtol=1e-12, atol=1e-14)


def test_lars_hand_computed_step_and_exclude_1d():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]], dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = LARS([w, b], lr=0.5, momentum=0.9, weight_decay=0.1, trust_coefficient=0.01, eps=0.0, exclude_1d=True)
    w.grad, b.grad = torch.tensor([[1.0, -2.0]], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64)
    opt.step()
    # |w| = 5, |g| = sqrt(5): rate = 0.01 * 5 / (sqrt(5) + 0.1 * 5)
    rate = 0.05 / (5**0.5 + 0.5)
    d = (torch.tensor([[1.0, -2.0]]) + 0.1 * torch.tensor([[3.0, 4.0]])).double() * rate
    torch.testing.assert_close(w.data, torch.tensor([[3.0, 4.0]], dtype=torch.float64) - 0.5 * d)
    torch.testing.assert_close(b.data, torch.tensor([0.0], dtype=torch.float64))  # 1 - 0.5 * 2: plain, no decay
    opt.step()  # momentum accumulates on the plain step
    torch.testing.assert_close(b.data, torch.tensor([0.0 - 0.5 * (0.9 * 2.0 + 2.0)], dtype=torch.float64))
    with pytest.raises(ValueError, match="trust_coefficient"):
        LARS([w], lr=0.1, trust_coefficient=0.0)


def test_gradual_warmup_cosine_matches_the_reference_loop():
    """The paper's loop: lr at batch n of epoch (1-based), then scheduler.step(epoch - 1 + n / N)."""
    base, mult, warm, epochs, per_epoch = 0.1, 10.0, 3, 8, 4

    def reference_lr(e):  # GradualWarmupScheduler(multiplier, total_epoch=warm, after=CosineAnnealingLR(T_max=epochs))
        if e <= warm:
            return base * ((mult - 1.0) * e / warm + 1.0)
        return base * mult * (1 + math.cos(math.pi * (e - warm) / epochs)) / 2

    expected, lr = [], reference_lr(0)
    for epoch in range(1, epochs + 1):
        for n in range(per_epoch):
            expected.append(lr)
            lr = reference_lr(epoch - 1 + n / per_epoch)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = gradual_warmup_cosine_schedule(opt, per_epoch, epochs, warmup_epochs=warm, multiplier=mult)
    got = []
    for _ in range(epochs * per_epoch):
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert got == pytest.approx(expected, rel=1e-12)
    assert max(got) == pytest.approx(base * mult)  # the peak: 1.0 for the reference's lr 0.1
    assert gradual_warmup_cosine_factor(0, 5, 10, warmup_epochs=0) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="multiplier"):
        gradual_warmup_cosine_factor(0, 5, 10, multiplier=0.5)


def test_warmup_cosine_values():
    assert [warmup_cosine_factor(s, 10, 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    for s in range(4, 10):
        assert warmup_cosine_factor(s, 10, 4) == pytest.approx(0.5 * (1 + math.cos(math.pi * (s - 4) / 6)))
    assert warmup_cosine_factor(0, 5, 0) == 1.0
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.2)
    sched = warmup_cosine_schedule(opt, 10, 4)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.2 * warmup_cosine_factor(s, 10, 4) for s in range(10)])


@pytest.mark.parametrize("make", [lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: LARS(ps, lr=0.1)])
def test_optimizer_state_round_trip_continues_identically(make):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = make(model.parameters())
    x = torch.randn(4, 3)
    for _ in range(2):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
    tensors, rest = flatten_optimizer_state(opt.state_dict())
    tensors = {k: v.clone() for k, v in tensors.items()}  # as if read back from disk: no shared buffers
    twin = torch.nn.Linear(3, 2)
    twin.load_state_dict(model.state_dict())
    twin_opt = make(twin.parameters())
    twin_opt.load_state_dict(unflatten_optimizer_state(tensors, rest))
    for m, o in ((model, opt), (twin, twin_opt)):
        o.zero_grad()
        m(x).square().sum().backward()
        o.step()
    assert torch.equal(model.weight, twin.weight) and torch.equal(model.bias, twin.bias)
