"""The dissolver probe benchmark: dissolver specs, resumable JSON lines, and the report."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def script(load_benchmark):
    return load_benchmark("probe")


def test_specs(script):
    assert script.parse_spec("gaussian") == {"label": "gaussian", "name": "gaussian", "resolution": None, "path": None}
    assert script.parse_spec("resize@16") == {"label": "resize@16", "name": "resize", "resolution": 16, "path": None}
    assert script.parse_spec("ct=ddpm:/a/b=c/dissolver") == {"label": "ct", "name": "ddpm", "resolution": None,
                                                             "path": "/a/b=c/dissolver"}
    with pytest.raises(ValueError, match="NAME"):
        script.parse_spec("resize@x")


def row(label, t, erasure, change):
    return {"label": label, "data": "embedded", "num_images": 8, "image_size": 32, "t": t, "erasure": erasure,
            "erasure_in_lesions": erasure, "erasure_std": 0.0, "change_mae": change,
            "change_psnr": None if change == 0 else 30.0, "erasure_per_change": None if change == 0 else erasure / change}


def test_report_compares_at_equal_change(script, tmp_path):
    records = [row("a", 0, 0.0, 0.0), row("a", 30, 0.4, 0.02), row("a", 60, 0.6, 0.04),
               row("b", 0, 0.3, 0.01), row("b", 60, 0.5, 0.03)]
    text = script.report(records, tmp_path / "plot.png", changes=(0.01, 0.02, 0.03, 0.05))
    lines = text.splitlines()
    # a: 0.2 at 0.01, 0.4 at 0.02, 0.5 at 0.03 (linear between its points), none at 0.05; b: 0.3, 0.4, 0.5, none
    assert lines[-2].split() == ["a", "0.200", "0.400", "0.500", "-"]
    assert lines[-1].split() == ["b", "0.300", "0.400", "0.500", "-"]
    assert "inf" in lines[1]  # t = 0 of a: no change, PSNR infinite
    assert (tmp_path / "plot.png").exists()


def test_run_appends_one_line_per_step_and_resumes(script, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    argv = ["--out", str(out), "--image-size", "16", "--num-images", "3", "--steps", "0", "40",
            "--dissolvers", "gaussian", "resize@8"]
    script.main(argv)
    records = script.read_lines(out)
    assert [(r["label"], r["t"]) for r in records] == [("gaussian", 0), ("gaussian", 40), ("resize@8", 0), ("resize@8", 40)]
    assert records[0]["erasure"] == 0.0 and records[0]["change_psnr"] is None and records[0]["num_images"] == 3
    assert records[2]["erasure"] == records[3]["erasure"] > 0  # resize only does not depend on t
    script.main(argv)  # nothing left to do
    assert "already" in capsys.readouterr().out and len(script.read_lines(out)) == 4
    script.main([*argv[:-2], "gaussian@8"])  # a new dissolver is added
    assert len(script.read_lines(out)) == 6
    json.loads(out.read_text().splitlines()[-1])
