"""The trainer's and the scorer's fast paths: bf16 mixed precision on CPU, channels_last, torch.compile."""

from __future__ import annotations

import argparse
import json
import os

import pytest
import torch

from dia_augment.cli._config_options import add_config_options, config_from_args
from dia_augment.filters import DDPMDissolving
from dia_augment.filters.presets import make_scheduler, make_unet
from dia_augment.models import build_model
from dia_augment.detect import AnomalyDetector
from dia_augment.score import ScoreConfig, TestTimeEncoder, draw_views
from dia_augment.train import TrainConfig, train_model
from dia_augment.train.contrastive import ContrastiveTrainer

SLOW = pytest.mark.skipif(os.environ.get("DIA_AUGMENT_SLOW") != "1", reason="inductor compiles for minutes on 2 cores")


def _images(n: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def _config(**kw) -> TrainConfig:
    base = dict(mode="csi", width=4, proj_dim=8, image_size=16, epochs=1, batch_size=8, progress=False,
                mixed_precision="no")
    return TrainConfig(**{**base, **kw})


def _one_step(tmp_path, config: TrainConfig, dissolver=None, hook_on=None) -> tuple[dict, list]:
    """One training step of a fresh trainer; ``hook_on(trainer)`` names the module whose output dtypes are seen."""
    trainer = ContrastiveTrainer(config, _images(), dissolver, out_dir=tmp_path / "run")
    trainer.setup()
    seen: list = []
    module = hook_on(trainer) if hook_on else trainer.accelerator.unwrap_model(trainer.model).backbone.conv1
    module.register_forward_hook(lambda m, args, out: seen.append((out.dtype, args[0].is_contiguous(
        memory_format=torch.channels_last))))
    torch.manual_seed(0)
    return trainer.train_step(_images()), seen


class TestMixedPrecision:
    def test_bf16_autocasts_the_model_on_cpu_and_the_loss_stays_close(self, tmp_path):
        ref, seen32 = _one_step(tmp_path / "a", _config())
        out, seen16 = _one_step(tmp_path / "b", _config(mixed_precision="bf16"))
        assert [dtype for dtype, _ in seen32] == [torch.float32]
        assert [dtype for dtype, _ in seen16] == [torch.bfloat16]
        # the NT-Xent stays fp32 (its similarities leave autocast); the loss is about log(rows) = 4.2
        # plus the shift term, and bf16 activations move it by a few 1e-3
        assert out["loss"].dtype == torch.float32
        assert out["loss"].item() != ref["loss"].item()
        assert abs(out["loss"].item() - ref["loss"].item()) < 2e-2

    def test_precision_can_change_between_runs_in_one_process(self, tmp_path):
        first, _ = _one_step(tmp_path / "a", _config())
        _one_step(tmp_path / "b", _config(mixed_precision="bf16"))
        again, _ = _one_step(tmp_path / "c", _config())
        assert again["loss"].item() == first["loss"].item()

    def test_a_dia_runs_dissolver_follows_the_steps_precision(self, tmp_path):
        torch.manual_seed(0)
        dissolver = DDPMDissolving(make_unet("micro", 8, 3), make_scheduler())
        _, seen = _one_step(tmp_path, _config(mode="dia", mixed_precision="bf16"), dissolver,
                            hook_on=lambda trainer: trainer.dissolve.dissolver.unet.conv_in)
        assert dissolver.mixed_precision is None and dissolver.unet.conv_in.weight.dtype == torch.float32  # not changed
        assert [dtype for dtype, _ in seen] == [torch.bfloat16]

    def test_auto_is_bf16_where_the_hardware_runs_it_and_the_run_records_it(self, tmp_path):
        import json

        from dia_augment.utils.precision import native_bf16

        trainer = ContrastiveTrainer(_config(mixed_precision="auto"), _images(), out_dir=tmp_path / "run")
        expected = "bf16" if native_bf16("cpu") else "no"
        assert trainer.precision == expected
        trainer.run()
        record = json.loads((tmp_path / "run" / "run.json").read_text())
        assert record["mixed_precision_used"] == expected and record["config"]["mixed_precision"] == "auto"
        assert trainer.channels_last == (expected == "bf16")  # channels_last follows bf16 unless set


class TestChannelsLast:
    def test_weights_and_rows_are_channels_last_with_the_same_loss(self, tmp_path):
        ref, seen_ref = _one_step(tmp_path / "a", _config())
        out, seen = _one_step(tmp_path / "b", _config(channels_last=True))
        assert [cl for _, cl in seen_ref] == [False] and [cl for _, cl in seen] == [True]
        torch.testing.assert_close(out["loss"], ref["loss"], atol=1e-4, rtol=0)


class TestCompile:
    def test_compile_compiles_the_model_in_place(self, tmp_path):
        trainer = ContrastiveTrainer(_config(compile=True), _images(), out_dir=tmp_path)
        trainer.setup()
        model = trainer.accelerator.unwrap_model(trainer.model)
        assert model._compiled_call_impl is not None
        assert not any(key.startswith("_orig_mod") for key in model.state_dict())

    @SLOW
    def test_compiled_step_matches_eager(self, tmp_path):
        ref, _ = _one_step(tmp_path / "a", _config())
        out, _ = _one_step(tmp_path / "b", _config(compile=True))
        torch.testing.assert_close(out["loss"], ref["loss"], atol=1e-4, rtol=0)


class TestConfig:
    def test_fields_round_trip_through_config_json(self, tmp_path):
        config = _config(mixed_precision="bf16", channels_last=True)
        assert TrainConfig.from_dict(config.to_dict()) == config
        train_model(config, _images(), out_dir=tmp_path)
        saved = json.loads((tmp_path / "config.json").read_text())
        assert (saved["mixed_precision"], saved["channels_last"], saved["compile"]) == ("bf16", True, False)

    def test_command_line_options(self):
        parser = argparse.ArgumentParser()
        add_config_options(parser, TrainConfig)
        args = parser.parse_args(["--mixed-precision", "bf16", "--channels-last", "--compile"])
        config = config_from_args(TrainConfig, args)
        assert (config.mixed_precision, config.channels_last, config.compile) == ("bf16", True, True)
        defaults = config_from_args(TrainConfig, parser.parse_args([]))
        assert (defaults.mixed_precision, defaults.channels_last, defaults.compile) == ("auto", None, False)


def _scorer(**kw) -> AnomalyDetector:
    """A detector shell (no statistics) whose feature extraction runs with the given runtime settings."""
    torch.manual_seed(0)
    model = build_model("resnet18", 3, 4, 4, 8).eval()
    encoder = TestTimeEncoder(model, draw_views(2, (16, 16), 3), 16)
    options = {"num_views": 2, "batch_size": 4, "mixed_precision": "no", **kw}
    return AnomalyDetector(encoder, torch.zeros(0), torch.zeros(0), ScoreConfig(**options), progress=False)


class TestScorer:
    def test_bf16_extraction_is_bf16_and_close_to_fp32(self):
        x = _images(6, 1)
        ref_z, ref_l = _scorer().features(x)
        fast = _scorer(mixed_precision="bf16")
        seen: list = []
        fast.encoder.model.backbone.conv1.register_forward_hook(lambda m, args, out: seen.append(out.dtype))
        z, logits = fast.features(x)
        assert set(seen) == {torch.bfloat16} and z.dtype == torch.float32
        # bf16 keeps 8 bits of mantissa: a relative error of a few 2^-8 on the projections
        rel = ((z - ref_z).norm() / ref_z.norm()).item()
        assert 0 < rel < 3e-2
        assert ((logits - ref_l).abs().max() / ref_l.abs().max()).item() < 5e-2

    def test_channels_last_extraction_equals_fp32(self):
        x = _images(6, 2)
        ref_z, ref_l = _scorer().features(x)
        fast = _scorer(channels_last=True)
        layouts: list = []
        fast.encoder.model.backbone.conv1.register_forward_pre_hook(
            lambda m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))
        )
        z, logits = fast.features(x)
        assert set(layouts) == {True}
        torch.testing.assert_close(z, ref_z, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(logits, ref_l, atol=1e-4, rtol=1e-4)

    def test_bad_precision_is_refused(self):
        with pytest.raises(ValueError, match="mixed_precision"):
            _scorer(mixed_precision="float64")

    @SLOW
    def test_compiled_extraction_matches_eager(self):
        x = _images(4, 3)
        ref_z, _ = _scorer().features(x)
        z, _ = _scorer(compile=True).features(x)
        torch.testing.assert_close(z, ref_z, atol=1e-4, rtol=1e-4)
