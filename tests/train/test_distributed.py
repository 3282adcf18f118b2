"""Two gloo processes on halves of a global batch give the loss and gradients of one process on all of it."""


import torch
import torch.distributed as dist
from torch import nn

from dia_augment.models import ModelOutput
from dia_augment.utils.distributed import all_gather_no_grad, all_gather_with_grad
from dia_augment.train.losses import make_row_labels
from dia_augment.train.step import TrainingRows, training_loss
from tests.processes import run_processes

B, K, VIEWS = 4, 4, 3


class TinyModel(nn.Module):
    """No batch norm, so that a row's output does not depend on the rest of its process's batch."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 16, 6))
        self.proj = nn.Linear(6, 5)
        self.shift = nn.Linear(6, K)

    def forward(self, x):
        f = self.body(x)
        return ModelOutput(f, self.proj(f), self.shift(f))


def _setup():
    torch.manual_seed(0)
    model = TinyModel().double()
    views = torch.rand(VIEWS, K, B, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return model, views


def _rows(views, images, offset):
    part = views[:, :, images]
    return TrainingRows(part.reshape(-1, 1, 4, 4), make_row_labels(len(images), K, 2, VIEWS - 2, image_offset=offset))


def _worker(rank, world, init_file, out_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model, views = _setup()
        local = B // world
        rows = _rows(views, range(rank * local, (rank + 1) * local), rank * local)
        parts = training_loss(model, rows)
        parts.total.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        dist.all_reduce(grads)  # average the gradients, as DistributedDataParallel does
        loss = parts.total.detach().clone().view(1)
        dist.all_reduce(loss)
        gathered = all_gather_no_grad(torch.full((2,), float(rank)))
        x = torch.full((2, 1), float(rank + 1), requires_grad=True)
        (all_gather_with_grad(x) * torch.arange(1.0, 5.0).view(4, 1)).sum().backward()
        if rank == 0:
            torch.save({"loss": loss / world, "grads": grads / world, "gathered": gathered}, out_file)
        # d/dx_r of sum_ranks sum_i c_i * gathered_i: every rank's loss sees x, so the grads add up
        expected = torch.arange(1.0, 5.0)[rank * 2 : rank * 2 + 2].view(2, 1) * world
        assert torch.equal(x.grad, expected), (rank, x.grad)
    finally:
        dist.destroy_process_group()


def test_two_processes_match_one_process_on_the_global_batch(tmp_path):
    model, views = _setup()
    parts = training_loss(model, _rows(views, range(B), 0))
    parts.total.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])

    out_file = tmp_path / "rank0.pt"
    run_processes(_worker, (2, str(tmp_path / "init"), str(out_file)))
    result = torch.load(out_file, weights_only=True)
    assert result["gathered"].tolist() == [0.0, 0.0, 1.0, 1.0]
    torch.testing.assert_close(result["loss"][0], parts.total.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(result["grads"], grads, rtol=1e-9, atol=1e-12)
    assert float(grads.abs().sum()) > 0
