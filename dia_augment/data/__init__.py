"""One-class data: image folders, CSV manifests, DICOM and NIfTI, MedMNIST files, the paper's data sets, and a generated default set; contaminated training sets; one reader of files, folders, globs and manifests for deployment."""

from dia_augment.data.container import ANOMALY, NORMAL, OneClassData, OneClassDataset
from dia_augment.data.arguments import add_data_arguments, data_kwargs
from dia_augment.data.contamination import check_contamination_ratio, contaminated_indices, contamination_count
from dia_augment.data.decode import (
    IMAGE_EXTENSIONS,
    READABLE_EXTENSIONS,
    check_output_format,
    convert_channels,
    prepare_image,
    read_image,
    read_item,
    resize_square,
)
from dia_augment.data.embedded import (
    EMBEDDED_CLASS_NAMES,
    add_lesions,
    make_embedded_anomalies,
    make_embedded_dataset,
    render_fundus,
)
from dia_augment.data.errors import DataError
from dia_augment.data.folder import OneClassImageFiles, OneClassImageFolder, SkippedFilesWarning, scan_class_folders
from dia_augment.data.items import Item, expand_inputs, iter_items
from dia_augment.data.manifest import Manifest, OneClassManifest, read_manifest
from dia_augment.data.medical import ReadOptions, read_dicom, read_nifti_slice
from dia_augment.data.medmnist import MEDMNIST_KNOWN, MedMNISTOneClass
from dia_augment.data.one_class import load_one_class, open_one_class
from dia_augment.data.recipes import RECIPES, Recipe, aptos2019, kermany_oct, kvasir, sarscov2
from dia_augment.data.source import EMBEDDED, DataSource, describe_sources, parse_source
from dia_augment.data.split import PatientLeakageWarning, derive_seed, file_groups, split_groups, split_indices
from dia_augment.data.window import WINDOW_PRESETS, apply_window, parse_window

__all__ = [
    "ANOMALY",
    "NORMAL",
    "OneClassData",
    "OneClassDataset",
    "add_data_arguments",
    "data_kwargs",
    "check_contamination_ratio",
    "contaminated_indices",
    "contamination_count",
    "IMAGE_EXTENSIONS",
    "READABLE_EXTENSIONS",
    "check_output_format",
    "convert_channels",
    "prepare_image",
    "read_image",
    "read_item",
    "resize_square",
    "EMBEDDED_CLASS_NAMES",
    "add_lesions",
    "make_embedded_anomalies",
    "make_embedded_dataset",
    "render_fundus",
    "DataError",
    "OneClassImageFiles",
    "OneClassImageFolder",
    "SkippedFilesWarning",
    "scan_class_folders",
    "Item",
    "expand_inputs",
    "iter_items",
    "Manifest",
    "OneClassManifest",
    "read_manifest",
    "ReadOptions",
    "read_dicom",
    "read_nifti_slice",
    "MEDMNIST_KNOWN",
    "MedMNISTOneClass",
    "EMBEDDED",
    "DataSource",
    "describe_sources",
    "parse_source",
    "load_one_class",
    "open_one_class",
    "RECIPES",
    "Recipe",
    "aptos2019",
    "kermany_oct",
    "kvasir",
    "sarscov2",
    "PatientLeakageWarning",
    "derive_seed",
    "file_groups",
    "split_groups",
    "split_indices",
    "WINDOW_PRESETS",
    "apply_window",
    "parse_window",
]
