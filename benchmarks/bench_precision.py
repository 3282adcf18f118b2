"""Precision and layout: fp32 / bf16 x eager / compiled x channels_last, against the machine's peak.

Prints Markdown tables, every ratio measured side by side in one run (round-robin medians):

1. this machine's peak: GFLOP/s of a 2048 x 2048 matmul and of a 64-channel 3 x 3 convolution
   (batch 32, 64 x 64), fp32 and bf16, NCHW and channels_last;
2. dissolving (``DDPMDissolving``, input 2x the dissolver's resolution, so the resize is
   included): images/s per path, the achieved GFLOP/s of its UNet call as a share of the
   measured bf16 / fp32 convolution peak, and the mean absolute difference of the output to the
   fp32 path in ``[0, 1]`` units (on the embedded set's fundus images, not on noise);
3. a contrastive training step (ResNet-18 CIFAR stem, forward + backward + SGD on the rows of a
   DIA step, 3 views x 4 shifts x batch, or a CSI step, 2 views; the NT-Xent is stood in for by
   a log-sum-exp of the same size, its cost is negligible beside the encoder's) and the
   scorer's feature extraction (forward without grad), per path; bf16 weights only for the
   extraction (an optimiser stepping bf16 weights loses small updates).

Paths: ``fp32`` (today's default), ``bf16-autocast`` (``torch.autocast(device, bfloat16)``),
``bf16-autocast-cl`` (plus channels_last weights and inputs), ``bf16-weights-cl`` (the module
cast to bfloat16, channels_last; no autocast), and with ``--compile`` the same paths through
``torch.compile`` (the compile time is reported apart; it is paid once per process and shape).

Run (2-core CPU: about 10 minutes without --compile):
    python benchmarks/bench_precision.py
    python benchmarks/bench_precision.py --compile --dissolve-res 64 --batches 32
    python benchmarks/bench_precision.py --device cuda --batches 32 128 --compile
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved_times, machine_line, sync  # noqa: E402

from dia_augment import DDPMDissolving  # noqa: E402
from dia_augment.filters.presets import make_scheduler, make_unet  # noqa: E402
from dia_augment.models import build_model  # noqa: E402

PATHS = ("fp32", "bf16-autocast", "bf16-autocast-cl", "bf16-weights-cl")


def flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call (convolutions and matmuls; two per multiply-accumulate)."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


@contextlib.contextmanager
def precision(path: str, device: torch.device) -> Iterator[None]:
    """The autocast context of a path (none for fp32 and for bf16 weights)."""
    if "autocast" in path:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def prepare(module: torch.nn.Module, path: str) -> torch.nn.Module:
    """A copy of ``module`` laid out and cast for ``path``."""
    import copy

    module = copy.deepcopy(module)
    if path.endswith("-cl"):
        module = module.to(memory_format=torch.channels_last)
    if path.startswith("bf16-weights"):
        module = module.to(torch.bfloat16)
    return module


def prepare_input(x: torch.Tensor, path: str) -> torch.Tensor:
    if path.endswith("-cl"):
        x = x.contiguous(memory_format=torch.channels_last)
    if path.startswith("bf16-weights"):
        x = x.to(torch.bfloat16)
    return x


def peak_table(device: torch.device, repeat: int) -> dict[str, float]:
    """GFLOP/s of a large matmul and a 64-channel convolution, fp32 and bf16."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(2048, 2048, generator=gen).to(device)
    b = torch.randn(2048, 2048, generator=gen).to(device)
    x = torch.randn(32, 64, 64, 64, generator=gen).to(device)
    w = torch.randn(64, 64, 3, 3, generator=gen).to(device) * 0.05
    x_cl, w_cl = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
    fns = {
        "matmul fp32": lambda: a @ b,
        "matmul bf16": lambda: a.bfloat16() @ b.bfloat16(),
        "conv fp32": lambda: F.conv2d(x, w, padding=1),
        "conv fp32 channels_last": lambda: F.conv2d(x_cl, w_cl, padding=1),
        "conv bf16": lambda: F.conv2d(x.bfloat16(), w.bfloat16(), padding=1),
        "conv bf16 channels_last": lambda: F.conv2d(x_cl.bfloat16(), w_cl.bfloat16(), padding=1),
    }
    # time the bf16 operands pre-cast, so the peak is the kernel's, not the cast's
    a16, b16, x16, w16 = a.bfloat16(), b.bfloat16(), x.bfloat16(), w.bfloat16()
    x16_cl, w16_cl = x_cl.bfloat16(), w_cl.bfloat16()
    fns["matmul bf16"] = lambda: a16 @ b16
    fns["conv bf16"] = lambda: F.conv2d(x16, w16, padding=1)
    fns["conv bf16 channels_last"] = lambda: F.conv2d(x16_cl, w16_cl, padding=1)
    work = {name: flops(fn) for name, fn in fns.items()}
    with torch.no_grad():
        times = interleaved_times(fns, device, repeat)
    gflops = {name: work[name] / times[name] / 1e9 for name in fns}
    print("| kernel | GFLOP/s |")
    print("| --- | --- |")
    for name, value in gflops.items():
        print(f"| {name} | {value:.0f} |")
    return gflops


def compiled(fn: Callable[..., torch.Tensor], enabled: bool) -> tuple[Callable[..., torch.Tensor], str]:
    return (torch.compile(fn, fullgraph=False), "compiled") if enabled else (fn, "eager")


def dissolve_table(args: argparse.Namespace, device: torch.device, peak: dict[str, float]) -> None:
    from dia_augment.data import make_embedded_dataset

    print("\n| dissolver res | batch | path | mode | img/s | x fp32 eager | GFLOP/s | share of conv peak | mean abs diff to fp32 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for res in args.dissolve_res:
        torch.manual_seed(0)
        if args.dissolver_path:
            base = DDPMDissolving.from_pretrained(args.dissolver_path)
        else:
            base = DDPMDissolving(make_unet(args.preset, res, 3), make_scheduler(), check_inputs=False)
        base = base.to(device).eval()
        for batch in args.batches:
            data = make_embedded_dataset("train", image_size=2 * res, seed=0, num_normal=batch, num_anomalies=0)
            x = data.images[:batch].to(device)
            gen = torch.Generator().manual_seed(0)
            t = torch.randint(30, 100, (batch,), generator=gen).to(device)
            one_call = flops(lambda: base.unet(torch.zeros(1, 3, res, res, device=device), t[:1]))
            fns, outputs, compile_s = {}, {}, {}
            for path in PATHS:
                for do_compile in ([False, True] if args.compile else [False]):
                    module = prepare(base, path)
                    xin = prepare_input(x, path)

                    def call(module: torch.nn.Module = module, xin: torch.Tensor = xin, path: str = path) -> torch.Tensor:
                        with precision(path, device), torch.no_grad():
                            return module(xin, t)

                    fn, mode = compiled(call, do_compile)
                    key = f"{path}|{mode}"
                    start = time.perf_counter()
                    outputs[key] = fn().float()
                    sync(device)
                    compile_s[key] = time.perf_counter() - start
                    fns[key] = fn
            times = interleaved_times(fns, device, args.repeat)
            ref = outputs["fp32|eager"]
            for key, seconds in times.items():
                path, mode = key.split("|")
                achieved = one_call * batch / seconds / 1e9
                kernel_peak = peak["conv bf16 channels_last" if path.startswith("bf16") else "conv fp32"]
                mad = (outputs[key] - ref).abs().mean().item()
                extra = f" (compile {compile_s[key]:.0f} s)" if mode == "compiled" else ""
                print(
                    f"| {res} | {batch} | {path} | {mode}{extra} | {batch / seconds:.0f} | "
                    f"{times['fp32|eager'] / seconds:.2f} | {achieved:.0f} | {achieved / kernel_peak:.0%} | {mad:.2e} |"
                )


def step_table(args: argparse.Namespace, device: torch.device) -> None:
    print("\n| work | rows x px | path | mode | rows/s | x fp32 eager |")
    print("| --- | --- | --- | --- | --- | --- |")
    gen = torch.Generator().manual_seed(0)
    for work, views in (("DIA step", 3), ("CSI step", 2), ("score extraction", 1)):
        rows = views * 4 * args.step_batch
        x = torch.rand(rows, 3, args.step_size, args.step_size, generator=gen).to(device)
        target = torch.randint(0, 4, (rows,), generator=gen).to(device)
        torch.manual_seed(0)
        base = build_model("resnet18", 3, args.width).to(device)
        fns = {}
        # bf16 weights are an inference path: an optimiser stepping bf16 weights loses updates
        paths = PATHS if work == "score extraction" else tuple(p for p in PATHS if not p.startswith("bf16-weights"))
        for path in paths:
            for do_compile in ([False, True] if args.compile else [False]):
                model = prepare(base, path)
                xin = prepare_input(x, path)
                if work == "score extraction":
                    model.eval()

                    def call(model: torch.nn.Module = model, xin: torch.Tensor = xin, path: str = path) -> torch.Tensor:
                        with precision(path, device), torch.no_grad():
                            return model(xin).projection

                else:
                    model.train()
                    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

                    def call(
                        model: torch.nn.Module = model,
                        xin: torch.Tensor = xin,
                        path: str = path,
                        opt: torch.optim.Optimizer = opt,
                    ) -> torch.Tensor:
                        with precision(path, device):
                            out = model(xin)
                            z = F.normalize(out.projection.float(), dim=1)
                            loss = (z @ z.T).logsumexp(1).mean() + F.cross_entropy(out.shift_logits.float(), target)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        return loss

                fn, mode = compiled(call, do_compile)
                fns[f"{path}|{mode}"] = fn
        times = interleaved_times(fns, device, args.repeat, warmup=2)
        for key, seconds in times.items():
            path, mode = key.split("|")
            print(
                f"| {work} | {rows} x {args.step_size} | {path} | {mode} | {rows / seconds:.0f} | "
                f"{times['fp32|eager'] / seconds:.2f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="tiny", help="UNet preset of the dissolver")
    parser.add_argument("--dissolver-path", default=None, help="a trained dissolver folder instead of a random one")
    parser.add_argument("--dissolve-res", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--step-batch", type=int, default=32, help="images per training step")
    parser.add_argument("--step-size", type=int, default=64, help="input size of the training step")
    parser.add_argument("--width", type=int, default=16, help="ResNet width of the training step")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd paths")
    parser.add_argument("--skip", nargs="*", default=[], choices=["peak", "dissolve", "step"])
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"machine: {machine_line(device)}; dissolver preset {args.preset}\n")
    peak = peak_table(device, args.repeat) if "peak" not in args.skip else {"conv fp32": 1.0, "conv bf16 channels_last": 1.0}
    if "dissolve" not in args.skip:
        dissolve_table(args, device, peak)
    if "step" not in args.skip:
        step_table(args, device)


if __name__ == "__main__":
    main()
