"""Bad inputs to ``RandomDissolving``, ``SimCLRAugmentation`` and the shift transformations.

``RandomDissolving`` must answer the same for the same batch whatever its random gate draws: a
bad batch raises on every call (also at ``p = 0`` and when the gate misses the bad row), and
replayed ``params`` must fit the batch.
"""

from __future__ import annotations

import pytest
import torch

from dia_augment import GaussianDissolving, RandomDissolving
from dia_augment.augmentation.simclr import SimCLRAugmentation
from dia_augment.errors import ConfigError, InputError, InputTypeError
from dia_augment.shift import expand_shifts, shift_transform
from tests.bad_inputs import assert_raises_naming, case, images, with_value


x = images(4, 1, 8)


def aug(p: float = 0.5, seed: int = 0, **kwargs) -> RandomDissolving:
    return RandomDissolving(GaussianDissolving(), p=p, generator=seed, **kwargs)


def first_seed_missing_row(row: int, p: float = 0.5, n: int = 4) -> int:
    """A seed whose first gate draw leaves ``row`` of an ``n``-row batch out (found, not hard-coded)."""
    for seed in range(100):
        gate = torch.rand(n, generator=torch.Generator().manual_seed(seed)) < p
        if not gate[row]:
            return seed
    raise AssertionError("no seed found")


def replay(first: torch.Tensor, second: torch.Tensor, p: float = 1.0):
    a = aug(p)
    a(first)
    return a(second, params=a._params)


def replay_with(params: dict) -> torch.Tensor:
    return aug(1.0)(x, params=params)


CONSTRUCTOR_CASES = [
    case("dissolver-function", lambda tmp: RandomDissolving(lambda y, t: y), InputTypeError, "dissolver"),
    case(
        "dissolver-step-range-positional",
        lambda tmp: RandomDissolving((30, 100)),
        InputTypeError,
        "dissolver",
        "step_range=",
    ),
    case("p-above-one", lambda tmp: aug(p=1.5), ConfigError, "p", "1.5"),
    case("p-negative", lambda tmp: aug(p=-0.1), ConfigError, "p", "-0.1"),
    case("p-nan", lambda tmp: aug(p=float("nan")), ConfigError, "p", "nan"),
    case("p-string", lambda tmp: aug(p="0.5"), ConfigError, "p", "str"),
    case("p-none", lambda tmp: aug(p=None), ConfigError, "p", "NoneType"),
    case("step-range-inverted", lambda tmp: aug(step_range=(100, 30)), ConfigError, "step_range", "inverted"),
    case("step-range-empty", lambda tmp: aug(step_range=(30, 30)), ConfigError, "step_range", "empty"),
    case("step-range-non-integer", lambda tmp: aug(step_range=(30.5, 100)), ConfigError, "step_range", "30.5"),
    case("step-range-non-integer-high", lambda tmp: aug(step_range=(30, 99.9)), ConfigError, "step_range", "99.9"),
    case("step-range-beyond-schedule", lambda tmp: aug(step_range=(0, 2000)), ConfigError, "step_range", "[0, 1000]"),
    case("step-range-negative", lambda tmp: aug(step_range=(-1, 10)), ConfigError, "step_range", "[0, 1000]"),
    case("step-range-one-value", lambda tmp: aug(step_range=(30,)), ConfigError, "step_range", "pair"),
    case("step-range-three-values", lambda tmp: aug(step_range=(30, 60, 90)), ConfigError, "step_range", "pair"),
    case("step-range-string", lambda tmp: aug(step_range="30,100"), ConfigError, "step_range", "pair"),
    case("step-range-bool", lambda tmp: aug(step_range=(False, True)), ConfigError, "step_range"),
    case(
        "version-with-dissolver",
        lambda tmp: RandomDissolving(GaussianDissolving(), version="1.5"),
        ConfigError,
        "version",
    ),
    case("generator-string", lambda tmp: aug(seed="0"), InputTypeError, "generator", "str"),
    case("generator-float", lambda tmp: aug(seed=1.5), InputTypeError, "generator", "float"),
]

FORWARD_CASES = [
    case("nan-p1", lambda tmp: aug(1.0)(with_value(x, float("nan"))), InputError, "input", "NaN"),
    case("range-255-p1", lambda tmp: aug(1.0)(x * 255), InputError, "input", "[0, 1]"),
    case("nan-p0", lambda tmp: aug(0.0)(with_value(x, float("nan"))), InputError, "input", "NaN"),
    case("range-255-p0", lambda tmp: aug(0.0)(x * 255), InputError, "input", "[0, 1]"),
    case("range-minus1-p0", lambda tmp: aug(0.0)(x * 2 - 1), InputError, "input", "[0, 1]"),
    case(
        "nan-in-a-row-the-gate-misses",
        lambda tmp: aug(0.5, seed=first_seed_missing_row(0))(with_value(x, float("nan"))),
        InputError,
        "input",
        "NaN",
    ),
    case(
        "nan-same-on-batch-gate-off",
        lambda tmp: aug(0.0, same_on_batch=True)(with_value(x, float("nan"))),
        InputError,
        "input",
    ),
    case("uint8", lambda tmp: aug(1.0)(x.to(torch.uint8)), InputTypeError, "input", "uint8"),
    case("list", lambda tmp: aug(1.0)([[0.5]]), InputTypeError, "input"),
    case("5d", lambda tmp: aug(1.0)(x[None]), InputError, "input"),
    case("two-channels", lambda tmp: aug(1.0)(images(2, 2, 8)), InputError, "input", "C = 2"),
    case("two-channels-p0", lambda tmp: aug(0.0)(images(2, 2, 8)), InputError, "input", "C = 2"),
]

REPLAY_CASES = [
    case("params-fewer-rows", lambda tmp: replay(x, x[:3]), InputError, "params", "3"),
    case("params-more-rows", lambda tmp: replay(x, images(6, 1, 8)), InputError, "params", "6"),
    case(
        "params-more-rows-gated",
        lambda tmp: replay(x, images(6, 1, 8), p=0.5),
        InputError,
        "params",
        "6",
    ),
    case("params-without-step", lambda tmp: replay_with({"batch_prob": torch.ones(4)}), InputError, "params", "step"),
    case(
        "params-step-out-of-range",
        lambda tmp: replay_with({"batch_prob": torch.ones(4), "step": torch.tensor([5000, 40, 50, 60])}),
        InputError,
        "5000",
    ),
    case(
        "params-float-steps",
        lambda tmp: replay_with({"batch_prob": torch.ones(4), "step": torch.tensor([40.5, 40, 50, 60])}),
        InputTypeError,
        "float",
    ),
]

SIMCLR_CASES = [
    case("simclr-size-zero", lambda tmp: SimCLRAugmentation(0), ConfigError, "output_size"),
    case("simclr-size-float", lambda tmp: SimCLRAugmentation(32.0), ConfigError, "output_size"),
    case("simclr-crop-scale-above-one", lambda tmp: SimCLRAugmentation(8, crop_scale=(0.5, 1.5)), ConfigError,
         "crop_scale"),
    case("simclr-crop-scale-inverted", lambda tmp: SimCLRAugmentation(8, crop_scale=(0.9, 0.1)), ConfigError,
         "crop_scale"),
    case("simclr-crop-scale-zero", lambda tmp: SimCLRAugmentation(8, crop_scale=(0.0, 1.0)), ConfigError,
         "crop_scale"),
    case("simclr-ratio-one-value", lambda tmp: SimCLRAugmentation(8, crop_ratio=(0.75,)), ConfigError, "crop_ratio"),
    case("simclr-jitter-three", lambda tmp: SimCLRAugmentation(8, jitter=(0.4, 0.4, 0.4)), ConfigError, "jitter"),
    case("simclr-hue", lambda tmp: SimCLRAugmentation(8, jitter=(0.4, 0.4, 0.4, 0.9)), ConfigError, "hue"),
    case("simclr-p-jitter", lambda tmp: SimCLRAugmentation(8, p_jitter=2.0), ConfigError, "p_jitter"),
    case("simclr-p-gray", lambda tmp: SimCLRAugmentation(8, p_gray=-1), ConfigError, "p_gray"),
    case("simclr-images-range", lambda tmp: SimCLRAugmentation(8)(x * 255), InputError, "images", "[0, 1]"),
    case("simclr-images-3d", lambda tmp: SimCLRAugmentation(8)(x[0]), InputError, "images"),
]

SHIFT_CASES = [
    case("shift-k-too-large", lambda tmp: shift_transform(x, 4), InputError, "k = 4"),
    case("shift-k-float", lambda tmp: shift_transform(x, 1.0), InputTypeError, "k"),
    case("shift-k-wrong-length", lambda tmp: shift_transform(x, torch.tensor([0, 1])), InputError, "k"),
    case("shift-kind", lambda tmp: shift_transform(x, 1, kind="flip"), InputError, "kind", "flip"),
    case("shift-rotation-not-square", lambda tmp: shift_transform(images(2, 1, 8, 6), 1), InputError, "square"),
    case("shift-images-3d", lambda tmp: shift_transform(x[0], 1), InputError, "images"),
    case("expand-num-shifts", lambda tmp: expand_shifts(x, num_shifts=5), InputError, "num_shifts"),
]


@pytest.mark.parametrize(
    "call, error, names", CONSTRUCTOR_CASES + FORWARD_CASES + REPLAY_CASES + SIMCLR_CASES + SHIFT_CASES
)
def test_augmentation_rejects(call, error, names, tmp_path):
    assert_raises_naming(call, tmp_path, error, names)


@pytest.mark.parametrize("bad", ["nan", "range"])
def test_the_same_bad_batch_raises_on_every_call(bad):
    batch = with_value(x, float("nan"), row=2) if bad == "nan" else with_value(x, 7.0, row=2)
    augmentation = aug(0.5, seed=0)
    for _ in range(12):  # twelve draws of the gate: some select row 2, some do not
        with pytest.raises(InputError, match="input"):
            augmentation(batch)
