"""``predict`` on scans: DICOM (suffix or not, multi-frame), NIfTI, manifests, read as training read; per-group scores."""

import csv
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.image import imread

from dia_augment.cli import main
from dia_augment.data.decode import prepare_image
from dia_augment.data.items import iter_items
from dia_augment.data.medical import ReadOptions
from dia_augment.data.window import apply_window
from dia_augment.detect import AnomalyDetector
from dia_augment.detect.predict import SCORE_COLUMN, predict_files
from dia_augment.detect.reading import Reading
from dia_augment.score import ScoreConfig
from tests.data.conftest import write_dicom, write_nifti
from tests.detect.conftest import images

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")

LUNG = {"window": "lung", "slice_axis": 2, "slices": None, "load_size": 8, "channels": 1}


@pytest.fixture(scope="module")
def detector(tiny_model):
    """8 px gray input, trained (as recorded) on lung-windowed scans loaded at 8 px; group thresholds per PatientID."""
    return AnomalyDetector.fit(
        tiny_model, images(10, 0, size=8), calibration=images(6, 1, size=8),
        config=ScoreConfig(num_views=2, seed=1, mixed_precision="no"), image_size=8,
        calibration_groups=["c1", "c1", "c2", "c2", "c3", "c3"], group_level="PatientID", group_k=2,
        provenance={"data_options": {"data": "scans/", **LUNG}}, progress=False)


def _hu(seed, shape):
    return np.random.default_rng(seed).integers(0, 1600, shape)  # stored; HU = stored - 1024


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    root = tmp_path_factory.mktemp("scans")
    # patient P1: two single-frame files without a suffix, their header window a mediastinum one
    for i in range(2):
        write_dicom(root / "P1" / f"IM000{i}", _hu(i, (16, 16)), intercept=-1024.0, window=(40, 400), patient="P1",
                    SeriesInstanceUID="1.1", StudyInstanceUID="1")
    # patient P2: one multi-frame file with a suffix
    write_dicom(root / "P2" / "ct.dcm", _hu(5, (3, 16, 16)), intercept=-1024.0, patient="P2", SeriesInstanceUID="2.1",
                StudyInstanceUID="2")
    write_nifti(root / "vol.nii.gz", (_hu(7, (16, 16, 4)) - 1024).astype(np.float32))
    (root / "P3").mkdir()
    (root / "P3" / "IM0009").write_bytes(bytes(128) + b"DICM" + b"\x00garbage")  # a DICOM file without pixels
    (root / "notes.txt").write_text("not a scan")
    return root


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_scans_are_read_as_training_read_and_scored_like_the_library(detector, scans, tmp_path):
    summary = predict_files(detector, [scans], tmp_path / "out", batch_size=4, top_k=3, progress=False)
    rows = _rows(tmp_path / "out" / "predictions.csv")
    items = [item for item in iter_items(scans, ReadOptions("lung"), 8, 1) if item.ok]
    assert [(r["path"], r["index"]) for r in rows if r["status"] == "ok"] == [
        (str(i.path), "" if i.index is None else str(i.index)) for i in items]
    assert len(items) == 2 + 3 + 4  # two files, three frames, four axial slices
    expected = detector.score(torch.stack([i.image for i in items]))
    got = torch.tensor([float(r[SCORE_COLUMN]) for r in rows if r["status"] == "ok"])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    by_name = {(r["path"].rsplit("/", 1)[-1], r["index"]): r for r in rows}
    assert "holds no pixel data" in by_name[("IM0009", "")]["note"] and by_name[("IM0009", "")]["status"] == "skipped"
    assert "is not an image" in by_name[("notes.txt", "")]["note"]
    assert by_name[("IM0000", "")]["PatientID"] == "P1" and by_name[("ct.dcm", "2")]["volume"].endswith("ct.dcm")
    assert by_name[("vol.nii.gz", "3")]["volume"].endswith("vol.nii.gz")
    assert (summary.num_files, summary.num_images, summary.num_scored) == (6, 11, 9)
    assert summary.reading == LUNG


def test_a_header_window_other_than_the_trainings_is_read_with_the_trainings_window_in_hu(detector, scans, tmp_path):
    stored = _hu(0, (16, 16)).astype(np.float64)
    lung = prepare_image(torch.from_numpy(apply_window(stored - 1024, -600, 1500))[None], 8, 1)
    header = prepare_image(torch.from_numpy(apply_window(stored - 1024, 40, 400))[None], 8, 1)
    predict_files(detector, [scans / "P1" / "IM0000"], tmp_path / "out", progress=False)
    (row,) = _rows(tmp_path / "out" / "predictions.csv")
    assert float(row[SCORE_COLUMN]) == pytest.approx(detector.score(lung[None]).item(), rel=1e-5)
    assert float(row[SCORE_COLUMN]) != pytest.approx(detector.score(header[None]).item(), rel=1e-5)


def test_groups_csv_aggregates_the_slices_of_each_patient_volume_and_series(detector, scans, tmp_path):
    summary = predict_files(detector, [scans], tmp_path / "out", progress=False)
    rows = [r for r in _rows(tmp_path / "out" / "predictions.csv") if r["status"] == "ok"]
    groups = {(g["level"], g["group"]): g for g in _rows(tmp_path / "out" / "groups.csv")}
    k = detector.group_calibration.k
    assert k == 2
    for patient in ("P1", "P2"):
        scores = sorted((float(r[SCORE_COLUMN]) for r in rows if r["PatientID"] == patient), reverse=True)
        g = groups[("PatientID", patient)]
        assert int(g["num_images"]) == len(scores) == {"P1": 2, "P2": 3}[patient]
        assert float(g["max"]) == pytest.approx(scores[0], rel=1e-5)
        assert float(g["mean"]) == pytest.approx(sum(scores) / len(scores), rel=1e-5)
        assert float(g["top2_mean"]) == pytest.approx((scores[0] + scores[1]) / 2, rel=1e-5)
        threshold = detector.group_calibration.thresholds["top2_mean"].value
        assert g["score"] == "top2_mean" and float(g["threshold"]) == pytest.approx(threshold, rel=1e-5)
        assert g["anomalous"] == str(float(g["top2_mean"]) > threshold).lower()
    volume = groups[("volume", str(scans / "vol.nii.gz"))]
    assert volume["num_images"] == "4" and volume["anomalous"] == "uncalibrated" and volume["threshold"] == ""
    assert groups[("SeriesInstanceUID", "1.1")]["num_images"] == "2"
    assert summary.groups["PatientID"]["calibrated"] and not summary.groups["volume"]["calibrated"]
    assert summary.groups["PatientID"]["num_groups"] == 2  # P3's only file could not be read


def test_the_command_reads_as_recorded_and_a_contradicting_option_wins_with_a_warning(detector, scans, tmp_path, capsys):
    saved = detector.save_pretrained(tmp_path / "det")
    argv = ["predict", "--detector", str(saved), "--images", str(scans / "vol.nii.gz"), "--no-progress"]
    assert main(argv + ["--out", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    assert "reading: window lung (-600, 1500 HU), size 8 px, channels 1" in captured.out and captured.err == ""
    assert main(argv + ["--out", str(tmp_path / "b"), "--window", "bone", "--slices", "1:3"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dia-augment predict: warning: --window 'bone' differs from the 'lung' the detector was trained with; "
                   "using the one given",
                   "dia-augment predict: warning: --slices [1, 3] differs from the None the detector was trained with; "
                   "using the one given"]
    lung, bone = _rows(tmp_path / "a" / "predictions.csv"), _rows(tmp_path / "b" / "predictions.csv")
    assert [r["index"] for r in lung] == ["0", "1", "2", "3"] and [r["index"] for r in bone] == ["1", "2"]
    bone_images = torch.stack([i.image for i in iter_items(scans / "vol.nii.gz", ReadOptions("bone", 2, (1, 3)), 8, 1)])
    torch.testing.assert_close(torch.tensor([float(r[SCORE_COLUMN]) for r in bone]), detector.score(bone_images),
                               rtol=1e-5, atol=1e-6)


def test_a_manifest_gives_its_group_column(detector, scans, tmp_path):
    manifest = tmp_path / "new.csv"
    manifest.write_text(f"path,group\n{scans / 'P1' / 'IM0000'},case-a\n{scans / 'vol.nii.gz'},case-a\n"
                        f"{scans / 'P2' / 'ct.dcm'},case-b\n")
    predict_files(detector, [f"manifest:{manifest}"], tmp_path / "out", progress=False)
    groups = {(g["level"], g["group"]): g for g in _rows(tmp_path / "out" / "groups.csv")}
    assert groups[("group", "case-a")]["num_images"] == "5" and groups[("group", "case-b")]["num_images"] == "3"
    assert groups[("group", "case-a")]["anomalous"] == "uncalibrated"  # calibrated per PatientID, not per manifest group


def test_the_gallery_and_its_maps_are_at_the_scans_resolution(detector, scans, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "out"
    summary = predict_files(detector, [scans / "vol.nii.gz"], out, top_k=2, maps="occlusion",
                            map_options={"patch": 4, "stride": 4}, progress=False)
    maps = load_file(out / "top_anomaly_maps.safetensors")
    assert maps["maps"].shape == (2, 8, 8)  # what the model saw: the 16 x 16 slices read at the 8 px load size
    for i in range(2):
        scan = maps[f"scan_map_{i}"]
        assert scan.shape == (16, 16)
        expected = F.interpolate(maps["maps"][i][None, None], size=(16, 16), mode="bilinear", align_corners=False)[0, 0]
        torch.testing.assert_close(scan, expected)
    assert summary.outputs["scan_sizes"] == [[16, 16], [16, 16]] and len(summary.outputs["map_indices"]) == 2
    assert imread(out / "top_anomalies.png").shape[-1] == 4


def test_a_detector_trained_without_a_window_warns_that_headers_decide(tiny_model, scans, tmp_path):
    det = AnomalyDetector.fit(tiny_model, images(6, 0, size=8), calibration=images(4, 1, size=8),
                              config=ScoreConfig(num_views=1, mixed_precision="no"), image_size=8,
                              provenance={"data_options": {"load_size": 8, "channels": 1}}, progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_files(det, [scans / "P1"], tmp_path / "out", progress=False)
    messages = [str(w.message) for w in caught]
    assert any("trained without an explicit --window" in m for m in messages)
    assert Reading.of_detector(det) == Reading(load_size=8, channels=1)
