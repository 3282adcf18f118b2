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

Each case is appended as one JSON line (the case, window, slices read, the volume, the peak
memory before and after, the time, which ``dia_augment`` the process imported, the machine's
load, and :func:`_record.provenance`) to ``--results`` (``benchmarks/results/nifti_memory.jsonl``);
:data:`REPORT_TABLES` prints the docs' table from that file (``benchmarks/report.py``).

Run (2-core CPU: about a minute, most of it writing the volume):
    python benchmarks/bench_nifti_memory.py
    python benchmarks/bench_nifti_memory.py --window lung --count 300
    git worktree add /tmp/dia_old 2425aca  # the last version that read the whole volume
    PYTHONPATH=/tmp/dia_old python benchmarks/bench_nifti_memory.py --cases package
    python benchmarks/bench_nifti_memory.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, ROOT, append_line, git_commit, provenance, read_lines  # noqa: E402

CASES = ("package", "whole-volume")
RESULTS_FILE = RESULTS / "nifti_memory.jsonl"


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


def read_case(case: str, path: str, window: str | None, count: int) -> dict[str, Any]:
    """Read ``count`` axial slices, the middle ones, as ``case`` does; the peak memory before and after,
    and which ``dia_augment`` this process imported."""
    import importlib

    import nibabel

    import dia_augment
    from dia_augment.data import read_nifti_slice
    from dia_augment.data.window import apply_window, minmax_window, parse_window

    n = nibabel.load(path).shape[2]
    chosen = range((n - min(count, n)) // 2, (n + min(count, n)) // 2)
    importlib.import_module("torch")  # before "before": the package imports torch only when a read needs it
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
    after, seconds = peak_mib(), time.perf_counter() - start
    package = Path(dia_augment.__file__).resolve().parents[1]
    return {"before_mib": before, "after_mib": after, "seconds": seconds, "package_root": str(package),
            "this_checkout": package == ROOT, "package_commit": git_commit(package),
            "package_version": dia_augment.__version__, "nibabel": nibabel.__version__, "numpy": np.__version__}


def _window_name(window: str | None) -> str:
    return "the volume's min-max (default)" if window is None else f"`{window}`"


def _reader(r: dict[str, Any]) -> str:
    if r["case"] == "whole-volume":
        return "the earlier reader's steps: the whole volume as float64 (`whole-volume`)"
    if r["this_checkout"]:
        return "`read_nifti_slice` of this version (`package`)"
    return f"`read_nifti_slice` of commit {r['package_commit'][:7]} (`package`, `PYTHONPATH` to its checkout)"


def report(records: list[dict[str, Any]]) -> str:
    """The docs' table: peak memory and time per reader, window and slice count (the last record of each)."""
    if not records:
        return "not measured yet\n"
    latest: dict[tuple, dict[str, Any]] = {}
    for r in records:
        reader = "this" if r["case"] == "whole-volume" or r["this_checkout"] else r["package_commit"]
        latest[(r["case"], reader, r["window"], r["count"])] = r
    lines = ["| reader | window | slices read | peak RSS before the read | after | added by the read | time of the read |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    rows = sorted(latest.values(), key=lambda r: (r["count"], r["window"] is not None, r["window"] or "",
                                                  r["case"] == "whole-volume", not r["this_checkout"]))
    for r in rows:
        lines.append(f"| {_reader(r)} | {_window_name(r['window'])} | {r['count']} | {r['before_mib']:.0f} MiB | "
                     f"{r['after_mib']:.0f} MiB | **{r['after_mib'] - r['before_mib']:.0f} MiB** | {r['seconds']:.1f} s |")

    def each(key: str) -> str:
        return ", ".join(dict.fromkeys(str(r[key]) for r in rows))

    volumes = ", ".join(dict.fromkeys(f"{' x '.join(map(str, r['volume']['shape']))} {r['volume']['dtype']} "
                                      f"`{r['volume']['name']}` ({r['volume']['mib_on_disk']:.0f} MiB on disk)"
                                      for r in rows))
    loads = [r["loadavg_1m"] for r in rows]
    commands = "; ".join(f"`{c}`" for c in dict.fromkeys(r["command"] for r in rows))
    commits = ", ".join(dict.fromkeys(r["commit"][:7] + ("+dirty" if r["commit"].endswith("+dirty") else "")
                                      for r in rows))
    lines += ["", f"One volume, {volumes}, read in a fresh process per row; peak RSS is `ru_maxrss`, \"before\" "
              f"is Python with torch and the package imported. Python {each('python')}, torch {each('torch')}, "
              f"nibabel {each('nibabel')}, numpy {each('numpy')}; {each('device')}, {each('cpu_count')} cores. The "
              f"times were measured while other jobs loaded the CPU (1-minute load average {min(loads):.1f} to "
              f"{max(loads):.1f} at the rows' starts) and are rough; the memory does not depend on the load. "
              f"Made at commit {commits} by {commands}."]
    return "\n".join(lines) + "\n"


#: The docs table of this benchmark's committed results (printed by ``benchmarks/report.py``).
REPORT_TABLES = {"nifti-memory": lambda: report(read_lines(RESULTS_FILE))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", default=None, help="the window of the read (default: the volume's min-max)")
    parser.add_argument("--count", type=int, default=1, help="slices read, in order from the middle (default 1)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--volume", type=Path, default=None, help="read this volume instead of writing one")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="the JSON-lines file the cases are appended to")
    parser.add_argument("--report", action="store_true", help="print the table of --results (nothing measured)")
    args = parser.parse_args()

    if args.report:
        print(report(read_lines(args.results)), end="")
        return
    if args.case:
        print(json.dumps(read_case(args.case, str(args.volume), args.window, args.count)))
        return

    import nibabel

    with tempfile.TemporaryDirectory() as folder:
        volume = args.volume
        if volume is None:
            volume = Path(folder) / "ct.nii.gz"
            write_volume(volume, (512, 512, 300))
        header = nibabel.load(volume).header
        described = {"name": volume.name, "shape": [int(n) for n in header.get_data_shape()],
                     "dtype": str(header.get_data_dtype()), "mib_on_disk": round(volume.stat().st_size / 2**20, 1),
                     "written_by_the_script": args.volume is None}
        print(f"{volume.name}: {volume.stat().st_size / 2**20:.0f} MiB on disk, window {args.window}, "
              f"{args.count} slice(s); python {sys.version.split()[0]}\n")
        print("| case | peak RSS before the read | peak RSS after | added by the read | time |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for case in args.cases:
            cmd = [sys.executable, __file__, "--case", case, "--volume", str(volume), "--count", str(args.count)]
            cmd += [] if args.window is None else ["--window", args.window]
            load = os.getloadavg()[0]
            started = time.perf_counter()
            result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            added = result["after_mib"] - result["before_mib"]
            append_line(args.results, {"case": case, "window": args.window, "count": args.count, "volume": described,
                                       **result, "added_mib": added, "python": platform.python_version(),
                                       "cpu_count": os.cpu_count(), "loadavg_1m": round(load, 2),
                                       "process_wall_s": round(time.perf_counter() - started, 2), **provenance()})
            print(f"| {case} | {result['before_mib']:.0f} MiB | {result['after_mib']:.0f} MiB | {added:.0f} MiB | "
                  f"{result['seconds']:.2f} s |", flush=True)

if __name__ == "__main__":
    main()
