"""Anomaly maps on analytic scores: one-pixel scores, completeness, brute-force occlusion."""

from __future__ import annotations

import pytest
import torch

from dia_augment.errors import InputError
from dia_augment.localize import dissolve_residual_map, gradient_map, occlusion_map, pixel_auroc, pointing_game


def one_pixel_score(batch: torch.Tensor) -> torch.Tensor:
    return (batch[:, 0, 2, 3] - 0.2) ** 2


@pytest.mark.parametrize("method", ["smoothgrad", "integrated"])
def test_score_of_one_pixel_lights_only_that_pixel(method):
    x = torch.rand(3, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    m = gradient_map(one_pixel_score, x, method, samples=5, generator=torch.Generator().manual_seed(1))
    assert m.shape == (3, 5, 6)
    others = m.clone()
    others[:, 2, 3] = 0
    assert torch.equal(others, torch.zeros_like(others))
    assert bool((m[:, 2, 3] != 0).all())


def test_smoothgrad_without_noise_is_the_absolute_gradient_summed_over_channels():
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    w = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(1))
    score = lambda b: (w * b).sum(dim=(1, 2, 3))  # noqa: E731  gradient = w
    m = gradient_map(score, x, "smoothgrad", samples=3, noise=0.0)
    torch.testing.assert_close(m, w.abs().sum(0).expand(2, 4, 4))


def test_integrated_gradients_are_complete_for_a_quadratic_score():
    gen = torch.Generator().manual_seed(0)
    x, x0 = torch.rand(2, 3, 4, 4, generator=gen), torch.rand(2, 3, 4, 4, generator=gen)
    w = torch.randn(3, 4, 4, generator=gen)
    score = lambda b: (w * b**2).sum(dim=(1, 2, 3))  # noqa: E731
    m = gradient_map(score, x, "integrated", samples=3, baseline=x0)
    # the midpoint rule integrates a linear gradient exactly: sum of the map = s(x) - s(x0)
    torch.testing.assert_close(m.sum(dim=(1, 2)), score(x) - score(x0), rtol=1e-5, atol=1e-5)


def test_smoothgrad_is_reproducible_with_a_generator():
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    score = lambda b: (b**3).sum(dim=(1, 2, 3))  # noqa: E731
    a = gradient_map(score, x, samples=4, noise=0.1, generator=torch.Generator().manual_seed(7))
    b = gradient_map(score, x, samples=4, noise=0.1, generator=torch.Generator().manual_seed(7))
    c = gradient_map(score, x, samples=4, noise=0.1, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_occlusion_that_changes_nothing_gives_zero():
    x = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    m = occlusion_map(lambda b: (b**2).sum(dim=(1, 2, 3)), x, x.clone(), patch=3, stride=2)
    assert torch.equal(m, torch.zeros(2, 6, 6))


def test_occlusion_matches_a_brute_force_loop_and_is_chunk_invariant():
    gen = torch.Generator().manual_seed(0)
    x, r = torch.rand(2, 1, 5, 7, generator=gen), torch.rand(2, 1, 5, 7, generator=gen)
    w = torch.randn(1, 5, 7, generator=gen)
    score = lambda b: torch.tanh((w * b).sum(dim=(1, 2, 3)))  # noqa: E731
    patch, stride = 3, 2
    expected, count = torch.zeros(2, 5, 7), torch.zeros(5, 7)
    tops, lefts = [0, 2], [0, 2, 4]  # flush with the border: 5 - 3 = 2, 7 - 3 = 4
    for top in tops:
        for left in lefts:
            occluded = x.clone()
            occluded[:, :, top : top + 3, left : left + 3] = r[:, :, top : top + 3, left : left + 3]
            drop = score(x) - score(occluded)
            expected[:, top : top + 3, left : left + 3] += drop[:, None, None]
            count[top : top + 3, left : left + 3] += 1
    expected /= count
    m1 = occlusion_map(score, x, r, patch=patch, stride=stride, chunk_size=1)
    m2 = occlusion_map(score, x, r, patch=patch, stride=stride, chunk_size=1000)
    torch.testing.assert_close(m1, expected)
    torch.testing.assert_close(m2, expected)


def test_residual_map_of_an_identity_dissolver_is_zero_and_sensitivity_weights_it():
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(dissolve_residual_map(x, x.clone()), torch.zeros(2, 4, 4))
    d = torch.zeros_like(x)
    s = torch.rand(2, 4, 4)
    torch.testing.assert_close(dissolve_residual_map(x, d, s), x.sum(1) * s)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: gradient_map(lambda b: b.sum(), x), "one score per image"),
        (lambda x: gradient_map(lambda b: b.sum((1, 2, 3)), x, "lime"), "method"),
        (lambda x: gradient_map(lambda b: b.sum((1, 2, 3)), x, samples=0), "samples"),
        (lambda x: gradient_map(lambda b: b.sum((1, 2, 3)), x, "integrated", baseline=x[:1]), "baseline"),
        (lambda x: occlusion_map(lambda b: b.sum((1, 2, 3)), x, x, patch=9), "patch"),
        (lambda x: occlusion_map(lambda b: b.sum((1, 2, 3)), x, x, stride=1.5), "stride"),
        (lambda x: dissolve_residual_map(x, x, -torch.ones(2, 4, 4)), "sensitivity"),
        (lambda x: gradient_map(lambda b: b.sum((1, 2, 3)), x * 255), r"\[0, 1\]"),
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises(InputError, match=match):
        call(torch.rand(2, 1, 4, 4))


def test_pixel_auroc_and_pointing_game_on_hand_computed_cases():
    masks = torch.zeros(2, 3, 3, dtype=torch.bool)
    masks[0, 0, 0] = masks[1, 2, 2] = True
    maps = torch.zeros(2, 3, 3)
    maps[0, 0, 0], maps[0, 1, 1] = 0.9, 0.95  # one normal pixel above the first lesion
    maps[1, 2, 2] = 0.8
    # 2 lesion pixels x 16 normal pixels: the 0.9 lesion beats 15 (ties at 0 count, none here),
    # the 0.8 lesion beats 15 -> (15 + 15) / 32
    assert pixel_auroc(maps, masks) == pytest.approx(30 / 32)
    assert pointing_game(maps, masks, tolerance=0) == 0.5
    assert pointing_game(maps, masks, tolerance=1) == 1.0
    with pytest.raises(InputError, match="every mask"):
        pointing_game(maps, torch.zeros(2, 3, 3, dtype=torch.bool))


def test_occlusion_reports_every_image_it_scores_to_its_callback():
    from dia_augment.localize.maps import occlusion_map, occlusion_windows

    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    counts = []
    occlusion_map(lambda b: b.sum(dim=(1, 2, 3)), x, torch.zeros_like(x), patch=4, stride=2, chunk_size=4, callback=counts.append)
    windows = occlusion_windows(6, 6, 4, 2)
    assert windows == [(0, 0), (0, 2), (2, 0), (2, 2)]
    assert counts == [2, 4, 4] and sum(counts) == 2 * (1 + len(windows))  # the images, then 2 windows x 2 images a call
