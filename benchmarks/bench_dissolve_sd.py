"""Time Stable Diffusion dissolving: dia_augment's ``RandomDissolving`` against kornia's, side by side.

Both run on the same pipeline: a tiny random one built here (default), or real weights with
``--pretrained PATH`` (a local diffusers pipeline directory; kornia's hub download is redirected
to it). Rows:

- ``p = 1``: kornia's ``RandomDissolving`` and ours with ``same_on_batch=True`` (one step for the
  batch, as kornia): the same work, so the ratio shows the per-call overhead we removed (kornia
  re-encodes the empty prompt on every call).
- ``p = 0.25``: ours with a p-gate per sample, against our own ``p = 1`` (per-sample steps). Only
  the selected rows reach the model, so the cost should follow p.

Goals: ours <= 1.0 x kornia at p = 1; ours at p = 0.25 <= 0.35 x our p = 1.

Usage::

    python benchmarks/bench_dissolve_sd.py --threads 2 --sizes 64 --batches 8 32
    python benchmarks/bench_dissolve_sd.py --pretrained /path/to/stable-diffusion-v1-5 --sizes 512 --batches 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import kornia
import torch
from diffusers import (
    AutoencoderKL,
    DiffusionPipeline,
    PNDMScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from dia_augment.augmentation.random_dissolving import RandomDissolving
from dia_augment.filters.stable_diffusion import StableDiffusionDissolving


def save_tiny_pipeline(path: Path) -> None:
    """A tiny random Stable Diffusion pipeline: VAE downsampling by 8, a 2-level UNet, a 2-layer CLIP."""
    torch.manual_seed(0)
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 4, 4),
        latent_channels=4,
        norm_num_groups=2,
    )
    unet = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=4,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "b</w>": 3}
    tokenizer = CLIPTokenizer(vocab, [], model_max_length=77)
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1
    )
    StableDiffusionPipeline(
        vae=vae,
        unet=unet,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(path, safe_serialization=True)


def kornia_random_dissolving(path: Path, sdxl: bool) -> kornia.augmentation.RandomDissolving:
    """kornia's ``RandomDissolving`` at p = 1 with its hub download redirected to ``path``."""
    cls = StableDiffusionXLPipeline if sdxl else StableDiffusionPipeline
    real = cls.from_pretrained
    with mock.patch.object(cls, "from_pretrained", side_effect=lambda _id, **kw: real(str(path), **kw)):
        return kornia.augmentation.RandomDissolving(version="xl" if sdxl else "1.5", p=1.0)


def median_seconds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median time of each call, the calls interleaved so that load from other processes hits all alike."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", type=Path, help="a local diffusers pipeline directory (default: tiny random)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64], help="image sides in pixels")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32], help="batch sizes")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per configuration (after one warm-up)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.pretrained
        if path is None:
            path = Path(tmp) / "tiny_sd"
            save_tiny_pipeline(path)
        sdxl = (DiffusionPipeline.load_config(str(path)).get("text_encoder_2") or [None])[0] is not None
        theirs = kornia_random_dissolving(path, sdxl)
        theirs._dslv.model.model.to(args.device)
        sd = StableDiffusionDissolving(pretrained=str(path)).to(args.device)

        print(f"pipeline: {'tiny random (built here)' if args.pretrained is None else path}; "
              f"device {args.device}; {args.threads} threads; median of {args.repeats} interleaved calls\n")
        print("| image | batch | kornia p=1 (s) | ours p=1 (s) | ours / kornia | ours p=1 per-sample (s) "
              "| ours p=0.25 (s) | p=0.25 / p=1 |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for size in args.sizes:
            for batch in args.batches:
                x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)).to(args.device)
                ours_same = RandomDissolving(sd, p=1.0, same_on_batch=True, generator=0)
                ours_all = RandomDissolving(sd, p=1.0, generator=0)
                ours_quarter = RandomDissolving(sd, p=0.25, generator=0)
                t = median_seconds(
                    {
                        "kornia": lambda: theirs(x),
                        "same": lambda: ours_same(x),
                        "all": lambda: ours_all(x),
                        "quarter": lambda: ours_quarter(x),
                    },
                    args.repeats,
                )
                t_kornia, t_same, t_all, t_quarter = t["kornia"], t["same"], t["all"], t["quarter"]
                print(f"| {size} px | {batch} | {t_kornia:.4f} | {t_same:.4f} | {t_same / t_kornia:.2f} x "
                      f"| {t_all:.4f} | {t_quarter:.4f} | {t_quarter / t_all:.2f} x |")


if __name__ == "__main__":
    main()
