from __future__ import annotations

import numpy as np
import pytest
import torch

import dia_augment.data as data_api
from dia_augment.data import (
    MedMNISTOneClass,
    OneClassData,
    OneClassImageFolder,
    convert_channels,
    load_one_class,
    make_embedded_dataset,
    open_one_class,
)


def test_public_names_are_importable():
    for name in data_api.__all__:
        assert getattr(data_api, name) is not None, name


class TestOneClassData:
    def test_validation(self):
        images = torch.rand(3, 1, 4, 4)
        with pytest.raises(ValueError, match=r"labels must be a \(3,\) tensor"):
            OneClassData(images, torch.zeros(2, dtype=torch.long), torch.zeros(3, dtype=torch.long), ["a"], "a")
        with pytest.raises(ValueError, match="0 \\(normal\\) or 1 \\(anomaly\\)"):
            OneClassData(images, torch.tensor([0, 2, 1]), torch.zeros(3, dtype=torch.long), ["a"], "a")
        with pytest.raises(ValueError, match="classes must index class_names"):
            OneClassData(images, torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2]), ["a", "b"], "a")
        with pytest.raises(TypeError, match="integer tensor"):
            OneClassData(images, torch.zeros(3), torch.zeros(3, dtype=torch.long), ["a"], "a")
        with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
            OneClassData(images * 255, torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long), ["a"], "a")

    def test_counts_and_int32_labels(self):
        d = OneClassData(torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 1, 0], dtype=torch.int32),
                         torch.tensor([0, 2, 2, 0]), ["ok", "unused", "bad"], "ok")
        assert d.labels.dtype == torch.long and len(d) == 4 and d.counts() == {"ok": 2, "bad": 2}


class TestLoadOneClass:
    def test_embedded(self):
        data = load_one_class("embedded", "test", load_size=16)
        expected = make_embedded_dataset("test", image_size=16)
        assert torch.equal(data.images, expected.images) and torch.equal(data.labels, expected.labels)
        gray = load_one_class("embedded", "train", load_size=16, channels=1, seed=2)
        rgb = make_embedded_dataset("train", image_size=16, seed=2)
        torch.testing.assert_close(gray.images, convert_channels(rgb.images, 1))
        with pytest.raises(ValueError, match="normal class is 'normal'"):
            load_one_class("embedded", "train", normal_class="healthy")

    def test_folder_matches_dataset(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"n": 10, "x": 7})
        data = load_one_class(root, "test", normal_class="n", load_size=3, channels=3, progress=False)
        dataset = OneClassImageFolder(root, "test", "n", load_size=3, channels=3)
        assert data.images.shape == (4, 3, 3, 3) and data.labels.tolist() == [0, 0, 1, 1]
        assert torch.equal(data.images, torch.stack([dataset[i][0] for i in range(4)]))
        assert data.class_names == ["n", "x"] and data.normal_class == "n"
        seeded = load_one_class(str(root), "train", normal_class="n", seed=5, progress=False)
        assert len(seeded) == 8

    def test_folder_needs_normal_class(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"benign": 2, "malignant": 2})
        with pytest.raises(ValueError, match=r"normal_class is needed.*\['benign', 'malignant'\]"):
            load_one_class(root, "train")
        split_root = tmp_path / "official"
        class_folder(split_root / "train", {"a": 1})
        class_folder(split_root / "test", {"a": 1, "b": 1})
        with pytest.raises(ValueError, match=r"classes found: \['a', 'b'\]"):
            load_one_class(split_root, "train")

    def test_npz(self, tmp_path):
        arrays = {}
        for split, labels in (("train", [0, 1, 0]), ("val", [1]), ("test", [1, 0])):
            arrays[f"{split}_images"] = np.arange(len(labels) * 4, dtype=np.uint8).reshape(-1, 2, 2) * 20
            arrays[f"{split}_labels"] = np.array(labels, np.uint8).reshape(-1, 1)
        np.savez(tmp_path / "retinamnist_tiny.npz", **arrays)
        train = load_one_class(tmp_path / "retinamnist_tiny.npz", "train", progress=False)  # grade 0 by default
        assert train.images.shape == (2, 1, 2, 2) and train.normal_class == "grade0"
        torch.testing.assert_close(train.images[1, 0], torch.tensor([[160.0, 180.0], [200.0, 220.0]]) / 255)
        test = load_one_class(tmp_path / "retinamnist_tiny.npz", "test", normal_class="1", progress=False)
        assert test.labels.tolist() == [0, 1]
        by_name = open_one_class(tmp_path / "retinamnist_tiny.npz", "test", normal_class="grade1")
        assert isinstance(by_name, MedMNISTOneClass) and by_name.labels.tolist() == [0, 1]
        with pytest.raises(ValueError, match="label number or one of"):
            load_one_class(tmp_path / "retinamnist_tiny.npz", "test", normal_class="healthy")

    def test_recipe_source(self, tmp_path, class_folder):
        class_folder(tmp_path, {"COVID": 5, "non-COVID": 5})
        data = load_one_class(f"sarscov2:{tmp_path}", "test", progress=False)
        assert data.normal_class == "non-COVID" and data.labels.tolist() == [1, 0]
        assert len(load_one_class(f"sarscov2:{tmp_path}", "train", normal_class="non-COVID", progress=False)) == 4
        with pytest.raises(ValueError, match="the sarscov2 recipe uses normal class 'non-COVID'"):
            load_one_class(f"sarscov2:{tmp_path}", "train", normal_class="COVID")

    def test_unknown_sources(self, tmp_path):
        with pytest.raises(FileNotFoundError, match=r"'nowhere:/x'.*'embedded'.*'kvasir:ROOT'"):
            load_one_class("nowhere:/x", "train")
        (tmp_path / "list.txt").write_text("x")
        with pytest.raises(ValueError, match="not a MedMNIST .npz"):
            load_one_class(tmp_path / "list.txt", "train")
        with pytest.raises(ValueError, match="generated in memory"):
            open_one_class("embedded", "train")
