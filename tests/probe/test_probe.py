from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from dia_augment.data import add_lesions, make_embedded_anomalies
from dia_augment.filters.base import Dissolver, ResizeDissolving
from dia_augment.probe import (
    ProbeTotals,
    anatomy_change,
    format_probe_table,
    lesion_erasure,
    probe_dissolver,
    probe_dissolvers,
    probe_readiness,
    resize_reference,
)


class Identity(Dissolver):
    def dissolve(self, images, t, noise=None):
        return images


class ReturnsCleanTwin(Dissolver):
    """Maps each image (clean or lesioned) to its clean twin: a perfect lesion eraser."""

    def __init__(self, clean, lesioned):
        super().__init__()
        self.clean, self.lesioned = clean, lesioned

    def dissolve(self, images, t, noise=None):
        flat = images.flatten(1)
        hits = [(flat[:, None] == s.flatten(1)[None]).all(-1) for s in (self.clean, self.lesioned)]
        index = torch.where(hits[0].any(1), hits[0].float().argmax(1), hits[1].float().argmax(1))
        assert bool((hits[0].any(1) | hits[1].any(1)).all())
        return self.clean[index]


class BoxBlur(Dissolver):
    """3 x 3 box blur with replicate padding for t > 0 (a constant image stays constant)."""

    def dissolve(self, images, t, noise=None):
        c = images.shape[1]
        kernel = torch.full((c, 1, 3, 3), 1 / 9, dtype=images.dtype)
        blurred = F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)
        return torch.where((t > 0).view(-1, 1, 1, 1), blurred, images)


class Offset(Dissolver):
    def dissolve(self, images, t, noise=None):
        return images + 0.1


class Noisy(Dissolver):
    """Adds 0.01 x its standard normal noise: stochastic, drawn by the probe."""

    def noise_shape(self, images_shape):
        return tuple(images_shape)

    def dissolve(self, images, t, noise=None):
        return images + 0.01 * noise


@pytest.fixture(scope="module")
def twins():
    return make_embedded_anomalies(6, 32, seed=1)


class TestAnalyticCases:
    def test_identity_erases_nothing_and_changes_nothing(self, twins):
        rows = probe_dissolver(Identity(), *twins, steps=(0, 50, 999), batch_size=4, progress=False)
        for r in rows:
            assert r["erasure"] == 0.0 and r["erasure_in_lesions"] == 0.0 and r["erasure_std"] == 0.0
            assert r["change_mae"] == 0.0 and r["change_psnr"] == math.inf and math.isnan(r["erasure_per_change"])
            assert r["num_images"] == 6
        assert [r["t"] for r in rows] == [0, 50, 999]

    def test_returning_the_clean_twin_erases_everything(self, twins):
        clean, sick, mask = twins
        rows = probe_dissolver(ReturnsCleanTwin(clean, sick), clean, sick, mask, steps=(30,), batch_size=4, progress=False)
        (r,) = rows
        assert r["erasure"] == 1.0 and r["erasure_in_lesions"] == 1.0 and r["change_mae"] == 0.0
        assert r["erasure_per_change"] == math.inf

    def test_single_pixel_lesion_on_a_constant_image(self):
        clean = torch.full((3, 1, 9, 9), 0.4)
        sick = clean.clone()
        sick[:, :, 4, 4] = torch.tensor([0.9, 0.1, 0.7]).view(3, 1)
        mask = sick != clean
        (t0, t1) = probe_dissolver(BoxBlur(), clean, sick, mask, steps=(0, 5), progress=False)
        assert t0["erasure"] == 0.0 and t0["change_mae"] == 0.0
        # A box blur spreads a spot of height a into 9 pixels of a / 9: L2 norm a / 3 overall, a / 9 in place.
        assert t1["erasure"] == pytest.approx(2 / 3, abs=1e-6)
        assert t1["erasure_in_lesions"] == pytest.approx(8 / 9, abs=1e-6)
        assert t1["erasure_std"] == pytest.approx(0.0, abs=1e-6)
        assert t1["change_mae"] == pytest.approx(0.0, abs=1e-7) and t1["change_psnr"] > 120

    def test_an_offset_changes_the_anatomy_by_its_size(self):
        clean = torch.full((2, 3, 8, 8), 0.5)
        sick, mask = add_lesions(clean, generator=0, lesion_opacity=(0.3, 0.3))
        (r,) = probe_dissolver(Offset(), clean, sick.clamp(max=0.85), mask, steps=(1,), progress=False)
        assert r["change_mae"] == pytest.approx(0.1, abs=1e-6)
        assert r["change_psnr"] == pytest.approx(20.0, abs=1e-4)  # -10 log10(0.1^2)
        assert r["erasure"] == pytest.approx(0.0, abs=1e-5) and r["erasure_per_change"] == pytest.approx(0.0, abs=1e-4)

    def test_twins_share_the_noise_and_batching_changes_nothing(self, twins):
        clean, sick, mask = twins
        a = probe_dissolver(Noisy(), clean, sick, mask, steps=(10,), batch_size=6, generator=3, progress=False)[0]
        b = probe_dissolver(Noisy(), clean, sick, mask, steps=(10,), batch_size=6, generator=3, progress=False)[0]
        assert a == b  # seeded
        assert abs(a["erasure"]) < 1e-4  # the noise cancels between the twins
        # ~ 0.01 E|N(0,1)| = 0.008, less where the clamp at 0 bites on the dark background
        assert 0.003 < a["change_mae"] < 0.0085
        blur = [probe_dissolver(BoxBlur(), clean, sick, mask, steps=(3,), batch_size=bs, progress=False)[0] for bs in (1, 4, 64)]
        for other in blur[1:]:
            for key in ("erasure", "erasure_in_lesions", "change_mae", "change_psnr"):
                assert other[key] == pytest.approx(blur[0][key], rel=1e-9)

    def test_per_image_functions_match_the_pooled_totals_for_one_image(self, twins):
        clean, sick, mask = (x[:1] for x in twins)
        d_clean, d_sick = BoxBlur()(clean, 1), BoxBlur()(sick, 1)
        totals = ProbeTotals()
        totals.add(clean, sick, mask, d_clean, d_sick)
        s = totals.summary()
        assert s["erasure"] == pytest.approx(lesion_erasure(clean, sick, d_clean, d_sick).item(), abs=1e-6)
        assert s["erasure_in_lesions"] == pytest.approx(lesion_erasure(clean, sick, d_clean, d_sick, mask).item(), abs=1e-6)
        mae, mse = anatomy_change(clean, d_clean, mask)
        assert s["change_mae"] == pytest.approx(mae.item(), rel=1e-5)
        assert s["change_psnr"] == pytest.approx(-10 * math.log10(mse.item()), rel=1e-5)


class TestDDPM:
    def test_a_random_ddpm_at_t0_is_nearly_the_identity_and_its_mode_is_kept(self):
        from dia_augment.filters import DDPMDissolving
        from dia_augment.filters.presets import make_scheduler, make_unet

        twins = make_embedded_anomalies(6, 16, seed=1)  # at the model's resolution: no resize
        torch.manual_seed(0)
        ddpm = DDPMDissolving(make_unet("micro", 16, 3), make_scheduler())
        ddpm.train()
        t0, t500 = probe_dissolver(ddpm, *twins, steps=(0, 500), batch_size=4, progress=False)
        assert ddpm.training  # restored after the probe, which runs in eval mode
        # x0 = (x - sqrt(1 - abar_0) eps) / sqrt(abar_0) with 1 - abar_0 ~ 4e-5: 0.0064 eps in [-1, 1],
        # 0.0032 eps in [0, 1]; the same eps-sized wobble on both twins leaves their difference alone.
        assert abs(t0["erasure"]) < 0.01 and t0["change_mae"] < 0.005
        assert t500["change_mae"] > 10 * t0["change_mae"]  # a random model at a large t changes everything
        again = probe_dissolver(ddpm, *twins, steps=(0, 500), batch_size=6, progress=False)
        assert again[1]["erasure"] == pytest.approx(t500["erasure"], abs=1e-5)


class TestResizeReference:
    def test_resize_only_erases_part_of_the_lesions_whatever_t(self, twins):
        reference = resize_reference(BoxBlur(resolution=16), 32)
        assert isinstance(reference, ResizeDissolving) and reference.resolution == 16
        rows = probe_dissolver(reference, *twins, steps=(0, 100), progress=False)
        assert rows[0] == {**rows[1], "t": 0}
        assert 0.2 < rows[0]["erasure"] < 0.9 and rows[0]["change_mae"] > 0
        assert resize_reference(BoxBlur(resolution=32), 32) is None and resize_reference(BoxBlur(), 32) is None

    def test_probe_dissolvers_adds_one_reference_per_resolution(self, twins):
        curves = probe_dissolvers({"a": BoxBlur(resolution=16), "b": Identity(resolution=16), "c": Identity()},
                                  *twins, steps=(0, 5), progress=False)
        assert list(curves) == ["a", "b", "c", "resize only (16 px)"]
        assert len(curves["resize only (16 px)"]) == 1
        # Identity at 16 px is the resize round trip itself.
        assert curves["b"][0]["erasure"] == pytest.approx(curves["resize only (16 px)"][0]["erasure"], abs=1e-9)
        assert "resize only (16 px)" in format_probe_table(curves)


class TestReadiness:
    def test_writes_strict_json_and_a_plot(self, tmp_path):
        images = torch.rand(5, 1, 24, 24, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
        curves = probe_readiness(Identity(), images, tmp_path, steps=(0, 40), num_images=4, lesion_sigma=(1.0, 1.5))
        saved = json.loads((tmp_path / "probe.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
        assert saved["meta"]["num_images"] == 4 and saved["meta"]["lesion_sigma"] == [1.0, 1.5]
        row = saved["curves"]["dissolver"][1]
        assert row["t"] == 40 and row["erasure"] == 0.0 and row["change_psnr"] is None
        assert curves["dissolver"][1]["change_psnr"] == math.inf
        assert (tmp_path / "probe.png").read_bytes()[:4] == b"\x89PNG"


class TestErrors:
    def test_bad_inputs_are_named(self, twins):
        clean, sick, mask = twins
        with pytest.raises(ValueError, match="mask must be a bool tensor"):
            probe_dissolver(Identity(), clean, sick, mask.float(), progress=False)
        with pytest.raises(ValueError, match="lesioned must have the shape"):
            probe_dissolver(Identity(), clean, sick[:2], mask, progress=False)
        with pytest.raises(ValueError, match=r"steps must be .* in \[0, 1000\)"):
            probe_dissolver(Identity(), clean, sick, mask, steps=(0, 1000), progress=False)
        with pytest.raises(ValueError, match="clean must be in"):
            probe_dissolver(Identity(), clean * 255, sick, mask, progress=False)
        with pytest.raises(ValueError, match="batch_size"):
            probe_dissolver(Identity(), clean, sick, mask, batch_size=0, progress=False)
        with pytest.raises(ValueError, match="num_images"):
            probe_readiness(Identity(), clean, num_images=0)
