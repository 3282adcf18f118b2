import pickle

import pytest
import torch

from dia_augment.augmentation.simclr import SimCLRAugmentation


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_same_generator_same_output_and_global_rng_untouched():
    aug = SimCLRAugmentation(8)
    x = torch.rand(6, 3, 12, 12, generator=_gen(1))
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = aug(x, generator=_gen(0))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(a, aug(x, generator=_gen(0)))
    assert not torch.equal(a, aug(x, generator=_gen(1)))


def test_identity_when_everything_is_off():
    aug = SimCLRAugmentation(12, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), p_jitter=0.0, p_gray=0.0)
    for c in (1, 3):
        x = torch.rand(3, c, 12, 12, generator=_gen(c))
        torch.testing.assert_close(aug(x, generator=_gen(0)), x, rtol=0, atol=1e-6)


def test_grayscale_gives_luma_in_every_channel():
    aug = SimCLRAugmentation(6, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), p_jitter=0.0, p_gray=1.0)
    x = torch.rand(2, 3, 6, 6, generator=_gen(2))
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    out = aug(x, generator=_gen(0))
    for ch in range(3):
        torch.testing.assert_close(out[:, ch], luma, rtol=0, atol=1e-5)


def test_parameters_differ_per_row():
    # Identical rows of a constant image: crops keep the constant, so each row's value is
    # its own brightness / contrast draw; with p_jitter = 1 no two rows should agree.
    aug = SimCLRAugmentation(4, jitter=(0.4, 0.4, 0.0, 0.0), p_jitter=1.0, p_gray=0.0)
    x = torch.full((8, 1, 8, 8), 0.5)
    out = aug(x, generator=_gen(0))
    per_row = out.flatten(1)
    assert torch.allclose(per_row, per_row[:, :1].expand_as(per_row), atol=1e-6)  # constant within a row
    assert per_row[:, 0].unique().numel() == 8
    # crops of a ramp differ between identical rows
    ramp = torch.linspace(0, 1, 32 * 32).view(1, 1, 32, 32).expand(8, 1, 32, 32).contiguous()
    crops = SimCLRAugmentation(4, p_jitter=0.0, p_gray=0.0)(ramp, generator=_gen(0))
    assert crops.flatten(1).unique(dim=0).shape[0] == 8


def test_grey_images_keep_one_channel_and_stay_in_range():
    aug = SimCLRAugmentation(8)
    x = torch.rand(5, 1, 16, 16, generator=_gen(3))
    out = aug(x, generator=_gen(0))
    assert out.shape == (5, 1, 8, 8)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_pickle_round_trip_gives_same_output():
    aug = SimCLRAugmentation(8)
    x = torch.rand(4, 3, 12, 12, generator=_gen(4))
    clone = pickle.loads(pickle.dumps(aug))
    assert torch.equal(aug(x, generator=_gen(5)), clone(x, generator=_gen(5)))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="output_size"):
        SimCLRAugmentation(0)
    with pytest.raises(ValueError, match="crop_scale"):
        SimCLRAugmentation(8, crop_scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="p_gray"):
        SimCLRAugmentation(8, p_gray=1.5)
    with pytest.raises(ValueError, match="jitter"):
        SimCLRAugmentation(8, jitter=(0.4, 0.4))
    aug = SimCLRAugmentation(8)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        aug(torch.rand(2, 3, 8, 8) * 255)
    with pytest.raises(ValueError, match="NaN"):
        aug(torch.full((2, 3, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="channels"):
        aug(torch.rand(2, 2, 8, 8))


def test_module_moves_with_to():
    aug = SimCLRAugmentation(4).to(torch.float64)
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    assert aug(x, generator=_gen(0)).dtype == torch.float64
