"""The label-free selection score and ``dia-augment select``."""

import json

import numpy as np
import pytest
import torch

from dia_augment.cli import main
from dia_augment.detect import AnomalyDetector
from dia_augment.detect.selection import selection_score
from dia_augment.errors import RunFolderError


class Spread:
    """Scores an image by its spread: a flat image scores 0, one with pasted lesions above 0."""

    def score(self, images):
        return images.flatten(1).std(dim=1)


class Constant:
    def score(self, images):
        return torch.zeros(images.shape[0])


def test_the_score_is_the_auroc_of_normals_against_their_lesioned_twins():
    flat = torch.full((6, 1, 32, 32), 0.5)
    result = selection_score(Spread(), flat, seed=3)
    assert result["selection_auroc"] == 1.0 and result["num_images"] == 6
    assert result["mean_score_normal"] == 0.0 and result["mean_score_lesioned"] > 0
    assert selection_score(Constant(), flat)["selection_auroc"] == 0.5  # all tied: chance
    assert result["lesions"] == {"num": [2, 6], "sigma": None, "opacity": [0.6, 0.9], "seed": 3}


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match="normal_images"):
        selection_score(Spread(), torch.rand(4, 1, 8, 8) * 3)


def _npz(path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 40), ("val", 6), ("test", 12)):
        labels = np.arange(n) % 2
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
        arrays[f"{split}_labels"] = labels[:, None].astype(np.int64)
    np.savez(path, **arrays)


def test_select_ranks_runs_by_the_score_on_their_held_out_normals(tmp_path, capsys):
    from dia_augment.data import load_one_class
    from dia_augment.detect import split_calibration

    data = tmp_path / "toy.npz"
    _npz(data)
    base = ["train", "--data", str(data), "--normal-class", "0", "--mode", "csi", "--width", "2", "--image-size", "8",
            "--epochs", "1", "--batch-size", "4", "--num-views", "1", "--no-progress"]
    for crop in ("0.3", "0.9"):
        assert main(base + ["--crop-scale", crop, "1", "--out", str(tmp_path / f"crop{crop}")]) == 0
    runs = [str(tmp_path / "crop0.3"), str(tmp_path / "crop0.9")]
    assert main(["select", "--checkpoint", *runs, "--out", str(tmp_path / "ranking.jsonl"), "--no-progress"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "ranking.jsonl").read_text().splitlines()]
    assert [r["selection_auroc"] for r in rows] == sorted((r["selection_auroc"] for r in rows), reverse=True)
    _, held = split_calibration(load_one_class(str(data), "train", "0").images, 0.2, 0)
    for row in rows:
        detector = AnomalyDetector.from_pretrained(f"{row['checkpoint']}/detector", progress=False)
        assert row["selection_auroc"] == selection_score(detector, held)["selection_auroc"]
        assert row["num_images"] == len(held) == 4
    printed = capsys.readouterr().out
    assert f"1. {rows[0]['selection_auroc']:.4f}  {rows[0]['checkpoint']}" in printed
    assert main(base + ["--calibration-fraction", "0", "--out", str(tmp_path / "all")]) == 0
    with pytest.raises(RunFolderError, match="held no normal images out of training"):
        from dia_augment.cli.select import run
        import argparse

        run(argparse.Namespace(checkpoint=[str(tmp_path / "all")], out=str(tmp_path / "x.jsonl"), seed=0,
                               lesion_sigma=None, lesion_opacity=[0.6, 0.9], progress=False))
