from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dia_augment.data import DataError, MedMNISTOneClass, resize_square

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _write_npz(path: Path, rgb: bool = False, **overrides) -> Path:
    rng = np.random.default_rng(0)
    shape = (28, 28, 3) if rgb else (28, 28)
    labels = {"train": [0, 1, 2, 0, 2, 0], "val": [1, 0], "test": [0, 2, 1, 0]}
    arrays = {}
    for split, lab in labels.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (len(lab), *shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = np.array(lab, np.uint8).reshape(-1, 1)
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


class TestMedMNISTOneClass:
    def test_train_keeps_normal_labels_and_values(self, tmp_path):
        path = _write_npz(tmp_path / "tiny.npz")
        raw = np.load(path)
        train = MedMNISTOneClass(path, "train", normal_labels=(0,))
        assert len(train) == 3 and train.labels.tolist() == [0, 0, 0]
        assert train.class_names == ["0", "1", "2"] and train.normal_class == "0"
        image, target = train[1]
        assert target == 0 and image.shape == (1, 28, 28)
        torch.testing.assert_close(image[0], torch.from_numpy(raw["train_images"][3]).float() / 255)

    def test_test_and_val_hold_every_label(self, tmp_path):
        path = _write_npz(tmp_path / "tiny.npz")
        test = MedMNISTOneClass(path, "test", normal_labels=(0, 1))
        assert test.classes.tolist() == [0, 2, 1, 0] and test.labels.tolist() == [0, 1, 0, 0]
        assert MedMNISTOneClass(path, "val", normal_labels=(0,)).labels.tolist() == [1, 0]

    def test_rgb_channels_and_resize(self, tmp_path):
        path = _write_npz(tmp_path / "rgb.npz", rgb=True)
        raw = np.load(path)["test_images"][2]
        image, _ = MedMNISTOneClass(path, "test", normal_labels=(0,))[2]
        torch.testing.assert_close(image, torch.from_numpy(raw).permute(2, 0, 1).float() / 255)
        gray, _ = MedMNISTOneClass(path, "test", normal_labels=(0,), channels=1, load_size=14)[2]
        luma = torch.from_numpy(raw).float() / 255 @ torch.tensor([0.299, 0.587, 0.114])
        torch.testing.assert_close(gray, resize_square(luma[None], 14), atol=1e-6, rtol=0)

    def test_known_files_default_normal_label_and_names(self, tmp_path):
        two_labels = {f"{s}_labels": np.array(v, np.uint8).reshape(-1, 1)
                      for s, v in (("train", [0, 1, 1, 0, 1, 1]), ("val", [1, 0]), ("test", [0, 1, 1, 0]))}
        path = _write_npz(tmp_path / "breastmnist.npz", **two_labels)
        test = MedMNISTOneClass(path, "test")
        assert test.class_names[:2] == ["malignant", "normal_or_benign"] and test.normal_class == "normal_or_benign"
        assert test.labels.tolist() == [1, 0, 0, 1]
        assert len(MedMNISTOneClass(path, "train")) == 4
        with pytest.raises(ValueError, match="normal_labels is needed for tiny.npz"):
            MedMNISTOneClass(_write_npz(tmp_path / "tiny.npz"), "train")

    def test_errors(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="absent.npz"):
            MedMNISTOneClass(tmp_path / "absent.npz", "train", (0,))
        with pytest.raises(DataError, match=r"missing keys \['val_images', 'val_labels'\]"):
            MedMNISTOneClass(_write_npz(tmp_path / "a.npz", val_images=None, val_labels=None), "train", (0,))
        (tmp_path / "junk.npz").write_bytes(b"not a zip")
        with pytest.raises(DataError, match="junk.npz"):
            MedMNISTOneClass(tmp_path / "junk.npz", "train", (0,))
        np.save(tmp_path / "single.npy", np.zeros(3))
        with pytest.raises(DataError, match="single array"):
            MedMNISTOneClass(tmp_path / "single.npy", "train", (0,))
        multi = _write_npz(tmp_path / "m.npz", train_labels=np.zeros((6, 14), np.uint8))
        with pytest.raises(DataError, match="multi-label"):
            MedMNISTOneClass(multi, "test", (0,))
        wrong = _write_npz(tmp_path / "w.npz", test_images=np.zeros((4, 28, 28), np.float32))
        with pytest.raises(DataError, match="must be uint8"):
            MedMNISTOneClass(wrong, "test", (0,))
        with pytest.raises(ValueError, match="split must be one of"):
            MedMNISTOneClass(_write_npz(tmp_path / "t.npz"), "all", (0,))
        with pytest.raises(ValueError, match=r"normal labels \[7\]"):
            MedMNISTOneClass(_write_npz(tmp_path / "t.npz"), "train", (7,))


@pytest.mark.skipif(not (SHARED_DATA / "retinamnist.npz").is_file(), reason=f"real data not found at {SHARED_DATA}")
class TestRealMedMNIST:
    def test_retinamnist_counts(self):
        train = MedMNISTOneClass(SHARED_DATA / "retinamnist.npz", "train")
        test = MedMNISTOneClass(SHARED_DATA / "retinamnist.npz", "test")
        assert len(train) == 486 and train.normal_class == "grade0"
        assert len(test) == 400 and int((test.labels == 0).sum()) == 174
        assert torch.bincount(test.classes).tolist() == [174, 46, 92, 68, 20]
        data = test.to_data(progress=False)
        assert data.images.shape == (400, 3, 28, 28) and 0.0 <= data.images.min() < data.images.max() <= 1.0

    def test_breastmnist_counts(self):
        train = MedMNISTOneClass(SHARED_DATA / "breastmnist.npz", "train")
        test = MedMNISTOneClass(SHARED_DATA / "breastmnist.npz", "test")
        assert len(train) == 399 and (len(test), int(test.labels.sum())) == (156, 42)
