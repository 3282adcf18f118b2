"""A manifest of DICOM and NIfTI scans trains and scores end to end through the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from dia_augment.cli import main
from dia_augment.data import load_one_class
from dia_augment.utils.io import load_tensors

from .conftest import write_dicom, write_nifti

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")


def scan(rng: np.random.Generator, lesion: bool) -> np.ndarray:
    """An 8 x 8 slice in stored units (HU + 1024): soft tissue around 40 HU, a lesion of 300 HU."""
    hu = 40 + 20 * rng.standard_normal((8, 8))
    if lesion:
        hu[3:5, 3:5] = 300
    return np.round(hu + 1024).astype(np.int64)


def test_dicom_and_nifti_manifest_trains_and_scores(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for p in range(6):  # normal patients: a 2-frame DICOM each
        frames = np.stack([scan(rng, False), scan(rng, False)])
        write_dicom(tmp_path / f"p{p}.dcm", frames, slope=1, intercept=-1024)
        rows.append(f"p{p}.dcm,normal,P{p},{'train' if p < 4 else 'test'}")
    for p in range(6, 8):  # abnormal patients: a 3-slice NIfTI volume in HU each
        volume = np.stack([scan(rng, True) - 1024 for _ in range(3)], axis=2).astype(np.float32)
        write_nifti(tmp_path / f"p{p}.nii.gz", volume)
        rows.append(f"p{p}.nii.gz,lesion,P{p},test")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label,group,split\n" + "\n".join(rows) + "\n")
    data = ["--data", f"manifest:{manifest}", "--normal-class", "normal"]

    run = tmp_path / "run"
    assert main(["train", *data, "--mode", "csi", "--load-size", "8", "--image-size", "8", "--width", "2",
                 "--epochs", "1", "--batch-size", "4", "--no-progress", "--out", str(run)]) == 0
    out = tmp_path / "score"
    assert main(["score", "--checkpoint", str(run), *data, "--load-size", "8", "--num-views", "1",
                 "--no-progress", "--out", str(out)]) == 0

    metrics = json.loads((out / "metrics.json").read_text())
    test = load_one_class(f"manifest:{manifest}", "test", "normal", load_size=8, channels=1)
    # 4 train patients x 2 frames, 2 of the 8 held out for the threshold; test: 2 normal patients x 2 frames,
    # 2 abnormal x 3 slices
    assert metrics["num_train"] == 6 and (metrics["num_normal"], metrics["num_anomaly"]) == (4, 6)
    saved = load_tensors(out / "scores.safetensors")
    assert torch.equal(saved["labels"], test.labels) and test.labels.tolist() == [0] * 4 + [1] * 6
    expected = roc_auc_score((saved["labels"] == 1).numpy(), saved["scores"].numpy())  # anomaly scores
    assert metrics["auroc"] == pytest.approx(expected, abs=1e-6)
