"""The scorer comparison's report: the one scorer's AUROC taken from the settling experiment's CSI cells."""

from __future__ import annotations

import pytest


def test_report_pairs_the_old_scorers_with_the_settling_csi_cells(load_benchmark):
    scorers = load_benchmark("compare_scorers")
    settling = [{"part": "sarscov2", "method": m, "data_seed": 0, "seed": s, "auroc": a}
                for m, s, a in (("csi", 0, 0.70), ("csi", 1, 0.80), ("ddpm", 0, 0.99), ("csi", 2, 0.75))]
    settling.append({"part": "embedded", "method": "csi", "data_seed": 0, "seed": 0, "auroc": 0.1})
    old = [{"run": f"sarscov2_csi_0_{s}", "scorer": scorers.OLD[0], "auroc": a} for s, a in ((0, 0.66), (1, 0.77))]
    assert scorers.report([], settling) == "no old scorer has scored these models yet\n"
    text = scorers.report(old, settling)
    lines = text.splitlines()
    # only the models an old scorer scored (seed 2's CSI cell is left out)
    assert lines[2] == "| one scorer | 2 | 0.750 +- 0.071 | 0.700 / 0.800 |"
    assert lines[3] == "| CSIScorer (random samples) | 2 | 0.715 +- 0.078 | 0.660 / 0.770 |"
    # paired on the two models both scored: differences 0.04 and 0.03
    contrast = next(line for line in lines if line.startswith("| one scorer - CSIScorer"))
    assert "| 2 | +0.035 |" in contrast
    # a line of the comparison's own file wins over the settling cell of the same model
    own = [{"run": "sarscov2_csi_0_0", "scorer": scorers.ONE, "auroc": 0.5}]
    assert "| one scorer | 2 | 0.650" in scorers.report(old + own, settling)


def test_rows_name_the_settling_cells(load_benchmark):
    scorers = load_benchmark("compare_scorers")
    rows = scorers.settling_one_scorer([{"part": "sarscov2", "method": "csi", "data_seed": 0, "seed": 3, "auroc": 0.7}])
    assert rows == [{"run": "sarscov2_csi_0_3", "seed": 3, "scorer": scorers.ONE, "auroc": pytest.approx(0.7)}]
