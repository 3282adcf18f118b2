from __future__ import annotations

import math
import pickle
from pathlib import Path
from unittest import mock

import kornia
import pytest
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

import dia_augment
from dia_augment.augmentation.random_dissolving import RandomDissolving
from dia_augment.filters import make_dissolver
from dia_augment.filters.stable_diffusion import (
    SD_VERSIONS,
    SDXL_TIME_IDS,
    StableDiffusionDissolving,
    encode_empty_prompt,
    make_dissolving_scheduler,
)
from dia_augment.utils.io import CheckpointError

from .conftest import build_sd_pipeline, build_sdxl_pipeline

KORNIA_HUB_IDS = {
    "1.5": "runwayml/stable-diffusion-v1-5",
    "xl": "stabilityai/stable-diffusion-xl-base-1.0",
}


def kornia_dissolver(path: Path, version: str) -> kornia.filters.StableDiffusionDissolving:
    """kornia's dissolver, its hub download redirected to a tiny local pipeline."""
    cls = StableDiffusionXLPipeline if version == "xl" else StableDiffusionPipeline
    real = cls.from_pretrained
    with mock.patch.object(cls, "from_pretrained", side_effect=lambda _id, **kw: real(path, **kw)) as load:
        dissolver = kornia.filters.StableDiffusionDissolving(version)
    assert load.call_args.args[0] == KORNIA_HUB_IDS[version]
    return dissolver


def manual_alphas_cumprod() -> torch.Tensor:
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0)


@pytest.fixture(scope="module")
def sdxl_kornia_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SDXL-shaped pipeline whose VAE scale is kornia's hard-coded 0.18215, for parity."""
    path = tmp_path_factory.mktemp("tiny_sdxl_18215")
    build_sdxl_pipeline(scaling_factor=0.18215).save_pretrained(path, safe_serialization=True)
    return path


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


# --------------------------------------------------------------------------------------------- values
@pytest.mark.parametrize("version", ["1.5", "xl"])
def test_parity_with_kornia(version, sd_dir, sdxl_kornia_dir, images):
    path = sd_dir if version == "1.5" else sdxl_kornia_dir
    theirs = kornia_dissolver(path, version)
    ours = StableDiffusionDissolving(pretrained=path, sample_latent=True)
    assert ours.is_sdxl == (version == "xl")
    for step in (100, 499):
        torch.manual_seed(7)  # kornia samples the VAE latent from the global RNG ...
        expected = theirs(images, step)
        torch.manual_seed(7)  # ... ours takes the same draw as explicit noise
        noise = torch.randn(ours.noise_shape(images.shape))
        out = ours(images, step, noise=noise)
        assert 0.05 < (expected - images).abs().mean() < 0.5  # the tiny random pipeline changes the images
        torch.testing.assert_close(out, expected, atol=2e-5, rtol=0)


def test_matches_hand_computed_x0(sd_dir, images):
    pipe = StableDiffusionPipeline.from_pretrained(sd_dir)
    t = torch.tensor([100, 250, 499])
    with torch.no_grad():
        ids = pipe.tokenizer([""], padding="max_length", max_length=pipe.tokenizer.model_max_length).input_ids
        context = pipe.text_encoder(torch.tensor(ids))[0].expand(3, -1, -1)
        z = pipe.vae.encode(images * 2 - 1).latent_dist.mean * 0.18215
        eps = pipe.unet(z, t, context).sample
        abar = manual_alphas_cumprod()[t].float().view(-1, 1, 1, 1)
        x0 = (z - torch.sqrt(1 - abar) * eps) / torch.sqrt(abar)
        expected = ((pipe.vae.decode(x0 / 0.18215).sample + 1) / 2).clamp(0, 1)
    out = StableDiffusionDissolving(pretrained=sd_dir)(images, t)
    torch.testing.assert_close(out, expected, atol=5e-5, rtol=0)


def test_sdxl_hand_computed_with_config_scale(sdxl_dir, images):
    pipe = StableDiffusionXLPipeline.from_pretrained(sdxl_dir)
    assert pipe.vae.config.scaling_factor == 0.13025
    t = torch.tensor([150, 300, 450])
    with torch.no_grad():
        hidden, pooled = [], None
        for tok, enc in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
            ids = torch.tensor(tok([""], padding="max_length", max_length=tok.model_max_length).input_ids)
            out = enc(ids, output_hidden_states=True)
            hidden.append(out.hidden_states[-2])
            pooled = out.text_embeds if hasattr(out, "text_embeds") else None
        cond = {
            "encoder_hidden_states": torch.cat(hidden, -1).expand(3, -1, -1),
            "added_cond_kwargs": {
                "text_embeds": pooled.expand(3, -1),
                "time_ids": torch.tensor([[1024.0, 1024, 0, 0, 1024, 1024]]).expand(3, -1),
            },
        }
        z = pipe.vae.encode(images * 2 - 1).latent_dist.mean * 0.13025
        eps = pipe.unet(z, t, **cond).sample
        abar = manual_alphas_cumprod()[t].float().view(-1, 1, 1, 1)
        x0 = (z - torch.sqrt(1 - abar) * eps) / torch.sqrt(abar)
        expected = ((pipe.vae.decode(x0 / 0.13025).sample + 1) / 2).clamp(0, 1)
        wrong_scale = ((pipe.vae.decode(x0 / 0.18215).sample + 1) / 2).clamp(0, 1)
    ours = StableDiffusionDissolving(pretrained=sdxl_dir)
    assert ours.scaling_factor == 0.13025 and ours.add_time_ids.tolist() == [list(SDXL_TIME_IDS)]
    out = ours(images, t)
    torch.testing.assert_close(out, expected, atol=5e-5, rtol=0)
    assert (out - wrong_scale).abs().max() > 1e-3


def test_v_prediction(images):
    pipe = build_sd_pipeline()
    v_sched = DDIMScheduler(prediction_type="v_prediction")
    ours = StableDiffusionDissolving(pipeline=pipe, scheduler=v_sched)
    assert ours.prediction_type == "v_prediction"
    t = torch.tensor([120, 240, 480])
    with torch.no_grad():
        z = ours.encode(images)
        v = pipe.unet(z, t, ours.prompt_embeds.expand(3, -1, -1)).sample
        abar = manual_alphas_cumprod()[t].float().view(-1, 1, 1, 1)
        expected = ours.decode(abar.sqrt() * z - (1 - abar).sqrt() * v).clamp(0, 1)
    torch.testing.assert_close(ours(images, t), expected, atol=1e-5, rtol=0)


def test_schedule_and_empty_prompt_match_kornia(sd_dir):
    abar = make_dissolving_scheduler().alphas_cumprod
    torch.testing.assert_close(abar.double(), manual_alphas_cumprod(), atol=1e-6, rtol=0)
    pipe = StableDiffusionPipeline.from_pretrained(sd_dir)
    theirs = kornia_dissolver(sd_dir, "1.5").model
    theirs.init_prompt("")
    embeds, pooled = encode_empty_prompt(pipe.tokenizer, pipe.text_encoder)
    assert pooled is None
    torch.testing.assert_close(embeds, theirs.context.chunk(2)[1], atol=0, rtol=0)


def test_step_per_sample_equals_separate_calls(sd_dir, images):
    sd = StableDiffusionDissolving(pretrained=sd_dir)
    steps = [110, 320, 480]
    batched = sd(images, torch.tensor(steps))
    for i, step in enumerate(steps):
        torch.testing.assert_close(batched[i : i + 1], sd(images[i : i + 1], step), atol=1e-5, rtol=0)
    assert (batched[0] - sd(images[:1], 480)[0]).abs().max() > 1e-4  # the step matters


def test_mean_latent_is_deterministic_and_sampling_uses_the_noise(sd_dir, images):
    sd = StableDiffusionDissolving(pretrained=sd_dir)
    assert sd.noise_shape(images.shape) is None
    torch.testing.assert_close(sd(images, 300), sd(images, 300), atol=0, rtol=0)
    sampled = StableDiffusionDissolving(pretrained=sd_dir, sample_latent=True)
    assert sampled.noise_shape(images.shape) == (3, 4, 4, 4)
    assert sampled.noise_shape(torch.Size((2, 1, 30, 17))) == (2, 4, 4, 3)
    zero = torch.zeros(3, 4, 4, 4)
    torch.testing.assert_close(sampled(images, 300, noise=zero), sd(images, 300), atol=0, rtol=0)
    a = sampled(images, 300, generator=torch.Generator().manual_seed(1))
    b = sampled(images, 300, generator=torch.Generator().manual_seed(1))
    c = sampled(images, 300, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert (a - c).abs().max() > 1e-4


@pytest.mark.parametrize("sample_latent", [False, True])
def test_random_dissolving_replay_is_exact(sd_dir, images, sample_latent):
    sd = StableDiffusionDissolving(pretrained=sd_dir, sample_latent=sample_latent)
    x = torch.cat([images, images.flip(-1)])
    for p in (1.0, 0.5):
        aug = RandomDissolving(dissolver=sd, p=p, generator=0)
        out = aug(x)
        params = {k: v.clone() for k, v in aug._params.items()}
        assert ("noise" in params) == sample_latent
        assert params["step"].unique().numel() > 1  # a step per sample
        torch.testing.assert_close(aug(x, params=params), out, atol=0, rtol=0)
        gated = params["batch_prob"] > 0.5
        torch.testing.assert_close(out[~gated], x[~gated], atol=0, rtol=0)
        if p == 1.0:  # the dissolved rows are the filter applied with the recorded draws
            expected = sd(x, params["step"], noise=params.get("noise"))
            torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_kornia_form_random_dissolving(sd_dir, images):
    aug = RandomDissolving(step_range=(100, 500), version="xl", p=1.0, pretrained=str(sd_dir), generator=3)
    assert isinstance(aug.dissolver, StableDiffusionDissolving)
    assert not aug.dissolver.is_sdxl  # pretrained= wins over version=
    x = images.repeat(4, 1, 1, 1)
    out = aug(x)
    steps = aug._params["step"]
    assert int(steps.min()) >= 100 and int(steps.max()) < 500
    torch.testing.assert_close(aug(x, params=aug._params), out, atol=0, rtol=0)
    assert RandomDissolving(pretrained=str(sd_dir)).step_range == (100, 500)


def test_gradient_reaches_input(sd_dir, images):
    grads = []
    for checkpointing in (False, True):
        sd = StableDiffusionDissolving(pretrained=sd_dir, gradient_checkpointing=checkpointing)
        assert all(not p.requires_grad for p in sd.parameters())
        x = images.clone().requires_grad_(True)
        (sd(x, torch.tensor([150, 300, 450])) * torch.linspace(-1, 1, 32)).sum().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)


def test_dtype_follows_input_and_module(sd_dir, images):
    sd = StableDiffusionDissolving(pretrained=sd_dir)
    ref = sd(images, 300)
    out64 = sd(images.double(), 300)
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64, ref.double(), atol=1e-6, rtol=0)
    sd.to(torch.float64)  # the cached embedding follows the module
    assert sd.prompt_embeds.dtype == torch.float64 and sd.unet.dtype == torch.float64
    out = sd(images, 300)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_one_channel_and_sizes_not_multiple_of_eight(sd_dir):
    sd = StableDiffusionDissolving(pretrained=sd_dir)
    gen = torch.Generator().manual_seed(4)
    gray = torch.rand(2, 1, 30, 21, generator=gen)
    t = torch.tensor([200, 400])
    out = sd(gray, t)
    assert out.shape == (2, 1, 30, 21)
    rgb = F.pad(gray.expand(-1, 3, -1, -1), (0, 3, 0, 2), mode="reflect")
    with torch.no_grad():
        manual = sd.decode(sd.predict_latent(sd.encode(rgb), t))[..., :30, :21].mean(1, keepdim=True).clamp(0, 1)
    torch.testing.assert_close(out, manual, atol=1e-6, rtol=0)
    small = torch.rand(1, 3, 3, 5, generator=gen)  # too small to reflect: replicate padding
    padded = sd.pad(small)
    assert padded.shape == (1, 3, 8, 8)
    torch.testing.assert_close(padded, F.pad(small, (0, 3, 0, 5), mode="replicate"), atol=0, rtol=0)
    assert sd(small, 100).shape == (1, 3, 3, 5)


def test_module_tree_and_loading_paths(sd_dir, images):
    pipe = build_sd_pipeline()
    from_pipeline = StableDiffusionDissolving(pipeline=pipe)
    from_dir = StableDiffusionDissolving(pretrained=sd_dir)
    from_parts = StableDiffusionDissolving(
        vae=pipe.vae, unet=pipe.unet, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer
    )
    ref = from_dir(images, 222)
    for other in (from_pipeline, from_parts):
        torch.testing.assert_close(other(images, 222), ref, atol=0, rtol=0)
    names = {name.split(".")[0] for name in from_dir.state_dict()}
    assert names == {"vae", "unet"}  # text encoders are dropped once the embedding is cached
    assert not from_dir.vae.training and not from_dir.unet.training
    assert {"prompt_embeds", "alphas_cumprod"} <= {name for name, _ in from_dir.named_buffers()}
    restored = pickle.loads(pickle.dumps(from_dir))  # DataLoader workers pickle transforms
    torch.testing.assert_close(restored(images, 222), ref, atol=0, rtol=0)
    from_factory = make_dissolver("sd", path=str(sd_dir))
    assert isinstance(from_factory, dia_augment.StableDiffusionDissolving)
    torch.testing.assert_close(from_factory(images, 222), ref, atol=0, rtol=0)


# --------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("x", "t", "error", "match"),
    [
        (torch.rand(3, 16, 16), 100, ValueError, "dimensions"),
        (torch.randint(0, 255, (1, 3, 16, 16)), 100, TypeError, "floating-point"),
        (torch.full((1, 3, 16, 16), float("nan")), 100, ValueError, "NaN"),
        (torch.rand(1, 3, 16, 16) * 255, 100, ValueError, r"\[0, 1\]"),
        (torch.rand(1, 3, 16, 16), 1000, ValueError, "outside"),
        (torch.rand(2, 3, 16, 16), torch.tensor([10, -1]), ValueError, "outside"),
        (torch.rand(2, 3, 16, 16), torch.tensor([10.0, 20.0]), TypeError, "integer"),
    ],
)
def test_bad_input(sd_dir, x, t, error, match):
    sd = StableDiffusionDissolving(pretrained=sd_dir)
    with pytest.raises(error, match=match):
        sd(x, t)


def test_bad_noise_shape(sd_dir, images):
    sd = StableDiffusionDissolving(pretrained=sd_dir, sample_latent=True)
    with pytest.raises(ValueError, match=r"noise must have shape \(3, 4, 4, 4\)"):
        sd(images, 100, noise=torch.zeros(3, 4, 8, 8))


def test_bad_construction(sd_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown Stable Diffusion version '3'"):
        StableDiffusionDissolving(version="3")
    with pytest.raises(CheckpointError, match="directory not found"):
        StableDiffusionDissolving(pretrained=str(tmp_path / "missing"))
    with pytest.raises(CheckpointError, match="no model_index.json"):
        StableDiffusionDissolving(pretrained=tmp_path)
    pipe = build_sd_pipeline()
    with pytest.raises(ValueError, match="only apply when loading"):
        StableDiffusionDissolving(pipeline=pipe, local_files_only=True)
    with pytest.raises(ValueError, match="either pipeline= or pretrained="):
        StableDiffusionDissolving(pretrained=sd_dir, pipeline=pipe)
    with pytest.raises(ValueError, match="needs \\['text_encoder', 'tokenizer'\\]"):
        StableDiffusionDissolving(vae=pipe.vae, unet=pipe.unet)
    xl = build_sdxl_pipeline()
    with pytest.raises(ValueError, match="text_encoder_2"):
        StableDiffusionDissolving(pipeline=xl, text_encoder_2=None, tokenizer_2=None, unet=pipe.unet)
    with pytest.raises(ValueError, match="text_encoder_2"):
        StableDiffusionDissolving(pipeline=pipe, unet=xl.unet)


@pytest.mark.parametrize(
    ("version", "hub_id"),
    [
        ("1.4", "CompVis/stable-diffusion-v1-4"),
        ("1.5", "stable-diffusion-v1-5/stable-diffusion-v1-5"),
        ("2.1", "stabilityai/stable-diffusion-2-1"),
        ("xl", "stabilityai/stable-diffusion-xl-base-1.0"),
    ],
)
def test_missing_weights_offline_say_what_to_download(version, hub_id, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert SD_VERSIONS[version] == hub_id
    with pytest.raises(CheckpointError) as info:
        StableDiffusionDissolving(version=version, cache_dir=str(tmp_path), local_files_only=True)
    message = str(info.value)
    assert f"huggingface-cli download {hub_id}" in message
    assert "--local-dir DIR" in message and "pretrained=DIR" in message


def test_hub_id_offline(tmp_path):
    with pytest.raises(CheckpointError, match="huggingface-cli download some-org/some-model"):
        StableDiffusionDissolving(pretrained="some-org/some-model", cache_dir=str(tmp_path), local_files_only=True)


def test_constants():
    assert StableDiffusionDissolving.default_step_range == (100, 500)
    assert StableDiffusionDissolving.num_train_timesteps == 1000
    assert math.isclose(float(make_dissolving_scheduler().betas[-1]), 0.012, rel_tol=1e-5)
