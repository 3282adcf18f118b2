"""The reproduction script's report: means, spreads and differences to CSI computed from the records."""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce.py"


def load_script():
    spec = importlib.util.spec_from_file_location("reproduce_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def record(method: str, seed: int, auroc: float, shift: str = "rotation", precision: str | None = None) -> dict:
    out = {"budget": "cpu", "dataset": "sarscov2", "method": method, "shift": shift, "seed": seed, "auroc": auroc}
    return out if precision is None else {**out, "precision": precision}  # records before --precision lack the key


def test_report_gives_mean_std_difference_and_per_seed_values(tmp_path):
    script = load_script()
    records = [record("ddpm", 1, 0.80), record("csi", 0, 0.70), record("ddpm", 0, 0.74), record("csi", 1, 0.72),
               record("median", 0, 0.65)]
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    assert script.read_results(results) == records
    text = script.report(script.read_results(results), tmp_path / "table.md", tmp_path / "plot.png")
    assert (tmp_path / "table.md").read_text() == text
    rows = {line.split(" | ")[3]: line for line in text.splitlines()[2:]}
    assert all(" | fp32 | " in row for row in rows.values())  # records without a precision are fp32
    assert list(rows) == ["csi", "median", "ddpm"]  # the METHODS order, not the records' order
    assert f"| 0.710 +- {statistics.stdev([0.70, 0.72]):.3f} | - | 0.700 / 0.720 | - |" in rows["csi"]
    # ddpm: mean 0.77, minus CSI 0.77 - 0.71 = +0.060, seeds in seed order, the paper's 0.851 beside it
    assert rows["ddpm"].endswith(f"| 0.770 +- {statistics.stdev([0.74, 0.80]):.3f} | +0.060 | 0.740 / 0.800 | 0.851 |")
    assert rows["median"].endswith("| 0.650 (one seed) | -0.060 | 0.650 | 0.837 |")
    with Image.open(tmp_path / "plot.png") as plot:
        assert plot.format == "PNG" and plot.size[0] > 200


def test_a_method_without_a_csi_cell_has_no_difference(tmp_path):
    script = load_script()
    text = script.report([record("gaussian", 0, 0.6, shift="cutperm")], None, None)
    assert text.splitlines()[2] == "| cpu | sarscov2 | cutperm | gaussian | fp32 | 0.600 (one seed) | - | 0.600 | 0.788 |"


def test_precisions_get_their_own_rows_and_their_own_csi_baseline(tmp_path):
    script = load_script()
    records = [record("csi", 0, 0.70), record("ddpm", 0, 0.75), record("csi", 0, 0.60, precision="bf16"),
               record("ddpm", 0, 0.64, precision="bf16")]
    rows = script.report(records, None, tmp_path / "plot.png").splitlines()[2:]
    assert [row.split(" | ")[3:5] for row in rows] == [["csi", "fp32"], ["csi", "bf16"], ["ddpm", "fp32"], ["ddpm", "bf16"]]
    assert rows[2].endswith("| 0.750 (one seed) | +0.050 | 0.750 | 0.851 |")
    assert rows[3].endswith("| 0.640 (one seed) | +0.040 | 0.640 | 0.851 |")  # against the bf16 CSI, not the fp32 one
    # one seed in both precisions is two cells, not a finished one
    assert script.cell_key(records[0]) != script.cell_key(records[2])


def test_resuming_refuses_finished_cells_made_with_other_settings(monkeypatch):
    script = load_script()
    monkeypatch.setitem(script.DISSOLVER_DIRS, "sarscov2", "runs/ct/dissolver")
    same = {**record("ddpm", 0, 0.7), **script.cell_settings("sarscov2", "ddpm", "cpu")}
    assert same["image_size"] == 48 and same["dissolver"] == "runs/ct/dissolver"
    script.check_finished([same], "cpu", ["sarscov2"], ["ddpm"])  # same settings: resumes
    older_preset = {**same, "image_size": 64}
    with pytest.raises(SystemExit, match=r"image_size=64 but this run uses 48"):
        script.check_finished([older_preset], "cpu", ["sarscov2"], ["ddpm"])
    other_dissolver = {**same, "dissolver": "runs/other/dissolver"}
    with pytest.raises(SystemExit, match=r"dissolver='runs/other/dissolver' but this run uses 'runs/ct/dissolver'"):
        script.check_finished([other_dissolver], "cpu", ["sarscov2"], ["ddpm"])
    # cells outside this run's grid or budget are not its business
    script.check_finished([other_dissolver], "cpu", ["sarscov2"], ["csi"])
    script.check_finished([other_dissolver], "paper", ["sarscov2"], ["ddpm"])
    script.check_finished([other_dissolver], "cpu", ["sarscov2"], ["ddpm"], "bf16")


@pytest.mark.parametrize("budget, argv, expected", [("cpu", [], "bf16"), ("paper", [], "fp32"), ("cpu", ["--precision", "fp32"], "fp32")])
def test_the_precision_defaults_to_the_budgets(budget, argv, expected, tmp_path, monkeypatch):
    script = load_script()
    monkeypatch.setattr(script, "DATA_ROOT", tmp_path)
    ran = []

    def run_cell(*args):
        ran.append(args[-1])
        raise KeyboardInterrupt  # one cell is enough to see its precision

    monkeypatch.setattr(script, "run_cell", run_cell)
    monkeypatch.setattr(sys, "argv", ["reproduce.py", "--budget", budget, "--datasets", "sarscov2", "--methods", "csi",
                                      "--seeds", "0", "--out", str(tmp_path / "out"), *argv])
    with pytest.raises(KeyboardInterrupt):
        script.main()
    assert ran == [expected]
