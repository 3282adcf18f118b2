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

Each line carries the settings, the dissolver's wall seconds, the precision (fp32: no autocast, a
DDPM's weights held in fp32) and the provenance of ``_record.provenance()`` (command, commit,
version, device, threads, date). The committed lines are under ``benchmarks/results/probe/``;
:data:`REPORT_TABLES` prints the docs' tables (docs/probe.md) from them.

Run (fp32, CPU, one thread):

    OMP_NUM_THREADS=1 python benchmarks/probe.py --out benchmarks/results/probe/embedded32.jsonl --image-size 32 \\
        --dissolvers ddpm16=ddpm:runs/settling/dissolvers/embedded_d0_ddpm16/dissolver gaussian gaussian@16 resize@16
    python benchmarks/probe.py --out benchmarks/results/probe/embedded32.jsonl --report \\
        --plot docs/images/probe_embedded32.png
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from dia_augment.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, append_line, provenance, read_lines  # noqa: E402

#: Where the committed probe results are (one JSON-lines file per set of twins).
PROBE_RESULTS = RESULTS / "probe"
#: The precision of every probe: no autocast, and a DDPM's weights held in fp32 (``mixed_precision="no"``).
PRECISION = "fp32"

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
        from bench_dissolve_sd import save_tiny_pipeline

        path = str(workdir / "tiny_sd")
        if not Path(path).exists():
            save_tiny_pipeline(Path(path))
    options = {"mixed_precision": "no"} if spec["name"] == "ddpm" else {}
    return make_dissolver(spec["name"], path=path, resolution=spec["resolution"], **options)



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
    done = {r["label"] for r in read_lines(args.out) if {k: r.get(k) for k in _SETTINGS} == settings}
    specs = [parse_spec(s) for s in args.dissolvers]
    todo = [s for s in specs if s["label"] not in done]
    if not todo:
        print(f"every dissolver is in {args.out} already")
        return
    clean, lesioned, mask = load_twins(args)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in todo:
            dissolver = build_dissolver(spec, Path(tmp))
            started = time.perf_counter()
            curves = probe_dissolvers({spec["label"]: dissolver}, clean, lesioned, mask, args.steps,
                                      with_resize=False, batch_size=args.batch_size, seed=args.seed)
            seconds = time.perf_counter() - started
            origin = provenance()
            for row in to_json_records(curves[spec["label"]]):  # one line per step; a crash loses one dissolver at most
                append_line(args.out, {"label": spec["label"], **spec, **settings, **row, "precision": PRECISION,
                                       "seconds": round(seconds, 3), **origin})
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


# ------------------------------------------------------------------------------------------------
# the docs' Markdown tables (pure functions of the result lines; fixed float formatting)
def curves_of(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """label -> its records in order of ``t``; labels in the order they first appear."""
    curves: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        curves.setdefault(r["label"], []).append(r)
    return {label: sorted(rows, key=lambda r: r["t"]) for label, rows in curves.items()}


def _num(value: Any, digits: int) -> str:
    """``value`` with ``digits`` decimals; ``-`` for none, ``inf`` for no change (PSNR)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    text = f"{value:.{digits}f}"
    return "0" + text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.000"


def _cells(r: dict[str, Any]) -> tuple[str, ...]:
    """A record's cells: erasure ± spread, erasure in the lesions, change MAE, PSNR."""
    psnr = r.get("change_psnr")
    if psnr is None and r["change_mae"] == 0:
        psnr = math.inf  # no change at all (written as null: JSON has no infinity)
    return (f"{_num(r['erasure'], 3)} ± {_num(r['erasure_std'], 3)}", _num(r["erasure_in_lesions"], 3),
            _num(r["change_mae"], 4), _num(psnr, 1))


def _span(steps: list[int], every: list[int]) -> str:
    """The steps a row stands for: one step, a range of consecutive probed steps, or ``any``."""
    if steps == every and len(steps) > 1:
        return "any"
    return str(steps[0]) if len(steps) == 1 else f"{steps[0]}–{steps[-1]}"


def markdown_steps(records: Sequence[dict[str, Any]], labels: Sequence[str] | None = None) -> str:
    """The per-step table: one row per dissolver and step, consecutive steps with equal cells merged."""
    curves = curves_of(records)
    lines = ["| dissolver | t | lesion erasure (overall) ± spread | in the lesions | anatomy change (MAE) | PSNR dB |",
             "| --- | --- | --- | --- | --- | --- |"]
    for label in labels or list(curves):
        rows = curves[label]
        every = [r["t"] for r in rows]
        groups: list[tuple[list[int], tuple[str, ...]]] = []
        for r in rows:
            cells = _cells(r)
            if groups and groups[-1][1] == cells:
                groups[-1][0].append(r["t"])
            else:
                groups.append(([r["t"]], cells))
        for steps, cells in groups:
            lines.append(f"| {label} | {_span(steps, every)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def continuous(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether a curve has at least three distinct (change, erasure) points: a strength that varies with ``t``."""
    return len({(r["change_mae"], r["erasure"]) for r in rows}) >= 3


def markdown_equal_change(records: Sequence[dict[str, Any]], changes: Sequence[float],
                          labels: Sequence[str] | None = None) -> str:
    """Lesion erasure at equal anatomy change, interpolated along each curve (``-``: outside it).

    Only dissolvers whose strength varies with ``t`` (:func:`continuous`) have a curve; a fixed
    filter or a resize is one point (see the per-step table).
    """
    from dia_augment.probe import erasure_at_change

    curves = curves_of(records)
    lines = ["| dissolver | " + " | ".join(f"change {c:.3f}" for c in changes) + " |",
             "| --- | " + " | ".join("---" for _ in changes) + " |"]
    for label in labels or [k for k, rows in curves.items() if continuous(rows)]:
        values = [erasure_at_change(curves[label], c) for c in changes]
        lines.append(f"| {label} | " + " | ".join(_num(v, 3) for v in values) + " |")
    return "\n".join(lines) + "\n"


def _conditions(records: Sequence[dict[str, Any]]) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    """The (lesion sigma, lesion opacity) pairs of the records, sorted."""
    return sorted({(tuple(r["lesion_sigma"]), tuple(r["lesion_opacity"])) for r in records})


def _of_condition(records: Sequence[dict[str, Any]], sigma: tuple[float, ...],
                  opacity: tuple[float, ...]) -> list[dict[str, Any]]:
    """The records of one lesion size and contrast."""
    return [r for r in records if (tuple(r["lesion_sigma"]), tuple(r["lesion_opacity"])) == (sigma, opacity)]


def _range(pair: Sequence[float]) -> str:
    return f"{pair[0]:g}–{pair[1]:g}"


def markdown_sizes(records: Sequence[dict[str, Any]], columns: Sequence[tuple[str, Sequence[int]]]) -> str:
    """Lesion erasure (overall) per lesion size and contrast: one row per condition, one column per
    ``(dissolver, steps)``, its erasure at those steps joined by ``/``."""
    header = "".join(f" | {label}, t = " + " / ".join(map(str, steps)) for label, steps in columns)
    lines = [f"| lesion σ (px) | opacity{header} |", "| --- | --- |" + " --- |" * len(columns)]
    for sigma, opacity in _conditions(records):
        curves = curves_of(_of_condition(records, sigma, opacity))
        cells = []
        for label, steps in columns:
            by_t = {r["t"]: r for r in curves.get(label, [])}
            cells.append(" / ".join(_num(by_t[t]["erasure"], 3) if t in by_t else "-" for t in steps))
        lines.append(f"| {_range(sigma)} | {_range(opacity)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_sizes_equal_change(records: Sequence[dict[str, Any]], labels: Sequence[str], change: float) -> str:
    """Lesion erasure at one anatomy change per lesion size and contrast, interpolated along each curve."""
    from dia_augment.probe import erasure_at_change

    lines = ["| lesion σ (px) | opacity | " + " | ".join(f"{label} at change {change:.3f}" for label in labels) + " |",
             "| --- | --- | " + " | ".join("---" for _ in labels) + " |"]
    for sigma, opacity in _conditions(records):
        curves = curves_of(_of_condition(records, sigma, opacity))
        values = [erasure_at_change(curves[label], change) if label in curves else None for label in labels]
        lines.append(f"| {_range(sigma)} | {_range(opacity)} | " + " | ".join(_num(v, 3) for v in values) + " |")
    return "\n".join(lines) + "\n"


def markdown_changes(records: Sequence[dict[str, Any]], labels: Sequence[str], steps: Sequence[int]) -> str:
    """The anatomy change (MAE) of each dissolver at ``steps``, over every condition (the range when they differ)."""
    lines = ["| dissolver | " + " | ".join(f"t = {t}" for t in steps) + " |",
             "| --- | " + " | ".join("---" for _ in steps) + " |"]
    for label in labels:
        cells = []
        for t in steps:
            values = sorted({_num(r["change_mae"], 4) for r in records if r["label"] == label and r["t"] == t})
            cells.append("-" if not values else values[0] if len(values) == 1 else f"{values[0]}–{values[-1]}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _file(name: str) -> list[dict[str, Any]]:
    """The committed result lines of ``benchmarks/results/probe/NAME.jsonl`` (refuses an empty file)."""
    records = read_lines(PROBE_RESULTS / f"{name}.jsonl")
    if not records:
        raise ConfigError(f"{PROBE_RESULTS / name}.jsonl holds no result lines")
    return records


def _sizes(make: Callable[[list[dict[str, Any]]], str]) -> Callable[[], str]:
    return lambda: make(_file("embedded32_sizes"))


#: The anatomy changes at which each data set's dissolvers are compared (within the DDPM's curve).
CHANGES = {"embedded32": EQUAL_CHANGES, "embedded16": (0.01, 0.02, 0.03, 0.04),
           "embedded64": (0.01, 0.02, 0.03, 0.04), "sarscov2_48": (0.03, 0.04, 0.05, 0.06)}
SIZE_LABELS = ("resize@16", "ddpm16", "gaussian@16", "gaussian")

#: The docs tables of the committed probe results (printed by ``benchmarks/report.py``).
REPORT_TABLES: dict[str, Callable[[], str]] = {
    "probe-embedded32": lambda: markdown_steps(_file("embedded32")),
    "probe-embedded32-equal": lambda: markdown_equal_change(_file("embedded32"), CHANGES["embedded32"]),
    "probe-sarscov2": lambda: markdown_steps(_file("sarscov2_48")),
    "probe-sarscov2-equal": lambda: markdown_equal_change(_file("sarscov2_48"), CHANGES["sarscov2_48"]),
    "probe-embedded16": lambda: markdown_steps(_file("embedded16")),
    "probe-embedded16-equal": lambda: markdown_equal_change(_file("embedded16"), CHANGES["embedded16"]),
    "probe-embedded64": lambda: markdown_steps(_file("embedded64")),
    "probe-embedded64-equal": lambda: markdown_equal_change(_file("embedded64"), CHANGES["embedded64"]),
    "probe-sizes": _sizes(lambda r: markdown_sizes(r, [(SIZE_LABELS[0], (0,))]
                                                   + [(k, (30, 60, 100)) for k in SIZE_LABELS[1:]])),
    "probe-sizes-equal": _sizes(lambda r: markdown_sizes_equal_change(r, SIZE_LABELS[1:], 0.03)),
    "probe-sizes-change": _sizes(lambda r: markdown_changes(r, SIZE_LABELS, (0, 30, 60, 100))),
    "probe-sd": lambda: markdown_steps(_file("embedded64_sd")),
}


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
    parser.add_argument("--markdown", action="store_true",
                        help="with --report: print the Markdown tables of the docs instead of the plain-text table")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    if args.report:
        records = read_lines(args.out)
        markdown = markdown_steps(records) + "\n" + markdown_equal_change(records, args.changes) if records else ""
        text = report(records, args.plot, tuple(args.changes), args.title)  # writes the plot
        print(markdown if args.markdown else text, end="" if args.markdown else "\n")
        return
    if not args.dissolvers:
        parser.error("give --dissolvers (or --report)")
    run(args)


if __name__ == "__main__":
    main()
