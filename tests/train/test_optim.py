import math

import pytest
import torch

from dia_augment.train.checkpoint import flatten_optimizer_state, unflatten_optimizer_state
from dia_augment.train.optim import LARS, warmup_cosine_factor, warmup_cosine_schedule


def test_lars_two_steps_match_hand_computation():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))
    b = torch.nn.Parameter(torch.tensor([1.0]))
    opt = LARS([w, b], lr=0.5, momentum=0.9, weight_decay=0.1, trust_coefficient=0.01)
    w.grad, b.grad = torch.tensor([[1.0, -2.0]]), torch.tensor([2.0])
    opt.step()
    d = torch.tensor([[1.0, -2.0]]) + 0.1 * torch.tensor([[3.0, 4.0]])
    v = d * (0.01 * 5.0 / float(d.norm()))
    w_expected = torch.tensor([[3.0, 4.0]]) - 0.5 * v
    torch.testing.assert_close(w.data, w_expected)
    torch.testing.assert_close(b.data, torch.tensor([0.0]))  # plain SGD step, no decay, for 1-d params
    opt.step()  # same gradients again: momentum accumulates
    d2 = torch.tensor([[1.0, -2.0]]) + 0.1 * w_expected
    v2 = 0.9 * v + d2 * (0.01 * float(w_expected.norm()) / float(d2.norm()))
    torch.testing.assert_close(w.data, w_expected - 0.5 * v2)
    torch.testing.assert_close(b.data, torch.tensor([0.0 - 0.5 * (0.9 * 2.0 + 2.0)]))
    with pytest.raises(ValueError, match="trust_coefficient"):
        LARS([w], lr=0.1, trust_coefficient=0.0)


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
