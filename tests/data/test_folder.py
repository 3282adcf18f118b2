from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader

from dia_augment.data import DataError, OneClassImageFolder, SkippedFilesWarning, scan_class_folders, split_indices


def _values(dataset: OneClassImageFolder) -> list[int]:
    """The pixel value (x 255) each item was written with, read back through the dataset."""
    return [round(dataset[i][0][0, 0, 0].item() * 255) for i in range(len(dataset))]


class TestSeededSplit:
    def test_counts_per_class_and_split(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"normal": 10, "tumour": 7})
        train = OneClassImageFolder(root, "train", "normal")
        test = OneClassImageFolder(root, "test", "normal")
        # floor(0.8 * 10) = 8 normal train images; floor(0.8 * 7) = 5 anomalies held back for the
        # (unused) anomaly train share, so test holds 10 - 8 = 2 normal and 7 - 5 = 2 anomalies.
        assert len(train) == 8 and train.labels.tolist() == [0] * 8
        assert test.labels.tolist() == [0, 0, 1, 1]
        assert test.classes.tolist() == [0, 0, 1, 1]
        assert test.class_names == ["normal", "tumour"] and test.normal_class == "normal"

    def test_disjoint_complete_and_matching_files(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"normal": 10, "tumour": 7})
        train = OneClassImageFolder(root, "train", "normal")
        test = OneClassImageFolder(root, "test", "normal")
        normal_test = [p for p, c in zip(test.paths, test.classes.tolist()) if c == 0]
        assert not set(train.paths) & set(normal_test)
        assert sorted(train.paths + normal_test) == sorted((root / "normal").iterdir())
        # Each item's pixels are those of its own file (file i of class k holds 10 k + i).
        assert _values(train) == [int(p.stem[-3:]) for p in train.paths]
        assert _values(test) == [10 * c + int(p.stem[-3:]) for p, c in zip(test.paths, test.classes.tolist())]

    def test_same_seed_same_split_other_seed_other_split(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"normal": 20, "tumour": 5})
        a = OneClassImageFolder(root, "train", "normal", seed=3).paths
        assert a == OneClassImageFolder(root, "train", "normal", seed=3).paths
        assert a != OneClassImageFolder(root, "train", "normal", seed=4).paths
        # The split of a class does not depend on the other classes present.
        class_folder(tmp_path, {"normal": 0, "tumour": 0, "cyst": 4})
        assert a == OneClassImageFolder(root, "train", "normal", seed=3).paths

    def test_split_indices_floor_and_fraction(self):
        train, test = split_indices(7, 0.8, seed=0)
        assert (len(train), len(test)) == (5, 2)  # floor(5.6) = 5
        train, test = split_indices(100, 0.29, seed=0)
        assert len(train) == 29  # 0.29 * 100 = 28.999... in floating point
        with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\)"):
            split_indices(10, 1.0, seed=0)

    def test_several_normal_classes(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"a": 5, "b": 5, "c": 5})
        train = OneClassImageFolder(root, "train", ["a", "b"])
        test = OneClassImageFolder(root, "test", ("a", "b"))
        assert train.classes.tolist() == [0] * 4 + [1] * 4
        assert test.labels.tolist() == [0, 0, 1] and test.normal_class == "a+b"

    def test_extensions_nested_and_hidden_files(self, tmp_path, image_writer):
        image_writer(tmp_path / "ok" / "a.PNG")
        image_writer(tmp_path / "ok" / "sub" / "b.jpeg")
        image_writer(tmp_path / "ok" / ".hidden.png")
        (tmp_path / "ok" / "notes.txt").write_text("not an image")
        image_writer(tmp_path / "bad" / "c.tif")
        with pytest.warns(SkippedFilesWarning, match=r"^1 file\(s\) .* skipped, e.g. ok/notes.txt$"):
            found = scan_class_folders(tmp_path)
        assert {k: [p.name for p in v] for k, v in found.items()} == {"bad": ["c.tif"], "ok": ["a.PNG", "b.jpeg"]}


class TestOfficialSplit:
    def _make(self, root, class_folder):
        class_folder(root / "train", {"CNV": 3, "NORMAL": 4})
        class_folder(root / "test", {"CNV": 2, "DME": 1, "NORMAL": 2})
        class_folder(root / "val", {"NORMAL": 1})
        return root

    def test_counts_and_consistent_class_indices(self, tmp_path, class_folder):
        root = self._make(tmp_path, class_folder)
        train = OneClassImageFolder(root, "train", "NORMAL")
        test = OneClassImageFolder(root, "test", "NORMAL")
        val = OneClassImageFolder(root, "val", "NORMAL")
        assert train.layout == "splits" and train.class_names == ["CNV", "DME", "NORMAL"]
        assert train.classes.tolist() == [2] * 4
        assert test.classes.tolist() == [0, 0, 1, 2, 2] and test.labels.tolist() == [1, 1, 1, 0, 0]
        assert val.labels.tolist() == [0]
        # NORMAL is the second class folder written in train/ (values 10 + i) and the third in test/.
        assert _values(train) == [10, 11, 12, 13] and _values(test) == [0, 1, 10, 20, 21]

    def test_split_errors(self, tmp_path, class_folder):
        root = self._make(tmp_path, class_folder)
        with pytest.raises(ValueError, match="split must be one of"):
            OneClassImageFolder(root, "holdout", "NORMAL")
        class_folder(tmp_path / "flat", {"a": 2})
        with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
            OneClassImageFolder(tmp_path / "flat", "val", "a")
        with pytest.raises(ValueError, match="layout must be one of"):
            OneClassImageFolder(root, "train", "NORMAL", layout="flat")


class TestConversions:
    def test_gray_to_three_channels_and_resize(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"n": 5, "x": 5})
        image, target = OneClassImageFolder(root, "train", "n", load_size=3, channels=3)[1]
        assert target == 0 and image.shape == (3, 3, 3)
        value = OneClassImageFolder(root, "train", "n").paths[1].stem[-3:]
        torch.testing.assert_close(image, torch.full((3, 3, 3), int(value) / 255))

    def test_rgb_to_one_channel(self, tmp_path, image_writer):
        from PIL import Image
        import numpy as np

        for name in ("n", "x"):
            (tmp_path / name).mkdir()
            for i in range(5):
                Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)).save(tmp_path / name / f"{i}.png")
        image, _ = OneClassImageFolder(tmp_path, "test", "n", channels=1)[0]
        torch.testing.assert_close(image, torch.tensor([[[0.299, 0.114]]]))

    def test_to_data_and_mixed_sizes(self, tmp_path, image_writer):
        for i in range(5):
            image_writer(tmp_path / "n" / f"{i}.png", value=i, size=(4, 4 + i))
        image_writer(tmp_path / "x" / "0.png")
        dataset = OneClassImageFolder(tmp_path, "train", "n")
        with pytest.raises(ValueError, match="pass load_size and channels"):
            dataset.to_data(progress=False)
        data = OneClassImageFolder(tmp_path, "train", "n", load_size=4).to_data(progress=False)
        assert data.images.shape == (4, 1, 4, 4) and data.counts() == {"n": 4}
        assert sorted(round(v * 255) for v in data.images[:, 0, 0, 0].tolist()) == sorted(
            int(p.stem) for p in dataset.paths
        )

    def test_dataloader_and_pickle(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"n": 5, "x": 5})
        dataset = OneClassImageFolder(root, "test", "n", load_size=4, channels=3)
        images, targets = next(iter(DataLoader(dataset, batch_size=2)))
        assert images.shape == (2, 3, 4, 4) and targets.tolist() == [0, 1]
        clone = pickle.loads(pickle.dumps(dataset))
        assert torch.equal(clone[1][0], dataset[1][0]) and clone.paths == dataset.paths


class TestErrors:
    def test_missing_root(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="data folder not found.*nowhere"):
            OneClassImageFolder(tmp_path / "nowhere", "train", "n")

    def test_empty_folder(self, tmp_path):
        (tmp_path / "n").mkdir()
        with pytest.raises(DataError, match="no images"):
            OneClassImageFolder(tmp_path, "train", "n")

    def test_unknown_normal_class_lists_classes(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"benign": 2, "malignant": 2})
        with pytest.raises(ValueError, match=r"'healthy'.*classes found: \['benign', 'malignant'\]"):
            OneClassImageFolder(root, "train", "healthy")

    def test_normal_folder_without_images(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"n": 0, "x": 3})
        (root / "n").mkdir()
        with pytest.raises(DataError, match=r"\['n'\].*hold no images"):
            OneClassImageFolder(root, "train", "n")

    def test_corrupt_image_names_the_file(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"n": 1, "x": 1})
        (root / "x" / "img_000.png").write_bytes(b"garbage")
        dataset = OneClassImageFolder(root, "test", "n", train_fraction=0.5)
        with pytest.raises(DataError, match=r"x[/\\]img_000\.png"):
            dataset.to_data(progress=False)

    def test_bad_arguments(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"n": 2})
        with pytest.raises(ValueError, match="load_size"):
            OneClassImageFolder(root, "train", "n", load_size=0)
        with pytest.raises(ValueError, match="channels"):
            OneClassImageFolder(root, "train", "n", channels=4)
        with pytest.raises(TypeError, match="normal_class"):
            OneClassImageFolder(root, "train", 3)
        with pytest.raises(IndexError, match="out of range"):
            OneClassImageFolder(root, "train", "n")[5]
