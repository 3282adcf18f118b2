"""Every image's group (patient, volume) in ``OneClassData``: where the source names one, and only there."""

import numpy as np
import pytest
import torch

from dia_augment.data import OneClassData, load_one_class
from dia_augment.errors import InputError, InputTypeError
from tests.data.conftest import make_class_folder, write_dicom, write_image, write_nifti


def test_a_manifests_group_column_is_each_images_group(tmp_path):
    rows = ["path,label,group"]
    for i in range(12):
        write_image(tmp_path / f"{i}.png", value=i)
        rows.append(f"{i}.png,{'ok' if i < 8 else 'bad'},p{i // 2}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    for split in ("train", "test"):
        data = load_one_class(f"manifest:{tmp_path / 'm.csv'}", split, "ok")
        values = (data.images[:, 0, 0, 0] * 255).round().long().tolist()  # image i has the value i
        assert data.groups == [f"p{v // 2}" for v in values] and data.group_level == "group"


def test_a_folders_group_by_expression_and_dicom_patient_id(tmp_path):
    root = tmp_path / "png"
    for cls, n in (("ok", 6), ("bad", 4)):
        for i in range(n):
            write_image(root / cls / f"pat{i % 3}_s{i}.png", value=10 * (cls == "bad") + i)
    data = load_one_class(str(root), "train", "ok", group_by=r"^(pat\d)_")
    names = [f"pat{(v % 10) % 3}" for v in (data.images[:, 0, 0, 0] * 255).round().long().tolist()]
    assert data.groups == names and data.group_level == "group"
    ct = tmp_path / "ct"
    for cls, patients in (("ok", ["A", "B", "C"]), ("bad", ["D", "E"])):
        for p in patients:
            write_dicom(ct / cls / f"{p}_1", np.full((4, 4), ord(p)), patient=p)
    data = load_one_class(str(ct), "test", "ok", group_by="dicom:PatientID", window="minmax")
    assert data.group_level == "PatientID" and len(data.groups) == len(data) and set(data.groups) <= set("ABCDE")


def test_volumes_group_their_slices_by_file_and_plain_images_have_no_groups(tmp_path):
    root = tmp_path / "vol"
    for cls, n in (("ok", 5), ("bad", 2)):
        for i in range(n):
            write_nifti(root / cls / f"v{i}.nii.gz", np.full((4, 4, 3), float(i), np.float32))
    data = load_one_class(str(root), "train", "ok", window="0,10")
    assert data.group_level == "volume" and len(data) == 4 * 3  # floor(0.8 x 5) volumes of 3 slices
    assert [data.groups[3 * v] for v in range(4)] == sorted(set(data.groups), key=data.groups.index)
    assert all(data.groups[3 * v] == data.groups[3 * v + 1] == data.groups[3 * v + 2] for v in range(4))
    assert all(g.endswith(".nii.gz") for g in data.groups)
    plain = load_one_class(str(make_class_folder(tmp_path / "plain", {"ok": 5, "bad": 2})), "train", "ok")
    assert plain.groups is None and plain.group_level is None


def test_contamination_keeps_each_drawn_images_group(tmp_path):
    rows = ["path,label,group"]
    for i in range(20):
        write_image(tmp_path / f"{i}.png", value=i)
        rows.append(f"{i}.png,{'ok' if i < 12 else 'bad'},p{i}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    data = load_one_class(f"manifest:{tmp_path / 'm.csv'}", "train", "ok", contamination_ratio=0.2)
    values = (data.images[:, 0, 0, 0] * 255).round().long().tolist()
    assert data.labels.sum() > 0 and data.groups == [f"p{v}" for v in values]


def test_groups_must_be_one_string_per_image():
    args = (torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]), torch.tensor([0, 1]), ["ok", "a"], "ok")
    with pytest.raises(InputError, match=r"groups must hold one group per image \(2\); got 1"):
        OneClassData(*args, groups=["p1"])
    with pytest.raises(InputTypeError, match="groups must be a list of one string per image"):
        OneClassData(*args, groups="p1p2")
    with pytest.raises(InputError, match="empty group name"):
        OneClassData(*args, groups=["p1", ""])
    assert OneClassData(*args, groups=("a", 2)).groups == ["a", "2"]
    assert OneClassData(*args, groups=["a", "b"]).group_level == "group"  # a grouping without a name: "group"
