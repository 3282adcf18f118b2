"""The dissolve cache: what the build costs, its bytes, and a DIA epoch's dissolving, live vs cached.

For three dissolvers, side by side in one run:

- ``ddpm-tiny-32``: the tiny DDPM preset at 32 px (``make_unet("tiny", 32, 3)``);
- ``sd-tiny-64``: a tiny random Stable Diffusion pipeline (the shapes of the tests') at 64 px;
- ``sd15-512``: a pipeline of Stable Diffusion 1.5's published configuration (UNet: blocks
  (320, 640, 1280, 1280), 2 layers per block, cross-attention 768, 8 heads' dim; VAE: blocks
  (128, 256, 512, 512), 4 latent channels, scale 0.18215; CLIP text encoder: 768 hidden, 12
  layers, 12 heads, 77 positions, 49408 tokens) with random weights, at 512 px: the cost is the
  architecture's, not the weights'. The tokenizer is a two-token CLIP vocabulary (no vocabulary
  files offline); the text encoder only runs once, for the empty prompt.

Per dissolver: the build's wall time per view (image x step x draw, the hashing and the writes
included), the bytes on disk per image and per view, and one "epoch" of the dissolving part of a
DIA step, batch 32 in a seeded random order: ``RandomDissolving(p=1)`` live against
``CachedDissolving`` reading the cache (with its image check), and the number of epochs after which
the build has paid for itself.

SD 1.5 takes about a minute per image and dissolve on one thread: its part dissolves 2 images (a
one-step grid: the build dissolves each image once, the live epoch once more) unless told
otherwise; ``--skip-sd15`` leaves it out.

Run:
    OMP_NUM_THREADS=1 python benchmarks/bench_cache.py
    OMP_NUM_THREADS=1 python benchmarks/bench_cache.py --skip-sd15 --out /tmp/bench_cache.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, provenance  # noqa: E402


if TYPE_CHECKING:
    from dia_augment import DDPMDissolving, Dissolver, StableDiffusionDissolving

BATCH = 32


def tiny_ddpm() -> DDPMDissolving:
    from dia_augment import DDPMDissolving
    from dia_augment.filters.presets import make_scheduler, make_unet

    torch.manual_seed(0)
    return DDPMDissolving(make_unet("tiny", 32, 3), make_scheduler(), check_inputs=False)


def _tokenizer(max_length: int):  # noqa: ANN202 (transformers is imported lazily)
    from transformers import CLIPTokenizer

    return CLIPTokenizer({"<|startoftext|>": 0, "<|endoftext|>": 1}, [], model_max_length=max_length)


def tiny_sd() -> StableDiffusionDissolving:
    """The tests' tiny random pipeline: a 4-level VAE of 4 channels, a 2-level UNet (8, 16)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from dia_augment import StableDiffusionDissolving

    torch.manual_seed(0)
    vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        block_out_channels=(4, 4, 4, 4), layers_per_block=1, latent_channels=4, norm_num_groups=2)
    unet = UNet2DConditionModel(sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), cross_attention_dim=8,
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=2)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=2, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                                        num_attention_heads=2, max_position_embeddings=6, eos_token_id=1))
    return StableDiffusionDissolving(vae=vae, unet=unet, text_encoder=text, tokenizer=_tokenizer(6), check_inputs=False)


def sd15() -> StableDiffusionDissolving:
    """Stable Diffusion 1.5's architecture (its published configs) with random weights."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from dia_augment import StableDiffusionDissolving

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                                block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
                                attention_head_dim=8,
                                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
                        layers_per_block=2, latent_channels=4, norm_num_groups=32, sample_size=512,
                        scaling_factor=0.18215)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                        hidden_act="quick_gelu", bos_token_id=0, eos_token_id=1, pad_token_id=1))
    return StableDiffusionDissolving(vae=vae, unet=unet, text_encoder=text, tokenizer=_tokenizer(77),
                                     check_inputs=False)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def epoch(step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], images: torch.Tensor,
          order: torch.Tensor) -> None:
    """Get the dissolved view of every image once, batch 32, in ``order``."""
    with torch.no_grad():
        for batch in order.split(BATCH):
            step(images[batch], batch)


def measure(name: str, dissolver: Dissolver, size: int, count: int, steps: tuple[int, ...], repeat: int) -> dict:
    from dia_augment import RandomDissolving
    from dia_augment.augmentation.cache import CachedDissolving, build_dissolve_cache

    images = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(0))
    order = torch.randperm(count, generator=torch.Generator().manual_seed(1))
    with tempfile.TemporaryDirectory() as folder:
        build_s = timed(lambda: build_dissolve_cache(dissolver, images, folder, steps, batch_size=BATCH,
                                                     progress=False))
        files = sorted(Path(folder).iterdir())
        disk = sum(f.stat().st_size for f in files)
        live = RandomDissolving(dissolver, step_range=(steps[0], steps[-1] + 1), p=1.0, generator=0)
        cached = CachedDissolving(folder, generator=0)
        runs = {"live": [], "cache": []}
        for _ in range(repeat):  # interleaved, so that drift on a shared machine hits both alike
            runs["live"].append(timed(lambda: epoch(lambda x, i: live(x), images, order)))
            runs["cache"].append(timed(lambda: epoch(lambda x, i: cached(x, i), images, order)))
        cache_reads = [timed(lambda: epoch(lambda x, i: cached(x, i), images, order)) for _ in range(max(repeat, 5))]
    views = count * len(steps)
    live_s, cache_s = statistics.median(runs["live"]), statistics.median(runs["cache"] + cache_reads)
    return {"dissolver": name, "image_size": size, "images": count, "grid": list(steps), "draws": 1,
            "storage_dtype": "float32", "build_s": round(build_s, 3), "build_s_per_view": build_s / views,
            "bytes_on_disk": disk, "bytes_per_image": disk / count, "bytes_per_view": disk / views,
            "files": len(files), "epoch_live_s": live_s, "epoch_cache_s": cache_s,
            "live_s_per_image": live_s / count, "cache_s_per_image": cache_s / count,
            "speedup": live_s / cache_s, "break_even_epochs": build_s / (live_s - cache_s),
            "epoch_repeats": repeat}


def cost_table(path: Path = RESULTS / "bench_cache.json") -> str:
    """The docs table of a committed measurement: build cost, size, live and cached epoch time per image."""
    if not path.exists():
        return "not measured yet\n"
    record = json.loads(path.read_text())
    lines = ["| dissolver | images x grid steps | build, s per view | bytes per image | live dissolve, s per image | "
             "cache read, s per image | epoch speed-up | the build pays after (epochs) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in record["results"]:
        lines.append(f"| {r['dissolver']} | {r['images']} x {len(r['grid'])} | {r['build_s_per_view']:.4g} | "
                     f"{r['bytes_per_image'] / 1e3:.0f} kB | {r['live_s_per_image']:.3g} | {r['cache_s_per_image']:.2g} | "
                     f"{r['speedup']:.0f} x | {r['break_even_epochs']:.1f} |")
    lines.append(f"\n{record['device']}, {record['threads']} thread(s), torch {record['torch']}, batch {record['batch']}; "
                 f"`{record['command']}` at {record['commit'][:7]}{'+dirty' if record['commit'].endswith('+dirty') else ''}.")
    return "\n".join(lines) + "\n"


#: The docs table of this benchmark's committed result (printed by ``benchmarks/report.py``).
REPORT_TABLES = {"cache-cost": cost_table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_cache.json", help="where the JSON goes")
    parser.add_argument("--images", type=int, default=256, help="images of the tiny DDPM and tiny SD parts")
    parser.add_argument("--steps", type=int, default=8, help="grid steps of the tiny parts (over the default range)")
    parser.add_argument("--repeat", type=int, default=3, help="epochs timed per side for the tiny parts")
    parser.add_argument("--sd15-images", type=int, default=2, help="images of the SD 1.5 part")
    parser.add_argument("--sd15-steps", type=int, default=1, help="grid steps of the SD 1.5 part")
    parser.add_argument("--skip-sd15", action="store_true", help="leave the SD 1.5-sized part out")
    args = parser.parse_args()

    from dia_augment.augmentation.cache import step_grid

    results = []
    ddpm = tiny_ddpm()
    results.append(measure("ddpm-tiny-32", ddpm, 32, args.images, step_grid(ddpm.default_step_range, args.steps),
                           args.repeat))
    print(json.dumps(results[-1]), flush=True)
    sd = tiny_sd()
    results.append(measure("sd-tiny-64", sd, 64, args.images, step_grid(sd.default_step_range, args.steps),
                           args.repeat))
    print(json.dumps(results[-1]), flush=True)
    if not args.skip_sd15:
        start = time.perf_counter()
        big = sd15()
        setup_s = time.perf_counter() - start
        results.append(measure("sd15-512", big, 512, args.sd15_images,
                               step_grid(big.default_step_range, args.sd15_steps), 1))
        results[-1]["setup_s"] = round(setup_s, 1)
        results[-1]["parameters"] = sum(p.numel() for p in big.parameters())
        print(json.dumps(results[-1]), flush=True)

    record = {**provenance(), "batch": BATCH, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
