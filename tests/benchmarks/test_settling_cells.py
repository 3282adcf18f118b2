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


def _records(values):
    return [{"part": "sarscov2", "method": m, "data_seed": 0, "seed": s, "auroc": v}
            for m, seeds in values.items() for s, v in enumerate(seeds)]


def test_pairs_match_by_seed_and_skip_single_pairs(load_benchmark):
    settling = load_benchmark("settling")
    records = _records({"ddpm": [0.80, 0.75, 0.90], "csi": [0.70, 0.72], "paper-blur": [0.6]})
    table = settling._by_method(records, "sarscov2")
    pairs = settling._pairs(table, settling.PRIMARY["sarscov2"])
    # ddpm - paper-blur shares one seed only (no contrast); ddpm - csi shares seeds 0 and 1
    assert pairs == {"ddpm - csi": ([0.80, 0.75], [0.70, 0.72])}
    row, = settling._family(table, settling.PRIMARY["sarscov2"])
    assert row["n"] == 2 and row["mean"] == pytest.approx(0.065)


def test_plot_draws_both_parts(load_benchmark, tmp_path):
    settling = load_benchmark("settling")
    records = _records({"ddpm": [0.80, 0.75, 0.90], "csi": [0.70, 0.72, 0.85]})
    records += [{**r, "part": "embedded"} for r in records]
    settling.plot(records, tmp_path / "f.png")
    header = (tmp_path / "f.png").read_bytes()[:24]
    assert header[:4] == b"\x89PNG"
    assert int.from_bytes(header[16:20], "big") == 11 * 110  # width in pixels: 11 inches at 110 dpi
