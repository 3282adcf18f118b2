from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d, median_blur

from dia_augment.filters import GaussianDissolving, MedianDissolving, ResizeDissolving, make_dissolver


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


class TestMedian:
    def test_median_for_positive_steps_identity_at_zero(self):
        x = images()
        out = MedianDissolving()(x, torch.tensor([0, 30, 99]))
        assert torch.equal(out[0], x[0])
        torch.testing.assert_close(out[1:], median_blur(x[1:], 7))

    def test_removes_an_isolated_lesion(self):
        x = torch.full((1, 1, 16, 16), 0.2)
        x[..., 8, 8] = 1.0
        torch.testing.assert_close(MedianDissolving()(x, 50), torch.full_like(x, 0.2))


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
    @pytest.mark.parametrize(("name", "cls"), [("gaussian", GaussianDissolving), ("median", MedianDissolving)])
    def test_names(self, name, cls):
        assert isinstance(make_dissolver(name), cls)

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
