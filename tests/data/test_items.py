"""The reader of deployment: inputs expanded, images read as for training, identities and reasons."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from dia_augment.data import OneClassImageFiles, ReadOptions, expand_inputs, items, iter_items, medical
from dia_augment.errors import ConfigError, DataError, MissingFileError

from .conftest import write_dicom, write_image, write_nifti

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")

STORED = np.array([[0, 500], [1000, 2000]])  # slope 2, intercept -1024: [[-1024, -24], [976, 2976]] HU
HU = STORED * 2 - 1024.0
VOLUME = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 10 - 100  # -100 ... 130


def lung(hu: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.clip((hu + 1350) / 1500, 0, 1), dtype=torch.float32)[None]


def write_scans(root):
    """A PACS export (two frames, no suffix), a NIfTI volume, a PNG and a text file, in one folder."""
    write_dicom(root / "p1" / "IM0001", np.stack([STORED, STORED + 10]), slope=2, intercept=-1024, patient="P1",
                StudyInstanceUID="1.2.1", SeriesInstanceUID="1.2.1.1")
    write_nifti(root / "p2" / "ct.nii.gz", VOLUME)
    write_image(root / "p3" / "photo.png", value=51)
    (root / "p3" / "notes.txt").write_text("not an image")
    return root


class TestIterItems:
    def test_identities_and_images_of_a_folder(self, tmp_path):
        root = write_scans(tmp_path / "scans")
        found = list(iter_items(root, ReadOptions("lung", slices=(1, 3))))
        assert [(i.path.relative_to(root).as_posix(), i.index, i.ok) for i in found] == [
            ("p1/IM0001", 0, True), ("p1/IM0001", 1, True), ("p2/ct.nii.gz", 1, True), ("p2/ct.nii.gz", 2, True),
            ("p3/notes.txt", None, False), ("p3/photo.png", None, True)]
        # a multi-frame file is a volume too: its frames share its file as their volume
        dicom_ids = {"PatientID": "P1", "StudyInstanceUID": "1.2.1", "SeriesInstanceUID": "1.2.1.1",
                     "volume": str(root / "p1" / "IM0001")}
        assert found[0].groups == dicom_ids and found[1].groups == dicom_ids
        assert found[2].groups == {"volume": str(root / "p2" / "ct.nii.gz")} and found[5].groups == {}
        torch.testing.assert_close(found[0].image, lung(HU), rtol=0, atol=1e-6)
        torch.testing.assert_close(found[1].image, lung(HU + 20), rtol=0, atol=1e-6)
        torch.testing.assert_close(found[3].image, lung(VOLUME[:, :, 2].astype(float)), rtol=0, atol=1e-6)
        assert torch.all(found[5].image == 51 / 255) and found[5].image.shape == (1, 6, 6)
        assert found[4].image is None and found[4].reason == (
            f"{root / 'p3' / 'notes.txt'} is not an image (.png, .jpg, .jpeg, .bmp, .tif, .tiff), a DICOM file "
            "(by name, or the DICM marker at byte 128) or a NIfTI file (.nii, .nii.gz)")
        assert all(i.reason is None for i in found if i.ok)

    def test_images_are_those_training_reads(self, tmp_path):
        root = write_scans(tmp_path / "scans")
        paths = [root / "p1" / "IM0001", root / "p2" / "ct.nii.gz", root / "p3" / "photo.png"]
        options = ReadOptions("mediastinum", axis=1)
        training = OneClassImageFiles(paths, ["a"] * 3, ["a"], ["a"], load_size=5, channels=3, read_options=options)
        deployed = [i for i in iter_items(paths, options, load_size=5, channels=3)]
        assert [(i.path, i.index) for i in deployed] == list(zip(training.paths, training.indices))
        assert len(deployed) == 2 + 3 + 1
        for k, item in enumerate(deployed):
            assert item.image.shape == (3, 5, 5) and torch.equal(item.image, training[k][0])

    def test_manifest_groups_missing_rows_and_globs(self, tmp_path):
        root = write_scans(tmp_path / "scans")
        (tmp_path / "m.csv").write_text("path,group\nscans/p1/IM0001,case-7\nscans/gone.dcm,case-8\n")
        found = list(iter_items([f"manifest:{tmp_path / 'm.csv'}", str(root / "**" / "*.png"), root / "p3" / "photo.png"]))
        assert [(i.path.name, i.index, i.ok) for i in found] == [
            ("IM0001", 0, True), ("IM0001", 1, True), ("gone.dcm", None, False), ("photo.png", None, True)]
        assert found[0].groups == {"PatientID": "P1", "StudyInstanceUID": "1.2.1", "SeriesInstanceUID": "1.2.1.1",
                                   "volume": str(root / "p1" / "IM0001"), "group": "case-7"}
        assert found[2].groups == {"group": "case-8"}
        assert found[2].reason == f"file not found: {tmp_path / 'scans' / 'gone.dcm'}"

    def test_reasons_of_unreadable_files(self, tmp_path):
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import BasicTextSRStorage, ExplicitVRLittleEndian, generate_uid

        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID, ds.PatientID = BasicTextSRStorage, generate_uid(), "P9"
        ds.save_as(tmp_path / "report.dcm", enforce_file_format=True)
        whole = write_dicom(tmp_path / "cut.dcm", np.arange(64).reshape(8, 8), slope=1, intercept=0).read_bytes()
        (tmp_path / "cut.dcm").write_bytes(whole[:-40])
        gz = write_nifti(tmp_path / "cut.nii.gz", np.random.default_rng(0).normal(size=(16, 16, 8)).astype(np.float32))
        gz.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])  # the header whole, the data cut
        png = write_image(tmp_path / "cut.png", size=(64, 64))
        png.write_bytes(png.read_bytes()[:60])
        (tmp_path / "header.nii").write_bytes(b"too short")
        found = {i.path.name: i for i in iter_items(tmp_path, ReadOptions("lung"))}
        assert found["report.dcm"].groups == {"PatientID": "P9"} and found["report.dcm"].index is None
        assert found["report.dcm"].reason == (
            f"DICOM file {tmp_path / 'report.dcm'} holds no pixel data (SOP class: Basic Text SR Storage)")
        assert found["cut.dcm"].reason == (
            f"cannot read DICOM file {tmp_path / 'cut.dcm'}: The number of bytes of pixel data is less than expected "
            "(88 vs 128 bytes) - the dataset may be corrupted, have an invalid group 0028 element value, or the "
            "transfer syntax may be incorrect")
        assert found["cut.nii.gz"].reason.startswith(f"cannot read NIfTI file {tmp_path / 'cut.nii.gz'}: ")
        assert "Compressed file ended before the end-of-stream marker was reached" in found["cut.nii.gz"].reason
        assert found["cut.png"].reason == (
            f"cannot read image {tmp_path / 'cut.png'}: the file is corrupt or not an image (image file is truncated)")
        assert found["header.nii"].reason.startswith(f"cannot read NIfTI file {tmp_path / 'header.nii'}: ")
        assert all(not i.ok for i in found.values())

    def test_a_slice_that_fails_gives_its_reason_to_the_later_slices_unread(self, tmp_path, monkeypatch):
        path = write_nifti(tmp_path / "v.nii", np.arange(24, dtype=np.float32).reshape(2, 3, 4))
        path.write_bytes(path.read_bytes()[: 352 + 4 * 6 * 2])  # the header (352 bytes) and two of four planes
        monkeypatch.setattr(medical, "_SLAB_BYTES", 8 * 6)  # one plane per read
        calls = []
        read_item = items.read_item
        monkeypatch.setattr(items, "read_item", lambda *args: calls.append(args[1]) or read_item(*args))
        found = list(iter_items(path, ReadOptions("0,100")))
        assert [(i.index, i.ok) for i in found] == [(0, True), (1, True), (2, False), (3, False)]
        assert calls == [0, 1, 2]
        assert found[2].reason == found[3].reason == f"cannot read NIfTI file {path}: Whoops, not enough data in file"
        torch.testing.assert_close(found[1].image, torch.tensor([[[0.51, 0.55, 0.59], [0.63, 0.67, 0.71]]]))

    def test_files_are_read_lazily_one_at_a_time(self, tmp_path, monkeypatch):
        for k in range(3):
            write_image(tmp_path / f"{k}.png", value=k)
        calls = []
        read_item = items.read_item
        monkeypatch.setattr(items, "read_item", lambda *args: calls.append(args[0].name) or read_item(*args))
        stream = iter_items(tmp_path)
        assert calls == []
        first = list(itertools.islice(stream, 2))
        assert calls == ["0.png", "1.png"] and [i.image[0, 0, 0].item() for i in first] == pytest.approx([0, 1 / 255])

    def test_inputs_are_checked_before_any_file_is_read(self, tmp_path):
        write_image(tmp_path / "a.png")
        with pytest.raises(MissingFileError, match=r"input '.*nothing\*\.png': no such file, folder or manifest"):
            iter_items([tmp_path / "a.png", str(tmp_path / "nothing*.png")])
        with pytest.raises(MissingFileError, match="manifest not found"):
            iter_items(f"manifest:{tmp_path / 'none.csv'}")
        (tmp_path / "empty").mkdir()
        with pytest.raises(DataError, match="hold no files"):
            iter_items(tmp_path / "empty")
        with pytest.raises(ConfigError, match="channels"):
            iter_items(tmp_path, channels=2)
        (tmp_path / "bad.csv").write_text("file,label\na.png,x\n")
        with pytest.raises(DataError, match="needs the column path"):
            expand_inputs(tmp_path / "bad.csv")
        # a file named twice is kept once; a .csv file in a folder is a file, not a manifest
        assert expand_inputs([tmp_path / "a.png", tmp_path]) == [(tmp_path / "a.png", {}), (tmp_path / "bad.csv", {})]
