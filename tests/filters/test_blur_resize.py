from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d, median_blur

from dia_augment.errors import InputError
from dia_augment.filters import GaussianDissolving, MedianDissolving, ResizeDissolving, make_dissolver
from dia_augment.filters.blur import ReferenceGaussianBlur, ReferenceMedianBlur, opencv_default_gaussian_kernel


def images(b: int = 3, c: int = 3, s: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(seed))


class TestGaussian:
    def test_step_zero_is_identity(self):
        x = images()
        assert torch.equal(GaussianDissolving()(x, 0), x)

    def test_sigma_follows_the_step(self):
        x = images()
        t = torch.tensor([30, 50, 99])
        ref = torch.cat([gaussian_blur2d(x[i : i + 1], 7, (0.02 * s, 0.02 * s)) for i, s in enumerate(t.tolist())])
        torch.testing.assert_close(GaussianDissolving()(x, t), ref.clamp(0, 1), atol=1e-6, rtol=0)

    def test_stronger_step_removes_more_detail(self):
        x = images(1, 1, 32)
        blur = GaussianDissolving()
        grads = [torch.diff(blur(x, t), dim=-1).abs().mean() for t in (0, 30, 60, 99)]
        assert all(a > b for a, b in zip(grads, grads[1:]))

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="odd"):
            GaussianDissolving(kernel_size=6)
        with pytest.raises(ValueError, match="sigma_per_step"):
            GaussianDissolving(sigma_per_step=0)
        with pytest.raises(ValueError, match="border_type"):
            GaussianDissolving(border_type="zeros")
        with pytest.raises(ValueError, match="resolution 3 is below the 4 px"):
            GaussianDissolving(resolution=3)

    def test_images_smaller_than_the_reflect_padding_get_a_clear_error(self):
        # kernel 7 pads 3 px: reflect needs sides of at least 4, checked before any work
        with pytest.raises(InputError, match=r"size \(3, 8\) are too small.*at least 4"):
            GaussianDissolving()(torch.rand(1, 1, 3, 8), 50)
        x = torch.full((1, 1, 2, 2), 0.5)
        torch.testing.assert_close(GaussianDissolving(border_type="replicate")(x, 50), x)  # a constant stays constant
        assert GaussianDissolving()(torch.rand(1, 1, 4, 4), 50).shape == (1, 1, 4, 4)


class TestMedian:
    def test_median_for_positive_steps_identity_at_zero(self):
        x = images()
        out = MedianDissolving()(x, torch.tensor([0, 30, 99]))
        assert torch.equal(out[0], x[0])
        torch.testing.assert_close(out[1:], median_blur(x[1:], 7, border_type="reflect"))

    def test_small_images(self):
        with pytest.raises(InputError, match="at least 4"):
            MedianDissolving()(torch.rand(1, 1, 8, 2), 50)
        x = torch.full((1, 1, 2, 2), 0.3)
        torch.testing.assert_close(MedianDissolving(border_type="replicate")(x, 50), x)

    def test_removes_an_isolated_lesion(self):
        x = torch.full((1, 1, 16, 16), 0.2)
        x[..., 8, 8] = 1.0
        torch.testing.assert_close(MedianDissolving()(x, 50), torch.full_like(x, 0.2))


class TestReferenceBlurs:
    def test_opencv_default_kernel_7_is_its_fixed_table(self):
        # cv2.getGaussianKernel(7, 0) (OpenCV 4.14): [1, 3.5, 7, 9, 7, 3.5, 1] / 32, close to but not
        # the sampled Gaussian of its nominal sigma 0.3 * ((7 - 1) / 2 - 1) + 0.8 = 1.4
        table = torch.tensor([1, 3.5, 7, 9, 7, 3.5, 1], dtype=torch.float64) / 32
        assert torch.equal(opencv_default_gaussian_kernel(7), table)
        gauss = torch.exp(-((torch.arange(7.0, dtype=torch.float64) - 3) ** 2) / (2 * 1.4**2))
        assert float((gauss / gauss.sum() - table).abs().max()) == pytest.approx(0.0068, abs=1e-4)  # centre tap
        assert opencv_default_gaussian_kernel(3).tolist() == [0.25, 0.5, 0.25]
        with pytest.raises(ValueError, match="1, 3, 5 or 7"):
            opencv_default_gaussian_kernel(9)

    def test_gaussian_values_zero_padding_and_step_ignored(self):
        blur = ReferenceGaussianBlur()
        ones = torch.ones(1, 1, 9, 9)
        out = blur(ones, 50)
        inner = 0.28125 + 0.21875 + 0.109375 + 0.03125  # the half kernel a corner pixel sees
        assert out[0, 0, 0, 0].item() == pytest.approx(inner**2)  # zero padding darkens the corner
        assert out[0, 0, 4, 4].item() == pytest.approx(1.0)  # the centre sees the whole kernel
        assert out[0, 0, 0, 4].item() == pytest.approx(inner)
        x = images(2, 3, 12)
        assert torch.equal(blur(x, 0), blur(x, torch.tensor([30, 99])))  # every step: the same blur
        # each channel on its own, against a hand-written 7 x 7 correlation with zero padding
        k = opencv_default_gaussian_kernel(7)
        kernel = torch.outer(k, k)
        padded = F.pad(x.double(), (3, 3, 3, 3))
        expected = torch.zeros_like(x, dtype=torch.float64)
        for i in range(7):
            for j in range(7):
                expected += kernel[i, j] * padded[..., i : i + 12, j : j + 12]
        torch.testing.assert_close(blur(x, 0).double(), expected.clamp(0, 1), atol=1e-6, rtol=0)

    def test_gaussian_handles_images_smaller_than_the_kernel(self):
        x = torch.full((1, 3, 1, 1), 0.8)
        torch.testing.assert_close(ReferenceGaussianBlur()(x, 40), x * 0.28125**2)

    def test_median_blurs_at_every_step_with_zero_padding(self):
        x = images(2, 1, 9)
        blur = ReferenceMedianBlur()
        torch.testing.assert_close(blur(x, 0), median_blur(x, 7, border_type="constant"))
        assert torch.equal(blur(x, 0), blur(x, 99))
        # a constant image: 16 of the corner's 49 window pixels are inside, so the median is a padded zero
        out = blur(torch.ones(1, 1, 9, 9), 0)
        assert out[0, 0, 0, 0].item() == 0.0 and out[0, 0, 4, 4].item() == 1.0
        assert blur(torch.full((1, 1, 2, 3), 0.5), 10).abs().max().item() == 0.0  # smaller than the kernel: no crash


class TestResize:
    def test_down_and_back(self):
        x = images(2, 1, 32)
        ref = F.interpolate(F.interpolate(x, size=(8, 8), mode="bilinear"), size=(32, 32), mode="bilinear")
        torch.testing.assert_close(ResizeDissolving(8)(x, 40), ref.clamp(0, 1))

    def test_same_size_is_identity(self):
        x = images()
        assert torch.equal(ResizeDissolving(16)(x, 99), x)

    def test_needs_resolution(self):
        with pytest.raises(ValueError, match="resolution"):
            make_dissolver("resize")


class TestFactory:
    @pytest.mark.parametrize(
        ("name", "cls"),
        [
            ("gaussian", GaussianDissolving),
            ("median", MedianDissolving),
            ("gaussian-reference", ReferenceGaussianBlur),
            ("median-reference", ReferenceMedianBlur),
        ],
    )
    def test_names(self, name, cls):
        assert type(make_dissolver(name)) is cls

    def test_unknown(self):
        with pytest.raises(ValueError, match="unknown dissolver 'diffusion'"):
            make_dissolver("diffusion")

    def test_ddpm_needs_path(self):
        with pytest.raises(ValueError, match="path="):
            make_dissolver("ddpm")

    def test_bad_resolution_and_mode(self):
        with pytest.raises(ValueError, match="resolution"):
            ResizeDissolving(0)
        with pytest.raises(ValueError, match="resize_mode"):
            ResizeDissolving(8, resize_mode="lanczos")
