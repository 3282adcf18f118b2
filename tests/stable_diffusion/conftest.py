"""Tiny random Stable Diffusion and SDXL pipelines, saved to disk once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import (
    AutoencoderKL,
    PNDMScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

TEXT_LENGTH = 6


def tiny_tokenizer() -> CLIPTokenizer:
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a": 2, "b</w>": 3, "ab</w>": 4}
    return CLIPTokenizer(vocab, [("a", "b</w>")], model_max_length=TEXT_LENGTH)


def tiny_text_config(hidden: int = 8, projection: int = 8) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=5,
        hidden_size=hidden,
        intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=TEXT_LENGTH,
        projection_dim=projection,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )


def tiny_vae(scaling_factor: float = 0.18215) -> AutoencoderKL:
    """A 4-level VAE: downsamples by 8 like Stable Diffusion's."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 4, 4),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=2,
        scaling_factor=scaling_factor,
    )


def tiny_unet(cross_attention_dim: int, sdxl: bool = False) -> UNet2DConditionModel:
    extra = {}
    if sdxl:
        extra = {
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 4,
            "projection_class_embeddings_input_dim": 6 * 4 + 8,
        }
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=2,
        norm_num_groups=4,
        **extra,
    )


def scheduler() -> PNDMScheduler:
    return PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1
    )


def build_sd_pipeline() -> StableDiffusionPipeline:
    torch.manual_seed(0)
    return StableDiffusionPipeline(
        vae=tiny_vae(),
        unet=tiny_unet(8),
        text_encoder=CLIPTextModel(tiny_text_config()),
        tokenizer=tiny_tokenizer(),
        scheduler=scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_sdxl_pipeline(scaling_factor: float = 0.13025) -> StableDiffusionXLPipeline:
    torch.manual_seed(1)
    return StableDiffusionXLPipeline(
        vae=tiny_vae(scaling_factor),
        unet=tiny_unet(16, sdxl=True),
        text_encoder=CLIPTextModel(tiny_text_config()),
        text_encoder_2=CLIPTextModelWithProjection(tiny_text_config()),
        tokenizer=tiny_tokenizer(),
        tokenizer_2=tiny_tokenizer(),
        scheduler=scheduler(),
    )


@pytest.fixture(scope="session")
def sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Stable Diffusion 1.x-shaped pipeline directory (safetensors)."""
    path = tmp_path_factory.mktemp("tiny_sd")
    build_sd_pipeline().save_pretrained(path, safe_serialization=True)
    return path


@pytest.fixture(scope="session")
def sdxl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SDXL-shaped pipeline directory (two text encoders, ``text_time`` conditioning)."""
    path = tmp_path_factory.mktemp("tiny_sdxl")
    build_sdxl_pipeline().save_pretrained(path, safe_serialization=True)
    return path
