"""The localisation benchmark's tables, contrasts and plot on toy result lines."""

from __future__ import annotations

import json

import pytest


def toy_records() -> list[dict]:
    rows = []
    for seed in (0, 1, 2):
        for mode, lift in (("csi", 0.0), ("dia", 0.05)):
            for method in ("smoothgrad", "integrated", "occlusion", "residual"):
                signed = method in ("integrated", "occlusion")
                auroc = (0.5 if signed else 0.8) + lift + 0.01 * seed
                rows.append({
                    "mode": mode, "seed": seed, "method": method, "pixel_auroc": auroc,
                    "abs_pixel_auroc": auroc + (0.3 + 0.001 * seed if signed else 0.0),
                    "pointing_game": 0.5 + 0.02 * seed + (0.1 if mode == "dia" else 0.0) * seed,
                    "abs_pointing_game": 0.5, "chance_pointing": 0.12, "num_images": 20 if method == "occlusion" else 50,
                    "seconds_per_image": 0.5, "image_auroc": 0.7, "score_method": "csi", "epochs": 5, "image_size": 32,
                    "dissolver_steps": 600, "num_views": 4, "step": 60, "precision": "auto", "precision_used": "bf16",
                    "train_wall_s": 120.0,
                })
    return rows


def test_table_rows_and_budget(load_benchmark):
    localize = load_benchmark("localize")
    records = toy_records()
    text = localize.table(records)
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == 2 + 8
    assert lines[2].startswith("| csi | smoothgrad | 0.810 +- 0.010 | (unsigned map) |")
    assert lines[3].startswith("| csi | integrated | 0.510 +- 0.010 | 0.811 +- 0.011 |")
    assert "| 20 |" in lines[4]  # occlusion mapped on fewer images
    line = localize.budget_line(records)
    assert line.startswith("Seeds 0 1 2; 5 epochs at 32 px") and "(used: bf16)" in line and "(csi runs csi x 3; dia runs csi x 3;" in line
    with pytest.raises(ValueError, match="mix budgets"):
        localize.budget_line(records + [{**records[0], "epochs": 15}])


def test_contrasts_are_one_holm_family(load_benchmark):
    localize = load_benchmark("localize")
    rows = localize.contrasts(toy_records())
    names = [r["name"] for r in rows]
    assert len(rows) == 8 + 4
    assert names[0] == "DIA - CSI, smoothgrad, pixel AUROC"
    assert names[-1] == "abs - signed, occlusion (dia), pixel AUROC"
    smoothgrad = rows[0]
    assert smoothgrad["n"] == 3 and smoothgrad["mean"] == pytest.approx(0.05)
    # Holm over the 12 contrasts: never below the raw p
    assert all(r["p_holm"] >= r["p"] for r in rows)
    table = localize.contrast_table(toy_records())
    assert table.endswith("\n") and table.count("\n") == 2 + 12


def test_report_tables_and_main(load_benchmark, tmp_path, capsys):
    localize = load_benchmark("localize")
    assert set(localize.REPORT_TABLES) == {"localize", "localize-contrasts"}
    for make in localize.REPORT_TABLES.values():
        assert make().endswith("\n")
    results = tmp_path / "localize.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in toy_records()))
    png = tmp_path / "plot.png"
    localize.main(["--results", str(results), "--report", "--plot", str(png)])
    out = capsys.readouterr().out
    assert "| dia | residual |" in out and "abs - signed, integrated (csi), pixel AUROC" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert localize.table([]) == "no results yet\n" and localize.contrast_table([]) == "no paired results yet\n"
