"""The localisation benchmark's report on a toy results file."""

from __future__ import annotations

import json


def test_report_and_plot_from_a_toy_results_file(load_benchmark, tmp_path):
    localize = load_benchmark("localize")
    rows = [
        {"mode": m, "seed": s, "method": meth, "pixel_auroc": a, "pointing_game": p, "chance_pointing": 0.05,
         "seconds_per_image": 0.25, "image_auroc": 0.8}
        for m, s, meth, a, p in [
            ("dia", 0, "occlusion", 0.9, 0.5), ("dia", 1, "occlusion", 0.7, 0.3),
            ("csi", 0, "smoothgrad", 0.6, 0.1), ("csi", 0, "occlusion", 0.8, 0.2),
        ]
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = tmp_path / "table.md"
    png = tmp_path / "plot.png"
    localize.main(["--out", str(tmp_path), "--report", str(table), "--plot", str(png)])
    lines = table.read_text().splitlines()
    # rows sorted by mode, then by the method order smoothgrad, integrated, occlusion, residual
    assert lines[2] == "| csi | smoothgrad | 0.600 +- 0.000 | 0.100 +- 0.000 | 0.050 | 0.800 | 0.25 | 1 |"
    assert lines[3] == "| csi | occlusion | 0.800 +- 0.000 | 0.200 +- 0.000 | 0.050 | 0.800 | 0.25 | 1 |"
    # mean 0.8, sample std of (0.9, 0.7) = 0.1414
    assert lines[4] == "| dia | occlusion | 0.800 +- 0.141 | 0.400 +- 0.141 | 0.050 | 0.800 | 0.25 | 2 |"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
