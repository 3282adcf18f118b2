"""CSV manifests, grouped (patient-level) splits, the source grammar and the data options of the CLI."""

from __future__ import annotations

import argparse
import re
import warnings

import numpy as np
import pytest
import torch

from dia_augment.data import (
    OneClassImageFolder,
    OneClassManifest,
    PatientLeakageWarning,
    add_data_arguments,
    data_kwargs,
    load_one_class,
    open_one_class,
    parse_source,
    read_manifest,
    sarscov2,
    split_groups,
)
from dia_augment.data.recipes import kermany_oct
from dia_augment.errors import ConfigError, DataError, MissingFileError

from .conftest import make_class_folder, write_dicom, write_image, write_nifti


def write_manifest(root, rows, header="path,label,group"):
    """Write the images of ``rows`` (tuples starting with path, label) and the manifest; values encode the row."""
    for i, row in enumerate(rows):
        if row[0].endswith(".png") and not (root / row[0]).exists():
            write_image(root / row[0], value=i)
    path = root / "manifest.csv"
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def patients(n_patients=12, slices=4, sick_every=3):
    """``slices`` images per patient; every ``sick_every``-th patient has abnormal slices after a normal one."""
    rows = []
    for p in range(n_patients):
        for s in range(slices):
            label = "covid" if p % sick_every == 0 and s > 0 else "normal"
            rows.append((f"p{p:02d}/s{s}.png", label, f"P{p:02d}"))
    return rows


class TestGroupedSplit:
    def test_no_group_crosses_and_train_is_normal_only(self, tmp_path):
        path = write_manifest(tmp_path, patients())
        train = OneClassManifest(path, "train", "normal", train_fraction=0.75, seed=0)
        test = OneClassManifest(path, "test", "normal", train_fraction=0.75, seed=0)
        assert set(train.groups).isdisjoint(test.groups)
        assert len(set(train.groups)) == 9 and len(set(test.groups)) == 3  # floor(0.75 * 12) patients
        assert train.labels.tolist() == [0] * len(train)
        # every image of a test patient is in test, normal and abnormal
        by_group = {g: sum(1 for r in patients() if r[2] == g) for g in set(test.groups)}
        assert len(test) == sum(by_group.values())
        # the values written encode the manifest row: check the loaded pixels follow the rows
        rows = patients()
        for item in range(len(test)):
            row = rows.index(next(r for r in rows if tmp_path / r[0] == test.paths[item]))
            assert round(test[item][0].max().item() * 255) == row

    def test_seeded_and_reproducible(self, tmp_path):
        path = write_manifest(tmp_path, patients(20))
        a = OneClassManifest(path, "test", "normal", seed=3).paths
        assert a == OneClassManifest(path, "test", "normal", seed=3).paths
        assert a != OneClassManifest(path, "test", "normal", seed=4).paths
        train, test = split_groups([f"g{i % 7}" for i in range(30)], 0.5, seed=1)
        assert (train, test) == split_groups([f"g{i % 7}" for i in range(30)], 0.5, seed=1)
        assert sorted(train + test) == list(range(30))
        assert len({i % 7 for i in train}) == 3 and not {i % 7 for i in train} & {i % 7 for i in test}

    def test_split_groups_keeps_both_sides_non_empty(self):
        train, test = split_groups(["a", "a", "b"], 0.01, seed=0)
        assert train and test
        train, test = split_groups(["a", "b", "b"], 0.99, seed=0)
        assert train and test
        with pytest.raises(DataError, match="at least 2 groups"):
            split_groups(["a", "a"], 0.5, seed=0)

    def test_group_by_another_column_or_a_regex(self, tmp_path):
        rows = [(r[0], r[1], "site1", r[2]) for r in patients()]
        path = write_manifest(tmp_path, rows, header="path,label,site,patient_id")
        by_column = OneClassManifest(path, "test", "normal", group_by="patient_id")
        by_regex = OneClassManifest(path, "test", "normal", group_by=r"^p(\d+)/")
        assert by_column.groups == [f"P{g}" for g in by_regex.groups]
        assert by_column.paths == by_regex.paths
        without = OneClassManifest(path, "test", "normal")  # no 'group' column: per-class split
        assert without.groups is None
        with pytest.raises(DataError, match="finds no group in the file p00/s0.png"):
            OneClassManifest(path, "test", "normal", group_by=r"patient(\d+)")
        with pytest.raises(ConfigError, match="neither"):
            OneClassManifest(path, "test", "normal", group_by="(unclosed")

    def test_folder_group_by_regex_on_the_path_in_the_class_folder(self, tmp_path):
        for p in range(6):
            for s in range(3):
                write_image(tmp_path / "normal" / f"patient{p}_slice{s}.png", value=p)
                if p % 2:
                    write_image(tmp_path / "sick" / f"patient{p}_slice{s}.png", value=100 + p)
        train = OneClassImageFolder(tmp_path, "train", "normal", group_by=r"patient(\d+)_", train_fraction=0.5)
        test = OneClassImageFolder(tmp_path, "test", "normal", group_by=r"patient(\d+)_", train_fraction=0.5)
        train_patients = {re.match(r"patient(\d)", p.name).group(1) for p in train.paths}
        test_patients = {re.match(r"patient(\d)", p.name).group(1) for p in test.paths}
        assert len(train_patients) == 3 and not train_patients & test_patients
        assert len(train) == 9 and len(test) == 9 + 3 * sum(int(p) % 2 for p in test_patients)
        with pytest.raises(ConfigError, match="own train / test folders"):
            make_class_folder(tmp_path / "s" / "train", {"n": 2})
            make_class_folder(tmp_path / "s" / "test", {"n": 2})
            OneClassImageFolder(tmp_path / "s", "train", "n", group_by="x")

    def test_group_by_the_dicom_patient_id(self, tmp_path):
        stored = np.zeros((2, 2))
        for i in range(12):  # file names carry no patient; the headers do (patient i % 4)
            cls = "normal" if i % 3 else "sick"
            write_dicom(tmp_path / "scans" / cls / f"IM{i:04d}.dcm", stored + i, patient=f"PAT{i % 4}")
        split = {s: OneClassImageFolder(tmp_path / "scans", s, "normal", group_by="dicom:PatientID",
                                         train_fraction=0.5) for s in ("train", "test")}
        patient = {s: {int(p.stem[2:]) % 4 for p in d.paths} for s, d in split.items()}
        assert len(patient["test"]) == 2 and not patient["train"] & patient["test"]
        assert len(split["test"]) == 6 and all(p.parent.name == "normal" for p in split["train"].paths)
        rows = [(f"scans/{p.parent.name}/{p.name}", p.parent.name) for p in sorted((tmp_path / "scans").rglob("*.dcm"))]
        manifest = OneClassManifest(write_manifest(tmp_path, rows, header="path,label"), "test", "normal",
                                    group_by="dicom:PatientID", train_fraction=0.5)
        assert sorted(manifest.paths) == sorted(split["test"].paths)
        write_dicom(tmp_path / "scans" / "normal" / "anonymous.dcm", stored)
        with pytest.raises(DataError, match="anonymous.dcm has no PatientID"):
            OneClassImageFolder(tmp_path / "scans", "test", "normal", group_by="dicom:PatientID")
        with pytest.raises(DataError, match="not a DICOM keyword"):
            OneClassImageFolder(tmp_path / "scans", "test", "normal", group_by="dicom:PatientNumber")

    def test_without_groups_a_manifest_splits_like_its_class_folder(self, tmp_path):
        root = make_class_folder(tmp_path / "data", {"normal": 9, "lesion": 6})
        rows = [(f"data/{p.parent.name}/{p.name}", p.parent.name) for p in sorted(root.rglob("*.png"))]
        path = write_manifest(tmp_path, rows, header="path,label")
        for split in ("train", "test"):
            manifest = OneClassManifest(path, split, "normal", seed=2)
            folder = OneClassImageFolder(root, split, "normal", seed=2)
            assert sorted(manifest.paths) == sorted(folder.paths)


class TestManifestFile:
    def test_official_split_column_and_leakage_warning(self, tmp_path):
        rows = [("a.png", "normal", "P1", "train"), ("b.png", "normal", "P2", "train"), ("c.png", "sick", "P2", "train"),
                ("d.png", "normal", "P3", "test"), ("e.png", "sick", "P3", "test"), ("f.png", "normal", "P4", "val")]
        path = write_manifest(tmp_path, rows, header="path,label,group,split")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            train = OneClassManifest(path, "train", "normal")
        assert [p.name for p in train.paths] == ["a.png", "b.png"]
        assert [p.name for p in OneClassManifest(path, "test", "normal").paths] == ["d.png", "e.png"]
        assert OneClassManifest(path, "val", "normal").labels.tolist() == [0]
        rows[3] = ("d.png", "normal", "P1", "test")
        path = write_manifest(tmp_path, rows, header="path,label,group,split")
        with pytest.warns(PatientLeakageWarning, match="1 group\\(s\\) appear in more than one split"):
            OneClassManifest(path, "test", "normal")

    def test_bad_manifests_name_the_problem(self, tmp_path):
        write_image(tmp_path / "a.png")
        cases = {
            "name,label\na.png,n\n": "needs the columns path and label",
            "path,label\n": "lists no files",
            "path,label\na.png,\n": "line 2: the label is empty",
            "path,label\nmissing.png,n\n": "1 file\\(s\\) listed in manifest .* are missing, e.g. .*missing.png",
            "path,label,split\na.png,n,dev\n": "line 2: split must be one of",
        }
        for text, message in cases.items():
            (tmp_path / "m.csv").write_text(text)
            with pytest.raises(DataError, match=message):
                read_manifest(tmp_path / "m.csv")
        with pytest.raises(MissingFileError):
            read_manifest(tmp_path / "none.csv")
        (tmp_path / "m.csv").write_text("path,label\na.png,n\n")
        with pytest.raises(ConfigError, match="normal class \\['x'\\] is not a label"):
            OneClassManifest(tmp_path / "m.csv", "train", "x")
        with pytest.raises(ConfigError, match="normal_class is needed"):
            open_one_class(f"manifest:{tmp_path / 'm.csv'}", "train")

    def test_manifest_of_dicom_and_nifti_files_loads_through_load_one_class(self, tmp_path):
        stored = np.array([[0, 500], [1000, 2000]])
        write_dicom(tmp_path / "scans" / "n1", stored, slope=2, intercept=-1024)  # no suffix
        write_dicom(tmp_path / "scans" / "n2.dcm", np.stack([stored, stored]), slope=2, intercept=-1024)
        write_nifti(tmp_path / "scans" / "s1.nii.gz", np.zeros((2, 2, 3), np.float32) + 50)
        rows = [("scans/n1", "normal", "A"), ("scans/n2.dcm", "normal", "B"), ("scans/s1.nii.gz", "sick", "B")]
        path = write_manifest(tmp_path, rows)
        lung = np.clip((np.array([[-1024.0, -24.0], [976.0, 2976.0]]) + 1350) / 1500, 0, 1)
        seen = set()
        for seed in range(8):
            test_groups = set(OneClassManifest(path, "test", "normal", train_fraction=0.5, seed=seed).groups)
            seen |= {frozenset(test_groups)}
            for source in (f"manifest:{path}", str(path)):
                kwargs = {"window": "lung", "train_fraction": 0.5, "seed": seed}
                train = load_one_class(source, "train", "normal", **kwargs)
                test = load_one_class(source, "test", "normal", **kwargs)
                if test_groups == {"B"}:  # B: 2 DICOM frames and 3 NIfTI slices; A (1 image) trains
                    assert len(train) == 1 and test.labels.tolist() == [0, 0, 1, 1, 1]
                    torch.testing.assert_close(test.images[0, 0], torch.tensor(lung, dtype=torch.float32), rtol=0, atol=1e-6)
                    torch.testing.assert_close(test.images[2], torch.full((1, 2, 2), (50 + 1350) / 1500), rtol=0, atol=1e-6)
                else:  # A tests; B's 2 normal frames train, its NIfTI slices are left out
                    assert test_groups == {"A"} and len(train) == 2 and test.labels.tolist() == [0]
                    torch.testing.assert_close(train.images[1, 0], torch.tensor(lung, dtype=torch.float32), rtol=0, atol=1e-6)
        assert seen == {frozenset({"A"}), frozenset({"B"})}


class TestSources:
    def test_grammar(self):
        assert parse_source("manifest:a/b.csv").location == parse_source("a/b.csv").location == "a/b.csv"
        assert (parse_source("manifest:x.txt").kind, parse_source("manifest:x.txt").location) == ("manifest", "x.txt")
        assert parse_source("kvasir:/d").name == "kvasir" and parse_source("/d/train.CSV").kind == "manifest"
        assert parse_source("unknown:/d").kind == "folder"
        with pytest.raises(ConfigError, match="no patients"):
            load_one_class("embedded", "train", group_by="x")

    def test_sarscov2_warns_about_per_image_splits_unless_grouped(self, tmp_path):
        for cls in ("COVID", "non-COVID"):
            for i in range(6):
                write_image(tmp_path / cls / f"{cls.lower()}_{i:04d}.png", value=i)
        with pytest.warns(PatientLeakageWarning, match="SARS-CoV-2 CT is split per image"):
            sarscov2(tmp_path, "train")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            train = sarscov2(tmp_path, "train", group_by=r"_\d{3}(\d)\.png", train_fraction=0.5)
            test = sarscov2(tmp_path, "test", group_by=r"_\d{3}(\d)\.png", train_fraction=0.5)
        # six groups (the last digit, shared by the two classes): three train, three test
        train_ids, test_ids = {p.stem[-1] for p in train.paths}, {p.stem[-1] for p in test.paths}
        assert len(train) == 3 and len(test) == 6 and len(test_ids) == 3 and not train_ids & test_ids
        with pytest.raises(ConfigError, match="own train / test split"):
            kermany_oct(tmp_path, "train", group_by="x")


class TestArguments:
    def test_options_parse_into_load_one_class_arguments(self):
        parser = argparse.ArgumentParser()
        add_data_arguments(parser)
        args = parser.parse_args(["--window", "40,80", "--slice-axis", "0", "--slices=-4:", "--channels", "3"])
        assert data_kwargs(args) == {"channels": 3, "group_by": None, "window": "40,80", "slice_axis": 0,
                                     "slices": (-4, None)}
        for bad in (["--window", "softtissue"], ["--slices", "5"], ["--slices", "a:b"], ["--slice-axis", "3"],
                    ["--channels", "2"]):
            with pytest.raises(SystemExit):
                parser.parse_args(bad)
