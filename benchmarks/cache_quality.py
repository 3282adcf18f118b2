"""The quality cost of a dissolve cache: DIA-DDPM on SARS-CoV-2, live vs cached views, paired by seed.

The live cells are the settling experiment's ``ddpm`` cells of part 1 (``benchmarks/settling.py``:
SARS-CoV-2, rotation, 48 px, width 16, 5 epochs, bf16 training, the 32 px tiny DDPM, steps drawn in
[30, 100)). The cached cells are the same cells whose dissolved views come from a cache of that
dissolver on a grid of 8 steps over [30, 100) (one draw: the DDPM's dissolve is deterministic in
the step): ``TrainConfig(dissolve_cache=...)``, one cache per seed (the cache's noise seed
derives from the run's seed, and a cache refuses a build with another one). Both are scored by the one scorer in float32 with
the settling experiment's settings. One JSON line per cached cell in
``benchmarks/results/cache_quality.jsonl`` (with the build's and the training's wall time);
``--report`` pairs them with the live cells of ``benchmarks/results/settling.jsonl``.

    OMP_NUM_THREADS=1 python benchmarks/cache_quality.py --seeds 0 1 2 --out runs/settling
    python benchmarks/cache_quality.py --report
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import settling  # noqa: E402
from _record import RESULTS, append_line, provenance, read_lines  # noqa: E402

RESULTS_FILE = RESULTS / "cache_quality.jsonl"
CACHE_STEPS = 8


def run(seeds: list[int], out: Path, results: Path) -> None:
    from dia_augment.train import TrainConfig, train_model

    b = settling.BUDGETS["sarscov2"]
    cache: dict = {}
    done = {r["seed"] for r in read_lines(results)}
    for seed in seeds:
        if seed in done:
            continue
        cell = {"part": "sarscov2", "method": "ddpm", "data_seed": 0, "seed": seed}
        train, test = settling.load_part("sarscov2", 0, cache)
        dissolver, _ = settling.dissolver_of(cell, train.images, out)
        config = TrainConfig(mode="dia", shift="rotation", model="resnet18", width=b["width"], image_size=b["image_size"],
                             crop_scale=b["crop_scale"], epochs=b["epochs"], batch_size=b["batch_size"], lr=b["lr"],
                             seed=seed, mixed_precision="bf16", channels_last=True, checkpoint_every=20,
                             dissolve_cache=str(out / "caches" / f"sarscov2_d0_ddpm32_grid8_s{seed}"), cache_steps=CACHE_STEPS,
                             progress=sys.stderr.isatty())
        started = time.perf_counter()
        model = train_model(config, train.images, dissolver=dissolver, out_dir=out / "cached" / f"ddpm_s{seed}",
                            resume=True, data_source="sarscov2 (data seed 0)")
        train_s = time.perf_counter() - started
        scored = settling.score_cell(model, config, train, test, seed, b["num_views"])
        append_line(results, {"method": "ddpm-cached", "seed": seed, "cache_steps": CACHE_STEPS, **scored,
                              "train_s": round(train_s, 1), **provenance()})
        print(f"seed {seed}: cached AUROC {scored['auroc']:.4f} ({train_s:.0f} s with the build)", flush=True)


def report(cached: list[dict[str, Any]], live: list[dict[str, Any]]) -> str:
    from stats import compare, format_contrasts

    live_by = {r["seed"]: r["auroc"] for r in live if r["part"] == "sarscov2" and r["method"] == "ddpm"}
    cached_by = {r["seed"]: r["auroc"] for r in cached}
    seeds = sorted(set(live_by) & set(cached_by))
    if not seeds:
        return "no seed has both a live and a cached cell yet\n"
    lines = ["| views | n | AUROC mean +- std | per seed |", "| --- | --- | --- | --- |"]
    for name, by in (("live (steps in [30, 100))", live_by), (f"cached ({CACHE_STEPS}-step grid)", cached_by)):
        values = [by[s] for s in seeds]
        spread = f" +- {statistics.stdev(values):.3f}" if len(values) > 1 else ""
        lines.append(f"| {name} | {len(values)} | {statistics.fmean(values):.3f}{spread} | "
                     f"{' / '.join(f'{v:.3f}' for v in values)} |")
    text = "\n".join(lines) + "\n"
    if len(seeds) >= 2:
        text += "\n" + format_contrasts(compare({"cached - live": ([cached_by[s] for s in seeds],
                                                                   [live_by[s] for s in seeds])})) + "\n"
    return text


#: The docs table of this comparison's committed results (printed by ``benchmarks/report.py``).
REPORT_TABLES = {
    "cache-quality": lambda: report(read_lines(RESULTS / "cache_quality.jsonl"), read_lines(RESULTS / "settling.jsonl")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/settling"))
    parser.add_argument("--results", type=Path, default=RESULTS_FILE)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.report:
        print(report(read_lines(args.results), read_lines(settling.RESULTS_FILE)))
        return
    run(args.seeds, args.out, args.results)


if __name__ == "__main__":
    main()
