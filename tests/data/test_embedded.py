from __future__ import annotations

import math

import pytest
import torch

from dia_augment.data import add_lesions, make_embedded_anomalies, make_embedded_dataset, render_fundus
from dia_augment.data import embedded
from dia_augment.data.embedded import _EXUDATE_COLOUR, _MICROANEURYSM_COLOUR


class TestRenderFundus:
    def test_same_seed_same_images_other_seed_differs(self):
        a = render_fundus(4, 32, generator=7)
        assert torch.equal(a, render_fundus(4, 32, generator=torch.Generator().manual_seed(7)))
        assert (a - render_fundus(4, 32, generator=8)).abs().mean() > 0.01

    def test_disc_on_dark_background(self):
        x = render_fundus(3, 64, generator=0)
        assert x.shape == (3, 3, 64, 64) and x.dtype == torch.float32
        # Corners lie far outside the disc: exactly the background level (up to the sigmoid's tail).
        torch.testing.assert_close(x[:, :, 0, 0], torch.full((3, 3), 0.02), atol=1e-6, rtol=0)
        centre = x[:, :, 24:40, 24:40].mean((2, 3))
        assert bool((centre[:, 0] > centre[:, 1]).all() and (centre[:, 1] > centre[:, 2]).all())  # orange-red
        assert bool((x >= 0).all() and (x <= 1).all())

    def test_chunking_does_not_change_images(self, monkeypatch):
        whole = render_fundus(7, 16, generator=1)
        monkeypatch.setattr(embedded, "_CHUNK", 3)
        assert torch.equal(render_fundus(7, 16, generator=1), whole)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="image_size must be an int >= 8"):
            render_fundus(2, 4)
        with pytest.raises(ValueError, match="non-negative int"):
            render_fundus(-1, 16)


class TestLesions:
    def test_single_lesion_on_flat_image(self):
        flat = torch.full((64, 3, 64, 64), 0.5)
        sick, mask = add_lesions(flat, generator=0, num_lesions=(1, 1))
        change = (sick - flat).abs().amax(1, keepdim=True)
        assert torch.equal(change > 0, mask)  # changed exactly inside the mask
        area = mask.flatten(1).sum(1).float()
        # A disc of radius 2.5 sigma, sigma in [0.6, 1.1] px: pi (1.5)^2 ~ 7 to pi (2.75)^2 ~ 24 px,
        # give or take the pixel grid.
        assert bool((area >= 4).all() and (area <= 32).all())
        # The peak moves the pixel towards an exudate or microaneurysm colour by 0.6 to 0.9 times
        # the Gaussian at the nearest pixel centre (at most 0.71 px from the lesion centre).
        towards = {c: (torch.tensor(c) - 0.5).abs().max().item() for c in (_EXUDATE_COLOUR, _MICROANEURYSM_COLOUR)}
        peak = change.flatten(1).amax(1)
        assert bool((peak <= 0.9 * max(towards.values()) + 1e-6).all())
        assert bool((peak >= 0.6 * math.exp(-0.5 * (0.71 / 0.6) ** 2) * min(towards.values())).all())

    def test_counts_and_errors(self):
        flat = torch.full((40, 3, 64, 64), 0.5)
        _, mask = add_lesions(flat, generator=1, num_lesions=(3, 3))
        assert bool((mask.flatten(1).sum(1) >= 3 * 4).all())
        with pytest.raises(ValueError, match="num_lesions"):
            add_lesions(flat, num_lesions=(0, 2))
        with pytest.raises(ValueError, match=r"\(N, C, H, W\) tensor with C = 1 or 3"):
            add_lesions(torch.rand(2, 2, 8, 8))


class TestLesionOptions:
    @pytest.mark.parametrize("shape", [(3, 3, 32, 32), (3, 1, 24, 40), (2, 1, 50, 20)])
    def test_pasting_keeps_every_pixel_outside_the_mask(self, shape):
        images = torch.rand(shape, generator=torch.Generator().manual_seed(0))
        sick, mask = add_lesions(images, generator=3, lesion_sigma=(0.4, 2.5), lesion_opacity=(0.2, 1.0))
        assert mask.shape == (shape[0], 1, *shape[2:])
        outside = ~mask.expand_as(images)
        assert torch.equal(sick[outside], images[outside])
        assert bool((sick != images).any(1, keepdim=True)[mask].all())  # and every mask pixel changed

    def test_sigma_sets_the_size_in_pixels(self):
        flat = torch.full((32, 1, 48, 48), 0.5)
        for sigma in (0.8, 2.0, 3.0):
            _, mask = add_lesions(flat, generator=0, num_lesions=(1, 1), lesion_sigma=(sigma, sigma))
            area = mask.flatten(1).sum(1).float()
            disc = math.pi * (2.5 * sigma) ** 2  # the cut-off disc, give or take the pixel grid
            assert bool((area - disc).abs().max() <= 2 * math.pi * 2.5 * sigma + 2)
            assert abs(area.mean().item() - disc) < 0.1 * disc + 1

    def test_opacity_scales_the_change_and_grayscale_uses_the_luma(self):
        flat = torch.full((16, 1, 32, 32), 0.5)
        strong, mask = add_lesions(flat, generator=4, num_lesions=(1, 1), lesion_opacity=(0.8, 0.8))
        weak, weak_mask = add_lesions(flat, generator=4, num_lesions=(1, 1), lesion_opacity=(0.4, 0.4))
        assert torch.equal(mask, weak_mask)
        torch.testing.assert_close(weak - flat, 0.5 * (strong - flat), atol=1e-6, rtol=0)
        # One lesion: change = alpha * (colour - 0.5); its sign and bound follow the colour's luma.
        luma = {c: sum(w * v for w, v in zip((0.299, 0.587, 0.114), c)) for c in (_EXUDATE_COLOUR, _MICROANEURYSM_COLOUR)}
        peak = (strong - flat).flatten(1)
        extreme = torch.where(peak.amax(1) > 0, peak.amax(1), peak.amin(1))
        bound = torch.where(extreme > 0, 0.8 * (luma[_EXUDATE_COLOUR] - 0.5), 0.8 * (luma[_MICROANEURYSM_COLOUR] - 0.5))
        assert bool(((extreme / bound) <= 1 + 1e-6).all() and ((extreme / bound) > 0.45).all())

    def test_data_set_and_twins_take_the_options(self):
        options = {"lesion_sigma": (0.3, 0.5), "lesion_opacity": (0.2, 0.3)}
        test = make_embedded_dataset("test", image_size=32, num_normal=2, num_anomalies=6, **options)
        clean, sick, mask = make_embedded_anomalies(6, 32, **options)
        assert torch.equal(test.images[2:], sick)
        default_clean, default_sick, _ = make_embedded_anomalies(6, 32)
        assert torch.equal(clean, default_clean) and not torch.equal(sick, default_sick)
        assert (sick - clean).abs().amax() < 0.3 * 0.95  # a low contrast lesion
        assert mask.flatten(1).sum(1).float().mean() < make_embedded_anomalies(6, 32)[2].flatten(1).sum(1).float().mean()

    def test_bad_options(self):
        flat = torch.full((2, 3, 16, 16), 0.5)
        with pytest.raises(ValueError, match=r"lesion_sigma must be \(low, high\)"):
            add_lesions(flat, lesion_sigma=(0.0, 1.0))
        with pytest.raises(ValueError, match="lesion_opacity must be"):
            add_lesions(flat, lesion_opacity=(0.5, 1.5))
        with pytest.raises(ValueError, match="lesion_opacity must be a"):
            make_embedded_dataset("test", image_size=16, lesion_opacity="high")
        with pytest.raises(TypeError, match="floating-point"):
            add_lesions(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))


class TestEmbeddedDataset:
    def test_default_sizes_and_determinism(self):
        train = make_embedded_dataset("train")
        test = make_embedded_dataset("test")
        assert train.images.shape == (600, 3, 64, 64) and train.labels.sum() == 0
        assert test.images.shape == (400, 3, 64, 64) and test.labels.tolist() == [0] * 200 + [1] * 200
        assert test.class_names == ["normal", "lesions"] and torch.equal(test.classes, test.labels)
        small = make_embedded_dataset("test", image_size=16, num_normal=5, num_anomalies=5)
        assert torch.equal(small.images, make_embedded_dataset("test", image_size=16, num_normal=5, num_anomalies=5).images)
        other = make_embedded_dataset("test", image_size=16, seed=1, num_normal=5, num_anomalies=5)
        assert (other.images - small.images).abs().mean() > 0.01

    def test_no_image_shared_between_splits(self):
        train = make_embedded_dataset("train", image_size=16, num_normal=50)
        test = make_embedded_dataset("test", image_size=16, num_normal=50, num_anomalies=50)
        distances = torch.cdist(train.images.flatten(1), test.images.flatten(1))
        assert distances.min() > 0.1

    def test_anomalies_are_normal_images_plus_small_lesions(self):
        test = make_embedded_dataset("test", num_normal=3, num_anomalies=50)
        clean, sick, mask = make_embedded_anomalies(50)
        assert torch.equal(test.images[3:], sick)
        changed = (sick != clean).any(1, keepdim=True)
        assert bool((changed <= mask).all())  # nothing changes outside the lesions
        fraction = changed.flatten(1).float().mean(1)
        assert bool((fraction > 0).all()) and fraction.max() < 0.03 and fraction.mean() < 0.02
        assert (sick - clean).abs().amax() > 0.2  # the lesions are visible where they are

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="normal images only"):
            make_embedded_dataset("train", num_anomalies=3)
        with pytest.raises(ValueError, match="split must be one of"):
            make_embedded_dataset("val")
        with pytest.raises(ValueError, match="empty"):
            make_embedded_dataset("test", num_normal=0, num_anomalies=0)
