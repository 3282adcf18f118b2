"""Probe several dissolvers on the same twins: does a trained DDPM erase lesions more than blur or a resize?

Each dissolver is probed (:mod:`dia_augment.probe`) at every step on the same twins: the
embedded set's anomalies and their clean versions, or lesions pasted into the normal test images
of another data set. Results are appended to a JSON-lines file, one line per (dissolver, step),
with the settings; a dissolver already probed with the same settings is skipped, so the script
can be stopped and started again. ``--report`` prints the table, the erasure at equal anatomy
change, and writes the plot.

A dissolver is ``[LABEL=]NAME[@RESOLUTION][:PATH]``:

    ddpm:runs/dissolver/dissolver      a saved DDPM dissolver (its own resolution)
    gaussian  gaussian@16              Gaussian blur at the input's resolution, or inside a 16 px round trip
    median@16  resize@16               median blur; the resize round trip alone
    sd:tiny                            Stable Diffusion on a tiny random pipeline built here (code path only)

Run (fp32, CPU):

    python benchmarks/probe.py --out runs/probe/embedded.jsonl --image-size 32 \\
        --dissolvers ddpm:runs/ddpm16/dissolver gaussian gaussian@16 median median@16 resize@16 sd:tiny
    python benchmarks/probe.py --out runs/probe/embedded.jsonl --report --plot docs/images/evidence_probe_embedded.png
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from dia_augment.errors import ConfigError

#: Anatomy changes (mean absolute change outside the lesions) at which ``--report`` compares erasure.
EQUAL_CHANGES = (0.01, 0.02, 0.03, 0.04)

_SETTINGS = ("data", "image_size", "num_images", "lesion_sigma", "lesion_opacity", "seed", "steps")


def parse_spec(spec: str) -> dict[str, Any]:
    """``[LABEL=]NAME[@RESOLUTION][:PATH]`` -> ``{"label", "name", "resolution", "path"}``."""
    label, _, body = spec.partition("=") if "=" in spec.split(":")[0] else ("", "", spec)
    head, _, path = body.partition(":")
    name, _, resolution = head.partition("@")
    if not name or (resolution and not resolution.isdigit()):
        raise ConfigError(f"a dissolver must read [LABEL=]NAME[@RESOLUTION][:PATH]; got {spec!r}")
    return {"label": label or spec, "name": name, "resolution": int(resolution) if resolution else None, "path": path or None}


def build_dissolver(spec: dict[str, Any], workdir: Path) -> Any:
    """The dissolver of a parsed spec; ``sd:tiny`` builds a tiny random pipeline in ``workdir``."""
    from dia_augment.filters import make_dissolver

    path = spec["path"]
    if spec["name"] == "sd" and path == "tiny":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_dissolve_sd import save_tiny_pipeline

        path = str(workdir / "tiny_sd")
        if not Path(path).exists():
            save_tiny_pipeline(Path(path))
    return make_dissolver(spec["name"], path=path, resolution=spec["resolution"])


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` (none if it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The settings every record carries: a dissolver probed with other settings is probed again."""
    values = vars(args)
    return {k: (list(values[k]) if isinstance(values[k], (tuple, list)) else values[k]) for k in _SETTINGS}


def load_twins(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The twins of the settings (the same as ``dia-augment probe`` builds)."""
    from dia_augment.cli.probe import load_twins as cli_twins

    namespace = argparse.Namespace(
        data=args.data, split="test", normal_class=args.normal_class, image_size=args.image_size, channels=None,
        num_images=args.num_images, lesion_sigma=args.lesion_sigma, lesion_opacity=args.lesion_opacity, seed=args.seed,
    )
    return cli_twins(namespace)


def run(args: argparse.Namespace) -> None:
    """Probe every dissolver not yet in the results file with these settings."""
    from dia_augment.probe import probe_dissolvers, to_json_records

    settings = settings_of(args)
    done = {r["label"] for r in read_records(args.out) if {k: r.get(k) for k in _SETTINGS} == settings}
    specs = [parse_spec(s) for s in args.dissolvers]
    todo = [s for s in specs if s["label"] not in done]
    if not todo:
        print(f"every dissolver is in {args.out} already")
        return
    clean, lesioned, mask = load_twins(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in todo:
            dissolver = build_dissolver(spec, Path(tmp))
            started = time.perf_counter()
            curves = probe_dissolvers({spec["label"]: dissolver}, clean, lesioned, mask, args.steps,
                                      with_resize=False, batch_size=args.batch_size, seed=args.seed)
            seconds = time.perf_counter() - started
            with open(args.out, "a") as f:  # one line per step; a crash loses one dissolver at most
                for row in to_json_records(curves[spec["label"]]):
                    f.write(json.dumps({"label": spec["label"], **spec, **settings, **row, "seconds": seconds}) + "\n")
            print(f"{spec['label']}: {seconds:.1f} s")


def report(
    records: list[dict[str, Any]], plot: Path | None, changes: tuple[float, ...] = EQUAL_CHANGES, title: str | None = None
) -> str:
    """The table of every record, the erasure at equal anatomy change, and the plot."""
    from dia_augment.probe import erasure_at_change, format_probe_table, save_probe_plot

    if not records:
        raise ConfigError("no records to report")
    curves: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        curves.setdefault(r["label"], []).append(r)
    nan = float("nan")
    for rows in curves.values():
        for r in rows:
            for k in ("change_psnr", "erasure_per_change"):
                r[k] = (float("inf") if k == "change_psnr" else nan) if r.get(k) is None else r[k]
    lines = [format_probe_table(curves), "", "lesion erasure at equal anatomy change (mean |D(clean) - clean| outside the lesions):"]
    width = max(len("dissolver"), *(len(k) for k in curves))
    lines.append(f"{'dissolver':<{width}}  " + "  ".join(f"{c:>7.3f}" for c in changes))
    for label, rows in curves.items():
        values = [erasure_at_change(rows, c) for c in changes]
        lines.append(f"{label:<{width}}  " + "  ".join("      -" if v is None else f"{v:7.3f}" for v in values))
    if plot is not None:
        first = records[0]
        name = title or f"Lesion probe on {first['data']}"
        save_probe_plot(curves, plot, title=f"{name} ({first['num_images']} twins, {first['image_size']} px; labels: t)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the JSON-lines results file (appended to)")
    parser.add_argument("--dissolvers", nargs="+", default=[], help="[LABEL=]NAME[@RESOLUTION][:PATH] ...")
    parser.add_argument("--data", default="embedded")
    parser.add_argument("--normal-class", nargs="+", default=None)
    parser.add_argument("--image-size", type=int, default=None, help="the twins' side (embedded: 64 unless given)")
    parser.add_argument("--num-images", type=int, default=128)
    parser.add_argument("--lesion-sigma", type=float, nargs=2, default=None)
    parser.add_argument("--lesion-opacity", type=float, nargs=2, default=[0.6, 0.9])
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 15, 30, 60, 100, 200, 400])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", action="store_true", help="print the table of --out (no probing)")
    parser.add_argument("--plot", type=Path, default=None, help="with --report: write the plot here")
    parser.add_argument("--title", default=None, help="with --report: the plot's title (default: the data)")
    parser.add_argument("--changes", type=float, nargs="+", default=list(EQUAL_CHANGES),
                        help="with --report: the anatomy changes at which to compare erasure")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    if args.report:
        print(report(read_records(args.out), args.plot, tuple(args.changes), args.title))
        return
    if not args.dissolvers:
        parser.error("give --dissolvers (or --report)")
    run(args)


if __name__ == "__main__":
    main()
