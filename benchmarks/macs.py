"""MACs and parameters of the dissolving step and of the backbone, per dissolver resolution.

Counts with ``torch.utils.flop_counter.FlopCounterMode`` (MACs = FLOPs / 2: the counter
reports two FLOPs per multiply-accumulate of convolutions and matmuls; normalisations and
activations are not counted) for one image:

- the dissolving step (one UNet call of each preset) at 32, 64, 128 px;
- with ``--reference-unet``, the paper code's own UNet (``denoising_diffusion_pytorch`` 0.27.12,
  ``Unet(dim=64, dim_mults=(1, 2, 4, 8))``; needs ``pip install denoising_diffusion_pytorch==0.27.12
  einops``);
- the backbone (ResNet-18, ImageNet stem at 224 px as in the paper, and the CIFAR stem at
  64 px, width 64 and 16);
- dissolve images/s at batch 32 on this machine.

The column "thop-style" counts only modules whose type is exactly ``nn.Conv2d`` or
``nn.Linear``, as the ``thop`` profiler of the paper's requirements does (it looks hooks up by
exact type): a subclass such as the reference's weight-standardised convolution is left out.

The paper's "Resolutions" table reports 2.33 / 3.84 / 9.90 GMACs for 32 / 64 / 128 px:
backbone plus dissolving per image.

Run:
    python benchmarks/macs.py --presets tiny dia-reference ddpm-cifar10 --reference-unet
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


def thop_style_gmacs(module: torch.nn.Module, *inputs: object) -> float:
    """MACs of the modules whose type is exactly ``nn.Conv2d`` or ``nn.Linear`` (what thop counts)."""
    total = 0

    def hook(m: torch.nn.Module, args: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, torch.nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        else:
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules() if type(m) in (torch.nn.Conv2d, torch.nn.Linear)]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total / 1e9


def reference_unet() -> torch.nn.Module:
    """The paper code's DDPM UNet, ``denoising_diffusion_pytorch.Unet(dim=64, dim_mults=(1, 2, 4, 8))``.

    The class needs only torch and einops; its module also imports the package's trainer
    dependencies (torchvision, accelerate, PIL), stubbed here when they are not installed.
    """
    import importlib
    import types

    for name in ("torchvision", "torchvision.transforms", "torchvision.utils", "accelerate", "PIL", "PIL.Image"):
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    if not hasattr(sys.modules["accelerate"], "Accelerator"):
        sys.modules["accelerate"].Accelerator = object  # type: ignore[attr-defined]
    for parent, child in (("torchvision", "transforms"), ("torchvision", "utils"), ("PIL", "Image")):
        if not hasattr(sys.modules[parent], child):
            setattr(sys.modules[parent], child, sys.modules[f"{parent}.{child}"])
    from denoising_diffusion_pytorch.denoising_diffusion_pytorch import Unet

    return Unet(dim=64, dim_mults=(1, 2, 4, 8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--presets", nargs="+", default=["tiny", "dia-reference", "ddpm-cifar10"])
    parser.add_argument("--reference-unet", action="store_true", help="also count the paper code's UNet")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"machine: {machine_line(device)}\n")

    print("| dissolver | resolution | params (M) | GMACs / image | thop-style GMACs | dissolve img/s (batch %d) |" % args.batch)
    print("| --- | --- | --- | --- | --- | --- |")
    for preset in args.presets:
        for res in args.resolutions:
            torch.manual_seed(0)
            unet = make_unet(preset, res, 3).to(device).eval()
            dissolver = DDPMDissolving(unet, make_scheduler(), check_inputs=False).to(device)
            one = torch.rand(1, 3, res, res, device=device) * 2 - 1
            step = torch.tensor([50], device=device)
            macs, thop = gmacs(unet, one, step), thop_style_gmacs(unet, one, step)
            x = torch.rand(args.batch, 3, res, res, device=device)
            t = torch.randint(30, 100, (args.batch,), device=device)
            with torch.no_grad():
                seconds = median_time(lambda: dissolver(x, t), device, repeat=3, warmup=1)
            print(f"| {preset} | {res} | {mparams(unet):.2f} | {macs:.3f} | {thop:.3f} | {args.batch / seconds:.3g} |")
    if args.reference_unet:
        torch.manual_seed(0)
        unet = reference_unet().to(device).eval()
        for res in args.resolutions:
            one = torch.rand(1, 3, res, res, device=device) * 2 - 1
            step = torch.tensor([50], device=device)
            macs, thop = gmacs(unet, one, step), thop_style_gmacs(unet, one, step)
            print(f"| the paper code's Unet(64, (1, 2, 4, 8)) | {res} | {mparams(unet):.2f} | {macs:.3f} | {thop:.3f} | |")

    print("\n| backbone | input | params (M) | GMACs / image | thop-style GMACs |")
    print("| --- | --- | --- | --- | --- |")
    for name, size, width in [("resnet18_imagenet", 224, 64), ("resnet18", 64, 64), ("resnet18", 64, 16), ("resnet18", 32, 16)]:
        model = build_model(name, 3, width).to(device).eval()
        one = torch.rand(1, 3, size, size, device=device)
        print(f"| {name} (width {width}) | {size} px | {mparams(model):.2f} | {gmacs(model, one):.3f} | {thop_style_gmacs(model, one):.3f} |")


if __name__ == "__main__":
    main()
