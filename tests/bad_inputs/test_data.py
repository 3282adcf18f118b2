"""Bad inputs to the data loaders: missing paths, corrupt files, wrong layouts, bad options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dia_augment.data import (
    OneClassData,
    convert_channels,
    load_one_class,
    make_embedded_dataset,
    read_image,
    resize_square,
    split_indices,
)
from dia_augment.data.manifest import read_manifest
from dia_augment.data.recipes import sarscov2
from dia_augment.data.window import parse_window
from dia_augment.errors import ConfigError, DataError, InputError, InputTypeError, MissingFileError
from tests.bad_inputs import assert_raises_naming, case, images, with_value



def png(path: Path, size: int = 6, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)
    return path


def class_folder(tmp: Path, empty_normal: bool = False) -> Path:
    """``tmp/data/{ok,bad}/*.png`` with two images per class (none in ``ok`` when ``empty_normal``)."""
    root = tmp / "data"
    for name in ("ok", "bad"):
        (root / name).mkdir(parents=True, exist_ok=True)
        if name == "bad" or not empty_normal:
            for i in range(2):
                png(root / name / f"{i}.png")
    return root


def corrupt_image(tmp: Path) -> Path:
    path = tmp / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not the rest of a PNG")
    return path


def npz(tmp: Path, **arrays) -> Path:
    path = tmp / "set.npz"
    np.savez(path, **arrays)
    return path


def one_class(n: int = 3, **changes) -> OneClassData:
    values = {
        "images": images(n, 1, 4),
        "labels": torch.zeros(n, dtype=torch.long),
        "classes": torch.zeros(n, dtype=torch.long),
        "class_names": ["ok"],
        "normal_class": "ok",
    }
    values.update(changes)
    return OneClassData(**values)


FILE_CASES = [
    case("read-missing", lambda tmp: read_image(tmp / "nope.png"), MissingFileError, "nope.png"),
    case("read-corrupt", lambda tmp: read_image(corrupt_image(tmp)), DataError, "broken.png", "corrupt"),
    case("read-text-as-png", lambda tmp: read_image(_write(tmp / "notes.png", "hello")), DataError, "notes.png"),
    case("read-empty-file", lambda tmp: read_image(_write(tmp / "empty.png", "")), DataError, "empty.png"),
    case("read-folder", lambda tmp: read_image(tmp), MissingFileError, "image"),
    case("source-missing", lambda tmp: load_one_class(str(tmp / "nowhere"), "train", "ok"), MissingFileError,
         "nowhere"),
    case("source-missing-relative", lambda tmp: load_one_class("no_such_folder", "train", "ok"), MissingFileError,
         "no_such_folder"),
    case("source-text-file", lambda tmp: load_one_class(str(_write(tmp / "list.txt", "a")), "train"), InputError,
         "list.txt"),
    case("folder-without-normal-class", lambda tmp: load_one_class(str(class_folder(tmp)), "train"), ConfigError,
         "normal_class", "'bad'"),
    case("folder-unknown-normal-class", lambda tmp: load_one_class(str(class_folder(tmp)), "train", "fine"),
         ConfigError, "fine", "ok"),
    case("folder-empty-normal-class",
         lambda tmp: load_one_class(str(class_folder(tmp, empty_normal=True)), "train", "ok"), DataError, "ok"),
    case("folder-with-corrupt-image", lambda tmp: load_one_class(str(_split_folder_with_corrupt(tmp)), "train", "ok"),
         DataError, "broken.png"),
    case("folder-split-name", lambda tmp: load_one_class(str(class_folder(tmp)), "validation", "ok"), ConfigError,
         "split", "validation"),
    case("folder-fraction", lambda tmp: load_one_class(str(class_folder(tmp)), "train", "ok", train_fraction=1.5),
         ConfigError, "train_fraction"),
    case("folder-channels", lambda tmp: load_one_class(str(class_folder(tmp)), "train", "ok", channels=2),
         ConfigError, "channels"),
    case("folder-image-size", lambda tmp: load_one_class(str(class_folder(tmp)), "train", "ok", load_size=0),
         ConfigError, "load_size"),
    case("npz-missing-keys", lambda tmp: load_one_class(str(npz(tmp, x=np.zeros(3))), "train", "0"), DataError, "set.npz",
         "missing"),
    case("npz-corrupt", lambda tmp: load_one_class(str(_write(tmp / "set.npz", "zip?")), "train", "0"), DataError,
         "set.npz"),
    case("npz-label-out-of-range",
         lambda tmp: load_one_class(str(_medmnist(tmp)), "train", normal_class="7"), ConfigError, "7"),
    case("recipe-missing-root", lambda tmp: sarscov2(tmp / "ct", "train"), MissingFileError, "ct"),
    case("recipe-wrong-layout", lambda tmp: sarscov2(class_folder(tmp), "train"), DataError, "data", "missing"),
    case("recipe-source-missing-root", lambda tmp: load_one_class(f"sarscov2:{tmp / 'ct'}", "train"),
         MissingFileError, "ct"),
    case("unknown-recipe", lambda tmp: load_one_class(f"covid:{tmp}", "train"), MissingFileError, "covid"),
    case("embedded-normal-class", lambda tmp: load_one_class("embedded", "train", "abnormal"), ConfigError,
         "normal", "abnormal"),
    case("embedded-channels", lambda tmp: load_one_class("embedded", "train", channels=4), ConfigError, "channels"),
]

MANIFEST_CASES = [
    case("manifest-missing", lambda tmp: read_manifest(tmp / "scans.csv"), MissingFileError, "scans.csv"),
    case("manifest-no-header", lambda tmp: read_manifest(manifest(tmp, "a.png,normal\n")), DataError, "scans.csv",
         "path and label"),
    case("manifest-no-rows", lambda tmp: read_manifest(manifest(tmp, "path,label\n")), DataError, "scans.csv",
         "no files"),
    case("manifest-empty-label", lambda tmp: read_manifest(manifest(tmp, "path,label\na.png,\n")), DataError,
         "scans.csv", "line 2", "label"),
    case("manifest-split-value", lambda tmp: read_manifest(manifest(tmp, "path,label,split\na.png,ok,valid\n")),
         DataError, "scans.csv", "line 2", "valid"),
    case("manifest-listed-file-missing", lambda tmp: read_manifest(manifest(tmp, "path,label\nb.png,ok\n")),
         DataError, "scans.csv", "b.png"),
    case("manifest-source-without-normal-class",
         lambda tmp: load_one_class(str(manifest(tmp, "path,label\na.png,ok\n")), "train"), ConfigError,
         "normal_class", "scans.csv"),
    case("manifest-normal-class-not-a-label",
         lambda tmp: load_one_class(str(manifest(tmp, "path,label\na.png,ok\n")), "train", "healthy"), ConfigError,
         "healthy", "scans.csv"),
    case("window-name", lambda tmp: parse_window("soft"), ConfigError, "window", "soft"),
    case("window-width-zero", lambda tmp: parse_window("40,0"), ConfigError, "window", "40,0"),
    case("window-triple", lambda tmp: parse_window((40, 80, 1)), ConfigError, "window"),
]

VALUE_CASES = [
    case("one-class-data-nan", lambda tmp: one_class(images=with_value(images(3, 1, 4), float("nan"))), InputError,
         "images", "NaN"),
    case("one-class-data-labels-shape", lambda tmp: one_class(labels=torch.zeros(2, dtype=torch.long)), InputError,
         "labels", "(3,)"),
    case("one-class-data-labels-float", lambda tmp: one_class(labels=torch.zeros(3)), InputTypeError, "labels"),
    case("one-class-data-label-two", lambda tmp: one_class(labels=torch.full((3,), 2)), InputError, "labels"),
    case("one-class-data-class-index", lambda tmp: one_class(classes=torch.full((3,), 5)), InputError, "classes"),
    case("convert-channels-two", lambda tmp: convert_channels(images(1, 1, 4)[0], 2), ConfigError, "channels"),
    case("convert-channels-from-four", lambda tmp: convert_channels(images(1, 4, 4)[0], 3), InputError, "image",
         "4"),
    case("resize-square-zero", lambda tmp: resize_square(images(1, 1, 4)[0], 0), ConfigError, "size must be a positive int"),
    case("split-fraction-one", lambda tmp: split_indices(10, 1.0, 0), ConfigError, "train_fraction"),
    case("split-fraction-string", lambda tmp: split_indices(10, "0.8", 0), ConfigError, "train_fraction"),
    case("embedded-split", lambda tmp: make_embedded_dataset("valid"), ConfigError, "split", "valid"),
    case("embedded-size", lambda tmp: make_embedded_dataset("train", image_size=4), ConfigError, "image_size"),
    case("embedded-negative-count", lambda tmp: make_embedded_dataset("train", num_normal=-1), ConfigError, "num_normal"),
    case("embedded-train-anomalies", lambda tmp: make_embedded_dataset("train", num_anomalies=3), ConfigError,
         "num_anomalies"),
]


def manifest(tmp: Path, text: str) -> Path:
    """``tmp/scans.csv`` holding ``text``, beside an image ``a.png``."""
    png(tmp / "a.png")
    return _write(tmp / "scans.csv", text)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _split_folder_with_corrupt(tmp: Path) -> Path:
    """An official-split folder whose train/ok holds a corrupt file beside a good one."""
    root = tmp / "split"
    for part in ("train/ok/0.png", "test/ok/0.png", "test/bad/0.png"):
        png(root / part)
    (root / "train" / "ok" / "broken.png").write_bytes(b"not an image")
    return root


def _medmnist(tmp: Path) -> Path:
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = np.zeros((4, 6, 6), np.uint8)
        arrays[f"{split}_labels"] = np.array([[0], [1], [0], [1]])
    return npz(tmp, **arrays)


@pytest.mark.parametrize("call, error, names", FILE_CASES + MANIFEST_CASES + VALUE_CASES)
def test_data_rejects(call, error, names, tmp_path):
    assert_raises_naming(call, tmp_path, error, names)
