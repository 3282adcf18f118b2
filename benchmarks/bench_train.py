"""Step time and peak memory of CSI vs DIA training steps, and the cost of dissolving.

Measures, side by side in one run on the same random batch:

- a full training step (views, shifts, SimCLR augmentation, forward, backward, SGD) in
  ``csi`` mode (2 views x 4 shifts) and in ``dia`` mode (plus the dissolved view), interleaved;
- the dissolve of a DIA step (once per batch, a step per image) and, for comparison, the
  reference code's way: once per shift (4 calls on the shifted copies);
- the peak memory of each step kind, over the memory held before the step (model, optimiser
  state, data): ``torch.cuda.max_memory_allocated`` on a GPU; on CPU (Linux), the growth of the
  resident-set high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``) of a fresh
  process per mode.

The dissolver is an untrained DDPM UNet of the ``tiny`` preset (block_out_channels
(32, 64, 64), one layer per block, no attention) at 32 px: its cost does not depend on its
weights. Prints a Markdown table.

Usage::

    python benchmarks/bench_train.py --batch-size 32 --image-size 64 --width 16
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from dia_augment.augmentation.simclr import SimCLRAugmentation
from dia_augment.filters.ddpm import DDPMDissolving
from dia_augment.filters.presets import make_scheduler, make_unet
from dia_augment.models import build_model
from dia_augment.shift import expand_shifts
from dia_augment.augmentation import RandomDissolving
from dia_augment.train.step import build_rows, training_loss


def _setup(args: argparse.Namespace):
    torch.manual_seed(0)
    device = torch.device(args.device)
    images = torch.rand(args.batch_size, args.channels, args.image_size, args.image_size, device=device)
    model = build_model("resnet18", args.channels, args.width).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-6)
    dissolver = DDPMDissolving(make_unet("tiny", args.dissolver_resolution, args.channels), make_scheduler(),
                               resolution=args.dissolver_resolution).to(device).eval()
    augment = SimCLRAugmentation(args.image_size).to(device)
    return device, images, model, optimizer, dissolver, augment


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step(mode, images, model, optimizer, dissolver, augment, generator) -> None:
    dissolve = RandomDissolving(dissolver, p=1.0, generator=generator) if mode == "dia" else None
    rows = build_rows(images, augment, 4, "rotation", dissolve, generator)
    loss = training_loss(model, rows).total
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _timed(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _status_bytes(field: str) -> int:
    """A memory field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the resident-set high-water mark (Linux) and return the current resident set.

    ``ru_maxrss`` is no use here: a child started from a large parent inherits the parent's
    high-water mark, so the peak of the child's own work would not show.
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_bytes("VmRSS")


def _worker(args: argparse.Namespace) -> None:
    """Peak memory of one step kind, in a fresh process (printed as JSON)."""
    device, images, model, optimizer, dissolver, augment = _setup(args)
    generator = torch.Generator().manual_seed(0)
    _step(args.worker, images, model, optimizer, dissolver, augment, generator)  # allocates the optimiser state
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _reset_peak_rss()
    _step(args.worker, images, model, optimizer, dissolver, augment, generator)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        peak = _status_bytes("VmHWM") - base
    print(json.dumps({"peak_bytes": peak}))


def _peak_memory(args: argparse.Namespace, mode: str) -> float:
    cmd = [sys.executable, __file__, "--worker", mode] + [
        f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("worker", "repeats")
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_bytes"] / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=64, help="the model's input size")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--dissolver-resolution", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--worker", choices=("csi", "dia"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        _worker(args)
        return

    device, images, model, optimizer, dissolver, augment = _setup(args)
    generator = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {"csi": [], "dia": [], "once": [], "per_shift": []}
    shifted = expand_shifts(images, "rotation")[0].split(args.batch_size)

    def per_shift() -> None:
        with torch.no_grad():
            for part in shifted:
                dissolver(part, 50)

    for repeat in range(args.repeats + 1):  # the first round warms up
        for mode in ("csi", "dia"):
            t = _timed(lambda: _step(mode, images, model, optimizer, dissolver, augment, generator), device)
            if repeat:
                times[mode].append(t)
        dissolve_once = RandomDissolving(dissolver, p=1.0, generator=generator)
        t_once = _timed(lambda: torch.no_grad()(dissolve_once)(images), device)
        t_shift = _timed(per_shift, device)
        if repeat:
            times["once"].append(t_once)
            times["per_shift"].append(t_shift)
    med = {k: statistics.median(v) for k, v in times.items()}
    memory = {mode: _peak_memory(args, mode) for mode in ("csi", "dia")}
    kind = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    memory_kind = "max_memory_allocated" if device.type == "cuda" else "peak RSS over the pre-step RSS"
    b = args.batch_size
    print(f"B = {b}, {args.channels} x {args.image_size} px input, ResNet-18 width {args.width}, "
          f"DDPM tiny UNet at {args.dissolver_resolution} px; {kind}; median of {args.repeats}\n")
    print(f"| step | rows | time (ms) | images/s | peak memory (MiB, {memory_kind}) |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| csi | {8 * b} | {med['csi'] * 1e3:.0f} | {b / med['csi']:.1f} | {memory['csi']:.0f} |")
    print(f"| dia | {12 * b} | {med['dia'] * 1e3:.0f} | {b / med['dia']:.1f} | {memory['dia']:.0f} |")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| dia / csi step time | {med['dia'] / med['csi']:.2f} (goal <= 1.6) |")
    print(f"| dissolve once per batch ({b} images) | {med['once'] * 1e3:.1f} ms |")
    print(f"| dissolve share of a dia step | {100 * med['once'] / med['dia']:.1f} % (goal <= 15 %) |")
    print(f"| dissolve once per shift (4 calls, {4 * b} images) | {med['per_shift'] * 1e3:.1f} ms "
          f"({med['per_shift'] / med['once']:.2f} x once per batch) |")


if __name__ == "__main__":
    main()
