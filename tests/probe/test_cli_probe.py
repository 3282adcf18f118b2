from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image

from dia_augment.cli import probe as probe_cli


def parse(argv):
    parser = argparse.ArgumentParser()
    probe_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_embedded_twins_gaussian_without_resize(tmp_path, capsys):
    out = tmp_path / "probe.json"
    args = parse(["--dissolver", "gaussian", "--image-size", "32", "--num-images", "4", "--steps", "0", "60",
                  "--lesion-sigma", "0.5", "0.8", "--out", str(out), "--plot", str(tmp_path / "p.png"), "--no-progress"])
    assert probe_cli.run(args) == 0
    saved = json.loads(out.read_text())
    assert list(saved["curves"]) == ["gaussian"]  # no resize: no reference
    t0, t60 = saved["curves"]["gaussian"]
    assert t0["erasure"] == 0.0 and t0["change_psnr"] is None and t0["num_images"] == 4
    assert 0 < t60["erasure"] < 1 and t60["change_mae"] > 0
    assert saved["meta"]["lesion_sigma"] == [0.5, 0.8] and saved["meta"]["image_shape"] == [3, 32, 32]
    assert "gaussian" in capsys.readouterr().out and (tmp_path / "p.png").exists()


def test_pasted_twins_of_a_grayscale_folder_keep_the_outside_pixels(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("normal", "sick"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(40, 200, (24, 24), dtype=np.uint8), mode="L").save(tmp_path / "data" / cls / f"{i}.png")
    args = parse(["--dissolver", "resize", "--resolution", "12", "--data", str(tmp_path / "data"), "--normal-class", "normal",
                  "--num-images", "3", "--lesion-sigma", "1.5", "2", "--out", str(tmp_path / "p.json"), "--no-progress"])
    clean, sick, mask = probe_cli.load_twins(args)
    assert clean.shape[1:] == (1, 24, 24) and len(clean) <= 3
    assert torch.equal(sick[~mask], clean[~mask]) and bool(mask.any())
    assert probe_cli.run(args) == 0
    curves = json.loads((tmp_path / "p.json").read_text())["curves"]
    assert list(curves) == ["resize", "resize only (12 px)"]
    assert curves["resize"][0]["erasure"] == pytest.approx(curves["resize only (12 px)"][0]["erasure"])


def test_bad_options_fail_before_work(tmp_path):
    with pytest.raises(ValueError, match="--num-images"):
        probe_cli.run(parse(["--dissolver", "gaussian", "--num-images", "0", "--out", str(tmp_path / "p.json")]))
    with pytest.raises(ValueError, match="lesion_opacity"):
        probe_cli.run(parse(["--dissolver", "gaussian", "--lesion-opacity", "0", "2", "--out", str(tmp_path / "p.json")]))
    assert not (tmp_path / "p.json").exists()
