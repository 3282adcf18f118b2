"""The reference's box sampling and its SimCLR augmentation (jitter -> grayscale -> affine crop)."""

from __future__ import annotations

import pickle

import pytest
import torch

from dia_augment.augmentation.colour import affine_crop
from dia_augment.augmentation.reference import PARAM_KEYS, ReferenceSimCLRAugmentation, draw_reference_boxes
from dia_augment.errors import ConfigError, InputError, InputTypeError

from tests.augmentation.test_colour import ref_crop, ref_gray, ref_jitter


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------------
# draw_reference_boxes
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(32, 32), (24, 40), (40, 24)])
@pytest.mark.parametrize("scale", [(0.08, 1.0), (0.5, 0.5), (0.2, 0.9)])
def test_boxes_are_whole_pixels_inside_the_image_with_the_asked_area(size, scale):
    height, width = size
    n = 400
    boxes = draw_reference_boxes(n, size, scale, generator=_gen(0))
    assert boxes.shape == (n, 4) and boxes.dtype == torch.float64
    w, h = boxes[:, 0] * width, boxes[:, 1] * height
    kw, kh = boxes[:, 2] * width, boxes[:, 3] * height
    for pixels in (w, h, kw, kh):  # whole pixels and whole offsets
        torch.testing.assert_close(pixels, pixels.round(), rtol=0, atol=1e-9)
    assert bool(((w >= 1) & (w <= width) & (h >= 1) & (h <= height)).all())
    assert bool(((kw.abs() <= width - w + 1e-9) & (kh.abs() <= height - h + 1e-9)).all())
    # the window [left, left + w) lies inside the image: left = (W - w + k) / 2
    left, top = (width - w + kw) / 2, (height - h + kh) / 2
    assert bool(((left >= 0) & (left + w <= width + 1e-9) & (top >= 0) & (top + h <= height + 1e-9)).all())
    # area: w = round(sqrt(A r)) and h = round(sqrt(A / r)), so |w h - A| <= (w + h + 1) / 2 + 1 / 4 around A
    full = (w == width) & (h == height)
    fitted = ~full | (scale[1] == 1.0)
    area, slack = w * h, (w + h + 1) / 2 + 0.25
    lo, hi = scale[0] * height * width, scale[1] * height * width
    assert bool(((area[fitted] >= lo - slack[fitted]) & (area[fitted] <= hi + slack[fitted])).all())
    # aspect ratios within [3/4, 4/3], up to the rounding of each side
    ratio_lo = (w - 0.5) / (h + 0.5)
    ratio_hi = (w + 0.5) / (h - 0.5)
    assert bool(((ratio_hi[fitted] >= 3 / 4) & (ratio_lo[fitted] <= 4 / 3)).all())
    # the draws spread: many distinct boxes, offsets of both signs
    assert boxes.unique(dim=0).shape[0] > n // 4 or scale[0] == scale[1]
    if scale[0] < 0.5:
        assert bool((kw > 0).any()) and bool((kw < 0).any())


def test_boxes_follow_the_scale_on_average():
    boxes = draw_reference_boxes(4000, 64, (0.2, 0.6), generator=_gen(1))
    area = boxes[:, 0] * boxes[:, 1]
    assert abs(float(area.mean()) - 0.4) < 0.01
    assert float(area.min()) > 0.18 and float(area.max()) < 0.62


def test_boxes_are_reproducible_from_the_generator_and_leave_the_global_rng_alone():
    torch.manual_seed(5)
    state = torch.random.get_rng_state()
    a = draw_reference_boxes(16, (20, 30), (0.08, 1.0), generator=_gen(3))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, draw_reference_boxes(16, (20, 30), (0.08, 1.0), generator=_gen(3)))
    assert not torch.equal(a, draw_reference_boxes(16, (20, 30), (0.08, 1.0), generator=_gen(4)))
    torch.manual_seed(5)
    b = draw_reference_boxes(16, (20, 30), (0.08, 1.0))  # the global generator
    torch.manual_seed(5)
    assert torch.equal(b, draw_reference_boxes(16, (20, 30), (0.08, 1.0)))


def test_no_trial_fits_gives_full_boxes():
    # an area of the whole image with a 4:1 ratio is wider than the image: every trial fails
    boxes = draw_reference_boxes(5, 16, (1.0, 1.0), ratio=(4.0, 4.0), generator=_gen(0))
    assert torch.equal(boxes, torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 5, dtype=torch.float64))


def test_too_few_fitting_trials_fill_the_last_rows_with_full_boxes():
    # On a 10 x 10 image with areas in [50, 100] and ratios in [2, 4], only w = round(sqrt(A r)) <= 10
    # fits: a few percent of the 10 n trials, fewer than n. The fitting ones come first, in trial order.
    n = 50
    boxes = draw_reference_boxes(n, 10, (0.5, 1.0), ratio=(2.0, 4.0), generator=_gen(2))
    full = (boxes[:, 0] == 1) & (boxes[:, 1] == 1)
    fitted = int((~full).sum())
    assert 0 < fitted < n
    assert bool(full[fitted:].all()) and not bool(full[:fitted].any())
    assert torch.equal(boxes[fitted:, 2:], torch.zeros(n - fitted, 2, dtype=torch.float64))  # W - w = 0: no offset
    w, h = boxes[:fitted, 0] * 10, boxes[:fitted, 1] * 10
    assert bool((w / h >= 1.2).all())  # wide boxes, as the ratios ask


BAD_BOXES = [
    ("n-zero", lambda: draw_reference_boxes(0, 8, (0.1, 1.0)), InputError, r"n must be at least 1"),
    ("n-float", lambda: draw_reference_boxes(2.0, 8, (0.1, 1.0)), InputTypeError, r"n must be an int"),
    ("size", lambda: draw_reference_boxes(2, (8, 0), (0.1, 1.0)), InputError, r"input_size must be positive"),
    ("size-type", lambda: draw_reference_boxes(2, "8", (0.1, 1.0)), InputTypeError, r"input_size must be an int"),
    ("scale-inverted", lambda: draw_reference_boxes(2, 8, (0.9, 0.1)), InputError,
     r"scale = \(0.9, 0.1\) must satisfy 0 < low <= high"),
    ("scale-zero", lambda: draw_reference_boxes(2, 8, (0.0, 1.0)), InputError, r"scale = \(0.0, 1.0\) must satisfy"),
    ("scale-single", lambda: draw_reference_boxes(2, 8, 0.5), InputError, r"scale must be a pair of numbers"),
    ("ratio-negative", lambda: draw_reference_boxes(2, 8, (0.1, 1.0), ratio=(-1.0, 2.0)), InputError,
     r"ratio = \(-1.0, 2.0\) must satisfy"),
    ("generator", lambda: draw_reference_boxes(2, 8, (0.1, 1.0), generator=0), InputTypeError,
     r"generator must be a torch.Generator"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in BAD_BOXES], ids=[c[0] for c in BAD_BOXES])
def test_bad_box_arguments_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------------------------------------
# ReferenceSimCLRAugmentation
# ------------------------------------------------------------------------------------------------

def test_output_shape_range_and_reproducibility():
    aug = ReferenceSimCLRAugmentation(8)
    x = torch.rand(12, 3, 16, 16, generator=_gen(1))
    torch.manual_seed(9)
    state = torch.random.get_rng_state()
    a = aug(x, generator=_gen(0))
    assert torch.equal(torch.random.get_rng_state(), state)  # every draw from the generator
    assert a.shape == (12, 3, 8, 8) and a.dtype == x.dtype
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, aug(x, generator=_gen(0)))
    assert not torch.equal(a, aug(x, generator=_gen(1)))
    # rows differ from one another: identical input rows get different views
    same = x[:1].expand(12, -1, -1, -1).contiguous()
    views = aug(same, generator=_gen(2)).flatten(1)
    assert views.unique(dim=0).shape[0] == 12


def test_replay_from_recorded_params_is_exact():
    aug = ReferenceSimCLRAugmentation(10, crop_scale=(0.3, 1.0))
    x = torch.rand(9, 3, 20, 20, generator=_gen(3))
    params = aug.draw_params(9, (20, 20), _gen(5))
    assert set(params) == set(PARAM_KEYS)
    out = aug(x, generator=_gen(5))
    assert torch.equal(out, aug.apply(x, params))
    assert torch.equal(out, aug.apply(x, {k: v.clone() for k, v in params.items()}))
    # a params dict survives pickling (a recorded view saved to disk)
    assert torch.equal(out, aug.apply(x, pickle.loads(pickle.dumps(params))))


def test_params_have_the_reference_distributions():
    aug = ReferenceSimCLRAugmentation(8, p_jitter=0.8, p_gray=0.2)
    params = aug.draw_params(4000, 16, _gen(6))
    assert params["contrast_first"].dtype == torch.bool
    assert params["contrast_first"].unique().numel() == 1  # one order per call
    firsts = [bool(aug.draw_params(2, 16, _gen(s))["contrast_first"][0]) for s in range(200)]
    assert 70 < sum(firsts) < 130
    assert abs(params["jitter_apply"].float().mean().item() - 0.8) < 0.03
    assert abs(params["gray_apply"].float().mean().item() - 0.2) < 0.03
    for key, (lo, hi) in {"contrast": (0.6, 1.4), "saturation": (0.6, 1.4), "value": (0.6, 1.4),
                          "hue": (-0.1, 0.1)}.items():
        values = params[key]
        assert values.dtype == torch.float32 and values.shape == (4000,)
        assert float(values.min()) >= lo and float(values.max()) <= hi
        assert float(values.min()) < lo + 0.01 and float(values.max()) > hi - 0.01
        assert abs(float(values.mean()) - (lo + hi) / 2) < 0.02 * (hi - lo)
    # different factors draw independently
    assert not torch.equal(params["contrast"], params["saturation"])
    # a strength of 0 draws the neutral factor
    neutral = ReferenceSimCLRAugmentation(8, jitter=(0.0, 0.0, 0.0, 0.0)).draw_params(5, 16, _gen(0))
    assert torch.equal(neutral["contrast"], torch.ones(5)) and torch.equal(neutral["hue"], torch.zeros(5))


@pytest.mark.parametrize("contrast_first", [True, False])
def test_apply_is_the_restated_reference_pipeline(contrast_first):
    aug = ReferenceSimCLRAugmentation(6, crop_scale=(0.2, 1.0))
    x = torch.rand(10, 3, 12, 12, generator=_gen(7))
    params = aug.draw_params(10, 12, _gen(8))
    params["contrast_first"] = torch.full((10,), contrast_first)
    params["jitter_apply"][:3] = torch.tensor([True, False, True])
    params["gray_apply"][:3] = torch.tensor([False, True, True])
    got = aug.apply(x, params)
    jittered = ref_jitter(x, params["jitter_apply"], params["contrast"], params["hue"], params["saturation"],
                          params["value"], contrast_first)
    want = ref_crop(ref_gray(jittered, params["gray_apply"]), params["boxes"], (6, 6)).float()
    torch.testing.assert_close(got, want, rtol=0, atol=2e-6)
    assert torch.equal(got[:, 0][params["gray_apply"]], got[:, 2][params["gray_apply"]])


def test_nothing_random_is_the_identity():
    aug = ReferenceSimCLRAugmentation(12, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), p_jitter=0.0, p_gray=0.0)
    x = torch.rand(4, 3, 12, 12, generator=_gen(9))
    torch.testing.assert_close(aug(x, generator=_gen(0)), x, rtol=0, atol=1e-6)


def test_pickling_round_trip_keeps_settings_and_output():
    aug = ReferenceSimCLRAugmentation(8, crop_scale=(0.25, 0.75), jitter=(0.3, 0.2, 0.1, 0.05), p_jitter=0.5,
                                      p_gray=0.4)
    copy = pickle.loads(pickle.dumps(aug))
    assert (copy.output_size, copy.crop_scale, copy.jitter, copy.p_jitter, copy.p_gray) == (
        8, (0.25, 0.75), (0.3, 0.2, 0.1, 0.05), 0.5, 0.4)
    x = torch.rand(6, 3, 16, 16, generator=_gen(10))
    assert torch.equal(aug(x, generator=_gen(1)), copy(x, generator=_gen(1)))


def test_gradients_reach_the_images():
    aug = ReferenceSimCLRAugmentation(6)
    x = torch.rand(4, 3, 12, 12, generator=_gen(11)).requires_grad_(True)
    aug(x, generator=_gen(0)).sum().backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0


def test_on_the_generators_device():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    aug = ReferenceSimCLRAugmentation(8)
    generator = torch.Generator("cuda").manual_seed(0)
    params = aug.draw_params(6, 16, generator)
    assert all(v.device.type == "cuda" for v in params.values())
    x = torch.rand(6, 3, 16, 16, device="cuda")
    a = aug(x, generator=torch.Generator("cuda").manual_seed(3))
    assert a.device.type == "cuda" and torch.equal(a, aug(x, generator=torch.Generator("cuda").manual_seed(3)))
    cpu_params = {k: v.cpu() for k, v in aug.draw_params(6, 16, torch.Generator("cuda").manual_seed(3)).items()}
    torch.testing.assert_close(aug.apply(x.cpu(), cpu_params), a.cpu(), rtol=0, atol=1e-5)


def _params(n=2, **changes):
    params = ReferenceSimCLRAugmentation(4).draw_params(n, 8, _gen(0))
    params.update(changes)
    return params


_X = torch.rand(2, 3, 8, 8, generator=_gen(0))

BAD_AUG = [
    ("gray-images", lambda: ReferenceSimCLRAugmentation(4)(_X[:, :1]), InputError,
     r"needs RGB images \(the reference converts every image to RGB\); got C = 1"),
    ("gray-images-apply", lambda: ReferenceSimCLRAugmentation(4).apply(_X[:, :1], _params()), InputError,
     r"needs RGB images"),
    ("range", lambda: ReferenceSimCLRAugmentation(4)(_X * 2), InputError, r"images must be in \[0, 1\]"),
    ("3d", lambda: ReferenceSimCLRAugmentation(4)(_X[0]), InputError, r"images must be a \(B, C, H, W\) batch"),
    ("missing-param", lambda: ReferenceSimCLRAugmentation(4).apply(
        _X, {k: v for k, v in _params().items() if k != "hue"}), InputError, r"params misses hue"),
    ("params-type", lambda: ReferenceSimCLRAugmentation(4).apply(_X, [1, 2]), InputTypeError,
     r"params must be a dict of tensors"),
    ("param-rows", lambda: ReferenceSimCLRAugmentation(4).apply(_X, _params(3)), InputError,
     r"jitter_apply must have shape \(2,\)"),
    ("boxes-shape", lambda: ReferenceSimCLRAugmentation(4).apply(_X, _params(boxes=torch.ones(2, 2))), InputError,
     r"boxes must have shape \(2, 4\)"),
    ("hue-range", lambda: ReferenceSimCLRAugmentation(4).apply(_X, _params(hue=torch.ones(2))), InputError,
     r"hue factors must be in \[-0.5, 0.5\]"),
    ("n-draw", lambda: ReferenceSimCLRAugmentation(4).draw_params(0, 8), InputError, r"n must be at least 1"),
    ("size-draw", lambda: ReferenceSimCLRAugmentation(4).draw_params(2, (8, -1)), InputError,
     r"input_size must be positive"),
    ("output-size", lambda: ReferenceSimCLRAugmentation(0), ConfigError, r"output_size must be a positive int"),
    ("crop-scale", lambda: ReferenceSimCLRAugmentation(4, crop_scale=(0.5, 1.5)), ConfigError,
     r"crop_scale = \(0.5, 1.5\) must satisfy 0 < low <= high <= 1"),
    ("crop-ratio", lambda: ReferenceSimCLRAugmentation(4, crop_ratio=(2.0, 1.0)), ConfigError,
     r"crop_ratio = \(2.0, 1.0\) must satisfy"),
    ("jitter-length", lambda: ReferenceSimCLRAugmentation(4, jitter=(0.4, 0.4)), ConfigError,
     r"jitter must be 4 non-negative strengths"),
    ("jitter-negative", lambda: ReferenceSimCLRAugmentation(4, jitter=(0.4, -0.4, 0.4, 0.1)), ConfigError,
     r"jitter must be 4 non-negative strengths"),
    ("hue-strength", lambda: ReferenceSimCLRAugmentation(4, jitter=(0.4, 0.4, 0.4, 0.6)), ConfigError,
     r"hue jitter must be in \[0, 0.5\]"),
    ("p-jitter", lambda: ReferenceSimCLRAugmentation(4, p_jitter=1.5), ConfigError, r"p_jitter must be in \[0, 1\]"),
    ("p-gray", lambda: ReferenceSimCLRAugmentation(4, p_gray="0.2"), ConfigError, r"p_gray must be a float"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in BAD_AUG], ids=[c[0] for c in BAD_AUG])
def test_bad_augmentation_inputs_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_crop_of_the_pipeline_is_affine_crop():
    # with the colour steps off, the pipeline is the crop of the drawn boxes
    aug = ReferenceSimCLRAugmentation(5, p_jitter=0.0, p_gray=0.0)
    x = torch.rand(3, 3, 10, 10, generator=_gen(12))
    params = aug.draw_params(3, 10, _gen(13))
    assert torch.equal(aug.apply(x, params), affine_crop(x, params["boxes"], 5).clamp(0, 1))
