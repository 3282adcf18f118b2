"""Peak memory of reading one slice of a NIfTI volume: the lazy reader against a whole-volume read.

Writes a 512 x 512 x 300 int16 CT-like volume (``.nii.gz``, RAS+ affine) to a temporary folder,
then reads one axial slice in a fresh Python process per case and prints a Markdown table of
each process's peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), before
and after the read, and the time of the read:

- ``package``: :func:`dia_augment.data.read_nifti_slice` of the ``dia_augment`` the process
  imports (set ``PYTHONPATH`` to a checkout of an earlier version to measure that one);
- ``whole-volume``: what ``read_nifti_slice`` did before it read lazily: ``get_fdata()`` of the
  whole volume as float64, the slice taken from it and windowed with the volume's range.

The default window is ``None``, the volume's min-max for NIfTI, so that the lazy reader's pass
over the volume for its range is measured too; ``--window lung`` reads one slice only.

Run (2-core CPU: about a minute, most of it writing the volume):
    python benchmarks/bench_nifti_memory.py
    python benchmarks/bench_nifti_memory.py --window lung --count 300
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CASES = ("package", "whole-volume")


def write_volume(path: Path, shape: tuple[int, int, int], seed: int = 0) -> None:
    """A CT-like int16 volume in HU: air around a body of soft tissue with noise, bone in the middle."""
    import nibabel

    rng = np.random.default_rng(seed)
    x, y = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(x - shape[0] / 2, y - shape[1] / 2) / (min(shape[:2]) / 2)
    plane = np.where(r < 0.8, 40.0, -1000.0) + np.where(r < 0.1, 700.0, 0.0)
    volume = np.empty(shape, np.int16)
    for k in range(shape[2]):
        volume[:, :, k] = np.round(plane + 20 * rng.standard_normal(shape[:2]))
    image = nibabel.Nifti1Image(volume, np.eye(4))
    image.header.set_data_dtype(np.int16)
    nibabel.save(image, path)


def peak_mib() -> float:
    """This process's peak resident memory so far, MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_case(case: str, path: str, window: str | None, count: int) -> dict[str, float]:
    """Read ``count`` axial slices, the middle ones, as ``case`` does; the peak memory before and after."""
    import nibabel

    from dia_augment.data import read_nifti_slice
    from dia_augment.data.window import apply_window, minmax_window, parse_window

    n = nibabel.load(path).shape[2]
    chosen = range((n - min(count, n)) // 2, (n + min(count, n)) // 2)
    before = peak_mib()  # python, torch and the package imported
    start = time.perf_counter()
    if case == "package":
        for index in chosen:
            read_nifti_slice(path, index, axis=2, window=window)
    else:
        volume = np.asarray(nibabel.load(path).get_fdata(dtype=np.float64))
        spec = parse_window(window)
        center_width = spec if isinstance(spec, tuple) else minmax_window(volume)
        for index in chosen:
            apply_window(np.take(volume, index, axis=2), *center_width)
    return {"before_mib": before, "after_mib": peak_mib(), "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", default=None, help="the window of the read (default: the volume's min-max)")
    parser.add_argument("--count", type=int, default=1, help="slices read, in order from the middle (default 1)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--volume", type=Path, default=None, help="read this volume instead of writing one")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:
        print(json.dumps(read_case(args.case, str(args.volume), args.window, args.count)))
        return

    with tempfile.TemporaryDirectory() as folder:
        volume = args.volume
        if volume is None:
            volume = Path(folder) / "ct.nii.gz"
            write_volume(volume, (512, 512, 300))
        print(f"{volume.name}: {volume.stat().st_size / 2**20:.0f} MiB on disk, window {args.window}, "
              f"{args.count} slice(s); python {sys.version.split()[0]}\n")
        print("| case | peak RSS before the read | peak RSS after | added by the read | time |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for case in args.cases:
            cmd = [sys.executable, __file__, "--case", case, "--volume", str(volume), "--count", str(args.count)]
            cmd += [] if args.window is None else ["--window", args.window]
            result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            added = result["after_mib"] - result["before_mib"]
            print(f"| {case} | {result['before_mib']:.0f} MiB | {result['after_mib']:.0f} MiB | {added:.0f} MiB | "
                  f"{result['seconds']:.2f} s |")


if __name__ == "__main__":
    main()
