"""MACs and parameters of the dissolving step and of the backbone, per dissolver resolution.

Counts with ``torch.utils.flop_counter.FlopCounterMode`` (MACs = FLOPs / 2: the counter
reports two FLOPs per multiply-accumulate of convolutions and matmuls; normalisations and
activations are not counted) for one image:

- the dissolving step (one UNet call of the ``tiny`` and ``paper`` presets) at 32, 64, 128 px;
- the backbone (ResNet-18, ImageNet stem at 224 px as in the paper, and the CIFAR stem at
  64 px, width 64 and 16);
- dissolve images/s at batch 32 on this machine.

The paper's "Resolutions" table reports 2.33 / 3.84 / 9.90 GMACs for 32 / 64 / 128 px:
backbone plus dissolving per image.

Run:
    python benchmarks/macs.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_line, median_time  # noqa: E402

from dia_augment import DDPMDissolving  # noqa: E402
from dia_augment.filters.presets import make_scheduler, make_unet  # noqa: E402
from dia_augment.models import build_model  # noqa: E402


def gmacs(module: torch.nn.Module, *inputs: object) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(*inputs)
    return counter.get_total_flops() / 2e9


def mparams(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--presets", nargs="+", default=["tiny", "paper"])
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"machine: {machine_line(device)}\n")

    print("| dissolver | resolution | params (M) | GMACs / image | dissolve img/s (batch %d) |" % args.batch)
    print("| --- | --- | --- | --- | --- |")
    for preset in args.presets:
        for res in args.resolutions:
            torch.manual_seed(0)
            unet = make_unet(preset, res, 3).to(device)
            dissolver = DDPMDissolving(unet, make_scheduler(), check_inputs=False).to(device)
            one = torch.rand(1, 3, res, res, device=device) * 2 - 1
            macs = gmacs(unet, one, torch.tensor([50], device=device))
            x = torch.rand(args.batch, 3, res, res, device=device)
            t = torch.randint(30, 100, (args.batch,), device=device)
            with torch.no_grad():
                seconds = median_time(lambda: dissolver(x, t), device, repeat=3, warmup=1)
            print(f"| {preset} | {res} | {mparams(unet):.2f} | {macs:.3f} | {args.batch / seconds:.3g} |")

    print("\n| backbone | input | params (M) | GMACs / image |")
    print("| --- | --- | --- | --- |")
    for name, size, width in [("resnet18_imagenet", 224, 64), ("resnet18", 64, 64), ("resnet18", 64, 16), ("resnet18", 32, 16)]:
        model = build_model(name, 3, width).to(device).eval()
        macs = gmacs(model, torch.rand(1, 3, size, size, device=device))
        print(f"| {name} (width {width}) | {size} px | {mparams(model):.2f} | {macs:.3f} |")


if __name__ == "__main__":
    main()
