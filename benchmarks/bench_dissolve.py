"""Dissolving throughput: DDPMDissolving vs the bare UNet call, and cost vs p.

For batch sizes {8, 32, 128} at dissolver resolutions {32, 64}, prints a Markdown table of
images/s of ``DDPMDissolving`` (input 2x the dissolver's resolution, so the resize is included),
of the bare ``unet(x, t)`` call on the same batch at the model's resolution (the floor), their
ratio, the time of ``RandomDissolving`` at p = 0.25 over p = 1, the floor of that ratio (the
bare UNet call on a quarter of the batch over the whole batch: at p = 0.25 the model sees about a
quarter of the rows, and a UNet's time is not proportional to its batch), the bookkeeping of one
``RandomDissolving`` call at p = 0.25 (the same call with a dissolver that does nothing: the gate,
the steps, the input check, the gather and scatter of the rows, kornia's parameter handling), and
the peak memory of one dissolve (CUDA: peak allocated; CPU: peak of the allocations torch's
profiler records).

Goals: dissolve time <= 1.10 x the bare UNet call; p = 0.25 costs <= 0.35 x p = 1 (or its floor).

Run:
    python benchmarks/bench_dissolve.py                 # tiny preset, CPU
    python benchmarks/bench_dissolve.py --device cuda --preset ddpm-cifar10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved_times, machine_line, peak_memory_mib  # noqa: E402

from dia_augment import DDPMDissolving, RandomDissolving, ResizeDissolving  # noqa: E402
from dia_augment.filters.presets import make_scheduler, make_unet  # noqa: E402


def build(preset: str, resolution: int, device: torch.device, dtype: torch.dtype) -> DDPMDissolving:
    torch.manual_seed(0)
    unet = make_unet(preset, resolution, 3)
    return DDPMDissolving(unet, make_scheduler(), check_inputs=False).to(device=device, dtype=dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)

    print(f"machine: {machine_line(device)}; preset {args.preset}; dtype {args.dtype}\n")
    print("| res | batch | dissolve img/s | bare UNet img/s | dissolve / bare time | p=0.25 / p=1 time "
          "| floor: bare UNet B/4 / B | p=0.25 bookkeeping (ms) | peak memory (MiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for res in args.resolutions:
        dissolver = build(args.preset, res, device, dtype)
        for batch in args.batches:
            gen = torch.Generator().manual_seed(0)
            x = torch.rand(batch, 3, 2 * res, 2 * res, generator=gen).to(device=device, dtype=dtype)
            x_model = torch.rand(batch, 3, res, res, generator=gen).to(device=device, dtype=dtype) * 2 - 1
            t = torch.randint(30, 100, (batch,), generator=gen).to(device)
            aug_full = RandomDissolving(dissolver, p=1.0, generator=1)
            aug_part = RandomDissolving(dissolver, p=0.25, generator=1)
            identity = ResizeDissolving(2 * res)  # the input's own size: no resize, no model
            identity.check_inputs = False
            aug_book = RandomDissolving(identity, p=0.25, generator=1)
            quarter = max(1, batch // 4)
            with torch.no_grad():
                times = interleaved_times(
                    {
                        "dissolve": lambda: dissolver(x, t),
                        "bare": lambda: dissolver.unet(x_model, t).sample,
                        "p1": lambda: aug_full(x),
                        "p025": lambda: aug_part(x),
                        "bare_quarter": lambda: dissolver.unet(x_model[:quarter], t[:quarter]).sample,
                        "book": lambda: aug_book(x),
                    },
                    device,
                    args.repeat,
                )
                t_dis, t_bare, t_full, t_part = (times[k] for k in ("dissolve", "bare", "p1", "p025"))
                mem = peak_memory_mib(lambda: dissolver(x, t), device)
            print(
                f"| {res} | {batch} | {batch / t_dis:.0f} | {batch / t_bare:.0f} | {t_dis / t_bare:.3f} | "
                f"{t_part / t_full:.3f} | {times['bare_quarter'] / t_bare:.3f} | {times['book'] * 1e3:.2f} | {mem:.0f} |"
            )


if __name__ == "__main__":
    main()
