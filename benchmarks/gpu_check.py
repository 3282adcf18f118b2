"""The prepared device check: every figure a user asks of a card, in one JSON, in a few minutes.

Measured side by side in one process (medians of ``--repeat`` timed calls after warm-up), through the
library's own options:

- ``card``: the card's name, memory, torch and CUDA versions, whether bf16 runs natively;
- ``dissolve``: images/s of ``DDPMDissolving`` (tiny preset) at 32 / 64 / 128 px, batch 256, in fp32,
  bf16 (the dissolver's ``autocast``) and bf16 compiled, with peak memory;
- ``train_step``: ms per step of the library's DIA and CSI steps (``ContrastiveTrainer.train_step``)
  at 224 px (ResNet-18 width 64, ImageNet stem, batch 32, a 32 px dissolver), fp32 / bf16 / bf16
  compiled, with peak memory;
- ``score``: images/s of the one scorer's feature extraction (``AnomalyDetector.features``, T = 10
  views, K = 4 shifts) at 224 px, fp32 / bf16, with peak memory.

``--quick`` shrinks every size so that the script runs in seconds on a CPU (a test of the script).

    bash benchmarks/gpu_check.sh            # on a machine with a GPU: prints the JSON and saves it
    python benchmarks/gpu_check.py --device cpu --quick
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import provenance  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device, repeat: int, warmup: int | None = None) -> dict[str, float]:
    """Median seconds of ``fn()`` and the peak memory (MiB, CUDA) of the timed calls (warm-up: 2 calls, 1 for one repeat)."""
    for _ in range(warmup if warmup is not None else min(repeat, 2)):
        fn()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"seconds": statistics.median(times), "peak_mib": peak}


def device_info(device: torch.device) -> dict[str, Any]:
    from dia_augment.utils.precision import native_bf16

    info = {"type": device.type, "torch": torch.__version__, "native_bf16": native_bf16(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                    capability=f"{props.major}.{props.minor}")
    return info


def dissolve(device: torch.device, sizes: list[int], batch: int, repeat: int, compile_: bool) -> list[dict[str, Any]]:
    from dia_augment.filters import DDPMDissolving
    from dia_augment.filters.presets import make_scheduler, make_unet

    rows = []
    for size in sizes:
        torch.manual_seed(0)
        base = DDPMDissolving(make_unet("tiny", size, 3), make_scheduler()).to(device).eval()
        x = torch.rand(batch, 3, size, size, device=device)
        t = torch.full((batch,), 60, device=device)
        paths = {"fp32": base, "bf16": copy.deepcopy(base)}
        paths["bf16"].mixed_precision = "bf16"
        if compile_:
            paths["bf16-compiled"] = copy.deepcopy(paths["bf16"])
            paths["bf16-compiled"].check_inputs = False
            paths["bf16-compiled"] = torch.compile(paths["bf16-compiled"], fullgraph=True)
        for name, module in paths.items():
            with torch.no_grad():
                timing = _timed(lambda m=module: m(x, t), device, repeat)
            rows.append({"resolution": size, "batch": batch, "path": name,
                         "images_per_s": batch / timing["seconds"], "peak_mib": timing["peak_mib"]})
    return rows


def train_steps(device: torch.device, size: int, width: int, batch: int, repeat: int, compile_: bool,
                model: str) -> list[dict[str, Any]]:
    from dia_augment.filters import DDPMDissolving
    from dia_augment.filters.presets import make_scheduler, make_unet
    from dia_augment.train import TrainConfig
    from dia_augment.train.contrastive import ContrastiveTrainer

    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    dissolver = DDPMDissolving(make_unet("tiny", 32, 3), make_scheduler(), resolution=32)
    rows = []
    paths = {"fp32": {"mixed_precision": "no"}, "bf16": {"mixed_precision": "bf16", "channels_last": True}}
    if compile_:
        paths["bf16-compiled"] = {"mixed_precision": "bf16", "channels_last": True, "compile": True}
    for mode in ("dia", "csi"):
        for name, options in paths.items():
            config = TrainConfig(mode=mode, model=model, width=width, image_size=size, batch_size=batch, epochs=1,
                                 progress=False, **options)
            trainer = ContrastiveTrainer(config, images, copy.deepcopy(dissolver) if mode == "dia" else None,
                                         out_dir=tempfile.mkdtemp())
            trainer.setup()
            batch_on_device = images.to(trainer.device)
            timing = _timed(lambda tr=trainer: tr.train_step(batch_on_device)["loss"].item(), device, repeat)
            rows.append({"mode": mode, "path": name, "image_size": size, "width": width, "batch": batch,
                         "ms_per_step": 1000 * timing["seconds"], "images_per_s": batch / timing["seconds"],
                         "peak_mib": timing["peak_mib"]})
    return rows


def score(device: torch.device, size: int, width: int, images: int, repeat: int, model_name: str) -> list[dict[str, Any]]:
    from dia_augment.detect import AnomalyDetector
    from dia_augment.models import build_model
    from dia_augment.score import ScoreConfig, TestTimeEncoder, draw_views

    torch.manual_seed(0)
    model = build_model(model_name, 3, width).to(device).eval()
    x = torch.rand(images, 3, size, size, generator=torch.Generator().manual_seed(1))
    rows = []
    for name in ("no", "bf16"):
        encoder = TestTimeEncoder(model, draw_views(10, (size, size), 3), size).to(device)
        detector = AnomalyDetector(encoder, torch.zeros(0), torch.zeros(0),
                                   ScoreConfig(num_views=10, batch_size=min(images, 16), mixed_precision=name),
                                   progress=False)
        timing = _timed(lambda d=detector: d.features(x), device, repeat, warmup=1)
        rows.append({"path": "fp32" if name == "no" else name, "image_size": size, "views": 10, "shifts": 4,
                     "images_per_s": images / timing["seconds"], "peak_mib": timing["peak_mib"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a test of the script on any device")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip the compiled paths")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check.py: error: no CUDA device (run with --device cpu --quick to test the script)")
    quick = args.quick
    started = time.perf_counter()
    result = {
        "card": device_info(device),
        "dissolve": dissolve(device, [16] if quick else [32, 64, 128], 8 if quick else 256, 2 if quick else 10,
                             args.compile and not quick),
        "train_step": train_steps(device, 32 if quick else 224, 2 if quick else 64, 4 if quick else 32,
                                  2 if quick else 10, args.compile and not quick,
                                  "resnet18" if quick else "resnet18_imagenet"),
        "score": score(device, 32 if quick else 224, 2 if quick else 64, 4 if quick else 64, 2 if quick else 5,
                       "resnet18" if quick else "resnet18_imagenet"),
        "wall_s": None,
        **provenance(),
    }
    result["wall_s"] = round(time.perf_counter() - started, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
