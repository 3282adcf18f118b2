"""Dissolver training throughput: images/s of ``train_dissolver`` per UNet preset and resolution.

Each configuration runs the real trainer (Accelerate, Adam, gradient clipping, EMA update, flips)
on random images for ``2 * k`` steps with ``log_every = k``: the first logged window is the
warm-up, the second is reported. The trainer's own clock leaves out the readiness checks and
checkpoints, so the number is the training step alone. Prints a Markdown table.

Run:
    OMP_NUM_THREADS=2 nice -n 10 python benchmarks/bench_train_dissolver.py
    python benchmarks/bench_train_dissolver.py --device-note "1x H100" --presets tiny ddpm-cifar10 --resolutions 32 64
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_line  # noqa: E402

from dia_augment.filters.presets import make_unet  # noqa: E402
from dia_augment.train import DissolverTrainConfig, train_dissolver  # noqa: E402


def measure(preset: str, resolution: int, batch_size: int, window: int, channels: int) -> float:
    """Training images/s of one configuration (the second of two windows of ``window`` steps)."""
    images = torch.rand(batch_size + 8, channels, resolution, resolution, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as out:
        config = DissolverTrainConfig(
            resolution=resolution, preset=preset, train_steps=2 * window, batch_size=batch_size,
            log_every=window, eval_every=10**9, checkpoint_every=10**9, grid_images=0, progress=False,
        )
        train_dissolver(config, images, out)
        lines = (Path(out) / "metrics.jsonl").read_text().splitlines()
    speeds = [r["images_per_s"] for r in map(json.loads, lines) if r["kind"] == "train"]
    return speeds[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "ddpm-cifar10"])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--channels", type=int, default=1, choices=(1, 3))
    parser.add_argument("--batch-tiny", type=int, default=32, help="batch size of the tiny and micro presets")
    parser.add_argument("--batch-large", type=int, default=8, help="batch size of the large preset (ddpm-cifar10)")
    parser.add_argument("--steps-tiny", type=int, default=5, help="measured steps (after as many warm-up steps)")
    parser.add_argument("--steps-large", type=int, default=2)
    args = parser.parse_args()

    print(f"machine: {machine_line(torch.device('cuda' if torch.cuda.is_available() else 'cpu'))}; "
          f"{args.channels}-channel images\n")
    print("| preset | parameters | resolution | batch | measured steps | train images/s | s / step |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for preset in args.presets:
        large = preset != "tiny"
        batch, window = (args.batch_large, args.steps_large) if large else (args.batch_tiny, args.steps_tiny)
        for resolution in args.resolutions:
            params = sum(p.numel() for p in make_unet(preset, resolution, args.channels).parameters())
            speed = measure(preset, resolution, batch, window, args.channels)
            print(f"| {preset} | {params / 1e6:.2f} M | {resolution} | {batch} | {window} | {speed:.1f} | {batch / speed:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
