"""DICOM and NIfTI reading: rescale, windowing, MONOCHROME1, frames and slices, against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dia_augment.data import OneClassImageFolder, ReadOptions, load_one_class, read_dicom, read_item, read_nifti_slice
from dia_augment.data.medical import count_images, dicom_tag, is_dicom
from dia_augment.data.window import WINDOW_PRESETS, apply_window, parse_window
from dia_augment.errors import ConfigError, DataError, MissingFileError

from .conftest import write_dicom, write_image, write_nifti

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")

# stored values of a 2 x 2 CT image, rescaled with slope 2 and intercept -1024 to HU:
# [[-1024, -24], [976, 2976]]
STORED = np.array([[0, 500], [1000, 2000]])
HU = np.array([[-1024.0, -24.0], [976.0, 2976.0]])


def window_by_hand(hu: np.ndarray, center: float, width: float) -> torch.Tensor:
    low = center - width / 2
    return torch.tensor(np.clip((hu - low) / width, 0, 1), dtype=torch.float32)[None]


class TestWindow:
    def test_presets_and_parsing(self):
        assert WINDOW_PRESETS == {"lung": (-600.0, 1500.0), "mediastinum": (50.0, 350.0), "brain": (40.0, 80.0),
                                  "bone": (400.0, 1800.0)}
        assert parse_window("Bone") == (400.0, 1800.0) and parse_window((10, 20)) == (10.0, 20.0)
        assert parse_window(" -600 , 1500 ") == (-600.0, 1500.0) and parse_window("minmax") == "minmax"
        for bad in ("soft", "1,2,3", "40,0", "40,-5", (1, 2, 3), ("a", 1), "nan,5"):
            with pytest.raises(ConfigError, match="window"):
                parse_window(bad)

    def test_apply_window_is_linear_between_the_edges(self):
        # lung: [-1350, 150] -> [0, 1]; -975 is a quarter of the way
        out = apply_window(np.array([-2000.0, -1350.0, -975.0, -600.0, 150.0, 3000.0]), -600, 1500)
        np.testing.assert_allclose(out, [0, 0, 0.25, 0.5, 1, 1], atol=1e-7)
        assert out.dtype == np.float32


class TestDicom:
    @pytest.mark.parametrize("name", sorted(WINDOW_PRESETS))
    def test_rescale_to_hu_then_preset_window(self, tmp_path, name):
        path = write_dicom(tmp_path / "a.dcm", STORED, slope=2, intercept=-1024)
        expected = window_by_hand(HU, *WINDOW_PRESETS[name])
        torch.testing.assert_close(read_dicom(path, window=name), expected, rtol=0, atol=1e-6)

    def test_mediastinum_values_by_hand(self, tmp_path):
        path = write_dicom(tmp_path / "a.dcm", STORED, slope=2, intercept=-1024)
        # center 50, width 350: [-125, 225]; -24 HU -> 101 / 350
        expected = torch.tensor([[[0.0, 101 / 350], [1.0, 1.0]]])
        torch.testing.assert_close(read_dicom(path, "mediastinum"), expected, rtol=0, atol=1e-6)

    def test_signed_pixels_and_the_files_window(self, tmp_path):
        stored = np.array([[-1000, -100], [40, 240]])
        path = write_dicom(tmp_path / "s.dcm", stored, slope=1, intercept=0, window=(40, 400), signed=True)
        expected = window_by_hand(stored.astype(float), 40, 400)  # [-160, 240]: -100 -> 0.15, 40 -> 0.5
        torch.testing.assert_close(read_dicom(path, "file"), expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(read_dicom(path), expected, rtol=0, atol=1e-6)  # None: the file's window
        assert read_dicom(path)[0, 0, 1].item() == pytest.approx(0.15) and read_dicom(path)[0, 1, 0].item() == 0.5

    def test_minmax_without_window_tags(self, tmp_path):
        path = write_dicom(tmp_path / "a.dcm", STORED, slope=2, intercept=-1024)
        expected = torch.tensor([[[0.0, 1000 / 4000], [2000 / 4000, 1.0]]])  # HU range [-1024, 2976]
        torch.testing.assert_close(read_dicom(path), expected, rtol=0, atol=1e-6)
        with pytest.raises(DataError, match="no WindowCenter"):
            read_dicom(path, "file")

    def test_monochrome1_is_inverted_after_windowing(self, tmp_path):
        m2 = write_dicom(tmp_path / "m2.dcm", STORED, slope=2, intercept=-1024)
        m1 = write_dicom(tmp_path / "m1.dcm", STORED, slope=2, intercept=-1024, photometric="MONOCHROME1")
        torch.testing.assert_close(read_dicom(m1, "lung"), 1 - read_dicom(m2, "lung"), rtol=0, atol=0)
        torch.testing.assert_close(read_dicom(m1, "lung"), 1 - window_by_hand(HU, -600, 1500), rtol=0, atol=1e-6)

    def test_multi_frame_gives_one_image_per_frame(self, tmp_path):
        frames = np.stack([STORED + 100 * k for k in range(3)])
        path = write_dicom(tmp_path / "mf.dcm", frames, slope=2, intercept=-1024)
        assert count_images(path) == [0, 1, 2]
        for k in range(3):
            expected = window_by_hand(HU + 200 * k, -600, 1500)
            torch.testing.assert_close(read_dicom(path, "lung", frame=k), expected, rtol=0, atol=1e-6)
        with pytest.raises(DataError, match="holds 3 frames"):
            read_dicom(path, "lung")
        with pytest.raises(DataError, match="frame 3 is out of range"):
            read_dicom(path, "lung", frame=3)

    def test_dicom_without_suffix_is_recognised_by_its_marker(self, tmp_path):
        path = write_dicom(tmp_path / "IM0001", STORED, slope=2, intercept=-1024)
        assert is_dicom(path) and not is_dicom(write_image(tmp_path / "x.png"))
        torch.testing.assert_close(read_item(path, options=ReadOptions("bone")), window_by_hand(HU, 400, 1800))

    def test_bad_files(self, tmp_path):
        with pytest.raises(MissingFileError):
            read_dicom(tmp_path / "none.dcm")
        (tmp_path / "junk.dcm").write_bytes(b"not a dicom file")
        with pytest.raises(DataError, match="cannot read DICOM file .*junk.dcm"):
            read_dicom(tmp_path / "junk.dcm")
        with pytest.raises(DataError, match="cannot read DICOM file .*junk.dcm"):
            count_images(tmp_path / "junk.dcm")  # the header alone
        with pytest.raises(DataError, match="cannot read DICOM file .*junk.dcm"):
            dicom_tag(tmp_path / "junk.dcm", "PatientID")


# a 2 x 3 x 4 volume of stored values k, scaled by nibabel to 10 k - 100 "HU"
VOLUME = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
SCALED = VOLUME.astype(np.float64) * 10 - 100  # -100 ... 130


class TestNifti:
    def test_slices_along_each_axis_with_the_file_scaling(self, tmp_path):
        path = write_nifti(tmp_path / "v.nii.gz", VOLUME, slope=10, intercept=-100)
        for axis in (0, 1, 2):
            for index in range(VOLUME.shape[axis]):
                expected = window_by_hand(np.take(SCALED, index, axis=axis), 15, 230)  # min-max of the volume
                torch.testing.assert_close(read_nifti_slice(path, index, axis=axis), expected, rtol=0, atol=1e-6)

    def test_preset_window_by_hand(self, tmp_path):
        path = write_nifti(tmp_path / "v.nii", VOLUME, slope=10, intercept=-100)
        # brain: center 40, width 80 -> [0, 80]; slice 1 on axis 0 holds 10 k - 100 for k = 12 ... 23
        out = read_nifti_slice(path, 1, axis=0, window="brain")
        expected = np.clip((np.arange(12, 24).reshape(3, 4) * 10 - 100) / 80, 0, 1)
        torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float32)[None], rtol=0, atol=1e-6)
        assert out[0, 0, 2].item() == pytest.approx(0.5)  # k = 14: 40 HU, the window centre
        with pytest.raises(DataError, match="slice 4 is out of range"):
            read_nifti_slice(path, 4, axis=2)

    def test_bad_files(self, tmp_path):
        (tmp_path / "junk.nii").write_bytes(b"not a nifti file")
        with pytest.raises(DataError, match="cannot read NIfTI file .*junk.nii"):
            count_images(tmp_path / "junk.nii")  # the header alone
        with pytest.raises(DataError, match="cannot read NIfTI file .*junk.nii"):
            read_nifti_slice(tmp_path / "junk.nii", 0)

    def test_slice_range_and_folder_items(self, tmp_path):
        write_nifti(tmp_path / "data" / "normal" / "a.nii.gz", VOLUME, slope=10, intercept=-100)
        write_nifti(tmp_path / "data" / "lesion" / "b.nii.gz", VOLUME + 1, slope=10, intercept=-100)
        options = ReadOptions(window="-100,400", axis=2, slices=(1, -1))
        assert count_images(tmp_path / "data" / "normal" / "a.nii.gz", options) == [1, 2]
        with pytest.raises(DataError, match="none is in the range"):
            count_images(tmp_path / "data" / "normal" / "a.nii.gz", ReadOptions(slices=(7, 9)))
        test = load_one_class(tmp_path / "data", "test", "normal", window="-100,400", slices=(1, -1),
                              train_fraction=0.5, group_by=r"^(\w)")
        # one file per class -> one group per class; the test side has one volume's two slices
        assert len(test) == 2
        volume = SCALED + (10 if test.class_names[int(test.classes[0])] == "lesion" else 0)
        for row, index in enumerate((1, 2)):
            expected = window_by_hand(volume[:, :, index], -100, 400)
            torch.testing.assert_close(test.images[row], expected, rtol=0, atol=1e-6)


class TestFoldersOfScans:
    def test_dicom_class_folder_reads_every_frame_with_its_label(self, tmp_path):
        for i in range(4):
            write_dicom(tmp_path / "normal" / f"n{i}.dcm", STORED + i, slope=2, intercept=-1024)
        write_dicom(tmp_path / "covid" / "c.dcm", np.stack([STORED, STORED + 1, STORED + 2]), slope=2, intercept=-1024)
        test = OneClassImageFolder(tmp_path, "test", "normal", read_options=ReadOptions("lung"), train_fraction=0.5)
        # per-class split over files: 2 normal files and the covid file's 3 frames in test (floor(0.5 * 1) = 0 train)
        assert test.labels.tolist() == [1, 1, 1, 0, 0] and test.indices[:3] == [0, 1, 2]
        expected = window_by_hand(HU + 4, -600, 1500)  # frame 2: stored + 2, slope 2
        torch.testing.assert_close(test[2][0], expected, rtol=0, atol=1e-6)

    def test_options_are_checked(self):
        with pytest.raises(ConfigError, match="slice axis"):
            ReadOptions(axis=3)
        with pytest.raises(ConfigError, match="slices must be"):
            ReadOptions(slices=(1, 2, 3))
