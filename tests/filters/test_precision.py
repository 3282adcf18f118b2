"""The dissolvers' fast paths: bf16 autocast, bf16 weights, channels_last and torch.compile."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from dia_augment import RandomDissolving
from dia_augment.errors import CheckpointError, ConfigError
from dia_augment.filters import DDPMDissolving
from dia_augment.filters.presets import make_scheduler, make_unet

from .conftest import constant_eps_unet

# Dissolving at t < 100 changes the output by sqrt(1 - abar_t) / sqrt(abar_t) <= 0.172 times the
# error of the noise prediction, halved from [-1, 1] to [0, 1]: a bf16 prediction (8-bit mantissa,
# relative rounding 2^-9 per operation, a few dozen of them in a micro UNet) off by up to 0.045
# on average stays below 0.5 * 0.172 * 0.045 = 1/255, the bound for a dissolve.
BF16_BOUND = 1 / 255


def smooth_images(n: int, channels: int, size: int, seed: int) -> torch.Tensor:
    """Images with structure at several scales (blurred noise), in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, size // 4, size // 4, generator=gen)
    fine = torch.rand(n, channels, size, size, generator=gen)
    return (0.8 * F.interpolate(coarse, size=(size, size), mode="bilinear") + 0.2 * fine).clamp(0, 1)


def seeded(channels: int = 3, resolution: int = 16, **kwargs) -> DDPMDissolving:
    torch.manual_seed(0)
    return DDPMDissolving(make_unet("micro", resolution, channels), make_scheduler(), **kwargs)


def conv_in_output_dtypes(dissolver: DDPMDissolving) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    dissolver.unet.conv_in.register_forward_hook(lambda m, args, out: seen.append(out.dtype))
    return seen


class TestMixedPrecision:
    def test_bf16_is_close_to_fp32_and_really_bf16_with_the_weights_held_in_bf16(self):
        x, t = smooth_images(4, 3, 32, 0), torch.tensor([30, 50, 75, 99])
        ref = seeded()(x, t)
        fast = seeded(mixed_precision="bf16")
        seen = conv_in_output_dtypes(fast)
        out = fast(x, t)
        assert seen == [torch.bfloat16] and out.dtype == torch.float32
        assert fast.unet.conv_in.weight.dtype == torch.bfloat16  # cast once, at the first call
        assert fast.alphas_cumprod.dtype == torch.float32  # the schedule stays float32
        diff = (out - ref).abs().mean().item()
        assert 0 < diff < BF16_BOUND
        assert torch.equal(fast(x, t), out)  # the next call: the same weights, the same result

    def test_no_keeps_float32_inside_a_callers_autocast_and_none_follows_it(self):
        x, t = smooth_images(2, 3, 32, 1), torch.tensor([40, 60])
        ref = seeded()(x, t)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(seeded(mixed_precision="no")(x, t), ref)
            follows = seeded()
            seen = conv_in_output_dtypes(follows)
            follows(x, t)
        assert seen == [torch.bfloat16]

    def test_auto_is_the_native_precision(self):
        from dia_augment.utils.precision import native_bf16

        d = seeded(mixed_precision="auto")
        seen = conv_in_output_dtypes(d)
        d(smooth_images(1, 3, 32, 2), 50)
        assert seen == [torch.bfloat16 if native_bf16("cpu") else torch.float32]

    def test_names_are_accepted_and_bad_values_refused(self):
        assert seeded(mixed_precision="bf16").mixed_precision == "bf16"
        with pytest.raises(ConfigError, match="mixed_precision"):
            seeded(mixed_precision=torch.bfloat16)
        with pytest.raises(ConfigError, match="mixed_precision"):
            seeded(mixed_precision="bfloat16")

    def test_schedule_and_formula_stay_fp32(self):
        # eps = 0.5 is exact in bf16, so the only bf16 error left would be the schedule's
        d = DDPMDissolving(constant_eps_unet(1, 8, 0.5), make_scheduler(), mixed_precision="bf16")
        x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        t = torch.tensor([0, 30, 99])
        abar = make_scheduler().alphas_cumprod.double()[t].view(-1, 1, 1, 1)
        expected = (((2 * x.double() - 1 - (1 - abar).sqrt() * 0.5) / abar.sqrt()).clamp(-1, 1) + 1) / 2
        torch.testing.assert_close(d(x, t), expected.float(), atol=1e-6, rtol=0)

    def test_random_dissolving_under_an_outer_autocast_keeps_the_input_dtype(self):
        x = smooth_images(4, 3, 32, 1)
        ref = RandomDissolving(seeded(), p=1.0, generator=3)(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = RandomDissolving(seeded(), p=1.0, generator=3)(x)
        assert out.dtype == torch.float32
        assert 0 < (out - ref).abs().mean().item() < BF16_BOUND


class TestBf16Weights:
    def test_cast_module_keeps_the_schedule_fp32(self):
        d = DDPMDissolving(constant_eps_unet(1, 8, 0.5), make_scheduler()).to(torch.bfloat16)
        assert d.unet.dtype == torch.bfloat16 and d.alphas_cumprod.dtype == torch.float32
        torch.testing.assert_close(d.alphas_cumprod, make_scheduler().alphas_cumprod, atol=0, rtol=0)
        x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
        t = torch.tensor([30, 60])
        # bf16 would round abar_30 = 0.99647 to 0.99609: 1 - abar off by 11 %
        ref = DDPMDissolving(constant_eps_unet(1, 8, 0.5), make_scheduler())(x, t)
        torch.testing.assert_close(d(x, t), ref, atol=1e-6, rtol=0)

    def test_bf16_weights_close_to_fp32(self):
        x, t = smooth_images(4, 3, 32, 2), torch.tensor([30, 50, 75, 99])
        ref = seeded()(x, t)
        out = seeded().to(torch.bfloat16)(x, t)
        assert out.dtype == torch.float32
        assert 0 < (out - ref).abs().mean().item() < BF16_BOUND


class TestChannelsLast:
    def test_weights_and_inputs_are_channels_last_and_values_equal(self):
        x, t = smooth_images(3, 3, 32, 3), torch.tensor([30, 60, 90])
        ref = seeded()(x, t)
        d = seeded(channels_last=True)
        assert d.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
        layouts: list[bool] = []
        d.unet.conv_in.register_forward_pre_hook(
            lambda m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))
        )
        torch.testing.assert_close(d(x, t), ref, atol=1e-5, rtol=0)
        assert layouts == [True]


class TestSavedSettings:
    def test_precision_and_channels_last_round_trip(self, tmp_path):
        d = seeded(mixed_precision="bf16", channels_last=True)
        d.save_pretrained(tmp_path / "dis")
        loaded = DDPMDissolving.from_pretrained(tmp_path / "dis")
        assert (loaded.mixed_precision, loaded.channels_last) == ("bf16", True)
        x = smooth_images(2, 3, 32, 4)
        assert torch.equal(loaded(x, 40), d(x, 40))
        assert DDPMDissolving.from_pretrained(tmp_path / "dis", mixed_precision=None).mixed_precision is None

    def test_default_follows_the_caller_and_old_files_are_read(self, tmp_path):
        import json

        seeded().save_pretrained(tmp_path / "dis")
        loaded = DDPMDissolving.from_pretrained(tmp_path / "dis")
        assert (loaded.mixed_precision, loaded.channels_last) == (None, False)
        config_file = tmp_path / "dis" / "dissolver_config.json"  # as versions before the one vocabulary wrote it
        config = json.loads(config_file.read_text())
        del config["mixed_precision"]
        config["autocast"] = "bfloat16"
        config_file.write_text(json.dumps(config))
        assert DDPMDissolving.from_pretrained(tmp_path / "dis").mixed_precision == "bf16"

    @pytest.mark.parametrize("field, value", [("mixed_precision", "bfloat16"), ("autocast", "bf16"),
                                              ("channels_last", "yes")])
    def test_bad_saved_values_name_the_field(self, tmp_path, field, value):
        import json

        seeded().save_pretrained(tmp_path / "dis")
        config_file = tmp_path / "dis" / "dissolver_config.json"
        config = json.loads(config_file.read_text())
        config[field] = value
        config_file.write_text(json.dumps(config))
        with pytest.raises(CheckpointError, match=field):
            DDPMDissolving.from_pretrained(tmp_path / "dis")


class TestCompile:
    """``torch.compile(dissolver, fullgraph=True)``: one graph, no break, no host sync."""

    def test_forward_is_one_graph_and_random_dissolving_runs_it(self):
        # fullgraph=True raises on any graph break, and a host sync (.item(), .tolist(), a branch
        # on a tensor's value) is one; the "eager" backend traces without inductor's minutes
        d = seeded(1, 8, check_inputs=False, mixed_precision="bf16", channels_last=True)
        ref = seeded(1, 8, check_inputs=False, mixed_precision="bf16", channels_last=True)
        x, t = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(5)), torch.tensor([30, 50, 80, 99])
        d(x, t)  # the first call holds the weights in bf16; then compile
        d.compile(fullgraph=True, backend="eager")
        assert torch.equal(d(x, t), ref(x, t))
        # RandomDissolving(p=1) hands the whole batch to the compiled forward (kornia's parameter
        # handling around it runs eagerly: its generator draws are not traceable)
        assert torch.equal(RandomDissolving(d, p=1.0, generator=2)(x), RandomDissolving(ref, p=1.0, generator=2)(x))

    @pytest.mark.slow
    @pytest.mark.skipif(os.environ.get("DIA_AUGMENT_SLOW") != "1", reason="inductor compiles for 20-90 s on 2 cores: DIA_AUGMENT_SLOW=1")
    def test_inductor_matches_eager(self):
        d = seeded(1, 8, check_inputs=False)
        x, t = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(7)), torch.tensor([30, 80])
        torch.testing.assert_close(torch.compile(d, fullgraph=True)(x, t), d(x, t), atol=1e-5, rtol=0)
