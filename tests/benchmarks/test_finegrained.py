"""The fine-grainedness study: its grid, resumption, and the report computed from the records."""

from __future__ import annotations

import json
import statistics

import pytest


@pytest.fixture(scope="module")
def script(load_benchmark):
    return load_benchmark("finegrained")


def record(method, seed, auroc, ratio=None, size="small", contrast="high", erasure=None):
    r = {"budget": "cpu", "method": method, "size": size, "contrast": contrast, "ratio": ratio, "seed": seed, "auroc": auroc}
    if erasure is not None:
        r.update(probe_erasure=erasure, probe_change_mae=0.01)
    return r


def test_grid(script):
    grid = script.cells(script.METHODS, ["small"], ["high"], script.RATIOS, [0])
    # csi once (no dissolver), ddpm and gaussian at ratios 1, 2, 4, resize at 2 and 4 only
    assert [(c["method"], c["ratio"]) for c in grid] == [
        ("csi", None), ("dia-ddpm", 1), ("dia-ddpm", 2), ("dia-ddpm", 4),
        ("dia-gaussian", 1), ("dia-gaussian", 2), ("dia-gaussian", 4), ("resize", 2), ("resize", 4)]
    assert len(script.cells(script.METHODS, list(script.SIZES), list(script.CONTRASTS), script.RATIOS, [0, 1, 2])) == 9 * 3 * 2 * 3


def test_report_on_a_toy_results_file(script, tmp_path):
    records = [record("csi", 0, 0.80), record("csi", 1, 0.84), record("csi", 2, 0.82),
               record("dia-ddpm", 0, 0.83, 2, erasure=0.5), record("dia-ddpm", 1, 0.83, 2, erasure=0.7),
               record("dia-ddpm", 2, 0.80, 2, erasure=0.6),
               record("resize", 0, 0.70, 2, erasure=0.4),  # one seed: no spread
               record("csi", 0, 0.60, size="subpixel", contrast="low")]
    rows = script.summarize(records)
    assert [(r["size"], r["method"], r["ratio"]) for r in rows] == [
        ("subpixel", "csi", None), ("small", "csi", None), ("small", "dia-ddpm", 2), ("small", "resize", 2)]
    csi, ddpm, resize = rows[1:]
    assert csi["auroc_mean"] == pytest.approx(0.82) and csi["auroc_std"] == pytest.approx(0.02)
    assert "diff_mean" not in csi
    # paired differences +0.03, -0.01, -0.02: mean 0.0, std sqrt((0.03^2 + 0.01^2 + 0.02^2) / 2)
    assert ddpm["diff_mean"] == pytest.approx(0.0, abs=1e-12)
    assert ddpm["diff_std"] == pytest.approx(statistics.stdev([0.03, -0.01, -0.02]))
    assert ddpm["diff_n"] == 3 and ddpm["probe_erasure"] == pytest.approx(0.6) and ddpm["seeds"] == [0, 1, 2]
    assert resize["diff_mean"] == pytest.approx(-0.10) and resize["diff_n"] == 1
    table = script.format_table(rows)
    assert "| cpu | small | high | dia-ddpm | 2 | 3 | 0.820 ± 0.017 | +0.000 ± 0.026 | 0.60 | 0.0100 |" in table
    assert "| cpu | small | high | resize | 2 | 1 | 0.700 | -0.100 | 0.40 | 0.0100 |" in table
    assert "| cpu | subpixel | low | csi | - | 1 | 0.600 | - | - | - |" in table
    pivot = script.format_pivot(rows).splitlines()
    assert pivot[0] == "| budget | method | ratio | high / small | low / subpixel |"
    # CSI's row holds its AUROC; the others the paired difference, with n when fewer seeds than the most
    assert pivot[2:] == ["| cpu | csi | - | 0.820 ± 0.020 | 0.600 (n=1) |",
                         "| cpu | dia-ddpm | 2 | +0.000 ± 0.026 |  |",
                         "| cpu | resize | 2 | -0.100 (n=1) |  |"]
    script.plot(rows, tmp_path / "study.png")
    assert (tmp_path / "study.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    script.main(["--out", str(tmp_path), "--report"])


def test_paired_wins_and_the_gain_erasure_correlation(script):
    records = [record("csi", 0, 0.80), record("csi", 1, 0.80), record("csi", 0, 0.70, size="large"),
               record("dia-ddpm", 0, 0.83, 2, erasure=0.9), record("dia-ddpm", 1, 0.79, 2, erasure=0.9),
               record("resize", 0, 0.81, 2, erasure=0.5), record("resize", 1, 0.78, 2, erasure=0.5),
               record("resize", 2, 0.99, 2, erasure=0.5),  # no dia-ddpm cell with seed 2: not paired
               record("dia-ddpm", 0, 0.72, 2, size="large", erasure=0.3)]
    # seed 0: 0.83 > 0.81, seed 1: 0.79 > 0.78 (small); no large resize cell
    assert script.paired_wins(records, ("dia-ddpm", 2), ("resize", 2)) == (2, 2)
    assert script.paired_wins(records, ("resize", 2), ("dia-ddpm", 2)) == (0, 2)
    assert script.paired_wins(records, ("dia-ddpm", 4), ("resize", 2)) == (0, 0)
    rows = script.summarize(records)
    # three dissolver rows: (erasure, difference to CSI) = (0.9, +0.01), (0.5, -0.005), (0.3, +0.02)
    points = [(r["probe_erasure"], r["diff_mean"]) for r in rows if "diff_mean" in r]
    assert len(points) == 3
    r, n = script.erasure_correlation(rows)
    assert [v for p in sorted(points) for v in p] == pytest.approx([0.3, 0.02, 0.5, -0.005, 0.9, 0.01])
    assert n == 3 and r == pytest.approx(-0.21678, abs=1e-5)  # statistics.correlation of those three
    assert script.erasure_correlation(rows, "low") == (pytest.approx(float("nan"), nan_ok=True), 0)
    text = script.format_comparisons(records, rows)
    assert "dia-ddpm above resize at ratio 2: 2 of 2 paired seeds" in text
    assert f"(contrast: both, 3 rows): {r:+.2f}" in text and "dia-gaussian" not in text


def test_precisions_are_cells_and_rows_of_their_own(script, tmp_path, monkeypatch, capsys):
    bf16 = [{**record("csi", 0, 0.70), "precision": "bf16"}, {**record("dia-ddpm", 0, 0.75, 2), "precision": "bf16"}]
    rows = script.summarize([record("csi", 0, 0.80), record("dia-ddpm", 0, 0.81, 2), *bf16])
    assert [(r["budget"], r["method"], r.get("diff_mean")) for r in rows] == [
        ("cpu", "csi", None), ("cpu", "dia-ddpm", pytest.approx(0.01)),
        ("cpu-bf16", "csi", None), ("cpu-bf16", "dia-ddpm", pytest.approx(0.05))]  # paired within a precision
    assert script.format_table(rows).splitlines()[4].startswith("| cpu-bf16 | small | high | csi |")
    # an fp32 cell does not finish the bf16 one
    grid = script.cells(["resize"], ["small"], ["high"], [2], [0])
    (tmp_path / "results.jsonl").write_text("".join(json.dumps({"budget": "mini", **c, "auroc": 0.5}) + "\n" for c in grid))
    ran = []

    def stop(*args, **kwargs):  # the cell's precision reaches the training; stop there
        ran.append(args[-1])
        raise KeyboardInterrupt

    monkeypatch.setattr(script, "train_and_score", stop)
    with pytest.raises(KeyboardInterrupt):
        script.main(["--out", str(tmp_path), "--budget", "mini", "--methods", "resize", "--sizes", "small",
                     "--contrasts", "high", "--ratios", "2", "--seeds", "0", "--precision", "bf16"])
    assert "1 cells to run (1 done)" in capsys.readouterr().out and ran == ["bf16"]


def test_finished_cells_are_skipped(script, tmp_path, monkeypatch, capsys):
    grid = script.cells(["csi", "resize"], ["small"], ["high"], [2], [0])
    (tmp_path / "results.jsonl").write_text("".join(json.dumps({"budget": "mini", **c, "auroc": 0.5}) + "\n" for c in grid))
    monkeypatch.setattr(script, "train_and_score", lambda *a, **k: pytest.fail("a finished cell ran again"))
    script.main(["--out", str(tmp_path), "--budget", "mini", "--methods", "csi", "resize", "--sizes", "small",
                 "--contrasts", "high", "--ratios", "2", "--seeds", "0"])
    assert "0 cells to run (2 done)" in capsys.readouterr().out


def test_one_tiny_cell_end_to_end(script, tmp_path, monkeypatch):
    tiny = {"image_size": 16, "width": 2, "epochs": 1, "batch_size": 8, "lr": 0.1, "crop_min": 0.5,
            "num_samples": 1, "num_train": 16, "num_test": 6, "ddpm_steps": 2}
    monkeypatch.setitem(script.BUDGETS, "mini", tiny)
    argv = ["--out", str(tmp_path), "--budget", "mini", "--methods", "resize", "--sizes", "large",
            "--contrasts", "high", "--ratios", "2", "--seeds", "0"]
    script.main(argv)
    (r,) = script.read_results(tmp_path / "results.jsonl")
    assert (r["method"], r["ratio"], r["dissolver_resolution"], r["lesion_sigma"]) == ("resize", 2, 8, [1.5, 2.5])
    assert 0.0 <= r["auroc"] <= 1.0 and r["score_method"] in ("csi", "simclr")
    assert 0 < r["probe_erasure"] < 1 and r["probe_change_mae"] > 0
