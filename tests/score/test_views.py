"""The fixed test-time views and the encoder that applies them."""

from __future__ import annotations

import kornia.augmentation as K
import pytest
import torch

from dia_augment.errors import InputError
from dia_augment.models import build_model
from dia_augment.score import TestTimeEncoder, ViewSet, draw_views
from tests.augmentation.test_colour import ref_crop


def test_views_are_drawn_once_from_the_seed_and_round_trip_through_tensors():
    a = draw_views(4, (16, 16), channels=3, seed=2)
    b = draw_views(4, (16, 16), channels=3, seed=2)
    c = draw_views(4, (16, 16), channels=3, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.tensors().values(), b.tensors().values()))
    assert not torch.equal(a.boxes, c.boxes)
    back = ViewSet.from_tensors(a.tensors(), (16, 16), 3, "library")
    assert all(torch.equal(x, y) for x, y in zip(a.tensors().values(), back.tensors().values()))
    assert back.flips.dtype == torch.bool and back.boxes.dtype == torch.float64


def test_options_switch_the_draws_off():
    plain = draw_views(6, (16, 16), channels=3, hflip=False, colour=False, seed=0)
    assert not bool(plain.flips.any()) and not bool(plain.jitter_apply.any()) and not bool(plain.gray.any())
    gray = draw_views(50, (16, 16), channels=1, seed=0)  # 1-channel library views: brightness and contrast only
    assert bool((gray.jitter[..., 2] == 1).all()) and bool((gray.jitter[..., 3] == 0).all())
    assert not bool(gray.gray.any()) and bool(gray.jitter_apply.any())
    wide = draw_views(100, (20, 20), channels=1, resize_fix=False, seed=0)
    area = wide.boxes[..., 0] * wide.boxes[..., 1]
    assert float(area.min()) >= 0.5 and float(area.max()) > 0.85  # drawn in [0.54, 1], rounded to pixels


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: draw_views(0, (8, 8), 1), "num_views"),
        (lambda: draw_views(2, (8, 8), 1, resize_factor=1.5), "resize_factor must be a number in \\(0, 1\\]"),
        (lambda: draw_views(2, (8, 8), 1, augmentation="fancy"), "augmentation must be one of"),
        (lambda: draw_views(2, (8, 8), 1, augmentation="reference"), "reference augmentation works on 3-channel"),
    ],
)
def test_bad_view_settings_are_named(make, match):
    with pytest.raises(InputError, match=match):
        make()


def test_a_box_outside_the_image_is_refused():
    views = draw_views(1, (8, 8), 1, num_shifts=1)
    boxes = views.boxes.clone()
    boxes[0, 0, 2] = 0.9  # centre offset 0.9 with a side above 0.1: the crop leaves the image
    with pytest.raises(InputError, match="view boxes must lie inside the image"):
        ViewSet(views.flips, boxes, views.jitter_apply, views.jitter, views.order, views.gray, (8, 8), 1)


def test_library_rows_are_crop_then_kornias_jitter_then_grayscale():
    torch.manual_seed(0)
    views = draw_views(3, (12, 12), channels=3, num_shifts=2, seed=1)
    assert bool(views.jitter_apply.any()) and bool(views.gray.any()) and not bool(views.jitter_apply.all())
    encoder = TestTimeEncoder(build_model("resnet18", 3, 2, num_shifts=2).eval(), views, output_size=8)
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    rows = encoder.rows(x).reshape(3, 2, 2, 3, 8, 8)
    jitter, gray = K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0), K.RandomGrayscale(p=1.0)
    for t in range(3):
        for k in range(2):
            row = x.flip(-1) if bool(views.flips[t, k]) else x
            row = torch.rot90(row, k, (2, 3))
            row = ref_crop(row, views.boxes[t, k].expand(2, 4), (8, 8)).float().clamp(0, 1)
            if bool(views.jitter_apply[t, k]):
                b, c, s, h = (views.jitter[t, k, i].expand(2) for i in range(4))
                params = {"brightness_factor": b, "contrast_factor": c, "saturation_factor": s, "hue_factor": h,
                          "order": views.order[t], "batch_prob": torch.ones(2, dtype=torch.bool)}
                row = jitter(row, params=params)
            if bool(views.gray[t, k]):
                row = gray(row, params={"batch_prob": torch.ones(2, dtype=torch.bool)})
            torch.testing.assert_close(rows[t, k], row, rtol=0, atol=2e-6)


def test_features_average_the_views_and_the_own_shift_logit():
    torch.manual_seed(0)
    model = build_model("resnet18", 1, 2).eval()
    views = draw_views(3, (10, 10), channels=1, seed=0)
    encoder = TestTimeEncoder(model, views, output_size=8)
    x = torch.rand(2, 1, 10, 10, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        z, logits = encoder(x)
        out = model(encoder.rows(x))
    proj = out.projection.reshape(3, 4, 2, -1)
    torch.testing.assert_close(z, proj.mean(dim=0))
    own = torch.stack([out.shift_logits.reshape(3, 4, 2, 4)[:, k, :, k] for k in range(4)])  # (K, T, B)
    torch.testing.assert_close(logits, own.mean(dim=1))


def test_rotation_needs_square_images_cutperm_does_not():
    views = draw_views(2, (8, 12), channels=1)
    with pytest.raises(InputError, match="rotation views need square images; got 8 x 12"):
        TestTimeEncoder(build_model("resnet18", 1, 2), views, output_size=8)
    encoder = TestTimeEncoder(build_model("resnet18", 1, 2).eval(), views, output_size=8, shift="cutperm")
    z, _ = encoder(torch.rand(2, 1, 8, 12))
    assert tuple(z.shape) == (4, 2, 128)
