"""Two gloo processes fit and score with the detector exactly as one process does.

Each process runs the model on its share of the batches; the views are fixed, so every batch sees
the same images and the same views as in one process, through the same kernels on the same batch
shapes: the features and the scores are bitwise those of one process (each process, like the
reference, computes on one thread). The cases cover uneven shares (padding dropped after the
gather) and a process with no batch at all.
"""


import torch
import torch.distributed as dist
from torch import nn

from dia_augment.detect import AnomalyDetector
from dia_augment.models import ModelOutput
from dia_augment.score import ScoreConfig
from tests.processes import run_processes

#: (batch_size, test images): 16 training images in 6 batches of 3 (9 and 7 rows), 5 test images
#: (2 and 0 batches of 3); one batch of 16 (process 1 has no batch) and 1 test image.
CASES = ((3, 5), (16, 1))


class TinyConvModel(nn.Module):
    """A convolution with batch norm (eval mode: rows independent), pooled, and the two heads."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                  nn.Flatten())
        self.proj = nn.Linear(16, 6)
        self.shift = nn.Linear(16, 4)

    def forward(self, x):
        f = self.body(x)
        return ModelOutput(f, self.proj(f), self.shift(f) + 3.0)  # + 3: positive mean logits, the CSI score


def _run_cases() -> dict[str, torch.Tensor]:
    """Fit on 16 images and score the test images with 2 fixed views (colour on), per case."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TinyConvModel()
    with torch.no_grad():
        model.body[1].running_mean.uniform_(-0.1, 0.1)
        model.body[1].running_var.uniform_(0.5, 1.5)
    images = torch.rand(16 + 5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    results = {}
    for batch_size, num_test in CASES:
        config = ScoreConfig(num_views=2, batch_size=batch_size, seed=3)
        scorer = AnomalyDetector.fit(model, images[:16], config=config, progress=False)
        results[f"features{batch_size}"] = scorer.train_features
        results[f"logits{batch_size}"] = scorer.train_shift_logits
        results[f"scores{batch_size}"] = scorer.score(images[16 : 16 + num_test])
    return results


def _worker(rank, world, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.save(_run_cases(), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_give_the_scores_of_one_process(tmp_path):
    threads = torch.get_num_threads()
    try:
        expected = _run_cases()
    finally:
        torch.set_num_threads(threads)
    run_processes(_worker, (2, str(tmp_path / "init"), str(tmp_path)))
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert sorted(result) == sorted(expected)
        for name, value in expected.items():
            assert result[name].shape == value.shape, (rank, name)
            assert torch.equal(result[name], value), (rank, name, (result[name] - value).abs().max())
    assert expected["features3"].shape == (4, 16, 6) and expected["scores3"].shape == (5,)
    assert expected["scores16"].shape == (1,) and bool(torch.isfinite(expected["scores3"]).all())
    # fixed views: the batches do not change the features beyond the kernels' float sums
    torch.testing.assert_close(expected["features3"], expected["features16"], rtol=1e-5, atol=1e-6)
    assert float(expected["scores3"].std()) > 0  # not a comparison between constants
