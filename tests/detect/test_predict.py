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
from dia_augment.data.items import expand_inputs
from dia_augment.detect.predict import SCORE_COLUMN, predict_files
from dia_augment.errors import DataError, MissingFileError


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
    assert sorted(rows) == sorted(good + ["colour.png", "big.png", "broken.png", "notes.txt"])
    images = torch.stack([read_image(next(folder.rglob(name))) for name in good])
    expected = detector.score(images)  # the same scores as the library's, one image at a time or in batches
    for name, score in zip(good, expected.tolist()):
        assert float(rows[name][SCORE_COLUMN]) == pytest.approx(score, rel=1e-5)
        assert rows[name]["anomalous"] == str(score > detector.threshold.value).lower() and rows[name]["status"] == "ok"
        assert rows[name]["index"] == ""  # a 2-D image has no frame or slice
    assert rows["colour.png"]["status"] == "skipped" and "3-channel image; the detector takes 1-channel" in rows["colour.png"]["note"]
    assert "20 x 20 pixels; the detector takes 12 x 12" in rows["big.png"]["note"]
    assert "broken.png" in rows["broken.png"]["note"] and rows["broken.png"][SCORE_COLUMN] == ""
    assert "is not an image" in rows["notes.txt"]["note"]  # the reader's own reason, not left out silently
    assert (summary.num_scored, summary.num_skipped, summary.num_anomalous) == (6, 4, int((expected > detector.threshold.value).sum()))
    assert imread(tmp_path / "out" / "score_histogram.png").shape[-1] == 4
    assert imread(tmp_path / "out" / "top_anomalies.png").shape[-1] == 4
    record = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert record["num_scored"] == 6 and "false-alarm rate" in record["threshold"]["description"]
    assert record["score"] == "anomaly score: higher = more anomalous"
    assert not (tmp_path / "out" / "groups.csv").exists()  # PNG files name no group


def test_convert_brings_other_sizes_and_channels_in_and_says_so(detector, folder, tmp_path):
    predict_files(detector, [folder / "big.png", folder / "deep" / "colour.png"], tmp_path / "out", convert=True, progress=False)
    rows = _rows(tmp_path / "out" / "predictions.csv")
    assert rows["big.png"]["note"] == "resized from 20 x 20" and rows["colour.png"]["note"] == "converted from 3 to 1 channels"
    from dia_augment.data.decode import convert_channels, resize_square

    big = resize_square(read_image(folder / "big.png"), 12)
    assert float(rows["big.png"][SCORE_COLUMN]) == pytest.approx(detector.score(big[None]).item(), rel=1e-5)
    colour = convert_channels(read_image(folder / "deep" / "colour.png"), 1)
    assert float(rows["colour.png"][SCORE_COLUMN]) == pytest.approx(detector.score(colour[None]).item(), rel=1e-5)


def test_inputs_are_files_folders_globs_and_manifests_and_a_missing_one_fails_first(detector, folder, tmp_path):
    (tmp_path / "list.csv").write_text(f"path,group\n{folder / 'scan1.png'},p1\n{folder / 'gone.png'},p2\n")
    files = expand_inputs([str(folder / "scan*.png"), folder / "deep", folder / "scan0.png", f"manifest:{tmp_path / 'list.csv'}"])
    assert [f.name for f, _ in files] == [f"scan{i}.png" for i in range(5)] + ["colour.png", "scan16.png", "gone.png"]
    with pytest.raises(MissingFileError, match="nothing.png'?: no such file, folder or manifest"):
        predict_files(detector, [folder, folder / "nothing.png"], tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()  # checked before anything is read or written
    predict_files(detector, [f"manifest:{tmp_path / 'list.csv'}"], tmp_path / "m", progress=False)
    rows = _rows(tmp_path / "m" / "predictions.csv")
    assert rows["gone.png"]["note"] == f"file not found: {folder / 'gone.png'}" and rows["scan1.png"]["group"] == "p1"


def test_a_run_that_scores_nothing_fails_in_one_line_and_writes_nothing(detector, folder, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"none of the 2 images of 2 files could be scored; the first: .*big.png: 20 x 20"):
        predict_files(detector, [folder / "big.png", folder / "broken.png"], out, progress=False)
    assert not out.exists()  # no predictions.csv, no summary.json, no lock, no empty folder
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    detector.save_pretrained(tmp_path / "det")
    argv = ["predict", "--detector", str(tmp_path / "det"), "--images", str(folder / "broken.png"), "--out", str(out),
            "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none of the 1 images of 1 files could be scored" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


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
    assert "on new normal images 95 % interval" in out and "5 images scored" in out and "1 skipped" in out
    assert "reading: window each file's own, else min-max, size as stored, channels as stored" in out
    assert len(_rows(tmp_path / "out" / "predictions.csv")) == 6


@pytest.mark.parametrize(
    "args, message",
    [
        (["--detector", "{tmp}/none", "--images", "{folder}"], "detector folder .*none does not exist"),
        (["--detector", "{tmp}/det", "--images", "{tmp}/nothing"], "--images: input .*nothing'?: no such file, folder"),
        (["--detector", "{folder}", "--images", "{folder}"], "detector config not found"),
        (["--detector", "{tmp}/det", "--images", "{folder}/big.png"], "none of the 1 images of 1 files could be scored.*20 x 20"),
        (["--detector", "{tmp}/det", "--images", "{folder}", "--window", "lungs"], "window must be one of"),
        (["--detector", "{tmp}/det", "--images", "{folder}", "--group-top-k", "0"], "--group-top-k must be"),
        (["--detector", "{tmp}/det", "--images", "{folder}", "--slices", "3"], "--slices must be START:STOP"),
    ],
)
def test_predict_command_errors_are_one_line(detector, folder, tmp_path, capsys, args, message):
    import re

    detector.save_pretrained(tmp_path / "det")
    argv = ["predict", *[a.format(tmp=tmp_path, folder=folder) for a in args], "--out", str(tmp_path / "o"), "--no-progress"]
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own checks (--window, --slices)
        code = exit.code
    assert code in (1, 2) and not (tmp_path / "o").exists()
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
    scores = [float(rows[os.path.basename(p)][SCORE_COLUMN]) for p in summary.outputs["map_paths"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3  # the gallery's order: highest first
    images = torch.stack([read_image(p) for p in summary.outputs["map_paths"]])
    torch.testing.assert_close(load_file(out / "top_anomaly_maps.safetensors")["maps"],
                               detector.anomaly_map(images, "occlusion", dissolver=identity, patch=4, stride=4))
    assert imread(out / "top_anomalies.png").shape[-1] == 4
    with pytest.raises(ValueError, match="maps must be one of"):
        predict_files(detector, [folder], out, maps="gradcam", progress=False)


def _texts(figure):
    texts = [t.get_text() for t in figure.texts]
    for ax in figure.axes:
        texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return " | ".join(texts)


def test_the_csv_and_every_plot_say_which_way_is_anomalous(detector, folder, tmp_path, monkeypatch):
    import dia_augment.detect.figures as gallery_module
    import dia_augment.score.metrics as metrics_module

    drawn = {}
    for module in (gallery_module, metrics_module):
        real = module.write_png
        monkeypatch.setattr(module, "write_png", lambda figure, path, real=real: (drawn.__setitem__(
            os.path.basename(path), _texts(figure)), real(figure, path))[1])
    predict_files(detector, [folder], tmp_path / "out", maps="residual", progress=False)
    header = (tmp_path / "out" / "predictions.csv").read_text().splitlines()[0]
    assert header.startswith("path,index,score (higher = more anomalous),anomalous,status,note")
    assert sorted(drawn) == ["score_histogram.png", "top_anomalies.png"]
    assert all("higher = more anomalous" in text for text in drawn.values()), drawn
