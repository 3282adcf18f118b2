"""DICOM and NIfTI reading against hand computations: rescale and modality LUTs, windows and VOI LUTs, MONOCHROME1,
frames and enhanced functional groups, canonical NIfTI slices read lazily, and scans in class folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dia_augment.data import (
    OneClassImageFolder,
    ReadOptions,
    SkippedFilesWarning,
    load_one_class,
    read_dicom,
    read_item,
    read_nifti_slice,
    scan_class_folders,
)
from dia_augment.data import medical
from dia_augment.data.medical import count_images, dicom_ids, dicom_tag, is_dicom
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


def linear_by_hand(x: np.ndarray, c: float, w: float) -> torch.Tensor:
    """The DICOM standard's LINEAR VOI function (PS3.3 C.11.2.1.2.1) onto [0, 1]."""
    y = np.where(x <= c - 0.5 - (w - 1) / 2, 0.0, np.where(x > c - 0.5 + (w - 1) / 2, 1.0, (x - (c - 0.5)) / (w - 1) + 0.5))
    return torch.tensor(y, dtype=torch.float32)[None]


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
        # the file's own window is the standard's LINEAR function: (-160, 239] -> (0, 1]
        expected = linear_by_hand(stored.astype(float), 40, 400)
        torch.testing.assert_close(read_dicom(path, "file"), expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(read_dicom(path), expected, rtol=0, atol=1e-6)  # None: the file's window
        # -100 HU: (-100 - 39.5) / 399 + 0.5; 240 HU is above 239
        assert read_dicom(path)[0, 0, 1].item() == pytest.approx(60 / 399) and read_dicom(path)[0, 1, 1].item() == 1
        # an explicit window is ours, in HU, whatever the header says: [-160, 240] -> [0, 1]
        torch.testing.assert_close(read_dicom(path, "40,400"), window_by_hand(stored.astype(float), 40, 400))

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


def exact_by_hand(x: np.ndarray, c: float, w: float) -> torch.Tensor:
    """The DICOM standard's LINEAR_EXACT VOI function (PS3.3 C.11.2.1.3.2) onto [0, 1]."""
    y = np.where(x <= c - w / 2, 0.0, np.where(x > c + w / 2, 1.0, (x - c) / w + 0.5))
    return torch.tensor(y, dtype=torch.float32)[None]


def sigmoid_by_hand(x: np.ndarray, c: float, w: float) -> torch.Tensor:
    """The DICOM standard's SIGMOID VOI function (PS3.3 C.11.2.1.3.1) onto [0, 1]."""
    return torch.tensor(1 / (1 + np.exp(-4 * (x - c) / w)), dtype=torch.float32)[None]


def sequence_item(**elements):
    from pydicom.dataset import Dataset

    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def lut_item(descriptor: list[int], data: list[int], vr: str):
    """A LUT item; its LUT Data as US values or as little-endian OW bytes."""
    item = sequence_item(LUTDescriptor=descriptor)
    item.add_new(0x00283006, vr, data if vr == "US" else np.array(data, "<u2").tobytes())
    return item


class TestDicomLuts:
    """The modality and VOI LUTs of pydicom, against the DICOM standard's formulas computed here."""

    # HU of STORED (slope 2, intercept -1024): [[-1024, -24], [976, 2976]]; the header window (-24, 2001)
    # puts -24 HU in the middle of every function
    @pytest.mark.parametrize(("function", "by_hand"), [(None, linear_by_hand), ("LINEAR", linear_by_hand),
                                                       ("LINEAR_EXACT", exact_by_hand), ("SIGMOID", sigmoid_by_hand)])
    @pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
    def test_the_files_voi_function_on_hounsfield_units(self, tmp_path, function, by_hand, photometric):
        extra = {} if function is None else {"VOILUTFunction": function}
        path = write_dicom(tmp_path / "ct.dcm", STORED, slope=2, intercept=-1024, window=(-24, 2001),
                           photometric=photometric, **extra)
        expected = by_hand(HU, -24, 2001)
        if photometric == "MONOCHROME1":
            expected = 1 - expected
        torch.testing.assert_close(read_dicom(path, "file"), expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(read_dicom(path), expected, rtol=0, atol=1e-6)
        middle = 0.5 if function in ("LINEAR_EXACT", "SIGMOID") else 0.5 + 0.5 / 2000  # -24 HU; LINEAR: c - 0.5
        assert read_dicom(path, "file")[0, 0, 1].item() == pytest.approx(middle if photometric == "MONOCHROME2" else 1 - middle)
        # the training's explicit window wins over the header's: lung, in HU, by our linear form
        lung = window_by_hand(HU, -600, 1500)
        torch.testing.assert_close(read_dicom(path, "lung"), lung if photometric == "MONOCHROME2" else 1 - lung)

    def test_sigmoid_values_by_hand(self, tmp_path):
        path = write_dicom(tmp_path / "ct.dcm", STORED, slope=2, intercept=-1024, window=(976, 1000),
                           VOILUTFunction="SIGMOID")
        # 976 HU is the centre; -24 HU is one width below it: 1 / (1 + e^4)
        out = read_dicom(path, "file")
        assert out[0, 1, 0].item() == pytest.approx(0.5) and out[0, 0, 1].item() == pytest.approx(1 / (1 + np.e**4))

    @pytest.mark.parametrize("vr", ["US", "OW"])
    def test_voi_lut_sequence(self, tmp_path, vr):
        # 4 entries of 12 bits from stored value 1: 0 and 1 give the first entry, 10 the last
        voi = lut_item([4, 1, 12], [100, 1000, 2000, 4095], vr)
        path = write_dicom(tmp_path / "dx.dcm", np.array([[0, 1], [2, 10]]), slope=None, window=(5, 10),
                           VOILUTSequence=[voi])
        expected = torch.tensor([[[100, 100], [1000, 4095]]]) / 4095  # the LUT is preferred to the window
        torch.testing.assert_close(read_dicom(path, "file"), expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(read_dicom(path), expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(read_dicom(path, "0,20"), torch.tensor([[[0.5, 0.55], [0.6, 1.0]]]))

    def test_modality_lut_sequence(self, tmp_path):
        modality = lut_item([4, 0, 16], [0, 100, 200, 300], "US")
        path = write_dicom(tmp_path / "m.dcm", np.array([[0, 1], [2, 3]]), slope=None, ModalityLUTSequence=[modality])
        # values 0, 100, 200, 300 through the window (0, 600): [-300, 300] -> [0, 1]
        torch.testing.assert_close(read_dicom(path, "0,600"), torch.tensor([[[0.5, 2 / 3], [5 / 6, 1.0]]]))

    def test_enhanced_multi_frame_reads_its_functional_groups(self, tmp_path):
        per_frame = [
            sequence_item(PixelValueTransformationSequence=[sequence_item(RescaleSlope=s, RescaleIntercept=-1024,
                                                                          RescaleType="HU")])
            for s in (1, 2)
        ]
        shared = [sequence_item(FrameVOILUTSequence=[sequence_item(WindowCenter=40, WindowWidth=400)])]
        path = write_dicom(tmp_path / "enhanced.dcm", np.stack([STORED, STORED]), slope=None,
                           PerFrameFunctionalGroupsSequence=per_frame, SharedFunctionalGroupsSequence=shared)
        assert count_images(path) == [0, 1]
        for frame, slope in enumerate((1, 2)):
            hu = STORED * slope - 1024.0
            torch.testing.assert_close(read_dicom(path, "lung", frame), window_by_hand(hu, -600, 1500))
            torch.testing.assert_close(read_dicom(path, "file", frame), linear_by_hand(hu, 40, 400), rtol=0, atol=1e-6)
        # a top-level rescale is used before the functional groups'
        top = write_dicom(tmp_path / "top.dcm", np.stack([STORED, STORED]), slope=2, intercept=-1024,
                          PerFrameFunctionalGroupsSequence=per_frame)
        torch.testing.assert_close(read_dicom(top, "lung", 0), window_by_hand(HU, -600, 1500))

    def test_dicom_without_pixel_data_and_its_ids(self, tmp_path):
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import BasicTextSRStorage, ExplicitVRLittleEndian, generate_uid

        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = BasicTextSRStorage, generate_uid()
        ds.PatientID, ds.StudyInstanceUID = "P1", "1.2.3"
        ds.save_as(tmp_path / "report", enforce_file_format=True)
        assert is_dicom(tmp_path / "report") and count_images(tmp_path / "report") == [None]
        assert dicom_ids(tmp_path / "report") == {"PatientID": "P1", "StudyInstanceUID": "1.2.3"}
        with pytest.raises(DataError, match=r"report holds no pixel data \(SOP class: Basic Text SR Storage\)"):
            read_dicom(tmp_path / "report")


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


# The RAS+ volume VOLUME stored with its axes permuted and flipped: stored axis 0 is the canonical (superior)
# axis 2, stored axis 1 the canonical (right) axis 0 backwards, stored axis 2 the canonical (anterior) axis 1.
PERMUTED = np.flip(VOLUME.transpose(2, 0, 1), axis=1).copy()
PERMUTED_AFFINE = np.array([[0.0, -1, 0, 1], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]])  # x = 1 - j, y = k, z = i


class TestNiftiCanonical:
    def test_permuted_and_flipped_affine_gives_the_ras_slices(self, tmp_path):
        import nibabel

        ras = write_nifti(tmp_path / "ras.nii.gz", VOLUME, slope=10, intercept=-100)
        other = write_nifti(tmp_path / "lpi.nii.gz", PERMUTED, slope=10, intercept=-100, affine=PERMUTED_AFFINE)
        canonical = nibabel.as_closest_canonical(nibabel.load(other)).get_fdata()  # nibabel's own reorientation
        np.testing.assert_allclose(canonical, SCALED)
        for axis in (0, 1, 2):
            assert count_images(other, ReadOptions(axis=axis)) == list(range(VOLUME.shape[axis]))
            for index in range(VOLUME.shape[axis]):
                expected = window_by_hand(np.take(SCALED, index, axis=axis), 15, 230)
                torch.testing.assert_close(read_nifti_slice(other, index, axis=axis), expected, rtol=0, atol=1e-6)
                torch.testing.assert_close(read_nifti_slice(other, index, axis), read_nifti_slice(ras, index, axis))
        # axial slice 0 is the most inferior (stored plane 0 of axis 0), its rows along canonical axis 0 and its
        # columns along axis 1: the first row holds 10 k - 100 for k = 0, 4, 8, -100, -60, -20 HU, windowed to [-100, -20]
        assert read_nifti_slice(other, 0, 2, "-60,80")[0, 0].tolist() == [0.0, 0.5, 1.0]

    def test_slices_are_read_lazily_slab_by_slab(self, tmp_path, monkeypatch):
        import nibabel

        path = write_nifti(tmp_path / "lazy.nii", PERMUTED, slope=10, intercept=-100, affine=PERMUTED_AFFINE)
        reads = []
        proxy_getitem = nibabel.arrayproxy.ArrayProxy.__getitem__

        def record(self, key):
            reads.append(key)
            return proxy_getitem(self, key)

        def refuse(*args, **kwargs):
            raise AssertionError("the whole volume was read")

        monkeypatch.setattr(nibabel.arrayproxy.ArrayProxy, "__getitem__", record)
        monkeypatch.setattr(nibabel.arrayproxy.ArrayProxy, "__array__", refuse)
        monkeypatch.setattr(nibabel.dataobj_images.DataobjImage, "get_fdata", refuse)
        monkeypatch.setattr(medical, "_SLAB_BYTES", 8 * 4 * 2)  # one plane of 4 x 2 float64 values per slab
        # an explicit window reads one plane: canonical axis 2 (superior) is stored axis 0, forwards
        torch.testing.assert_close(read_nifti_slice(path, 1, 2, "-100,400"), window_by_hand(SCALED[:, :, 1], -100, 400))
        assert reads == [(slice(1, 2), slice(None), slice(None))]
        # canonical axis 0 (right) is stored axis 1 backwards: slice 0 of 2 is stored plane 1; the min-max window
        # then reads the volume once, plane by plane along its last stored axis (the file's order)
        reads.clear()
        torch.testing.assert_close(read_nifti_slice(path, 0, 0), window_by_hand(SCALED[0], 15, 230), rtol=0, atol=1e-6)
        assert reads == [(slice(None), slice(1, 2), slice(None))] + [
            (slice(None), slice(None), slice(k, k + 1)) for k in range(3)]
        reads.clear()  # the volume's range is cached per file
        torch.testing.assert_close(read_nifti_slice(path, 1, 0), window_by_hand(SCALED[1], 15, 230), rtol=0, atol=1e-6)
        assert reads == [(slice(None), slice(0, 1), slice(None))]

    def test_an_affine_without_a_direction_is_refused(self, tmp_path):
        import nibabel

        header = nibabel.Nifti1Image(VOLUME, np.eye(4)).header
        header["srow_y"], header["sform_code"], header["qform_code"] = [0, 0, 0, 0], 1, 0  # axis 1 maps nowhere
        nibabel.Nifti1Image(VOLUME, None, header).to_filename(tmp_path / "flat.nii")
        with pytest.raises(DataError, match="flat.nii has an affine without a direction for every axis"):
            count_images(tmp_path / "flat.nii")

    def test_window_file_is_refused_for_nifti(self, tmp_path):
        path = write_nifti(tmp_path / "v.nii", VOLUME)
        with pytest.raises(DataError, match="v.nii is a NIfTI file, which holds no window"):
            read_nifti_slice(path, 0, window="file")


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

    def test_dicom_without_suffix_is_counted_and_other_files_are_skipped_with_a_count(self, tmp_path):
        for p in range(3):  # PACS exports: no suffix, or a UID as the name
            write_dicom(tmp_path / "normal" / f"P{p}" / "IM0001", STORED + p, slope=2, intercept=-1024)
            write_dicom(tmp_path / "normal" / f"P{p}" / f"1.2.840.113619.{p}", STORED + p, slope=2, intercept=-1024)
        write_dicom(tmp_path / "covid" / "c.dcm", STORED, slope=2, intercept=-1024)
        write_dicom(tmp_path / "covid" / "IM0001", STORED + 5, slope=2, intercept=-1024)
        (tmp_path / "normal" / "DICOMDIR.txt").write_text("index")
        (tmp_path / "normal" / "P0" / "notes").write_text("a file without a suffix that is not DICOM")
        (tmp_path / "normal" / ".hidden").write_bytes(bytes(128) + b"DICM")
        with pytest.warns(SkippedFilesWarning) as caught:
            found = scan_class_folders(tmp_path)
        assert {k: len(v) for k, v in found.items()} == {"covid": 2, "normal": 6}
        assert len(caught) == 1 and str(caught[0].message).startswith(f"2 file(s) in the class folders of {tmp_path} ")
        assert str(caught[0].message).endswith("skipped, e.g. normal/DICOMDIR.txt, normal/P0/notes")
        with pytest.warns(SkippedFilesWarning, match="2 file"):
            test = load_one_class(tmp_path, "test", "normal", window="lung", train_fraction=0.5, channels=1)
        assert test.counts() == {"covid": 1, "normal": 3}
        with pytest.warns(SkippedFilesWarning):
            train = OneClassImageFolder(tmp_path, "train", "normal", read_options=ReadOptions("lung"), train_fraction=0.5)
        p = int(train.paths[0].parent.name[1])
        torch.testing.assert_close(train[0][0], window_by_hand(HU + 2 * p, -600, 1500), rtol=0, atol=1e-6)

    def test_options_are_checked(self):
        with pytest.raises(ConfigError, match="slice axis"):
            ReadOptions(axis=3)
        with pytest.raises(ConfigError, match="slices must be"):
            ReadOptions(slices=(1, 2, 3))
