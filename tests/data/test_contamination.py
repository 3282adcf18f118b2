"""Contaminated training sets: ``load_one_class(..., contamination_ratio=r)`` and ``--contamination-ratio``."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from dia_augment.cli import main
from dia_augment.data import (
    EMBEDDED_CLASS_NAMES,
    add_data_arguments,
    contaminated_indices,
    contamination_count,
    data_kwargs,
    load_one_class,
    make_embedded_anomalies,
    open_one_class,
)
from dia_augment.data.split import PatientLeakageWarning, derive_seed
from dia_augment.errors import ConfigError, DataError

from .conftest import write_image


def _values(data) -> list[int]:
    """The value each (constant) test image was written with."""
    return [round(v) for v in (data.images[:, 0, 0, 0] * 255).tolist()]


def _folder(root, counts: dict[str, range]):
    """Constant 4 x 4 images: one per value in ``counts[class]``, under ``root/<class>/``."""
    for name, values in counts.items():
        for v in values:
            write_image(root / name / f"{v:03d}.png", value=v, size=(4, 4))
    return root


def _npz(path):
    """A MedMNIST-like file whose image i of split s is constant at a value unique to it."""
    labels = {"train": [0, 1, 2] * 10, "val": [0, 1], "test": [0, 1, 2] * 3}
    start = {"train": 0, "val": 100, "test": 200}
    arrays = {}
    for split, lab in labels.items():
        values = np.arange(start[split], start[split] + len(lab), dtype=np.uint8)
        arrays[f"{split}_images"] = np.broadcast_to(values[:, None, None], (len(lab), 4, 4)).copy()
        arrays[f"{split}_labels"] = np.array(lab, np.uint8).reshape(-1, 1)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("ratio", "num_normal", "expected"),
    # (0.7, 3) and (1/3, 10): r n / (1 - r) lands just below an integer in floating point, and the
    # reference's int() rounds it down; the count follows it
    [(0.0, 600, 0), (0.1, 600, 66), (0.2, 600, 150), (0.5, 7, 7), (0.25, 3, 1), (0.05, 100, 5), (0.9, 10, 90),
     (0.3, 0, 0), (0.7, 3, 6), (1 / 3, 10, 4)],
)
def test_count_formula(ratio, num_normal, expected):
    assert contamination_count(ratio, num_normal) == expected


def test_count_makes_anomalies_the_ratio_of_the_training_set():
    # k = floor(r n / (1 - r))  <=>  k / (n + k) <= r < (k + 1) / (n + k + 1)
    for ratio in (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75):
        for n in (1, 9, 50, 123, 600):
            k = contamination_count(ratio, n)
            assert k / (n + k) <= ratio + 1e-12 and (k + 1) / (n + k + 1) > ratio - 1e-12, (ratio, n, k)


def test_contaminated_indices_keep_the_normal_items_then_the_drawn_anomalies():
    labels = torch.tensor([1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0])
    index = contaminated_indices(labels, 0.25, seed=0)
    normal = [1, 2, 5, 7, 10, 11]
    assert index[:6].tolist() == normal and len(index) == 6 + 2
    drawn = index[6:].tolist()
    assert drawn == sorted(drawn) and set(drawn) <= {0, 3, 4, 6, 8, 9} and len(set(drawn)) == 2
    assert contaminated_indices(labels, 0.0, seed=0).tolist() == normal
    # the documented draw: a randperm of the anomalous items seeded with derive_seed(seed, "contamination")
    anomalous = torch.tensor([0, 3, 4, 6, 8, 9])
    for seed in (0, 7):
        order = torch.randperm(6, generator=torch.Generator().manual_seed(derive_seed(seed, "contamination")))
        assert contaminated_indices(labels, 0.25, seed)[6:].tolist() == anomalous[order[:2].sort().values].tolist()


def test_to_data_loads_the_chosen_items_in_order(tmp_path):
    _folder(tmp_path / "train", {"n": range(0, 2), "x": range(10, 12)})
    _folder(tmp_path / "test", {"n": range(20, 21), "x": range(30, 31)})
    normal_only = open_one_class(tmp_path, "train", normal_class="n")
    everything = open_one_class(tmp_path, "train", normal_class="n", train_anomalies=True)
    assert _values(normal_only.to_data(False)) == [0, 1]
    assert _values(everything.to_data(False)) == [0, 1, 10, 11] and everything.labels.tolist() == [0, 0, 1, 1]
    picked = everything.to_data(False, torch.tensor([3, 0]))
    assert _values(picked) == [11, 0] and picked.labels.tolist() == [1, 0] and picked.classes.tolist() == [1, 0]
    with pytest.raises(DataError, match="nothing to load"):
        everything.to_data(False, torch.tensor([], dtype=torch.long))


class TestLoad:
    def test_ratio_zero_changes_nothing(self, tmp_path):
        root = _folder(tmp_path / "f", {"n": range(0, 10), "x": range(10, 20)})
        for source, normal in ((root, "n"), (_npz(tmp_path / "m.npz"), "0"), ("embedded", None)):
            plain = load_one_class(source, "train", normal, load_size=8, progress=False)
            zero = load_one_class(source, "train", normal, load_size=8, progress=False, contamination_ratio=0.0)
            assert torch.equal(zero.images, plain.images) and torch.equal(zero.labels, plain.labels)
            assert torch.equal(zero.classes, plain.classes) and int(zero.labels.sum()) == 0

    def test_folder_draws_the_other_classes_training_share_never_test_images(self, tmp_path):
        root = _folder(tmp_path, {"n": range(0, 10), "x": range(10, 20), "y": range(20, 30)})
        clean = load_one_class(root, "train", "n", progress=False)
        data = load_one_class(root, "train", "n", progress=False, contamination_ratio=0.5)
        test_values = set(_values(load_one_class(root, "test", "n", progress=False)))
        # 8 normal images (80 % of 10) and int(0.5 * 8 / 0.5) = 8 of the 16 anomalous training images
        assert data.labels.tolist() == [0] * 8 + [1] * 8 and data.counts()["n"] == 8
        assert torch.equal(data.images[:8], clean.images) and torch.equal(data.classes[:8], clean.classes)
        drawn = _values(data)[8:]
        train_anomalies = set(range(10, 30)) - test_values
        assert len(train_anomalies) == 16 and len(set(drawn)) == 8 and set(drawn) <= train_anomalies
        assert not set(drawn) & test_values
        assert [data.class_names[c] for c in data.classes[8:].tolist()] == ["x" if v < 20 else "y" for v in drawn]

    def test_official_splits_draw_from_the_train_folder(self, tmp_path):
        _folder(tmp_path / "train", {"n": range(0, 6), "x": range(10, 16)})
        _folder(tmp_path / "test", {"n": range(100, 103), "x": range(110, 113)})
        data = load_one_class(tmp_path, "train", "n", progress=False, contamination_ratio=0.25)
        values = _values(data)
        assert values[:6] == list(range(6)) and data.labels.tolist() == [0] * 6 + [1] * 2
        assert len(set(values[6:])) == 2 and set(values[6:]) <= set(range(10, 16))

    def test_npz_draws_train_images_of_the_other_labels_and_follows_the_seed(self, tmp_path):
        path = _npz(tmp_path / "m.npz")
        data = load_one_class(path, "train", "0", progress=False, contamination_ratio=0.5, seed=0)
        values = _values(data)
        assert values[:10] == list(range(0, 30, 3)) and data.labels.tolist() == [0] * 10 + [1] * 10
        train_anomalies = {v for v in range(30) if v % 3}
        assert len(set(values[10:])) == 10 and set(values[10:]) <= train_anomalies
        assert data.classes[10:].tolist() == [v % 3 for v in values[10:]]
        again = load_one_class(path, "train", "0", progress=False, contamination_ratio=0.5, seed=0)
        other = load_one_class(path, "train", "0", progress=False, contamination_ratio=0.5, seed=1)
        assert torch.equal(again.images, data.images)
        assert torch.equal(other.images[:10], data.images[:10]) and _values(other)[10:] != values[10:]
        assert set(_values(other)[10:]) <= train_anomalies

    def test_manifest_and_recipe(self, tmp_path):
        _folder(tmp_path / "m", {"n": range(0, 10), "x": range(10, 20)})
        rows = [f"{c}/{v:03d}.png,{c}\n" for c, values in (("n", range(10)), ("x", range(10, 20))) for v in values]
        (tmp_path / "m" / "list.csv").write_text("path,label\n" + "".join(rows))
        source = f"manifest:{tmp_path / 'm' / 'list.csv'}"
        data = load_one_class(source, "train", "n", progress=False, contamination_ratio=0.2)
        test_values = set(_values(load_one_class(source, "test", "n", progress=False)))
        assert data.labels.tolist() == [0] * 8 + [1] * 2
        assert set(_values(data)[8:]) <= set(range(10, 20)) - test_values
        _folder(tmp_path / "ct", {"COVID": range(0, 5), "non-COVID": range(10, 15)})
        with pytest.warns(PatientLeakageWarning):
            ct = load_one_class(f"sarscov2:{tmp_path / 'ct'}", "train", progress=False, contamination_ratio=0.5)
        with pytest.warns(PatientLeakageWarning):
            ct_test = set(_values(load_one_class(f"sarscov2:{tmp_path / 'ct'}", "test", progress=False)))
        assert ct.counts() == {"COVID": 4, "non-COVID": 4}
        assert set(_values(ct)[4:]) == set(range(5)) - ct_test

    def test_embedded_renders_training_anomalies_of_their_own(self):
        data = load_one_class("embedded", "train", load_size=8, contamination_ratio=0.2, seed=0)
        clean = load_one_class("embedded", "train", load_size=8, seed=0)
        assert data.counts() == {"normal": 600, "lesions": 150} and data.class_names == EMBEDDED_CLASS_NAMES
        assert torch.equal(data.images[:600], clean.images)
        assert torch.equal(data.images[600:], make_embedded_anomalies(150, 8, 0, split="train")[1])
        assert torch.equal(data.labels, data.classes) and data.labels[600:].eq(1).all()
        test = load_one_class("embedded", "test", load_size=8, seed=0)
        assert float(torch.cdist(data.images[600:].flatten(1), test.images.flatten(1)).min()) > 0
        other = load_one_class("embedded", "train", load_size=8, contamination_ratio=0.2, seed=1)
        assert float(torch.cdist(other.images[600:].flatten(1), data.images[600:].flatten(1)).min()) > 0
        gray = load_one_class("embedded", "train", load_size=8, channels=1, contamination_ratio=0.2)
        assert gray.images.shape == (750, 1, 8, 8)
        with pytest.raises(ConfigError, match="split must be one of"):
            make_embedded_anomalies(1, 8, split="val")


class TestErrors:
    @pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5, float("nan"), True, "0.1"])
    def test_ratio_outside_zero_one(self, ratio):
        with pytest.raises(ConfigError, match=r"contamination_ratio must be (in|a number in) \[0, 1\)"):
            load_one_class("embedded", "train", load_size=8, contamination_ratio=ratio)

    def test_test_split_is_never_contaminated(self, tmp_path):
        root = _folder(tmp_path, {"n": range(10), "x": range(10, 20)})
        for source, normal in ((root, "n"), ("embedded", None)):
            with pytest.raises(ConfigError, match="contamination_ratio applies to the train split only .*test split"):
                load_one_class(source, "test", normal, contamination_ratio=0.1)

    def test_too_few_or_no_anomalous_training_images(self, tmp_path):
        root = _folder(tmp_path / "few", {"n": range(10), "x": range(10, 12)})
        with pytest.raises(DataError, match=r"needs 8 anomalous training images .*n = 8 .* holds only 1$") as error:
            load_one_class(root, "train", "n", contamination_ratio=0.5)
        assert "\n" not in str(error.value)
        _folder(tmp_path / "none" / "train", {"n": range(6)})
        _folder(tmp_path / "none" / "test", {"n": range(10, 13), "x": range(20, 23)})
        no_anomalies = r"train split of .*none holds no anomalous images .*\(contamination_ratio 0.5\)"
        with pytest.raises(DataError, match=no_anomalies):
            load_one_class(tmp_path / "none", "train", "n", contamination_ratio=0.5)


class TestCommandLine:
    def test_options_parse_into_the_train_split_only(self):
        parser = argparse.ArgumentParser()
        add_data_arguments(parser)
        assert "contamination_ratio" not in data_kwargs(parser.parse_args([]))
        args = parser.parse_args(["--contamination-ratio", "0.3"])
        assert data_kwargs(args)["contamination_ratio"] == 0.3
        assert "contamination_ratio" not in data_kwargs(args, "test")

    @pytest.mark.parametrize(
        "command", [["train", "--mode", "csi", "--load-size", "8"], ["train-dissolver", "--epochs", "1"]]
    )
    def test_the_option_reaches_the_loader(self, command, tmp_path, monkeypatch):
        import dia_augment.data
        import dia_augment.data.one_class

        seen = {}

        class Loaded(Exception):
            pass

        def load(*args, **kwargs):
            seen["kwargs"] = kwargs
            seen["data"] = real(*args, **{**kwargs, "load_size": 8})
            raise Loaded

        real = dia_augment.data.load_one_class
        monkeypatch.setattr(dia_augment.data, "load_one_class", load)
        monkeypatch.setattr(dia_augment.data.one_class, "load_one_class", load)  # train reads through data.options
        with pytest.raises(Loaded):
            main([*command, "--data", "embedded", "--out", str(tmp_path / "run"), "--contamination-ratio", "0.2",
                  "--data-seed", "3"])
        assert seen["kwargs"]["contamination_ratio"] == 0.2 and seen["kwargs"]["seed"] == 3
        assert seen["data"].counts() == {"normal": 600, "lesions": 150}
        assert torch.equal(seen["data"].images[600:], make_embedded_anomalies(150, 8, 3, split="train")[1])

    def test_a_bad_ratio_is_one_line(self, tmp_path, capsys):
        with pytest.raises(SystemExit) as exit_:
            main(["train", "--data", "embedded", "--out", str(tmp_path), "--contamination-ratio", "1"])
        err = capsys.readouterr().err.strip()
        assert exit_.value.code == 2 and "\n" not in err
        assert "contamination_ratio must be in [0, 1)" in err and "--contamination-ratio" in err
