"""Bad inputs to the dissolving filters: images, steps, noise, constructor arguments, ``make_dissolver``."""

from __future__ import annotations

import pytest
import torch

from dia_augment.errors import ConfigError, InputError, InputTypeError
from dia_augment.filters import (
    DDPMDissolving,
    GaussianDissolving,
    MedianDissolving,
    ResizeDissolving,
    ddpm_dissolve,
    make_dissolver,
)
from dia_augment.filters.presets import make_scheduler, make_unet
from tests.bad_inputs import assert_raises_naming, case, images, micro_ddpm, with_value


gauss = GaussianDissolving()
x = images()

IMAGE_CASES = [
    case("list", lambda tmp: gauss([[0.5]], 50), InputTypeError, "images", "torch.Tensor"),
    case("numpy", lambda tmp: gauss(x.numpy(), 50), InputTypeError, "images", "ndarray"),
    case("3d", lambda tmp: gauss(x[0], 50), InputError, "images", "(B, C, H, W)"),
    case("2d", lambda tmp: gauss(x[0, 0], 50), InputError, "images", "(B, C, H, W)"),
    case("5d", lambda tmp: gauss(x[None], 50), InputError, "images", "(B, C, H, W)"),
    case("uint8", lambda tmp: gauss((x * 255).to(torch.uint8), 50), InputTypeError, "images", "uint8", "/ 255"),
    case("int64", lambda tmp: gauss(x.long(), 50), InputTypeError, "images", "int64"),
    case("bool", lambda tmp: gauss(x > 0.5, 50), InputTypeError, "images", "bool"),
    case("empty-batch", lambda tmp: gauss(x[:0], 50), InputError, "images", "empty"),
    case("two-channels", lambda tmp: gauss(images(c=2), 50), InputError, "images", "channels", "C = 2"),
    case("four-channels", lambda tmp: gauss(images(c=4), 50), InputError, "images", "C = 4"),
    case("zero-height", lambda tmp: gauss(x[..., :0, :], 50), InputError, "images", "empty spatial"),
    case("nan", lambda tmp: gauss(with_value(x, float("nan")), 50), InputError, "images", "NaN"),
    case("inf", lambda tmp: gauss(with_value(x, float("inf")), 50), InputError, "images", "inf"),
    case("minus-inf", lambda tmp: gauss(with_value(x, float("-inf")), 50), InputError, "images", "inf"),
    case("range-0-255", lambda tmp: gauss(x * 255, 50), InputError, "images", "[0, 1]", "x / 255"),
    case("range-minus1-1", lambda tmp: gauss(x * 2 - 1, 50), InputError, "images", "[0, 1]", "(x + 1) / 2"),
    case("one-pixel-above", lambda tmp: gauss(with_value(x, 1.01), 50), InputError, "images", "[0, 1]"),
    case("ddpm-nan", lambda tmp: micro_ddpm()(with_value(x, float("nan")), 50), InputError, "images", "NaN"),
    case("ddpm-uint8", lambda tmp: micro_ddpm()(x.to(torch.uint8), 50), InputTypeError, "images", "uint8"),
    case("median-range", lambda tmp: MedianDissolving()(x * 255, 50), InputError, "images", "[0, 1]"),
    case("resize-3d", lambda tmp: ResizeDissolving(4)(x[0], 0), InputError, "images"),
    case("functional-ddpm-range", lambda tmp: ddpm_dissolve(x * 255, 50, *_unet_and_scheduler()), InputError, "images"),
]

STEP_CASES = [
    case("t-too-large", lambda tmp: gauss(x, 1000), InputError, "t = 1000", "[0, 1000)"),
    case("t-negative", lambda tmp: gauss(x, -1), InputError, "t = -1"),
    case("t-float", lambda tmp: gauss(x, 50.0), InputTypeError, "t", "float"),
    case("t-bool", lambda tmp: gauss(x, True), InputTypeError, "t", "bool"),
    case("t-str", lambda tmp: gauss(x, "50"), InputTypeError, "t", "str"),
    case("t-none", lambda tmp: gauss(x, None), InputTypeError, "t", "NoneType"),
    case("t-float-tensor", lambda tmp: gauss(x, torch.tensor([50.0, 60.0])), InputTypeError, "t", "float32"),
    case("t-bool-tensor", lambda tmp: gauss(x, torch.tensor([True, False])), InputTypeError, "t", "bool"),
    case("t-wrong-length", lambda tmp: gauss(x, torch.tensor([50, 60, 70])), InputError, "t", "(2,)", "(3,)"),
    case("t-2d", lambda tmp: gauss(x, torch.tensor([[50], [60]])), InputError, "t", "(2, 1)"),
    case("t-tensor-out-of-range", lambda tmp: gauss(x, torch.tensor([50, 1200])), InputError, "t", "1200"),
    case("t-tensor-negative", lambda tmp: gauss(x, torch.tensor([-3, 10])), InputError, "t", "-3"),
    case("ddpm-t-too-large", lambda tmp: micro_ddpm()(x, 1000), InputError, "t = 1000"),
    case("ddpm-noise-shape", lambda tmp: _noisy_ddpm()(x, 50, noise=torch.zeros(2, 1, 4, 4)), InputError, "noise"),
]

SIZE_CASES = [
    case("gaussian-2px", lambda tmp: gauss(images(h=2), 50), InputError, "images", "at least 4"),
    case("gaussian-3px", lambda tmp: gauss(images(h=3), 50), InputError, "images", "at least 4"),
    case("gaussian-1x32", lambda tmp: gauss(images(h=1, w=32), 50), InputError, "images"),
    case("median-2px", lambda tmp: MedianDissolving()(images(h=2), 50), InputError, "images"),
    case(
        "gaussian-working-resolution-too-small",
        lambda tmp: GaussianDissolving(resolution=2)(images(h=16), 50),
        ConfigError,
        "resolution",
    ),
]

CONSTRUCTOR_CASES = [
    case("gaussian-even-kernel", lambda tmp: GaussianDissolving(kernel_size=4), ConfigError, "kernel_size", "4"),
    case("gaussian-zero-kernel", lambda tmp: GaussianDissolving(kernel_size=0), ConfigError, "kernel_size"),
    case("gaussian-float-kernel", lambda tmp: GaussianDissolving(kernel_size=7.0), ConfigError, "kernel_size", "7.0"),
    case("gaussian-zero-sigma", lambda tmp: GaussianDissolving(sigma_per_step=0), ConfigError, "sigma_per_step"),
    case("gaussian-nan-sigma", lambda tmp: GaussianDissolving(sigma_per_step=float("nan")), ConfigError, "sigma_per_step"),
    case(
        "gaussian-str-sigma",
        lambda tmp: GaussianDissolving(sigma_per_step="0.02"),
        ConfigError,
        "sigma_per_step",
    ),
    case(
        "gaussian-border",
        lambda tmp: GaussianDissolving(border_type="mirror"),
        ConfigError,
        "border_type",
        "mirror",
    ),
    case("median-even-kernel", lambda tmp: MedianDissolving(kernel_size=6), ConfigError, "kernel_size"),
    case("resize-zero", lambda tmp: ResizeDissolving(0), ConfigError, "resolution"),
    case("resize-float", lambda tmp: ResizeDissolving(16.0), ConfigError, "resolution"),
    case("resize-bool", lambda tmp: ResizeDissolving(True), ConfigError, "resolution"),
    case("resize-none", lambda tmp: ResizeDissolving(None), ConfigError, "resolution"),
    case("resize-mode", lambda tmp: ResizeDissolving(4, resize_mode="lanczos"), ConfigError, "resize_mode", "lanczos"),
    case("ddpm-scheduler", lambda tmp: DDPMDissolving(make_unet("micro", 8, 1), object()), InputTypeError, "scheduler"),
    case(
        "ddpm-resolution-zero",
        lambda tmp: DDPMDissolving(make_unet("micro", 8, 1), make_scheduler(), resolution=0),
        ConfigError,
        "resolution",
    ),
    case("make-unknown", lambda tmp: make_dissolver("blurry"), ConfigError, "blurry", "gaussian"),
    case("make-ddpm-no-path", lambda tmp: make_dissolver("ddpm"), ConfigError, "path"),
    case("make-resize-no-resolution", lambda tmp: make_dissolver("resize"), ConfigError, "resolution"),
    case(
        "make-gaussian-unknown-option",
        lambda tmp: make_dissolver("gaussian", kernel=7),
        ConfigError,
        "kernel",
    ),
]


def _unet_and_scheduler():
    torch.manual_seed(0)
    return make_unet("micro", 8, 1).eval(), make_scheduler()


def _noisy_ddpm() -> DDPMDissolving:
    unet, scheduler = _unet_and_scheduler()
    return DDPMDissolving(unet, scheduler, add_noise=True)


@pytest.mark.parametrize("call, error, names", IMAGE_CASES + STEP_CASES + SIZE_CASES + CONSTRUCTOR_CASES)
def test_filters_reject(call, error, names, tmp_path):
    assert_raises_naming(call, tmp_path, error, names)


def test_small_image_at_the_kernel_limit_is_accepted():
    # The rejection above is a limit, not a ban: 4 px is the smallest side a kernel-7 reflect blur can pad.
    y = gauss(images(h=4), 50)
    assert y.shape == (2, 1, 4, 4)
