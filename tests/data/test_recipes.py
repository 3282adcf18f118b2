from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dia_augment.data import DataError, RECIPES, aptos2019, kermany_oct, kvasir, sarscov2
from dia_augment.data.recipes import APTOS_CLASS_NAMES, KVASIR_CLASS_NAMES, KVASIR_NORMAL_CLASSES

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_recipe_table():
    assert sorted(RECIPES) == ["aptos2019", "kermany_oct", "kvasir", "sarscov2"]
    assert RECIPES["sarscov2"].normal == "non-COVID" and RECIPES["kermany_oct"].normal == "NORMAL"


class TestSarsCov2:
    def test_counts(self, tmp_path, class_folder):
        root = class_folder(tmp_path, {"COVID": 6, "non-COVID": 10})
        train, test = sarscov2(root, "train"), sarscov2(root, "test")
        assert len(train) == 8 and set(train.labels.tolist()) == {0}
        assert test.class_names == ["COVID", "non-COVID"] and test.labels.tolist() == [1, 1, 0, 0]

    def test_missing_folder(self, tmp_path, class_folder):
        class_folder(tmp_path, {"COVID": 2})
        with pytest.raises(DataError, match=r"missing \['non-COVID'\]"):
            sarscov2(tmp_path, "train")


class TestAptos:
    def _make(self, root: Path, image_writer, grades: list[int]) -> Path:
        rows = []
        for i, grade in enumerate(grades):
            image_writer(root / "train_images" / f"id{i:02d}.png", value=i, mode="RGB")
            rows.append(f"id{i:02d},{grade}\n")
        (root / "train.csv").write_text("id_code,diagnosis\n" + "".join(rows))
        return root

    def test_counts_per_grade(self, tmp_path, image_writer):
        grades = [0] * 10 + [1] * 5 + [2] * 4 + [3] * 2 + [4] * 1
        root = self._make(tmp_path, image_writer, grades)
        train, test = aptos2019(root, "train"), aptos2019(root, "test")
        assert len(train) == 8 and train.class_names == list(APTOS_CLASS_NAMES)
        # test: 10-8 grade 0, 5-4 grade 1, 4-3 grade 2, 2-1 grade 3, 1-0 grade 4
        assert test.classes.tolist() == [0, 0, 1, 2, 3, 4] and test.labels.tolist() == [0, 0, 1, 1, 1, 1]
        for i in range(len(test)):  # every item is the file its id names, with its grade
            index = int(test.paths[i].stem[2:])
            assert grades[index] == test.classes[i].item()
            assert round(test[i][0][0, 0, 0].item() * 255) == index

    def test_errors(self, tmp_path, image_writer):
        with pytest.raises(FileNotFoundError, match="train.csv"):
            aptos2019(tmp_path, "train")
        root = self._make(tmp_path, image_writer, [0, 0, 1])
        (root / "train_images" / "id01.png").unlink()
        with pytest.raises(DataError, match=r"1 image\(s\) listed.*id01\.png"):
            aptos2019(root, "train")
        (root / "train.csv").write_text("id_code,diagnosis\nid00,7\n")
        with pytest.raises(DataError, match="line 2: diagnosis must be 0 to 4; got '7'"):
            aptos2019(root, "train")
        (root / "train.csv").write_text("image,level\nid00,0\n")
        with pytest.raises(DataError, match="columns id_code and diagnosis"):
            aptos2019(root, "train")


class TestKermany:
    @pytest.mark.parametrize("base", ["", "OCT2017", "OCT2017 ", "CellData/OCT"])
    def test_official_split_in_each_download_layout(self, tmp_path, class_folder, base):
        root = tmp_path / base if base else tmp_path
        class_folder(root / "train", {"CNV": 3, "DME": 2, "DRUSEN": 2, "NORMAL": 5}, suffix=".jpeg")
        class_folder(root / "test", {"CNV": 2, "DME": 2, "DRUSEN": 2, "NORMAL": 2}, suffix=".jpeg")
        train, test = kermany_oct(tmp_path, "train"), kermany_oct(tmp_path, "test")
        assert len(train) == 5 and train.normal_class == "NORMAL"
        assert test.labels.tolist() == [1] * 6 + [0] * 2
        assert torch.bincount(test.classes).tolist() == [2, 2, 2, 2]

    def test_wrong_layout(self, tmp_path, class_folder):
        class_folder(tmp_path, {"NORMAL": 2})
        with pytest.raises(DataError, match="no train/ and test/ folders"):
            kermany_oct(tmp_path, "train")


class TestKvasir:
    def test_landmarks_are_normal(self, tmp_path, class_folder):
        class_folder(tmp_path / "kvasir-dataset-v2", {name: 5 for name in KVASIR_CLASS_NAMES}, suffix=".jpg", mode="RGB")
        train, test = kvasir(tmp_path, "train"), kvasir(tmp_path / "kvasir-dataset-v2", "test")
        assert len(train) == 3 * 4 and train.normal_class == "+".join(KVASIR_NORMAL_CLASSES)
        normal = {KVASIR_CLASS_NAMES.index(c) for c in KVASIR_NORMAL_CLASSES}
        assert set(train.classes.tolist()) == normal
        assert test.labels.tolist() == [0 if i in normal else 1 for i in range(8)]

    def test_missing_landmarks(self, tmp_path, class_folder):
        class_folder(tmp_path, {"polyps": 2, "normal-cecum": 2})
        with pytest.raises(DataError, match=r"missing \['normal-pylorus', 'normal-z-line'\]"):
            kvasir(tmp_path, "train")


@pytest.mark.skipif(not (SHARED_DATA / "sarscov2-ct").is_dir(), reason=f"real data not found at {SHARED_DATA}")
def test_real_sarscov2_counts():
    root = SHARED_DATA / "sarscov2-ct"
    train, test = sarscov2(root, "train"), sarscov2(root, "test")
    # floor(0.8 * 1229) = 983 normal train images; floor(0.8 * 1252) = 1001.
    assert len(train) == 983
    assert torch.bincount(test.classes).tolist() == [1252 - 1001, 1229 - 983]
    assert not set(train.paths) & set(test.paths)
    image, target = train[0]
    assert target == 0 and image.shape == (1, 128, 128) and 0 <= image.min() < image.max() <= 1
