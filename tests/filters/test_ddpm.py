from __future__ import annotations

import json
import pickle

import pytest
import torch
from diffusers import DDPMScheduler

from dia_augment.filters import DDPMDissolving, ddpm_dissolve, predict_original_sample
from dia_augment.filters.presets import make_scheduler, make_unet, unet_config
from dia_augment.utils.io import CheckpointError

from .conftest import constant_eps_unet


def analytic(x: torch.Tensor, t: torch.Tensor, eps: float) -> torch.Tensor:
    abar = make_scheduler().alphas_cumprod.double()[t].view(-1, 1, 1, 1)
    s = 2 * x.double() - 1
    x0 = ((s - (1 - abar).sqrt() * eps) / abar.sqrt()).clamp(-1, 1)
    return ((x0 + 1) / 2).float()


class TestValues:
    def test_zero_noise_prediction_is_scaled_input(self):
        d = DDPMDissolving(constant_eps_unet(1, 8, 0.0), make_scheduler())
        x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        t = torch.tensor([0, 50, 300])
        torch.testing.assert_close(d(x, t), analytic(x, t, 0.0), atol=1e-6, rtol=0)

    def test_identity_as_alpha_bar_goes_to_one(self):
        d = DDPMDissolving(constant_eps_unet(1, 8, 0.0), make_scheduler())
        x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
        # abar_0 = 0.99996: the clean image comes back to within 1e-4
        torch.testing.assert_close(d(x, 0), x, atol=1e-4, rtol=0)
        assert (d(x, 700) - x).abs().max() > 0.1

    def test_known_noise_prediction_matches_formula(self):
        d = DDPMDissolving(constant_eps_unet(3, 8, 0.3), make_scheduler())
        x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
        t = torch.tensor([10, 30, 99, 500])
        torch.testing.assert_close(d(x, t), analytic(x, t, 0.3), atol=1e-6, rtol=0)

    def test_matches_scheduler_step_for_scalar_t(self):
        sched = make_scheduler()
        gen = torch.Generator().manual_seed(3)
        x, eps = torch.randn(2, 3, 4, 4, generator=gen), torch.randn(2, 3, 4, 4, generator=gen)
        for t in (3, 60, 700):
            ref = DDPMScheduler.from_config(sched.config).step(eps, t, x).pred_original_sample
            ours = predict_original_sample(x, eps, sched.alphas_cumprod, torch.full((2,), t))
            torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)

    def test_step_per_sample_equals_each_alone(self, micro_dissolver_rgb):
        x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(4))
        t = torch.tensor([30, 64, 99])
        batched = micro_dissolver_rgb(x, t)
        for i in range(3):
            torch.testing.assert_close(batched[i : i + 1], micro_dissolver_rgb(x[i : i + 1], int(t[i])), atol=1e-5, rtol=0)

    def test_expected_slice_of_seeded_micro_unet(self):
        torch.manual_seed(0)
        d = DDPMDissolving(make_unet("micro", 8, 1), make_scheduler())
        x = torch.linspace(0, 1, 64).view(1, 1, 8, 8)
        out = d(x, 60)[0, 0, 3, :4]
        expected = torch.tensor(EXPECTED_SLICE)
        torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)

    def test_resize_down_and_back(self):
        d = DDPMDissolving(constant_eps_unet(1, 8, 0.0), make_scheduler())
        x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(5))
        small = torch.nn.functional.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False)
        ref = torch.nn.functional.interpolate(analytic(small, torch.tensor([40, 40]), 0.0), size=(32, 32), mode="bilinear", align_corners=False)
        torch.testing.assert_close(d(x, 40), ref.clamp(0, 1), atol=1e-5, rtol=0)

    def test_add_noise_variant(self):
        d = DDPMDissolving(constant_eps_unet(1, 8, 0.0), make_scheduler(), add_noise=True)
        x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(6))
        noise = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(7))
        t = torch.tensor([50, 80])
        abar = make_scheduler().alphas_cumprod[t].view(-1, 1, 1, 1)
        xt = abar.sqrt() * (2 * x - 1) + (1 - abar).sqrt() * noise
        ref = ((xt / abar.sqrt()).clamp(-1, 1) + 1) / 2
        torch.testing.assert_close(d(x, t, noise=noise), ref, atol=1e-5, rtol=0)
        a = d(x, t, generator=torch.Generator().manual_seed(9))
        b = d(x, t, generator=torch.Generator().manual_seed(9))
        assert torch.equal(a, b) and not torch.equal(a, d(x, t, generator=torch.Generator().manual_seed(10)))
        with pytest.raises(ValueError, match="noise must have shape"):
            d(x, t, noise=torch.zeros(2, 1, 4, 4))

    def test_functional_equals_module(self, micro_dissolver):
        x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(8))
        ref = micro_dissolver(x, 70)
        torch.testing.assert_close(ddpm_dissolve(x, 70, micro_dissolver.unet, micro_dissolver.scheduler), ref)


class TestReferenceInputRange:
    def test_values_follow_the_paper_codes_flaw(self):
        # [0, 1] fed to the [-1, 1] model as is; the clamped [-1, 1] prediction kept, then clamped to [0, 1]
        d = DDPMDissolving(constant_eps_unet(1, 8, 0.3), make_scheduler(), input_range="reference")
        x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(8))
        t = torch.tensor([30, 60, 99])
        abar = make_scheduler().alphas_cumprod.double()[t].view(-1, 1, 1, 1)
        x0 = ((x.double() - (1 - abar).sqrt() * 0.3) / abar.sqrt()).clamp(-1, 1)
        torch.testing.assert_close(d(x, t), x0.clamp(0, 1).float(), atol=1e-6, rtol=0)
        # the explicit mapping of the same model: (clamp((2x - 1 - ...) / ...) + 1) / 2
        torch.testing.assert_close(DDPMDissolving(d.unet, make_scheduler())(x, t), analytic(x, t, 0.3), atol=1e-6, rtol=0)

    def test_dark_pixels_go_to_zero(self):
        # a zero prediction and t -> 0 leave x0 = x / sqrt(abar) ~ x: nothing changes ...
        d = DDPMDissolving(constant_eps_unet(1, 8, 1.0), make_scheduler(), input_range="reference")
        x = torch.full((1, 1, 8, 8), 0.1)
        # ... but a positive noise prediction pushes x0 below 0, where the clamp to [0, 1] cuts it
        abar = float(make_scheduler().alphas_cumprod[99])
        assert (0.1 - (1 - abar) ** 0.5) / abar**0.5 < 0
        assert d(x, 99).max().item() == 0.0

    def test_bad_input_range(self):
        with pytest.raises(ValueError, match="input_range"):
            DDPMDissolving(constant_eps_unet(1, 8, 0.0), make_scheduler(), input_range="raw")


class TestUnlikeTrainingData:
    def test_other_channels_warn_once_per_dissolver(self, micro_dissolver):
        x = torch.rand(2, 3, 8, 8)
        with pytest.warns(UserWarning, match="trained on 1-channel images, but these have 3") as record:
            micro_dissolver(x, 50)
            micro_dissolver(x, 60)
        assert len([w for w in record if "channel" in str(w.message)]) == 1
        twin = DDPMDissolving(micro_dissolver.unet, make_scheduler())
        with pytest.warns(UserWarning, match="1-channel"):
            twin(x, 50)

    def test_smaller_images_warn_once(self, micro_dissolver):
        with pytest.warns(UserWarning, match="these 4x4 images are smaller than the 8 px images") as record:
            micro_dissolver(torch.rand(1, 1, 4, 4), 50)
            micro_dissolver(torch.rand(1, 1, 4, 4), 50)
        assert len(record) == 1

    def test_matching_data_is_silent(self, micro_dissolver):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            micro_dissolver(torch.rand(2, 1, 8, 8), 50)
            micro_dissolver(torch.rand(2, 1, 32, 32), 50)


class TestChannelsAndDtypes:
    def test_gray_image_through_rgb_model(self, micro_dissolver_rgb):
        x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        ref = micro_dissolver_rgb(x.expand(-1, 3, -1, -1).contiguous(), 50).mean(1, keepdim=True)
        torch.testing.assert_close(micro_dissolver_rgb(x, 50), ref, atol=1e-6, rtol=0)

    def test_rgb_image_through_gray_model_keeps_colour(self, micro_dissolver):
        x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
        luma = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        ref = (x + (micro_dissolver(luma, 50) - luma)).clamp(0, 1)
        torch.testing.assert_close(micro_dissolver(x, 50), ref, atol=1e-6, rtol=0)

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
    def test_dtype_in_equals_dtype_out(self, micro_dissolver, dtype):
        x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
        out = micro_dissolver(x.to(dtype), 50)
        assert out.dtype == dtype
        torch.testing.assert_close(out.float(), micro_dissolver(x, 50), atol=1e-2, rtol=0)

    def test_bf16_model(self):
        torch.manual_seed(0)
        unet = make_unet("micro", 8, 1)
        d32 = DDPMDissolving(unet, make_scheduler())
        x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
        ref = d32(x, 50)
        d16 = DDPMDissolving(unet, make_scheduler()).to(torch.bfloat16)
        out = d16(x, 50)
        assert d16.unet.dtype == torch.bfloat16 and out.dtype == torch.float32
        torch.testing.assert_close(out, ref, atol=3e-2, rtol=0)


class TestGradients:
    def test_gradcheck_float64(self):
        torch.manual_seed(0)
        d = DDPMDissolving(make_unet("micro", 4, 1), make_scheduler()).double()
        x = (torch.rand(1, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1)
        x.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda inp: d(inp, 40), (x,), eps=1e-6, atol=1e-5)

    def test_gradient_reaches_input_not_weights(self, micro_dissolver):
        x = torch.rand(2, 1, 16, 16, requires_grad=True)
        micro_dissolver(x, 50).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()
        assert all(p.grad is None and not p.requires_grad for p in micro_dissolver.unet.parameters())


class TestOneCallPerBatch:
    def test_unet_called_once_with_the_whole_batch(self, micro_dissolver):
        seen = []
        micro_dissolver.unet.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
        micro_dissolver(torch.rand(5, 1, 8, 8), torch.tensor([30, 40, 50, 60, 70]))
        assert seen == [5]


class TestSaveLoad:
    def test_round_trip_identical_outputs_and_config(self, tmp_path):
        torch.manual_seed(0)
        d = DDPMDissolving(make_unet("micro", 8, 3), make_scheduler(), resize_mode="bicubic", antialias=True)
        d.save_pretrained(tmp_path / "dis")
        loaded = DDPMDissolving.from_pretrained(tmp_path / "dis")
        assert (loaded.resolution, loaded.resize_mode, loaded.antialias) == (8, "bicubic", True)
        assert loaded.scheduler.config.beta_schedule == "squaredcos_cap_v2"
        assert loaded.num_train_timesteps == 1000
        x = torch.rand(2, 3, 20, 20, generator=torch.Generator().manual_seed(0))
        assert torch.equal(loaded(x, torch.tensor([30, 90])), d(x, torch.tensor([30, 90])))
        assert (tmp_path / "dis" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
        assert json.loads((tmp_path / "dis" / "model_index.json").read_text())["_class_name"] == "DDPMPipeline"

    def test_loads_as_diffusers_pipeline(self, tmp_path, micro_dissolver):
        from diffusers import DDPMPipeline

        micro_dissolver.save_pretrained(tmp_path)
        pipe = DDPMPipeline.from_pretrained(tmp_path)
        assert pipe.unet.config.sample_size == 8

    def test_missing_directory(self, tmp_path):
        with pytest.raises(CheckpointError, match="not found"):
            DDPMDissolving.from_pretrained(tmp_path / "nope")

    def test_directory_without_unet(self, tmp_path):
        with pytest.raises(CheckpointError, match="no unet/ folder"):
            DDPMDissolving.from_pretrained(tmp_path)

    def test_corrupt_weights_name_the_directory(self, tmp_path, micro_dissolver):
        micro_dissolver.save_pretrained(tmp_path)
        (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not a safetensors file")
        with pytest.raises(CheckpointError, match=str(tmp_path)):
            DDPMDissolving.from_pretrained(tmp_path)

    def test_corrupt_config(self, tmp_path, micro_dissolver):
        micro_dissolver.save_pretrained(tmp_path)
        (tmp_path / "dissolver_config.json").write_text("{oops")
        with pytest.raises(CheckpointError, match="dissolver_config.json"):
            DDPMDissolving.from_pretrained(tmp_path)

    def test_checkpoint_of_another_resolution(self, tmp_path, micro_dissolver):
        micro_dissolver.save_pretrained(tmp_path)
        with pytest.raises(CheckpointError, match="8 px dissolver, but resolution=32"):
            DDPMDissolving.from_pretrained(tmp_path, resolution=32)

    def test_offline_hub_id_is_a_clear_error(self):
        with pytest.raises(CheckpointError, match="Hugging Face hub"):
            DDPMDissolving.from_pretrained("no-such-org/no-such-dissolver", local_files_only=True)

    def test_input_range_is_saved(self, tmp_path, micro_dissolver):
        d = DDPMDissolving(micro_dissolver.unet, make_scheduler(), input_range="reference")
        d.save_pretrained(tmp_path)
        assert DDPMDissolving.from_pretrained(tmp_path).input_range == "reference"
        assert DDPMDissolving.from_pretrained(tmp_path, input_range="explicit").input_range == "explicit"

    def test_online_weights_saved_beside_the_ema_ones(self, tmp_path, micro_dissolver):
        torch.manual_seed(5)
        online = make_unet("micro", 8, 1)
        micro_dissolver.save_pretrained(tmp_path / "dis", online_unet=online)
        x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        ema = DDPMDissolving.from_pretrained(tmp_path / "dis")
        loaded = DDPMDissolving.from_pretrained(tmp_path / "dis", weights="online")
        assert torch.equal(ema(x, 50), micro_dissolver(x, 50))
        assert torch.equal(loaded(x, 50), DDPMDissolving(online, make_scheduler())(x, 50))
        assert not torch.equal(loaded(x, 50), ema(x, 50))

    def test_online_weights_from_the_training_runs_last_checkpoint(self, tmp_path, micro_dissolver):
        from dia_augment.train.checkpoint import begin_checkpoint, finish_checkpoint

        micro_dissolver.save_pretrained(tmp_path / "dissolver")
        with pytest.raises(CheckpointError, match="online weights were not kept"):
            DDPMDissolving.from_pretrained(tmp_path / "dissolver", weights="online")
        torch.manual_seed(6)
        online = make_unet("micro", 8, 1)
        finish_checkpoint(begin_checkpoint(tmp_path, 40), {"unet.safetensors": online.state_dict()})
        loaded = DDPMDissolving.from_pretrained(tmp_path / "dissolver", weights="online")
        x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
        assert torch.equal(loaded(x, 70), DDPMDissolving(online, make_scheduler())(x, 70))
        with pytest.raises(ValueError, match="weights must be one of"):
            DDPMDissolving.from_pretrained(tmp_path / "dissolver", weights="last")

    def test_pickle_only_weights_are_refused_not_unpickled(self, tmp_path, micro_dissolver, monkeypatch):
        micro_dissolver.save_pretrained(tmp_path)
        (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").unlink()
        micro_dissolver.unet.save_pretrained(tmp_path / "unet", safe_serialization=False)
        assert (tmp_path / "unet" / "diffusion_pytorch_model.bin").is_file()

        def no_unpickling(*args, **kwargs):
            raise AssertionError("torch.load was called")

        monkeypatch.setattr(torch, "load", no_unpickling)
        with pytest.raises(CheckpointError, match=r"only pickle weights \(diffusion_pytorch_model.bin\).*never unpickled"):
            DDPMDissolving.from_pretrained(tmp_path)

    def test_a_missing_relative_path_says_it_was_taken_as_a_hub_id(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        with pytest.raises(CheckpointError, match="no local folder .*runs/dissolver, so 'runs/dissolver' was taken as a hub id"):
            DDPMDissolving.from_pretrained("runs/dissolver", local_files_only=True)
        with pytest.raises(CheckpointError, match="dissolver folder not found: ./runs/dissolver"):
            DDPMDissolving.from_pretrained("./runs/dissolver")

    @pytest.mark.parametrize(
        ("field", "value"), [("resolution", "8"), ("resize_mode", "lanczos"), ("antialias", 1), ("input_range", "raw")]
    )
    def test_config_fields_are_checked(self, tmp_path, micro_dissolver, field, value):
        micro_dissolver.save_pretrained(tmp_path)
        config = json.loads((tmp_path / "dissolver_config.json").read_text())
        (tmp_path / "dissolver_config.json").write_text(json.dumps({**config, field: value}))
        with pytest.raises(CheckpointError, match=f"dissolver_config.json: field '{field}'"):
            DDPMDissolving.from_pretrained(tmp_path)
        (tmp_path / "dissolver_config.json").write_text("[8]")
        with pytest.raises(CheckpointError, match="must hold a JSON object"):
            DDPMDissolving.from_pretrained(tmp_path)

    def test_pickle_round_trip(self, micro_dissolver):
        x = torch.rand(1, 1, 8, 8)
        assert torch.equal(pickle.loads(pickle.dumps(micro_dissolver))(x, 40), micro_dissolver(x, 40))


class TestBadInput:
    @pytest.mark.parametrize(
        ("images", "t", "error", "match"),
        [
            (torch.rand(1, 8, 8), 50, ValueError, "3 dimensions"),
            (torch.rand(1, 2, 8, 8), 50, ValueError, "1 or 3 channels"),
            (torch.randint(0, 255, (1, 1, 8, 8)), 50, TypeError, "floating-point"),
            (torch.full((1, 1, 8, 8), float("nan")), 50, ValueError, "NaN"),
            (torch.full((1, 1, 8, 8), float("inf")), 50, ValueError, "NaN or inf"),
            (torch.rand(1, 1, 8, 8) * 2 - 1, 50, ValueError, r"must be in \[0, 1\]"),
            (torch.rand(0, 1, 8, 8), 50, ValueError, "empty batch"),
            (torch.rand(2, 1, 8, 8), 1000, ValueError, r"outside \[0, 1000\)"),
            (torch.rand(2, 1, 8, 8), -1, ValueError, r"outside \[0, 1000\)"),
            (torch.rand(2, 1, 8, 8), torch.tensor([1, 2, 3]), ValueError, r"\(2,\) tensor"),
            (torch.rand(2, 1, 8, 8), torch.tensor([1.0, 2.0]), TypeError, "integer steps"),
            (torch.rand(2, 1, 8, 8), 2.5, TypeError, "int or a"),
        ],
    )
    def test_errors_name_the_problem(self, micro_dissolver, images, t, error, match):
        with pytest.raises(error, match=match):
            micro_dissolver(images, t)

    def test_tolerated_overshoot_is_clamped(self, micro_dissolver):
        x = torch.rand(1, 1, 8, 8)
        x[0, 0, 0, 0] = 1.0005
        torch.testing.assert_close(micro_dissolver(x, 50), micro_dissolver(x.clamp(0, 1), 50))

    def test_bad_presets(self):
        with pytest.raises(ValueError, match="unknown UNet preset"):
            unet_config("huge", 32)
        with pytest.raises(ValueError, match="multiple of 4"):
            unet_config("tiny", 30)


class TestPresets:
    def test_the_presets_are_named_after_their_layouts(self):
        from dia_augment.filters.presets import UNET_PRESETS

        assert list(UNET_PRESETS) == ["micro", "tiny", "dia-reference", "ddpm-cifar10"]
        with pytest.raises(ValueError, match="unknown UNet preset 'paper'"):  # the removed alias of ddpm-cifar10
            unet_config("paper", 32)

    def test_dia_reference_layout(self):
        # the paper code's Unet(dim=64, dim_mults=(1, 2, 4, 8)): widths 64 * (1, 2, 4, 8) at 32, 16, 8, 4 px on the
        # way up, two ResNet blocks per level there, attention at every level and in the middle, GroupNorm(8)
        config = unet_config("dia-reference", 32)
        assert config["block_out_channels"] == (64, 128, 256, 512)
        assert config["layers_per_block"] == 1  # diffusers' up blocks then have 1 + 1 = 2 ResNet blocks
        assert set(config["down_block_types"]) == {"AttnDownBlock2D"} and set(config["up_block_types"]) == {"AttnUpBlock2D"}
        assert config["norm_num_groups"] == 8 and config["attention_head_dim"] == 32
        with pytest.raises(ValueError, match="multiple of 8"):
            unet_config("dia-reference", 20)


# Output of the seeded micro UNet (torch.manual_seed(0)) at t = 60, row 3, first 4 pixels.
EXPECTED_SLICE = [0.3769, 0.4209, 0.4364, 0.4411]
