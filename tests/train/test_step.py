import pytest
import torch

from dia_augment.augmentation.simclr import SimCLRAugmentation
from dia_augment.filters.base import Dissolver, ResizeDissolving
from dia_augment.models import DIAResNet
from dia_augment.shift import rotate
from dia_augment.train.losses import make_row_labels
from dia_augment.augmentation import RandomDissolving
from dia_augment.train.step import TrainingRows, build_rows, training_loss
from dia_augment.utils.random import draw_steps


class _RecordingDissolver(Dissolver):
    """Returns 1 - x and records the steps it was given."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def dissolve(self, images, t, noise=None):
        self.calls.append(t.clone())
        return 1 - images


def _identity_aug(size):
    return SimCLRAugmentation(size, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), p_jitter=0.0, p_gray=0.0)


def test_the_dissolved_view_draws_one_step_per_image_once_through_random_dissolving():
    d = _RecordingDissolver()
    x = torch.rand(6, 1, 4, 4)
    dissolve = RandomDissolving(d, (30, 100), p=1.0, generator=torch.Generator().manual_seed(3))
    rows = build_rows(x, _identity_aug(4), 1, "rotation", dissolve, torch.Generator().manual_seed(0))
    assert len(d.calls) == 1
    assert d.calls[0].tolist() == draw_steps(6, (30, 100), torch.Generator().manual_seed(3)).tolist()
    dissolved = rows.images[12:]
    assert all(torch.equal(dissolved[i], 1 - x[i]) or torch.equal(dissolved[i], (1 - x[i]).flip(-1)) for i in range(6))
    build_rows(x, _identity_aug(4), 1, "rotation", RandomDissolving(d, p=1.0, generator=0))
    assert int(d.calls[1].min()) >= d.default_step_range[0] and int(d.calls[1].max()) < d.default_step_range[1]
    with pytest.raises(ValueError, match="step_range"):
        RandomDissolving(d, (0, 2000), p=1.0)
    with pytest.raises(ValueError, match="p=1"):
        build_rows(x, _identity_aug(4), 1, "rotation", RandomDissolving(d, p=0.5))


def test_build_rows_layout_matches_flip_then_shift():
    b, k = 3, 4
    x = torch.rand(b, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    d = _RecordingDissolver()
    g = torch.Generator().manual_seed(1)
    rows = build_rows(x, _identity_aug(6), k, "rotation", RandomDissolving(d, (30, 100), p=1.0, generator=g), g)
    assert rows.images.shape == (3 * k * b, 1, 6, 6)
    assert len(d.calls) == 1  # dissolved once per batch, not once per shift
    sources = [x, x, 1 - x]
    for v in range(3):
        for i in range(b):
            first = rows.images[v * k * b + i]
            flipped = torch.equal(first, sources[v][i].flip(-1))
            assert flipped or torch.equal(first, sources[v][i])
            base = sources[v][i].flip(-1) if flipped else sources[v][i]
            for s in range(k):
                got = rows.images[(v * k + s) * b + i]
                torch.testing.assert_close(got, rotate(base[None], s)[0], rtol=0, atol=1e-6)
    expected = make_row_labels(b, k, 2, 1)
    for got, exp in zip(rows.labels, expected):
        assert torch.equal(got, exp)


def test_shift_loss_value_and_dissolved_rows():
    torch.manual_seed(0)
    model = DIAResNet("cifar", 1, width=2).eval()
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    rows = build_rows(x, _identity_aug(8), 4, "rotation", RandomDissolving(ResizeDissolving(4), p=1.0, generator=0),
                      torch.Generator().manual_seed(0))
    out = model(rows.images)
    clean = ~rows.labels.dissolved
    expected_clean = torch.nn.functional.cross_entropy(out.shift_logits[clean], rows.labels.shift[clean])
    expected_all = torch.nn.functional.cross_entropy(out.shift_logits, rows.labels.shift)
    parts = training_loss(model, rows, shift_loss_weight=0.5)  # every row, as the paper's code
    torch.testing.assert_close(parts.shift, expected_all)
    torch.testing.assert_close(parts.total, parts.contrastive + 0.5 * expected_all)
    torch.testing.assert_close(training_loss(model, rows, shift_loss_on_dissolved=False).shift, expected_clean)
    simclr = TrainingRows(rows.images[:4], make_row_labels(2, num_shifts=1))
    assert float(training_loss(model, simclr).shift) == 0.0


def test_twenty_steps_on_a_fixed_batch_lower_the_loss():
    torch.manual_seed(0)
    model = DIAResNet("cifar", 1, width=4, proj_dim=16)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    rows = build_rows(x, SimCLRAugmentation(8), 4, "rotation", RandomDissolving(ResizeDissolving(4), p=1.0, generator=0),
                      torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(20):
        parts = training_loss(model, rows)
        opt.zero_grad()
        parts.total.backward()
        opt.step()
        losses.append(float(parts.total.detach()))
    assert losses[-1] < 0.8 * losses[0], losses
