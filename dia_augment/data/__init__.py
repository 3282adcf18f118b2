"""One-class data: image folders, MedMNIST files, the paper's data sets, and a generated default set."""

from dia_augment.data.container import ANOMALY, NORMAL, OneClassData, OneClassDataset
from dia_augment.data.decode import (
    IMAGE_EXTENSIONS,
    check_output_format,
    convert_channels,
    prepare_image,
    read_image,
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
from dia_augment.data.folder import OneClassImageFiles, OneClassImageFolder, scan_class_folders
from dia_augment.data.medmnist import MEDMNIST_KNOWN, MedMNISTOneClass
from dia_augment.data.one_class import EMBEDDED, describe_sources, load_one_class, open_one_class
from dia_augment.data.recipes import RECIPES, Recipe, aptos2019, kermany_oct, kvasir, sarscov2
from dia_augment.data.split import derive_seed, split_indices

__all__ = [
    "ANOMALY",
    "NORMAL",
    "OneClassData",
    "OneClassDataset",
    "IMAGE_EXTENSIONS",
    "check_output_format",
    "convert_channels",
    "prepare_image",
    "read_image",
    "resize_square",
    "EMBEDDED_CLASS_NAMES",
    "add_lesions",
    "make_embedded_anomalies",
    "make_embedded_dataset",
    "render_fundus",
    "DataError",
    "OneClassImageFiles",
    "OneClassImageFolder",
    "scan_class_folders",
    "MEDMNIST_KNOWN",
    "MedMNISTOneClass",
    "EMBEDDED",
    "describe_sources",
    "load_one_class",
    "open_one_class",
    "RECIPES",
    "Recipe",
    "aptos2019",
    "kermany_oct",
    "kvasir",
    "sarscov2",
    "derive_seed",
    "split_indices",
]
