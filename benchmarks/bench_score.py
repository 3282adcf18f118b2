"""Benchmark: the chunked, vectorised ``csi_score`` against CSI's per-sample loop with ``.item()``.

Two measurements on random features (float32, positive training logits):

1. speed: ``csi_score`` on K shifts x N training x M test rows (default 4 x 5000 x 1000, D = 128)
   against the loop CSI's evaluation runs, one test sample and one shift at a time
   (``(z * axis).sum(1).max().item()``); the loop runs on the first ``--loop-samples`` test rows
   and its time is extrapolated linearly to all M rows (each sample costs the same). The two
   are checked to agree on those rows.
2. memory: the peak resident memory ``csi_score`` adds on top of its inputs for a large case
   (default 100k training x 10k test rows, D = 128, K = 4), measured in a fresh process from
   ``ru_maxrss``.
3. feature extraction: :meth:`~dia_augment.detect.AnomalyDetector.features` images per second with a ResNet-18
   (CIFAR stem, width 16, 32 px, one channel), T = 10 samples x 4 shifts per image.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_score.py
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from dia_augment.score import DEFAULT_CHUNK_SIZE, csi_score


def random_stats(k: int, n: int, m: int, d: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    train_f = torch.randn(k, n, d, generator=g)
    train_l = torch.rand(k, n, generator=g) * 4 + 0.5
    test_f = torch.randn(k, m, d, generator=g)
    test_l = torch.randn(k, m, generator=g)
    return train_f, train_l, test_f, test_l


def csi_loop(train_f: torch.Tensor, train_l: torch.Tensor, test_f: torch.Tensor, test_l: torch.Tensor) -> list[float]:
    """CSI's scoring loop: per test sample, per shift, a full pass over the training set and ``.item()``."""
    k_shifts = train_f.shape[0]
    axis = [torch.nn.functional.normalize(train_f[k], dim=1) for k in range(k_shifts)]
    w_sim = [1 / train_f[k].norm(dim=1).mean().item() for k in range(k_shifts)]
    w_shi = [1 / train_l[k].mean().item() for k in range(k_shifts)]
    scores = []
    for i in range(test_f.shape[1]):
        score = 0.0
        for k in range(k_shifts):
            score += (test_f[k, i : i + 1] * axis[k]).sum(dim=1).max().item() * w_sim[k]
            score += test_l[k, i].item() * w_shi[k]
        scores.append(score / k_shifts)
    return scores


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def memory_case(n: int, m: int, d: int, k: int, chunk_size: int) -> dict:
    """Run in a fresh process: peak RSS added by csi_score beyond its inputs."""
    stats = random_stats(k, n, m, d)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    scores = csi_score(*stats, chunk_size=chunk_size)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    inputs = sum(t.numel() * t.element_size() for t in stats)
    return {
        "inputs_mib": inputs / 2**20,
        "extra_peak_mib": (after - before) / 1024,
        "seconds": seconds,
        "finite": bool(torch.isfinite(scores).all()),
    }


def scorer_throughput(images: int, width: int, size: int, num_views: int) -> float:
    """Images per second of AnomalyDetector.features (T fixed views, K = 4) with an untrained ResNet-18."""
    from dia_augment.detect import AnomalyDetector
    from dia_augment.models import build_model
    from dia_augment.score import ScoreConfig, TestTimeEncoder, draw_views

    model = build_model("resnet18", in_channels=1, width=width).eval()
    x = torch.rand(images, 1, size, size, generator=torch.Generator().manual_seed(0))
    encoder = TestTimeEncoder(model, draw_views(num_views, (size, size), 1), size)
    scorer = AnomalyDetector(encoder, torch.zeros(0), torch.zeros(0), ScoreConfig(num_views=num_views, batch_size=64),
                             progress=False)
    return images / best_time(lambda: scorer.features(x), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shifts", type=int, default=4)
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--loop-samples", type=int, default=200, help="test rows the loop runs on (extrapolated)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large-train", type=int, default=100_000)
    parser.add_argument("--large-test", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--scorer-images", type=int, default=128, help="images for the extraction throughput (0: skip)")
    parser.add_argument("--memory-case", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.memory_case:
        print(json.dumps(memory_case(args.large_train, args.large_test, args.dim, args.shifts, args.chunk_size)))
        return

    k, n, m, d = args.shifts, args.train, args.test, args.dim
    stats = random_stats(k, n, m, d)
    vec_s = best_time(lambda: csi_score(*stats, chunk_size=args.chunk_size), args.repeats)
    sub = min(args.loop_samples, m)
    sub_stats = (stats[0], stats[1], stats[2][:, :sub], stats[3][:, :sub])
    loop_sub_s = best_time(lambda: csi_loop(*sub_stats), 1)
    loop_s = loop_sub_s * m / sub
    diff = (csi_score(*sub_stats) - torch.tensor(csi_loop(*sub_stats))).abs().max().item()
    extrapolated = f" (extrapolated from {sub} rows)" if sub < m else ""

    print(f"torch {torch.__version__}, {args.threads} thread(s), float32, chunk_size {args.chunk_size}\n")
    print("| case | method | time | per test image | speed-up |")
    print("| --- | --- | ---: | ---: | ---: |")
    case = f"K={k}, N={n} train, M={m} test, D={d}"
    print(f"| {case} | CSI loop, `.item()` per sample{extrapolated} | {loop_s:.2f} s | {1e3 * loop_s / m:.3f} ms | 1.0x |")
    print(f"| {case} | `csi_score` (chunked matmul) | {vec_s:.3f} s | {1e3 * vec_s / m:.4f} ms | {loop_s / vec_s:.0f}x |")
    print(f"\nmax |difference| between the two on {sub} rows: {diff:.2e}")

    if not args.skip_memory:
        cmd = [sys.executable, __file__, "--memory-case", "--threads", str(args.threads), "--dim", str(d)]
        cmd += ["--shifts", str(k), "--large-train", str(args.large_train), "--large-test", str(args.large_test)]
        cmd += ["--chunk-size", str(args.chunk_size)]
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print("\n| large case | inputs | peak memory added by `csi_score` | time |")
        print("| --- | ---: | ---: | ---: |")
        large = f"K={k}, N={args.large_train} train, M={args.large_test} test, D={d}, chunk {args.chunk_size}"
        print(
            f"| {large} | {result['inputs_mib']:.0f} MiB | {result['extra_peak_mib']:.0f} MiB | "
            f"{result['seconds']:.1f} s |"
        )

    if args.scorer_images:
        rate = scorer_throughput(args.scorer_images, width=16, size=32, num_views=10)
        print("\n| feature extraction | images/s | rows/s |")
        print("| --- | ---: | ---: |")
        print(f"| AnomalyDetector.features, ResNet-18 width 16, 32 px, T=10, K=4, batch 64 | {rate:.1f} | {rate * 40:.0f} |")


if __name__ == "__main__":
    main()
