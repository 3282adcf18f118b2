import csv
import json
import os

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from PIL import Image

from dia_augment.cli import main
from dia_augment.data.decode import read_image
from dia_augment.detect.predict import collect_image_files, predict_files
from dia_augment.errors import MissingFileError


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    """8-bit and 16-bit gray images of the detector's 12 x 12, and files that do not fit."""
    rng = np.random.default_rng(0)
    root = tmp_path / "new"
    for i in range(5):
        _png(root / f"scan{i}.png", rng.integers(0, 256, (12, 12), dtype=np.uint8))
    _png(root / "deep" / "scan16.png", rng.integers(0, 65536, (12, 12), dtype=np.uint16))
    _png(root / "deep" / "colour.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    _png(root / "big.png", rng.integers(0, 256, (20, 20), dtype=np.uint8))
    (root / "broken.png").write_bytes(b"not an image")
    (root / "notes.txt").write_text("ignored: not an image ending")
    return root


def _rows(path):
    with open(path, newline="") as f:
        return {os.path.basename(row["path"]): row for row in csv.DictReader(f)}


def test_predict_scores_good_files_and_lists_the_others_with_the_reason(detector, folder, tmp_path):
    summary = predict_files(detector, [folder], tmp_path / "out", batch_size=3, top_k=4, progress=False)
    rows = _rows(tmp_path / "out" / "predictions.csv")
    good = [f"scan{i}.png" for i in range(5)] + ["scan16.png"]
    assert sorted(rows) == sorted(good + ["colour.png", "big.png", "broken.png"])
    images = torch.stack([read_image(next(folder.rglob(name))) for name in good])
    expected = detector.score(images)  # the same scores as the library's, one image at a time or in batches
    for name, score in zip(good, expected.tolist()):
        assert float(rows[name]["score"]) == pytest.approx(score, rel=1e-5)
        assert rows[name]["anomalous"] == str(score > detector.threshold.value).lower() and rows[name]["status"] == "ok"
    assert rows["colour.png"]["status"] == "skipped" and "3-channel image; the detector takes 1-channel" in rows["colour.png"]["note"]
    assert "20 x 20 pixels; the detector takes 12 x 12" in rows["big.png"]["note"]
    assert "broken.png" in rows["broken.png"]["note"] and rows["broken.png"]["score"] == ""
    assert (summary.num_scored, summary.num_skipped, summary.num_anomalous) == (6, 3, int((expected > detector.threshold.value).sum()))
    assert imread(tmp_path / "out" / "score_histogram.png").shape[-1] == 4
    assert imread(tmp_path / "out" / "top_anomalies.png").shape[-1] == 4
    record = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert record["num_scored"] == 6 and "expected false-alarm rate" in record["threshold"]["description"]


def test_convert_brings_other_sizes_and_channels_in_and_says_so(detector, folder, tmp_path):
    predict_files(detector, [folder / "big.png", folder / "deep" / "colour.png"], tmp_path / "out", convert=True, progress=False)
    rows = _rows(tmp_path / "out" / "predictions.csv")
    assert rows["big.png"]["note"] == "resized from 20 x 20" and rows["colour.png"]["note"] == "converted from 3 to 1 channels"
    from dia_augment.data.decode import convert_channels, resize_square

    big = resize_square(read_image(folder / "big.png"), 12)
    assert float(rows["big.png"]["score"]) == pytest.approx(detector.score(big[None]).item(), rel=1e-5)
    colour = convert_channels(read_image(folder / "deep" / "colour.png"), 1)
    assert float(rows["colour.png"]["score"]) == pytest.approx(detector.score(colour[None]).item(), rel=1e-5)


def test_inputs_are_files_folders_and_globs_and_a_missing_one_fails_first(folder):
    files = collect_image_files([str(folder / "scan*.png"), folder / "deep", folder / "scan0.png"])
    assert [f.name for f in files] == [f"scan{i}.png" for i in range(5)] + ["colour.png", "scan16.png"]
    with pytest.raises(MissingFileError, match="nothing.png: no such file or folder"):
        collect_image_files([folder, folder / "nothing.png"])


def test_a_failing_write_leaves_the_previous_csv_whole(detector, folder, tmp_path, monkeypatch):
    out = tmp_path / "out"
    predict_files(detector, [folder / "scan0.png"], out, progress=False)
    before = (out / "predictions.csv").read_text()

    def disk_full(self, rows):
        self.writerow(next(iter(rows)))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv.DictWriter, "writerows", disk_full)
    with pytest.raises(OSError, match="No space left"):
        predict_files(detector, [folder], out, progress=False)
    assert (out / "predictions.csv").read_text() == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temp file left


def test_predict_command(detector, folder, tmp_path, capsys):
    saved = detector.save_pretrained(tmp_path / "det")
    argv = ["predict", "--detector", str(saved), "--images", str(folder / "scan*.png"), str(folder / "big.png")]
    assert main(argv + ["--out", str(tmp_path / "out"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "expected false-alarm rate" in out and "5 images scored" in out and "1 skipped" in out
    assert len(_rows(tmp_path / "out" / "predictions.csv")) == 6


@pytest.mark.parametrize(
    "args, message",
    [
        (["--detector", "{tmp}/none", "--images", "{folder}"], "detector folder .*none does not exist"),
        (["--detector", "{tmp}/det", "--images", "{tmp}/nothing"], "--images .*nothing: no such file or folder"),
        (["--detector", "{folder}", "--images", "{folder}"], "detector config not found"),
        (["--detector", "{tmp}/det", "--images", "{folder}/big.png"], "none of the 1 files could be scored.*20 x 20"),
    ],
)
def test_predict_command_errors_are_one_line(detector, folder, tmp_path, capsys, args, message):
    import re

    detector.save_pretrained(tmp_path / "det")
    argv = ["predict", *[a.format(tmp=tmp_path, folder=folder) for a in args], "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(argv) in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dia-augment predict: error: ") and re.search(message, err[0])


def test_predict_with_maps_saves_the_gallerys_maps_in_its_order(detector, folder, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "out"
    identity = lambda x, t: x  # noqa: E731  an occlusion that changes nothing: zero maps
    summary = predict_files(detector, [folder], out, top_k=3, maps="occlusion",
                            map_options={"dissolver": identity, "patch": 4, "stride": 4}, progress=False)
    maps = load_file(out / "top_anomaly_maps.safetensors")["maps"]
    assert maps.shape == (3, 12, 12) and torch.equal(maps, torch.zeros_like(maps))
    rows = _rows(out / "predictions.csv")
    scores = [float(rows[os.path.basename(p)]["score"]) for p in summary.outputs["map_paths"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3  # the gallery's order: highest first
    images = torch.stack([read_image(p) for p in summary.outputs["map_paths"]])
    torch.testing.assert_close(load_file(out / "top_anomaly_maps.safetensors")["maps"],
                               detector.anomaly_map(images, "occlusion", dissolver=identity, patch=4, stride=4))
    assert imread(out / "top_anomalies.png").shape[-1] == 4
    with pytest.raises(ValueError, match="maps must be one of"):
        predict_files(detector, [folder], out, maps="gradcam", progress=False)
