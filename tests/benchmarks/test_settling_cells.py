"""The settling experiment's grid and the subsets that share it between processes."""

from __future__ import annotations

import pytest


def test_grid_size_and_order(load_benchmark):
    settling = load_benchmark("settling")
    part1, part2 = settling.cells("sarscov2"), settling.cells("embedded")
    assert len(part1) == 7 * 8 and len(part2) == 4 * 2 * 8
    # seed-major: every method of seed 0 before any of seed 1
    assert [c["seed"] for c in part1[:8]] == [0] * 7 + [1]
    assert part1[0] == {"part": "sarscov2", "method": "csi", "data_seed": 0, "seed": 0}


def test_todo_skips_done_and_keeps_the_subset(load_benchmark):
    settling = load_benchmark("settling")
    done = [{"part": "sarscov2", "method": "csi", "data_seed": 0, "seed": 2, "auroc": 0.7}]
    todo = settling.todo_cells("sarscov2", done, seeds=[3, 2], methods=["ddpm", "csi"])
    assert [(c["seed"], c["method"]) for c in todo] == [(2, "ddpm"), (3, "csi"), (3, "ddpm")]
    assert len(settling.todo_cells("sarscov2", done)) == 55


def test_unknown_method_is_refused(load_benchmark, capsys):
    settling = load_benchmark("settling")
    with pytest.raises(SystemExit):
        settling.main(["--part", "embedded", "--methods", "ddpm-every-view"])
    assert "not a method of part embedded" in capsys.readouterr().err
