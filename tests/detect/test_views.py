from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dia_augment.detect import TestTimeEncoder, ViewSet, draw_views
from dia_augment.errors import InputError
from dia_augment.shift import shift_transform


class Out(NamedTuple):
    projection: torch.Tensor
    shift_logits: torch.Tensor


class Recorder(nn.Module):
    """Projection = the flattened rows; shift logits = row means + class index; keeps its input."""

    def forward(self, x):
        self.seen = x
        return Out(x.flatten(1), x.mean(dim=(1, 2, 3))[:, None] + torch.arange(4.0))


def test_views_are_drawn_from_the_seed_inside_the_image_with_the_target_area():
    a, b = draw_views(50, (40, 40), resize_factor=0.54, seed=3), draw_views(50, (40, 40), resize_factor=0.54, seed=3)
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.flips, b.flips)
    assert not torch.equal(a.boxes, draw_views(50, (40, 40), seed=4).boxes)
    top, left, h, w = a.boxes.unbind(1)
    assert bool(((top >= 0) & (left >= 0) & (top + h <= 40) & (left + w <= 40)).all())
    area = (h * w).float() / 1600
    assert float(area.mean()) == pytest.approx(0.54, abs=0.02) and 0.2 < float(a.flips.float().mean()) < 0.8
    ratio = (w / h).float()
    assert bool(((ratio > 0.7) & (ratio < 1.45)).all())  # 3/4 .. 4/3, up to rounding


def test_boxes_outside_the_image_are_refused():
    with pytest.raises(InputError, match="inside the 8 x 8 image"):
        ViewSet(torch.tensor([[0, 2, 8, 8]]), torch.tensor([False]), (8, 8))


@pytest.mark.parametrize("shift", ["rotation", "cutperm"])
def test_encoder_rows_are_flip_crop_resize_then_shift_and_outputs_are_view_means(shift):
    views = ViewSet(torch.tensor([[1, 2, 7, 6], [0, 0, 10, 10], [3, 1, 5, 9]]), torch.tensor([True, False, False]), (10, 10))
    encoder = TestTimeEncoder(Recorder(), views, output_size=6, shift=shift)
    x = torch.rand(2, 1, 10, 10, generator=torch.Generator().manual_seed(0))
    features, logits = encoder(x)
    expected_views = []
    for (top, left, h, w), flip in zip(views.boxes.tolist(), views.flips.tolist()):
        image = x.flip(-1) if flip else x
        crop = image[..., top : top + h, left : left + w]
        expected_views.append(F.interpolate(crop, size=(6, 6), mode="bilinear", align_corners=False, antialias=True))
    stacked = torch.cat(expected_views)  # (T * B, C, 6, 6), view-major
    rows = torch.cat([shift_transform(stacked, k, kind=shift) for k in range(4)])
    torch.testing.assert_close(encoder.model.seen, rows, rtol=0, atol=1e-5)
    per_row = rows.flatten(1).reshape(4, 3, 2, -1)
    torch.testing.assert_close(features, per_row.mean(dim=1), rtol=0, atol=1e-5)
    # the logit of class k for shift k: row mean + k, averaged over the views
    own = rows.mean(dim=(1, 2, 3)).reshape(4, 3, 2).mean(dim=1) + torch.arange(4.0)[:, None]
    torch.testing.assert_close(logits, own, rtol=0, atol=1e-5)
