"""MACs and parameters of the dissolving step and of the backbone, per dissolver resolution.

Counts with ``torch.utils.flop_counter.FlopCounterMode`` (MACs = FLOPs / 2: the counter
reports two FLOPs per multiply-accumulate of convolutions and matmuls; normalisations and
activations are not counted) for one image in fp32, on a copy of the network on the ``meta``
device (shapes only: nothing is computed, so the count takes no time and no memory and does not
depend on the machine). Attention through ``F.scaled_dot_product_attention`` (the presets'
attention blocks) is counted with the math backend, whose two matrix products the counter sees:
the fused CPU kernel has no FLOP formula and would count as zero.

- the dissolving step (one UNet call of each preset) at 32, 64, 128 px;
- with ``--reference-unet``, the paper code's own UNet (``denoising_diffusion_pytorch`` 0.27.12,
  ``Unet(dim=64, dim_mults=(1, 2, 4, 8))``; needs only torch and einops:
  ``pip install --no-deps --target DIR denoising_diffusion_pytorch==0.27.12 einops``, then run
  with ``PYTHONPATH=DIR``);
- the backbone (ResNet-18, ImageNet stem at 224 px as in the paper, and the CIFAR stem at
  64 and 32 px, width 64 and 16);
- unless ``--no-timing``, dissolve images/s at batch ``--batch`` on this machine (recorded, not
  in the report: it depends on the machine and its load, the counts do not).

The column "thop-style" counts only modules whose type is exactly ``nn.Conv2d`` or
``nn.Linear``, as the ``thop`` profiler of the paper's requirements does (it looks hooks up by
exact type): a subclass such as the reference's weight-standardised convolution is left out.

The paper's "Resolutions" table reports 2.33 / 3.84 / 9.90 GMACs for 32 / 64 / 128 px:
backbone plus dissolving per image.

Each count is appended as one JSON line (network, resolution, parameters, FLOPs, thop-style
MACs, and :func:`_record.provenance`) to ``--results`` (``benchmarks/results/macs.jsonl``);
:data:`REPORT_TABLES` prints the docs' table from that file (``benchmarks/report.py``).

Run:
    PYTHONPATH=DIR python benchmarks/macs.py --reference-unet --no-timing
    python benchmarks/macs.py --presets tiny --resolutions 32 64 --batch 32
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, append_line, provenance, read_lines  # noqa: E402

if TYPE_CHECKING:
    import torch

RESULTS_FILE = RESULTS / "macs.jsonl"
#: The paper code's UNet, as its records name it.
REFERENCE = "Unet(dim=64, dim_mults=(1, 2, 4, 8))"
REFERENCE_PACKAGE = "denoising_diffusion_pytorch"
#: The backbones counted: (build_model name, input size, width).
BACKBONES = (("resnet18_imagenet", 224, 64), ("resnet18", 64, 64), ("resnet18", 64, 16), ("resnet18", 32, 16))


def flops(module: torch.nn.Module, *inputs: object) -> int:
    """FLOPs of one forward call as ``torch.utils.flop_counter`` counts them (2 per multiply-accumulate),
    with attention through the math backend of ``scaled_dot_product_attention`` (see the module docstring)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter, torch.no_grad():
        module(*inputs)
    return int(counter.get_total_flops())


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def thop_style_macs(module: torch.nn.Module, *inputs: object) -> int:
    """MACs of the modules whose type is exactly ``nn.Conv2d`` or ``nn.Linear`` (what thop counts)."""
    import torch

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
    return total


def reference_unet() -> torch.nn.Module:
    """The paper code's DDPM UNet, ``denoising_diffusion_pytorch.Unet(dim=64, dim_mults=(1, 2, 4, 8))``.

    The class needs only torch and einops; its module also imports the package's trainer
    dependencies (torchvision, accelerate, ema_pytorch, PIL, tqdm), stubbed here when they are not
    installed.
    """
    import importlib
    import types

    for name in ("torchvision", "torchvision.transforms", "torchvision.utils", "accelerate", "ema_pytorch", "PIL",
                 "PIL.Image", "tqdm", "tqdm.auto"):
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    for name, attribute in (("accelerate", "Accelerator"), ("ema_pytorch", "EMA"), ("tqdm", "tqdm"), ("tqdm.auto", "tqdm")):
        if not hasattr(sys.modules[name], attribute):
            setattr(sys.modules[name], attribute, object)
    for parent, child in (("torchvision", "transforms"), ("torchvision", "utils"), ("PIL", "Image"), ("tqdm", "auto")):
        if not hasattr(sys.modules[parent], child):
            setattr(sys.modules[parent], child, sys.modules[f"{parent}.{child}"])
    from denoising_diffusion_pytorch.denoising_diffusion_pytorch import Unet

    return Unet(dim=64, dim_mults=(1, 2, 4, 8))


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def count(module: torch.nn.Module, *inputs: torch.Tensor) -> dict[str, int]:
    """Parameters, FLOPs and thop-style MACs of one forward call of ``module``, counted on a ``meta`` copy."""
    import copy

    meta = copy.deepcopy(module).to("meta")
    shapes = [x.to("meta") for x in inputs]
    return {"params": params(module), "flops": flops(meta, *shapes), "thop_macs": thop_style_macs(meta, *shapes)}


def run(args: argparse.Namespace) -> None:
    import torch

    from _timing import machine_line, median_time
    from dia_augment import DDPMDissolving
    from dia_augment.filters.presets import make_scheduler, make_unet
    from dia_augment.models import build_model

    device = torch.device(args.device)
    common = {"dtype": "float32", "batch": 1, "counted_on": "meta", "sdpa_backend": "math", "device_arg": args.device}
    print(f"machine: {machine_line(device)}\n")

    def record(line: dict[str, Any], started: float) -> None:
        append_line(args.results, {**line, **common, "wall_s": round(time.perf_counter() - started, 2), **provenance()})

    timing = "" if args.no_timing else f" dissolve img/s (batch {args.batch}) |"
    print(f"| dissolver | resolution | params (M) | GMACs / image | thop-style GMACs |{timing}")
    print("| --- | --- | --- | --- | --- |" + (" --- |" if timing else ""))
    for preset in args.presets:
        for res in args.resolutions:
            started = time.perf_counter()
            torch.manual_seed(0)
            unet = make_unet(preset, res, 3).to(device).eval()
            one = torch.rand(1, 3, res, res, device=device) * 2 - 1
            step = torch.tensor([50], device=device)
            line = {"part": "dissolver", "network": preset, "resolution": res, **count(unet, one, step)}
            if not args.no_timing:
                dissolver = DDPMDissolving(unet, make_scheduler(), check_inputs=False).to(device)
                x = torch.rand(args.batch, 3, res, res, device=device)
                t = torch.randint(30, 100, (args.batch,), device=device)
                with torch.no_grad():
                    seconds = median_time(lambda: dissolver(x, t), device, repeat=3, warmup=1)
                line.update(dissolve_batch=args.batch, dissolve_img_per_s=round(args.batch / seconds, 3))
            record(line, started)
            speed = "" if args.no_timing else f" {line['dissolve_img_per_s']:.3g} |"
            print(f"| {preset} | {res} | {line['params'] / 1e6:.2f} | {line['flops'] / 2e9:.3f} | "
                  f"{line['thop_macs'] / 1e9:.3f} |{speed}", flush=True)
    if args.reference_unet:
        torch.manual_seed(0)
        unet = reference_unet().to(device).eval()
        version = _package_version(REFERENCE_PACKAGE)
        for res in args.resolutions:
            started = time.perf_counter()
            one = torch.rand(1, 3, res, res, device=device) * 2 - 1
            step = torch.tensor([50], device=device)
            line = {"part": "dissolver", "network": REFERENCE, "package": REFERENCE_PACKAGE,
                    "package_version": version, "resolution": res, **count(unet, one, step)}
            record(line, started)
            print(f"| the paper code's {REFERENCE} | {res} | {line['params'] / 1e6:.2f} | {line['flops'] / 2e9:.3f} | "
                  f"{line['thop_macs'] / 1e9:.3f} |" + (" |" if timing else ""), flush=True)

    print("\n| backbone | input | params (M) | GMACs / image | thop-style GMACs |")
    print("| --- | --- | --- | --- | --- |")
    for name, size, width in BACKBONES:
        started = time.perf_counter()
        model = build_model(name, 3, width).to(device).eval()
        one = torch.rand(1, 3, size, size, device=device)
        line = {"part": "backbone", "network": name, "width": width, "resolution": size, **count(model, one)}
        record(line, started)
        print(f"| {name} (width {width}) | {size} px | {line['params'] / 1e6:.2f} | {line['flops'] / 2e9:.3f} | "
              f"{line['thop_macs'] / 1e9:.3f} |", flush=True)


def _latest(records: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """The last record of each (part, network, width, resolution), in the order each first appears."""
    latest: dict[tuple, dict[str, Any]] = {}
    for r in records:
        latest[(r["part"], r["network"], r.get("width"), r["resolution"])] = r
    return latest


def _g(value: float) -> str:
    return f"{value / 1e9:.3f}"


def _m(values: list[int]) -> str:
    return " / ".join(dict.fromkeys(f"{v / 1e6:.2f}" for v in values))


def report(records: list[dict[str, Any]]) -> str:
    """The docs' tables: the dissolving UNets per resolution (with the reference's UNet plus the
    paper's backbone at 224 px, the sum the paper's table reports), and the backbones."""
    if not records:
        return "not measured yet\n"
    latest = _latest(records)
    unets = [r for key, r in latest.items() if key[0] == "dissolver"]
    sizes = sorted({r["resolution"] for r in unets})
    names = list(dict.fromkeys(r["network"] for r in unets))
    names.sort(key=lambda n: n != REFERENCE)  # the reference's UNet first, the presets in the order run
    label = {REFERENCE: f"the reference's `{REFERENCE}`"}
    by = {(r["network"], r["resolution"]): r for r in unets}
    backbone = latest.get(("backbone", "resnet18_imagenet", 64, 224))

    def row(name: str, cells: dict[int, dict[str, int]], size_params: list[int]) -> str:
        macs = [_g(cells[s]["flops"] / 2) if s in cells else "" for s in sizes]
        thop = " / ".join(_g(cells[s]["thop_macs"]) if s in cells else "-" for s in sizes)
        return f"| {name} | {_m(size_params)} | {' | '.join(macs)} | {thop} |"

    head = " | ".join(f"at {s} px" if i else f"GMACs at {s} px" for i, s in enumerate(sizes))
    lines = [f"| dissolving UNet, one call | params (M) | {head} | thop-style at {' / '.join(map(str, sizes))} px |",
             "| --- | --- | " + " | ".join("---:" for _ in sizes) + " | --- |"]
    for name in names:
        cells = {s: by[name, s] for s in sizes if (name, s) in by}
        lines.append(row(label.get(name, f"`{name}`"), cells, [c["params"] for c in cells.values()]))
    if backbone is not None and any(n == REFERENCE for n in names):
        cells = {s: {"flops": by[REFERENCE, s]["flops"] + backbone["flops"],
                     "thop_macs": by[REFERENCE, s]["thop_macs"] + backbone["thop_macs"]}
                 for s in sizes if (REFERENCE, s) in by}
        params_sum = [by[REFERENCE, s]["params"] + backbone["params"] for s in sizes if (REFERENCE, s) in by]
        lines.append(row("the reference's UNet + ResNet-18 (ImageNet stem, 224 px)", cells, params_sum))
    nets = [r for key, r in latest.items() if key[0] == "backbone"]
    if nets:
        lines += ["", "| backbone | input | params (M) | GMACs / image | thop-style GMACs |", "| --- | --- | --- | ---: | ---: |"]
        for r in nets:
            stem = "ImageNet stem" if r["network"] == "resnet18_imagenet" else "CIFAR stem"
            lines.append(f"| ResNet-18, {stem}, width {r['width']} (`{r['network']}`) | {r['resolution']} px | "
                         f"{r['params'] / 1e6:.2f} | {_g(r['flops'] / 2)} | {_g(r['thop_macs'])} |")
    used = list(latest.values())
    torches = ", ".join(dict.fromkeys(r["torch"] for r in used))
    commits = ", ".join(dict.fromkeys(r["commit"][:7] + ("+dirty" if r["commit"].endswith("+dirty") else "")
                                      for r in used))
    reference = ", ".join(dict.fromkeys(f"{r['package']} {r['package_version']}" for r in used if r.get("package")))
    commands = "; ".join(f"`{c}`" for c in dict.fromkeys(r["command"] for r in used))
    lines += ["", f"One image in fp32, counted on the `meta` device: MACs = FLOPs / 2 of `torch.utils.flop_counter` "
              f"(torch {torches}), attention through the math backend of `scaled_dot_product_attention`; thop-style: "
              f"the multiply-accumulates of modules whose type is exactly `nn.Conv2d` or `nn.Linear`"
              + (f"; the reference's UNet from {reference}" if reference else "")
              + f". Counted at commit {commits} by {commands}."]
    return "\n".join(lines) + "\n"


#: The docs table of this script's committed results (printed by ``benchmarks/report.py``).
REPORT_TABLES = {"macs": lambda: report(read_lines(RESULTS_FILE))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--presets", nargs="+", default=["tiny", "dia-reference", "ddpm-cifar10"])
    parser.add_argument("--reference-unet", action="store_true", help="also count the paper code's UNet")
    parser.add_argument("--batch", type=int, default=32, help="the batch of the dissolve throughput")
    parser.add_argument("--no-timing", action="store_true", help="count only; no dissolve throughput")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="the JSON-lines file the counts are appended to")
    parser.add_argument("--report", action="store_true", help="print the tables of --results (nothing counted)")
    args = parser.parse_args()
    if args.report:
        print(report(read_lines(args.results)), end="")
        return
    run(args)


if __name__ == "__main__":
    main()
