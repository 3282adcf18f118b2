"""The colour and crop functions against independent restatements of the reference's formulas and against kornia.

The ``ref_*`` helpers below restate, in this file's own code, what the reference's
``ColorJitterLayer`` / ``RandomHSVFunction``, ``RandomColorGrayLayer`` and
``RandomResizedCropLayer`` compute for injected parameters (the crop with a hand-written
reflection and bilinear sampler, not ``grid_sample``).
"""

from __future__ import annotations

import math

import kornia.augmentation as K
import numpy as np
import pytest
import torch

from dia_augment.augmentation.colour import (
    GRAY_WEIGHTS,
    affine_crop,
    affine_crop_matrices,
    grayscale,
    kornia_colour_jitter,
    reference_colour_jitter,
)
from dia_augment.errors import InputError, InputTypeError


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _uniform(n: int, lo: float, hi: float, seed: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=_gen(seed))


# ------------------------------------------------------------------------------------------------
# Restatements of the reference (own code, the reference's formulas)
# ------------------------------------------------------------------------------------------------

def ref_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each channel moved away from its own spatial mean by the row's factor, then clamped."""
    f = factor.view(-1, 1, 1, 1)
    mean = x.mean(dim=(-2, -1), keepdim=True)
    return torch.clamp(mean + (x - mean) * f, 0.0, 1.0)


def ref_hsv(x: torch.Tensor, f_h: torch.Tensor, f_s: torch.Tensor, f_v: torch.Tensor) -> torch.Tensor:
    """RGB -> (atan2 hue, S, V), hue shifted by f_h * 255 / 360 turns modulo 1, S and V scaled, clamp, -> RGB."""
    red, green, blue = x[:, 0], x[:, 1], x[:, 2]
    big = torch.max(torch.max(red, green), blue)
    small = torch.min(torch.min(red, green), blue)
    angle = torch.atan2(math.sqrt(3) * (green - blue), 2 * red - green - blue)
    hue = (angle % (2 * math.pi)) / (2 * math.pi)
    sat = (big - small) / big
    sat = torch.where(torch.isfinite(sat), sat, torch.zeros_like(sat))
    hue = (hue + f_h.view(-1, 1, 1) * 255.0 / 360.0) % 1
    hue = hue.clamp(0, 1)
    sat = (sat * f_s.view(-1, 1, 1)).clamp(0, 1)
    val = (big * f_v.view(-1, 1, 1)).clamp(0, 1)
    channels = []
    for offset in (5.0, 3.0, 1.0):  # R, G, B
        k = (offset + hue * 6) % 6
        ramp = torch.clamp(torch.min(k, 4 - k), 0, 1)
        channels.append(val - val * sat * ramp)
    return torch.stack(channels, dim=1)


def ref_jitter(x, mask, contrast, hue, saturation, value, contrast_first: bool) -> torch.Tensor:
    """The reference's layer: the whole batch transformed in one order, then blended by the 0/1 mask."""
    if contrast_first:
        out = ref_hsv(ref_contrast(x, contrast), hue, saturation, value)
    else:
        out = ref_contrast(ref_hsv(x, hue, saturation, value), contrast)
    m = mask.to(x.dtype).view(-1, 1, 1, 1)
    return x * (1 - m) + out * m


def ref_gray(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(GRAY_WEIGHTS, dtype=x.dtype).view(1, 3, 1, 1)
    luma = (x * weights).sum(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    m = mask.to(x.dtype).view(-1, 1, 1, 1)
    return x * (1 - m) + luma * m


def _reflect(coord: float, size: int) -> float:
    """Reflect a pixel coordinate about -1/2 and size - 1/2 (grid_sample, align_corners=False), then clip."""
    period = 2 * size
    c = (coord + 0.5) % period
    if c > size:
        c = period - c
    return min(max(c - 0.5, 0.0), size - 1.0)


def _sample_weights(size: int, scale: float, bias: float) -> np.ndarray:
    """(size, size) weights: output index -> input index, one axis of the reference's crop."""
    weights = np.zeros((size, size))
    for j in range(size):
        normalised = scale * ((2 * j + 1) / size - 1) + bias
        pixel = _reflect(((normalised + 1) * size - 1) / 2, size)
        low = math.floor(pixel)
        frac = pixel - low
        weights[j, low] += 1 - frac
        if frac > 0:
            weights[j, low + 1] += frac
    return weights


def _pool_weights(size_in: int, size_out: int) -> np.ndarray:
    weights = np.zeros((size_out, size_in))
    for i in range(size_out):
        start, stop = (i * size_in) // size_out, -((-(i + 1) * size_in) // size_out)
        weights[i, start:stop] = 1 / (stop - start)
    return weights


def ref_crop(x: torch.Tensor, boxes: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """The reference crop in float64 numpy: per-axis reflected bilinear sampling, then adaptive average pooling."""
    n, c, height, width = x.shape
    out = np.zeros((n, c, *out_size))
    for row in range(n):
        w, h, wb, hb = (float(v) for v in boxes[row])
        ys = _pool_weights(height, out_size[0]) @ _sample_weights(height, h, hb)
        xs = _pool_weights(width, out_size[1]) @ _sample_weights(width, w, wb)
        out[row] = np.einsum("ih,chw,jw->cij", ys, x[row].double().numpy(), xs)
    return torch.from_numpy(out)


# ------------------------------------------------------------------------------------------------
# reference_colour_jitter
# ------------------------------------------------------------------------------------------------

def _jitter_params(n: int, seed: int):
    return (_uniform(n, 0.6, 1.4, seed), _uniform(n, -0.1, 0.1, seed + 1), _uniform(n, 0.6, 1.4, seed + 2),
            _uniform(n, 0.6, 1.4, seed + 3))


@pytest.mark.parametrize("contrast_first", [True, False])
def test_reference_jitter_matches_the_restated_layer(contrast_first):
    n = 12
    x = torch.rand(n, 3, 9, 7, generator=_gen(0))
    x[0] = x[0, :1]  # a gray row (r = g = b): atan2(0, 0) and the hue's value
    x[1, :, :2] = 0.0  # black pixels: S = 0 / 0
    mask = torch.rand(n, generator=_gen(1)) < 0.6
    mask[:2] = True
    params = _jitter_params(n, 10)
    got = reference_colour_jitter(x, mask, *params, contrast_first)
    want = ref_jitter(x, mask, *params, contrast_first)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert torch.equal(got[~mask], x[~mask])  # untouched rows, bit for bit
    assert not torch.allclose(got[mask], x[mask], atol=1e-3)
    assert float(got.min()) >= 0 and float(got.max()) <= 1


def test_the_two_orders_differ_and_per_row_orders_mix():
    n = 8
    x = torch.rand(n, 3, 6, 6, generator=_gen(2))
    mask = torch.tensor([True, True, False, True, True, False, True, True])
    params = _jitter_params(n, 20)
    first = ref_jitter(x, mask, *params, True)
    second = ref_jitter(x, mask, *params, False)
    assert (first - second).abs().max() > 1e-3
    flags = torch.tensor([True, False] * 4)
    got = reference_colour_jitter(x, mask, *params, flags)
    want = torch.where(flags.view(-1, 1, 1, 1), first, second)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert torch.equal(got[~mask], x[~mask])


def test_no_applied_row_returns_an_equal_copy():
    x = torch.rand(3, 3, 5, 5, generator=_gen(6))
    none = torch.zeros(3, dtype=torch.bool)
    params = _jitter_params(3, 40)
    for out in (reference_colour_jitter(x, none, *params, True), grayscale(x, none),
                kornia_colour_jitter(x, none, params[3], params[0], params[2], params[1], [0, 1, 2, 3])):
        assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()


def test_reference_jitter_numbers_by_hand():
    # A flat image: contrast keeps it (its mean is itself). (0.8, 0.5, 0.2) has a hue of 30 degrees, where
    # the atan2 hue and the usual one agree, V = 0.8 and S = 0.75.
    x = torch.tensor([0.8, 0.5, 0.2]).view(1, 3, 1, 1).expand(1, 3, 2, 2).contiguous()
    one = torch.ones(1)
    out = reference_colour_jitter(x, torch.tensor([True]), 1.3 * one, 0 * one, 0.5 * one, 1.0 * one, True)
    # S halved: every channel v - v s t keeps its t, so it moves half way to V: 0.8 - (0.8 - c) / 2
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.8, 0.65, 0.5]), rtol=0, atol=1e-6)
    out = reference_colour_jitter(x, torch.tensor([True]), one, 0 * one, one, 1.25 * one, False)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([1.0, 0.625, 0.25]), rtol=0, atol=1e-6)
    # V * 1.5 = 1.2 is clamped to 1 in HSV space (before going back to RGB): (1, 0.625, 0.25) again
    out = reference_colour_jitter(x, torch.tensor([True]), one, 0 * one, one, 1.5 * one, False)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([1.0, 0.625, 0.25]), rtol=0, atol=1e-6)
    # a 30 degree hue shift of 120 degrees: f_h * 255 / 360 = 1/3 turn -> hue 150 degrees: (0.2, 0.8, 0.5)
    out = reference_colour_jitter(x, torch.tensor([True]), one, one * 120 / 255, one, one, True)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.2, 0.8, 0.5]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("pixel, shift", [((1.0, 0.0, 0.1), 0.1), ((1.0, 0.1, 0.0), -0.1), ((1.0, 0.0, 0.0), -0.1)])
def test_hue_wraps_around(pixel, shift):
    r, g, b = pixel
    hue0 = (math.atan2(math.sqrt(3) * (g - b), 2 * r - g - b) % (2 * math.pi)) / (2 * math.pi)
    hue = (hue0 + shift * 255 / 360) % 1
    assert (hue0 + shift * 255 / 360 > 1) or (hue0 + shift * 255 / 360 < 0)  # the case wraps
    # S = V = 1: the channel with offset n is 1 - clamp(min(k, 4 - k), 0, 1), k = (n + 6 h) mod 6.
    want = [1 - min(max(min((n + 6 * hue) % 6, 4 - (n + 6 * hue) % 6), 0), 1) for n in (5, 3, 1)]
    x = torch.tensor(pixel).view(1, 3, 1, 1)
    one = torch.ones(1)
    out = reference_colour_jitter(x, torch.tensor([True]), one, shift * one, one, one, True)
    torch.testing.assert_close(out.flatten(), torch.tensor(want), rtol=0, atol=1e-5)
    if shift > 0:  # across 1 -> 0: red with some green
        assert out[0, 0].item() == pytest.approx(1.0) and 0 < out[0, 1].item() < 0.5
    else:  # across 0 -> 1: red with some blue
        assert out[0, 0].item() == pytest.approx(1.0) and 0 < out[0, 2].item() < 0.5


def test_reference_jitter_gradient_is_finite_on_gray_pixels_and_correct_elsewhere():
    x = torch.rand(2, 3, 4, 4, generator=_gen(3))
    x[0] = x[0, :1].clone()  # gray
    x[1, :, 0, 0] = 0.0  # black
    x.requires_grad_(True)
    params = _jitter_params(2, 30)
    out = reference_colour_jitter(x, torch.tensor([True, True]), *params, True)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    # plain derivative (not the reference's identity), checked numerically on coloured pixels
    y = (0.2 + 0.6 * torch.rand(1, 3, 3, 3, generator=_gen(4), dtype=torch.float64)).requires_grad_(True)
    factors = [torch.tensor([v], dtype=torch.float64) for v in (1.05, 0.03, 0.9, 0.9)]
    assert torch.autograd.gradcheck(lambda t: reference_colour_jitter(t, torch.tensor([True]), *factors, False),
                                    (y,), eps=1e-6, atol=1e-5)


def test_contrast_of_exactly_one_only_clamps():
    x = torch.rand(3, 3, 5, 5, generator=_gen(5))
    one = torch.ones(3)
    out = reference_colour_jitter(x, torch.ones(3, dtype=torch.bool), one, 0 * one, one, one, False)
    # with neutral HSV factors the output is the HSV round trip, contrast 1 adds nothing to it
    torch.testing.assert_close(out, ref_hsv(x, 0 * one, one, one), rtol=0, atol=0)
    # the atan2 hue differs from the usual one by up to ~1.2 degrees, so the round trip is close to the identity only
    torch.testing.assert_close(out, x, rtol=0, atol=0.02)


# ------------------------------------------------------------------------------------------------
# kornia_colour_jitter
# ------------------------------------------------------------------------------------------------

def _replay(aug, x):
    p = aug._params
    apply = p["batch_prob"] > 0.5
    return kornia_colour_jitter(x, apply, p["brightness_factor"], p["contrast_factor"], p["saturation_factor"],
                                p["hue_factor"], p["order"] if aug._fixed_order is None else aug._fixed_order)


@pytest.mark.parametrize("p", [1.0, 0.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kornia_parity_rgb(p, seed):
    torch.manual_seed(seed)
    aug = K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=p)
    x = torch.rand(16, 3, 10, 12, generator=_gen(seed))
    want = aug(x)
    got = _replay(aug, x)
    assert torch.equal(got, want)
    if p < 1:
        skipped = aug._params["batch_prob"] <= 0.5
        assert 0 < int(skipped.sum()) < 16
        assert torch.equal(got[skipped], x[skipped])


@pytest.mark.parametrize("settings", [dict(brightness=0.4, contrast=0.4), dict(brightness=0.4), dict(contrast=0.3)])
def test_kornia_parity_gray_and_skipped_steps(settings):
    torch.manual_seed(7)
    aug = K.ColorJitter(**settings, p=0.7)
    x = torch.rand(10, 1, 8, 8, generator=_gen(7))
    want = aug(x)
    assert torch.equal(_replay(aug, x), want)


def test_kornia_parity_fixed_order_and_subset():
    torch.manual_seed(8)
    aug = K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0, order=(3, 1))
    x = torch.rand(6, 3, 8, 8, generator=_gen(8))
    want = aug(x)
    assert torch.equal(_replay(aug, x), want)


def test_kornia_jitter_clamps_its_input_and_keeps_skipped_rows_as_they_are():
    x = torch.rand(2, 3, 4, 4, generator=_gen(9))
    x[:, :, 0, 0] = 1.0005  # within the range tolerance
    one = torch.ones(2)
    out = kornia_colour_jitter(x, torch.tensor([True, False]), one, one, one, 0 * one, [0, 1, 2, 3])
    assert torch.equal(out[0], x[0].clamp(0, 1))  # every step neutral: only the clamps
    assert torch.equal(out[1], x[1])


# ------------------------------------------------------------------------------------------------
# grayscale
# ------------------------------------------------------------------------------------------------

def test_grayscale_matches_kornia_and_the_reference():
    x = torch.rand(7, 3, 6, 5, generator=_gen(10))
    everything = torch.ones(7, dtype=torch.bool)
    assert torch.equal(grayscale(x, everything), K.RandomGrayscale(p=1.0)(x))
    mask = torch.tensor([True, False, True, False, False, True, True])
    got = grayscale(x, mask)
    torch.testing.assert_close(got, ref_gray(x, mask), rtol=0, atol=1e-6)
    assert torch.equal(got[~mask], x[~mask])
    assert torch.equal(got[mask, 0], got[mask, 1]) and torch.equal(got[mask, 1], got[mask, 2])
    assert GRAY_WEIGHTS == (0.299, 0.587, 0.114)


# ------------------------------------------------------------------------------------------------
# affine_crop and its matrices
# ------------------------------------------------------------------------------------------------

BOXES = [
    (1.0, 1.0, 0.0, 0.0),  # the whole image
    (0.5, 0.5, 0.5, 0.5),  # bottom right quarter: touches the border
    (0.5, 0.25, -0.5, 0.75),  # touches the left and bottom borders
    (0.3, 0.8, 0.1, -0.2),
    (1.25, 0.9, 0.2, -0.3),  # a zoom-out beyond the border: reflection
    (0.125, 1.0, -0.875, 0.0),  # a thin strip at the left edge
]


@pytest.mark.parametrize("out_size", [(7, 9), (4, 5), (3, 3)])
def test_affine_crop_matches_the_hand_restatement(out_size):
    x = torch.rand(len(BOXES), 2, 7, 9, generator=_gen(11), dtype=torch.float64)
    boxes = torch.tensor(BOXES, dtype=torch.float64)
    want = ref_crop(x, boxes, out_size)
    torch.testing.assert_close(affine_crop(x, boxes, out_size), want, rtol=0, atol=1e-12)
    torch.testing.assert_close(affine_crop(x.float(), boxes, out_size), want.float(), rtol=0, atol=1e-6)


def test_affine_crop_full_box_is_the_identity_and_axes_are_right():
    x = torch.rand(3, 3, 6, 10, generator=_gen(12))
    full = torch.tensor([[1.0, 1.0, 0.0, 0.0]]).expand(3, 4)
    torch.testing.assert_close(affine_crop(x, full, (6, 10)), x, rtol=0, atol=1e-6)
    torch.testing.assert_close(affine_crop(x, full, (3, 5)), torch.nn.functional.avg_pool2d(x, 2), rtol=0, atol=1e-6)
    # w, w_bias act on the columns (W): the left half of a column ramp samples column (j - 1/2) / 2
    columns = torch.arange(10.0).expand(1, 1, 6, 10) / 10
    left = affine_crop(columns, torch.tensor([[0.5, 1.0, -0.5, 0.0]]), (6, 10))
    want = (torch.arange(10.0) - 0.5).clamp(min=0) / 2 / 10
    torch.testing.assert_close(left, want.expand(1, 1, 6, 10), rtol=0, atol=1e-6)
    # h, h_bias act on the rows (H): the bottom half of a row ramp samples row (i + H - 1/2) / 2, clipped
    rows = torch.arange(6.0).view(1, 1, 6, 1).expand(1, 1, 6, 10) / 6
    bottom = affine_crop(rows, torch.tensor([[1.0, 0.5, 0.0, 0.5]]), (6, 10))
    want = ((torch.arange(6.0) + 5.5) / 2).clamp(max=5) / 6
    torch.testing.assert_close(bottom, want.view(1, 1, 6, 1).expand(1, 1, 6, 10), rtol=0, atol=1e-6)


@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("sizes", [((7, 9), (4, 5)), ((8, 8), (8, 8)), ((12, 10), (5, 3))])
def test_crop_matrices_equal_the_crop(box, sizes):
    in_size, out_size = sizes
    x = torch.rand(4, 3, *in_size, generator=_gen(13))
    rows, cols = affine_crop_matrices(torch.tensor(box), in_size, out_size)
    assert rows.shape == (out_size[0], in_size[0]) and cols.shape == (out_size[1], in_size[1])
    want = affine_crop(x, torch.tensor(box).expand(4, 4), out_size)
    torch.testing.assert_close(rows @ x @ cols.T, want, rtol=0, atol=1e-6)
    rows64, cols64 = affine_crop_matrices(list(box), in_size, out_size, dtype=torch.float64)
    boxes64 = torch.tensor([box] * 4, dtype=torch.float64)
    torch.testing.assert_close(rows64 @ x.double() @ cols64.T, ref_crop(x, boxes64, out_size), rtol=0, atol=1e-12)
    # each output pixel is a weighted average: the rows of both maps sum to 1
    torch.testing.assert_close(rows64.sum(1), torch.ones(out_size[0], dtype=torch.float64))
    torch.testing.assert_close(cols64.sum(1), torch.ones(out_size[1], dtype=torch.float64))


# ------------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------------

def _x(n=2, c=3, size=4):
    return torch.rand(n, c, size, size, generator=_gen(0))


_ONE = torch.ones(2)
_MASK = torch.ones(2, dtype=torch.bool)

BAD = [
    ("ref-not-rgb", lambda: reference_colour_jitter(_x(c=1), _MASK, _ONE, 0 * _ONE, _ONE, _ONE, True),
     InputError, r"images must have 3 channels; got C = 1"),
    ("ref-range", lambda: reference_colour_jitter(_x() * 255, _MASK, _ONE, 0 * _ONE, _ONE, _ONE, True),
     InputError, r"images must be in \[0, 1\]"),
    ("ref-int-images", lambda: reference_colour_jitter((_x() * 255).byte(), _MASK, _ONE, 0 * _ONE, _ONE, _ONE, True),
     InputTypeError, r"floating-point"),
    ("ref-mask-dtype", lambda: reference_colour_jitter(_x(), _MASK.float(), _ONE, 0 * _ONE, _ONE, _ONE, True),
     InputTypeError, r"apply must be a bool tensor"),
    ("ref-mask-length", lambda: reference_colour_jitter(_x(), torch.ones(3, dtype=torch.bool), _ONE, 0 * _ONE, _ONE,
                                                        _ONE, True), InputError, r"apply must have shape \(2,\)"),
    ("ref-factor-length", lambda: reference_colour_jitter(_x(), _MASK, torch.ones(3), 0 * _ONE, _ONE, _ONE, True),
     InputError, r"contrast must have shape \(2,\)"),
    ("ref-factor-type", lambda: reference_colour_jitter(_x(), _MASK, 1.2, 0 * _ONE, _ONE, _ONE, True),
     InputTypeError, r"contrast must be a \(2,\) float tensor"),
    ("ref-hue-range", lambda: reference_colour_jitter(_x(), _MASK, _ONE, 0.7 * _ONE, _ONE, _ONE, True),
     InputError, r"hue factors must be in \[-0.5, 0.5\]"),
    ("ref-negative-saturation", lambda: reference_colour_jitter(_x(), _MASK, _ONE, 0 * _ONE, -_ONE, _ONE, True),
     InputError, r"saturation factors must be in \[0.0, inf\]"),
    ("ref-nan-value", lambda: reference_colour_jitter(_x(), _MASK, _ONE, 0 * _ONE, _ONE, _ONE * math.nan, True),
     InputError, r"value contains NaN"),
    ("ref-order-type", lambda: reference_colour_jitter(_x(), _MASK, _ONE, 0 * _ONE, _ONE, _ONE, 1),
     InputTypeError, r"contrast_first must be a bool"),
    ("ref-order-length", lambda: reference_colour_jitter(_x(), _MASK, _ONE, 0 * _ONE, _ONE, _ONE,
                                                         torch.ones(3, dtype=torch.bool)),
     InputError, r"contrast_first must be a bool or have shape \(2,\)"),
    ("kornia-gray-hue", lambda: kornia_colour_jitter(_x(c=1), _MASK, _ONE, _ONE, _ONE, 0.1 * _ONE, [0, 1, 2, 3]),
     InputError, r"gray \(1-channel\) images take brightness and contrast only: hue must be all 0"),
    ("kornia-gray-saturation", lambda: kornia_colour_jitter(_x(c=1), _MASK, _ONE, _ONE, 0.5 * _ONE, 0 * _ONE, [2]),
     InputError, r"saturation must be all 1"),
    ("kornia-order-repeat", lambda: kornia_colour_jitter(_x(), _MASK, _ONE, _ONE, _ONE, 0 * _ONE, [0, 0]),
     InputError, r"order must hold distinct indices in 0..3"),
    ("kornia-order-range", lambda: kornia_colour_jitter(_x(), _MASK, _ONE, _ONE, _ONE, 0 * _ONE, [4]),
     InputError, r"order must hold distinct indices"),
    ("kornia-order-type", lambda: kornia_colour_jitter(_x(), _MASK, _ONE, _ONE, _ONE, 0 * _ONE, "0123"),
     InputTypeError, r"order must be a sequence of indices"),
    ("kornia-2-channels", lambda: kornia_colour_jitter(_x(c=2), _MASK, _ONE, _ONE, _ONE, 0 * _ONE, [0]),
     InputError, r"images must have 1 or 3 channels"),
    ("kornia-negative-brightness", lambda: kornia_colour_jitter(_x(), _MASK, -_ONE, _ONE, _ONE, 0 * _ONE, [0]),
     InputError, r"brightness factors must be in"),
    ("gray-not-rgb", lambda: grayscale(_x(c=1), _MASK), InputError, r"images must have 3 channels"),
    ("gray-3d", lambda: grayscale(_x()[0], _MASK), InputError, r"images must be a \(B, C, H, W\) batch"),
    ("gray-mask-shape", lambda: grayscale(_x(), _MASK.view(2, 1)), InputError, r"apply must have shape \(2,\)"),
    ("crop-boxes-shape", lambda: affine_crop(_x(), torch.ones(2, 3), 4), InputError, r"boxes must have shape \(2, 4\)"),
    ("crop-boxes-int", lambda: affine_crop(_x(), torch.ones(2, 4, dtype=torch.long), 4), InputTypeError,
     r"boxes must be a floating-point tensor"),
    ("crop-boxes-nan", lambda: affine_crop(_x(), torch.full((2, 4), math.nan), 4), InputError,
     r"boxes contains NaN"),
    ("crop-boxes-zero-width", lambda: affine_crop(_x(), torch.tensor([[0.0, 1, 0, 0]] * 2), 4), InputError,
     r"boxes must have positive widths and heights"),
    ("crop-size", lambda: affine_crop(_x(), torch.ones(2, 4), 0), InputError, r"output_size must be positive"),
    ("crop-size-type", lambda: affine_crop(_x(), torch.ones(2, 4), 2.5), InputTypeError,
     r"output_size must be an int or a pair of ints"),
    ("crop-not-tensor", lambda: affine_crop(np.zeros((2, 3, 4, 4)), torch.ones(2, 4), 4), InputTypeError,
     r"images must be a torch.Tensor"),
    ("matrices-box-shape", lambda: affine_crop_matrices(torch.ones(2, 4), 8, 4), InputError,
     r"box must have shape \(4,\)"),
    ("matrices-box-type", lambda: affine_crop_matrices("1,1,0,0", 8, 4), InputTypeError,
     r"box must be a \(4,\) tensor or four numbers"),
    ("matrices-negative-height", lambda: affine_crop_matrices([1.0, -1.0, 0.0, 0.0], 8, 4), InputError,
     r"box must have positive widths and heights"),
    ("matrices-input-size", lambda: affine_crop_matrices([1.0, 1.0, 0.0, 0.0], (8, 0), 4), InputError,
     r"input_size must be positive"),
    ("matrices-dtype", lambda: affine_crop_matrices([1.0, 1.0, 0.0, 0.0], 8, 4, dtype=torch.int64), InputTypeError,
     r"dtype must be a floating torch.dtype"),
]


@pytest.mark.parametrize("call, error, message", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_inputs_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_reference_view_runs_contrast_first_when_contrast_precedes_hue():
    from dia_augment.augmentation.colour import colour_view, reference_contrast_first

    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    jitter = (1.2, 0.7, 1.3, 0.08)
    on = torch.ones(3, dtype=torch.bool)
    per = [torch.full((3,), v) for v in jitter]
    for order, first in (([3, 1, 0, 2], False), ([0, 2, 1, 3], True)):
        assert reference_contrast_first(order) is first
        expected = ref_jitter(x, on, per[1], per[3], per[2], per[0], contrast_first=first)
        torch.testing.assert_close(colour_view(x, jitter, order, gray=False, semantics="reference"), expected,
                                   rtol=0, atol=1e-6)
    with pytest.raises(InputError, match="contrast .1. and hue .3."):
        reference_contrast_first([0, 2])
