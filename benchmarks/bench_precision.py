"""Precision and layout: fp32 / bf16 x eager / compiled x channels_last, against the machine's peak.

Prints Markdown tables, every ratio measured side by side in one run (round-robin medians), each
path through the library's own options (nothing is wrapped from outside):

1. this machine's peak: GFLOP/s of a 2048 x 2048 matmul and of a 64-channel 3 x 3 convolution
   (batch 32, 64 x 64), fp32 and bf16, NCHW and channels_last;
2. dissolving (``DDPMDissolving``, input 2x the dissolver's resolution, so the resize is
   included): images/s per path, the achieved GFLOP/s of its UNet call as a share of the
   measured bf16 / fp32 convolution peak, and the mean absolute difference of the output to the
   fp32 path in ``[0, 1]`` units (on the embedded set's fundus images, not on noise). Paths:
   ``fp32`` (the default), ``fp32-cl`` (``channels_last=True``), ``bf16-autocast`` (the dissolver
   under the caller's ``torch.autocast``: its weights cast at every call), ``bf16-autocast-cl``
   (and channels_last), ``bf16`` (``mixed_precision="bf16"``: the weights held in bf16, cast once),
   ``bf16-cl`` (and channels_last); ``--compile`` adds
   ``torch.compile(dissolver, fullgraph=True)`` of each;
3. the library's real training step (``ContrastiveTrainer.train_step``: views, dissolve, shifts,
   SimCLR augmentation, forward, NT-Xent + shift loss, backward, SGD) of a DIA step (3 views x 4
   shifts x batch rows, the dissolver of table 2 at 32 px) and a CSI step (2 views), and the
   scorer's feature extraction (``AnomalyDetector.features``, 4 shifts x 2 fixed views per image).
   Paths: ``fp32``, ``fp32-cl`` (``channels_last=True``), ``bf16`` (``mixed_precision="bf16"``,
   the DIA dissolve included; the scorer's ``mixed_precision="bf16"``), ``bf16-cl``; ``--compile``
   adds ``compile=True`` to the fp32 and the fastest path (the compile time is reported apart:
   it is paid once per process and shape);
4. with ``--quality-dissolver PATH`` (a trained dissolver), the quality of the bf16 paths: the
   lesion probe (``dia_augment.probe``) on the embedded set's twins at 64 px, each path's lesion
   erasure and anatomy change beside fp32's, and the mean absolute difference of its dissolve to
   fp32's, per step;
5. with ``--profile``, instead of the timing tables 2 and 3: ``torch.profiler`` (CPU) of the
   fp32 path and the fastest bf16 path of each dissolve (``bf16-autocast-cl``) and each training
   step or extraction in ``--works`` (``bf16-cl``), their self CPU time split into op groups
   (:data:`OP_GROUPS`: convolution, matmul / linear, normalisation, elementwise / activation,
   resampling, copies / layout conversions, other), each group's share in fp32 and in bf16, and
   the Amdahl bound of the bf16 speed-up: the fp32 profile with only its convolutions and
   matmuls made faster by the measured bf16 peak ratio of table 1.

Run (2-core CPU: about 10 minutes without --compile):
    python benchmarks/bench_precision.py
    python benchmarks/bench_precision.py --compile --dissolve-res 64 --batches 32 --skip peak step
    python benchmarks/bench_precision.py --compile --skip peak dissolve --works dia
    python benchmarks/bench_precision.py --skip peak dissolve step --quality-dissolver runs/ddpm_embedded16/dissolver
    python benchmarks/bench_precision.py --device cuda --batches 32 128 --compile
    python benchmarks/bench_precision.py --profile --dissolve-res 64 --batches 32 --works dia --repeat 3
"""

from __future__ import annotations

import argparse
import copy
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved_times, machine_line, sync  # noqa: E402

from dia_augment import DDPMDissolving  # noqa: E402
from dia_augment.filters.presets import make_scheduler, make_unet  # noqa: E402
from dia_augment.models import build_model  # noqa: E402
from dia_augment.detect import AnomalyDetector  # noqa: E402
from dia_augment.score import ScoreConfig, TestTimeEncoder, draw_views  # noqa: E402
from dia_augment.train import TrainConfig  # noqa: E402
from dia_augment.train.contrastive import ContrastiveTrainer  # noqa: E402

#: Dissolving paths: the dissolver's own options (``cast`` is the dtype the whole module is cast to).
DISSOLVE_PATHS = {
    "fp32": {},
    "fp32-cl": {"channels_last": True},
    "bf16-autocast": {"outer": torch.bfloat16},
    "bf16-autocast-cl": {"outer": torch.bfloat16, "channels_last": True},
    "bf16": {"mixed_precision": "bf16"},
    "bf16-cl": {"mixed_precision": "bf16", "channels_last": True},
}
#: Training-step and extraction paths: ``TrainConfig`` fields (the scorer takes ``autocast`` for bf16).
STEP_PATHS = {
    "fp32": {},
    "fp32-cl": {"channels_last": True},
    "bf16": {"mixed_precision": "bf16"},
    "bf16-cl": {"mixed_precision": "bf16", "channels_last": True},
}
#: The paths that ``--compile`` also times compiled.
COMPILED_STEP_PATHS = ("fp32", "bf16-cl")
WORKS = {"dia": ("DIA step", 3), "csi": ("CSI step", 2), "score": ("score extraction", 1)}
#: The paths ``--profile`` compares: fp32 and the fastest bf16 path of the dissolve and of the steps.
PROFILED_DISSOLVE_PATHS = ("fp32", "bf16-autocast-cl", "bf16-cl")
PROFILED_STEP_PATHS = ("fp32", "bf16-cl")
#: Op groups of ``--profile``, matched in order on the op's name (``aten::`` and a trailing ``_``
#: removed; a backward op goes with its forward, e.g. ``convolution_backward`` with the convolutions).
OP_GROUPS = {
    "convolution": r".*conv.*",
    "matmul / linear": r"(addmm|mm|bmm|baddbmm|addbmm|matmul|linear|dot|einsum|_?scaled_dot_product.*)",
    "normalisation": r".*(group_norm|batch_norm|layer_norm|instance_norm).*",
    "elementwise / activation": (
        r"(add|sub|rsub|mul|div|neg|abs|sign|reciprocal|sqrt|rsqrt|exp|log|pow|sin|cos|floor|ceil|round|"
        r"clamp|clamp_min|clamp_max|maximum|minimum|where|lerp|addcmul|addcdiv|masked_fill|eq|ne|lt|le|gt|ge|"
        r"relu|threshold|silu|sigmoid|tanh|gelu|hardtanh|leaky_relu|_foreach_.*)(_backward)?"
    ),
    "resampling / interpolate": r".*(upsample|interpolate|grid_sampler|affine_grid|pool).*",
    "copies / layout conversions": (
        r"(copy|_to_copy|to|clone|contiguous|cat|stack|fill|zero|flip|rot90|roll|index|index_select|index_put|"
        r"gather|scatter|to_dense|to_mkldnn|_copy_from|_copy_from_and_resize|_local_scalar_dense)"
    ),
}


def flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call (convolutions and matmuls; two per multiply-accumulate)."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


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


def first_call(fn: Callable[[], object], device: torch.device) -> tuple[object, float]:
    """The result and the seconds of a first call (for a compiled path: its compile time)."""
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


class UnderAutocast(torch.nn.Module):
    """A dissolver called under the caller's ``torch.autocast`` (its weights cast at every call)."""

    def __init__(self, dissolver: DDPMDissolving, dtype: torch.dtype) -> None:
        super().__init__()
        self.dissolver, self.dtype = dissolver, dtype

    @property
    def unet(self) -> torch.nn.Module:
        return self.dissolver.unet

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=self.dtype):
            return self.dissolver(x, t)


def make_dissolver(args: argparse.Namespace, res: int, device: torch.device, **options: object) -> torch.nn.Module:
    outer = options.pop("outer", None)
    torch.manual_seed(0)
    if args.dissolver_path:
        dissolver = DDPMDissolving.from_pretrained(args.dissolver_path, check_inputs=False, **options)
    else:
        dissolver = DDPMDissolving(make_unet(args.preset, res, 3), make_scheduler(), check_inputs=False, **options)
    dissolver = dissolver.to(device).eval()
    return UnderAutocast(dissolver, outer) if outer is not None else dissolver


def dissolve_table(args: argparse.Namespace, device: torch.device, peak: dict[str, float]) -> None:
    from dia_augment.data import make_embedded_dataset

    print("\n| dissolver res | batch | path | mode | img/s | x fp32 eager | GFLOP/s | share of conv peak | mean abs diff to fp32 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for res in args.dissolve_res:
        for batch in args.batches:
            data = make_embedded_dataset("train", image_size=2 * res, seed=0, num_normal=batch, num_anomalies=0)
            x = data.images[:batch].to(device)
            t = torch.randint(30, 100, (batch,), generator=torch.Generator().manual_seed(0)).to(device)
            fns, outputs, first_s, work = {}, {}, {}, 0.0
            for path, options in DISSOLVE_PATHS.items():
                for do_compile in [False, True] if args.compile else [False]:
                    dissolver = make_dissolver(args, res, device, **options)
                    if not work:
                        work = flops(lambda: dissolver.unet(torch.zeros(1, 3, res, res, device=device), t[:1]))
                    model = torch.compile(dissolver, fullgraph=True) if do_compile else dissolver

                    def call(model: torch.nn.Module = model) -> torch.Tensor:
                        with torch.no_grad():
                            return model(x, t)

                    key = f"{path}|{'compiled' if do_compile else 'eager'}"
                    outputs[key], first_s[key] = first_call(call, device)
                    fns[key] = call
            times = interleaved_times(fns, device, args.repeat)
            ref = outputs["fp32|eager"].float()
            for key, seconds in times.items():
                path, mode = key.split("|")
                achieved = work * batch / seconds / 1e9
                kernel_peak = peak.get("conv bf16 channels_last" if path.startswith("bf16") else "conv fp32")
                share = f"{achieved / kernel_peak:.0%}" if kernel_peak else "n/a (peak skipped)"
                mad = (outputs[key].float() - ref).abs().mean().item()
                extra = f" (first call {first_s[key]:.0f} s)" if mode == "compiled" else ""
                print(
                    f"| {res} | {batch} | {path} | {mode}{extra} | {batch / seconds:.0f} | "
                    f"{times['fp32|eager'] / seconds:.2f} | {achieved:.0f} | {share} | {mad:.2e} |"
                )


def step_function(args: argparse.Namespace, work: str, options: dict, do_compile: bool, device: torch.device,
                  images: torch.Tensor) -> tuple[Callable[[], torch.Tensor], Callable[[torch.nn.Module], None]]:
    """The library's call for ``work`` in one path, and a function that hooks a module's output dtype."""
    if work == "score":
        torch.manual_seed(0)
        model = build_model("resnet18", 3, args.width).to(device)
        config = ScoreConfig(num_views=2, batch_size=images.shape[0], compile=do_compile,
                             channels_last=bool(options.get("channels_last")),
                             mixed_precision=options.get("mixed_precision", "no"))
        views = draw_views(2, tuple(images.shape[-2:]), images.shape[1])
        scorer = AnomalyDetector(TestTimeEncoder(model, views, images.shape[-1]), torch.zeros(0), torch.zeros(0), config,
                                 progress=False)
        return lambda: scorer.features(images)[0], model
    mode = "dia" if work == "dia" else "csi"
    config = TrainConfig(mode=mode, width=args.width, image_size=args.step_size, batch_size=images.shape[0], epochs=1,
                         progress=False, compile=do_compile, **options)
    dissolver = None
    if mode == "dia":
        dissolver = make_dissolver(args, 32, device)
    trainer = ContrastiveTrainer(config, images.cpu(), copy.deepcopy(dissolver), out_dir=tempfile.mkdtemp())
    trainer.setup()
    return lambda: trainer.train_step(images)["loss"], trainer.accelerator.unwrap_model(trainer.model)


def step_table(args: argparse.Namespace, device: torch.device) -> None:
    print("\n| work | rows x px | path | mode | rows/s | x fp32 eager | conv1 output dtype |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    images = torch.rand(args.step_batch, 3, args.step_size, args.step_size, generator=torch.Generator().manual_seed(0))
    images = images.to(device)
    for work in args.works:
        name, views = WORKS[work]
        rows = views * 4 * args.step_batch * (2 if work == "score" else 1)  # the scorer: 2 samples
        fns, first_s, dtypes = {}, {}, {}
        for path, options in STEP_PATHS.items():
            for do_compile in [False, True] if args.compile and path in COMPILED_STEP_PATHS else [False]:
                key = f"{path}|{'compiled' if do_compile else 'eager'}"
                fn, model = step_function(args, work, options, do_compile, device, images)
                seen: list[torch.dtype] = []
                handle = model.backbone.conv1.register_forward_hook(lambda m, a, out, seen=seen: seen.append(out.dtype))
                _, first_s[key] = first_call(fn, device)
                handle.remove()
                dtypes[key] = str(seen[0]).removeprefix("torch.") if seen else "(compiled)"
                fns[key] = fn
        times = interleaved_times(fns, device, args.repeat, warmup=1)
        for key, seconds in times.items():
            path, mode = key.split("|")
            extra = f" (first call {first_s[key]:.0f} s)" if mode == "compiled" else ""
            print(f"| {name} | {rows} x {args.step_size} | {path} | {mode}{extra} | {rows / seconds:.0f} | "
                  f"{times['fp32|eager'] / seconds:.2f} | {dtypes[key]} |")


def quality_table(args: argparse.Namespace, device: torch.device) -> None:
    from dia_augment.data import make_embedded_anomalies
    from dia_augment.probe import probe_dissolver

    clean, lesioned, mask = make_embedded_anomalies(64, 64, 0)
    steps = (0, 30, 60, 100)
    print(f"\nquality: {args.quality_dissolver} on 64 embedded twins at 64 px")
    print("\n| path | t | lesion erasure | anatomy change (MAE) | mean abs diff of the dissolve to fp32 |")
    print("| --- | --- | --- | --- | --- |")
    reference: dict[int, torch.Tensor] = {}
    for path, options in DISSOLVE_PATHS.items():
        options = dict(options)
        outer = options.pop("outer", None)
        dissolver = DDPMDissolving.from_pretrained(args.quality_dissolver, check_inputs=False, **options).to(device)
        dissolver = UnderAutocast(dissolver, outer) if outer is not None else dissolver
        records = probe_dissolver(dissolver, clean, lesioned, mask, steps=steps, progress=False)
        for record in records:
            with torch.no_grad():
                out = dissolver(clean.to(device), record["t"]).float().cpu()
            reference.setdefault(record["t"], out)
            mad = (out - reference[record["t"]]).abs().mean().item()
            print(f"| {path} | {record['t']} | {record['erasure']:.4f} | {record['change_mae']:.4f} | {mad:.2e} |")


def op_group(name: str) -> str:
    """The :data:`OP_GROUPS` group of a profiled op (``"other"`` when none matches)."""
    op = name.removeprefix("aten::").rstrip("_")
    for group, pattern in OP_GROUPS.items():
        if re.fullmatch(pattern, op):
            return group
    return "other"


def profiled_ops(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[dict[str, float]]]:
    """Seconds of self CPU time per op name in each of ``repeat`` profiled calls of each function.

    The calls are profiled round-robin, one call per profile, so that a change of the machine's
    load hits every path alike.
    """
    from torch.profiler import ProfilerActivity, profile

    for fn in fns.values():
        fn()  # warm-up: one-time allocations and oneDNN primitive creation stay out of the profile
    calls: dict[str, list[dict[str, float]]] = {path: [] for path in fns}
    for _ in range(repeat):
        for path, fn in fns.items():
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                fn()
            calls[path].append({event.key: event.self_cpu_time_total / 1e6 for event in prof.key_averages()})
    return calls


def grouped(calls: list[dict[str, float]]) -> dict[str, float]:
    """The seconds of :func:`profiled_ops`'s calls summed per op group: each group's median over the calls."""
    per_call = []
    for ops in calls:
        groups = dict.fromkeys([*OP_GROUPS, "other"], 0.0)
        for name, seconds in ops.items():
            groups[op_group(name)] += seconds
        per_call.append(groups)
    return {group: statistics.median(groups[group] for groups in per_call) for group in per_call[0]}


def amdahl_bound(shares: dict[str, float], conv_ratio: float, matmul_ratio: float, rest_ratio: float = 1.0) -> float:
    """The speed-up of the whole when its convolutions, matmuls and other ops get faster by the given ratios.

    ``shares``: each op group's share of the fp32 time (summing to 1).
    """
    rest = 1.0 - shares["convolution"] - shares["matmul / linear"]
    return 1.0 / (rest / rest_ratio + shares["convolution"] / conv_ratio + shares["matmul / linear"] / matmul_ratio)


def print_profile(title: str, ops: dict[str, list[dict[str, float]]], peak: dict[str, float]) -> None:
    """The Markdown table of op-group shares for the fp32 path and a bf16 path, and the Amdahl bound."""
    times = {path: grouped(calls) for path, calls in ops.items()}
    (fp32, fp32_groups), (bf16, bf16_groups) = times.items()
    totals = {path: sum(groups.values()) for path, groups in times.items()}
    print(f"\n{title}: self CPU time by op group, medians of the profiled calls (absolute ms depend on the load)\n")
    print(f"| op group | {fp32} share | {bf16} share | {fp32} ms | {bf16} ms | {fp32} / {bf16} time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for group in fp32_groups:
        a, b = fp32_groups[group], bf16_groups[group]
        ratio = f"{a / b:.2f}" if b > 0 else "n/a"
        print(f"| {group} | {a / totals[fp32]:.1%} | {b / totals[bf16]:.1%} | {a * 1e3:.1f} | {b * 1e3:.1f} | {ratio} |")
    print(f"| total | 100% | 100% | {totals[fp32] * 1e3:.1f} | {totals[bf16] * 1e3:.1f} | "
          f"{totals[fp32] / totals[bf16]:.2f} |")
    for path, calls in ops.items():
        other = {name: seconds for name, seconds in calls[0].items() if op_group(name) == "other"}
        largest = sorted(other, key=other.__getitem__, reverse=True)[:3]
        print(f"\n{path}, largest ops in other (first call): " + ", ".join(f"{name} {other[name] * 1e3:.0f} ms" for name in largest))
    shares = {group: seconds / totals[fp32] for group, seconds in fp32_groups.items()}
    heavy = shares["convolution"] + shares["matmul / linear"]
    light_bf16 = totals[bf16] - bf16_groups["convolution"] - bf16_groups["matmul / linear"]
    print(f"\n{bf16}: everything but conv + matmul takes {light_bf16 * 1e3:.1f} ms, so even with free conv and matmul "
          f"this path stays under {totals[fp32] / light_bf16:.2f} x fp32")
    if "conv fp32" not in peak:
        print(f"\nconv + matmul: {heavy:.1%} of fp32; Amdahl bound n/a (peak skipped); at most {1 / (1 - heavy):.2f} x "
              "with infinitely fast conv and matmul")
        return
    conv_ratio = peak["conv bf16 channels_last"] / peak["conv fp32"]
    matmul_ratio = peak["matmul bf16"] / peak["matmul fp32"]
    print(f"\nAmdahl: conv + matmul are {heavy:.1%} of the fp32 time; sped up by the measured bf16 peak ratios "
          f"(conv {conv_ratio:.2f} x, matmul {matmul_ratio:.2f} x) and nothing else, the whole gains at most "
          f"{amdahl_bound(shares, conv_ratio, matmul_ratio):.2f} x (infinitely fast: {1 / (1 - heavy):.2f} x); with every "
          f"other op 2 x faster as well (half the bytes, the most bf16 gives memory-bound work): "
          f"{amdahl_bound(shares, conv_ratio, matmul_ratio, 2.0):.2f} x; measured under the profiler: "
          f"{totals[fp32] / totals[bf16]:.2f} x")


def profile_tables(args: argparse.Namespace, device: torch.device, peak: dict[str, float]) -> None:
    """``--profile``: op-group shares of fp32 and bf16 for the dissolves and the steps in ``--works``."""
    from dia_augment.data import make_embedded_dataset

    if "dissolve" not in args.skip:
        for res in args.dissolve_res:
            for batch in args.batches:
                data = make_embedded_dataset("train", image_size=2 * res, seed=0, num_normal=batch, num_anomalies=0)
                x = data.images[:batch].to(device)
                t = torch.randint(30, 100, (batch,), generator=torch.Generator().manual_seed(0)).to(device)
                fns = {}
                for path in PROFILED_DISSOLVE_PATHS:

                    def call(dissolver: DDPMDissolving = make_dissolver(args, res, device, **DISSOLVE_PATHS[path])) -> None:
                        with torch.no_grad():
                            dissolver(x, t)

                    fns[path] = call
                title = f"dissolve, {args.preset} preset at {res} px (input {2 * res} px), batch {batch}"
                print_profile(title, profiled_ops(fns, args.repeat), peak)
    if "step" not in args.skip:
        images = torch.rand(args.step_batch, 3, args.step_size, args.step_size, generator=torch.Generator().manual_seed(0))
        images = images.to(device)
        for work in args.works:
            fns = {path: step_function(args, work, STEP_PATHS[path], False, device, images)[0] for path in PROFILED_STEP_PATHS}
            title = f"{WORKS[work][0]}, width {args.width}, {args.step_size} px, batch {args.step_batch}"
            print_profile(title, profiled_ops(fns, args.repeat), peak)


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
    parser.add_argument("--works", nargs="+", default=list(WORKS), choices=list(WORKS), help="the steps to time")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd paths")
    parser.add_argument("--skip", nargs="*", default=[], choices=["peak", "dissolve", "step"])
    parser.add_argument("--quality-dissolver", default=None, help="a trained dissolver folder: the bf16 quality table")
    parser.add_argument("--profile", action="store_true",
                        help="profile fp32 against bf16 by op group (and the Amdahl bound) instead of timing the paths")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"machine: {machine_line(device)}; dissolver preset {args.preset}\n")
    peak = peak_table(device, args.repeat) if "peak" not in args.skip else {}
    if args.profile:
        profile_tables(args, device, peak)
    else:
        if "dissolve" not in args.skip:
            dissolve_table(args, device, peak)
        if "step" not in args.skip:
            step_table(args, device)
    if args.quality_dissolver:
        quality_table(args, device)


if __name__ == "__main__":
    main()
