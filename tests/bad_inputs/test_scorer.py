"""Bad inputs to the CSI score functions, the metrics and ``CSIScorer`` (arguments, images, saved folders)."""

from __future__ import annotations

import json
from collections import namedtuple
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from dia_augment.errors import CheckpointError, ConfigError, InputError, InputTypeError
from dia_augment.score import CSIScorer, aupr, auroc, csi_score, fpr_at_tpr, max_similarity, per_class_auroc
from dia_augment.score import shift_score, simclr_score
from dia_augment.utils.io import atomic_save_tensors
from tests.bad_inputs import assert_raises_naming, case, images, with_value


Out = namedtuple("Out", "features projection shift_logits")


class Linear(nn.Module):
    """A stand-in model with DIAResNet's output fields: linear heads on the flattened 8 x 8 image."""

    def __init__(self, size: int = 8) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(size * size, 4)
        self.shift = nn.Linear(size * size, 4)

    def forward(self, x: torch.Tensor) -> Out:
        f = x.flatten(1)
        return Out(f, self.proj(f), self.shift(f) + 3.0)


class Bare(nn.Module):
    """A model that returns a bare tensor instead of the projection and shift logits."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(64, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1))


class Items(Dataset):
    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


def scorer(model: nn.Module | None = None, **kwargs) -> CSIScorer:
    options = {"num_samples": 1, "batch_size": 4, "progress": False, **kwargs}
    return CSIScorer(Linear() if model is None else model, **options)


def saved_scorer(tmp: Path, config_edit=None, tensors=None) -> Path:
    """Fit and save a scorer into ``tmp/scorer``, then damage its files as asked."""
    folder = tmp / "scorer"
    scorer().fit(images(4, 1, 8)).save(folder)
    if config_edit is not None:
        path = folder / "csi_scorer.json"
        path.write_text(json.dumps(config_edit(json.loads(path.read_text()))))
    if tensors is not None:
        path = folder / "csi_scorer.safetensors"
        if isinstance(tensors, bytes):
            path.write_bytes(tensors)
        else:
            atomic_save_tensors(tensors, path)
    return folder


def load(tmp: Path, **damage) -> CSIScorer:
    return CSIScorer.load(saved_scorer(tmp, **damage), Linear(), progress=False)


def drop(key: str):
    return lambda config: {k: v for k, v in config.items() if k != key}


def set_(key: str, value):
    return lambda config: {**config, key: value}


K, N, M, D = 2, 5, 3, 4
tf = torch.rand(K, N, D, generator=torch.Generator().manual_seed(0))
tl = torch.rand(K, N, generator=torch.Generator().manual_seed(1)) + 1.0
qf = torch.rand(K, M, D, generator=torch.Generator().manual_seed(2))
ql = torch.rand(K, M, generator=torch.Generator().manual_seed(3))

FUNCTION_CASES = [
    case("csi-train-list", lambda tmp: csi_score(tf.tolist(), tl, qf, ql), InputTypeError, "train_features"),
    case("csi-train-2d", lambda tmp: csi_score(tf[0], tl, qf, ql), InputError, "train_features", "(K, N, D)"),
    case("csi-train-int", lambda tmp: csi_score(tf.long(), tl, qf, ql), InputTypeError, "train_features", "int64"),
    case("csi-train-empty", lambda tmp: csi_score(tf[:, :0], tl[:, :0], qf, ql), InputError, "train_features",
         "empty"),
    case("csi-train-nan", lambda tmp: csi_score(tf.index_fill(2, torch.tensor([0]), float("nan")), tl, qf, ql),
         InputError, "train_features", "NaN"),
    case("csi-test-inf", lambda tmp: csi_score(tf, tl, qf.index_fill(1, torch.tensor([1]), float("inf")), ql),
         InputError, "test_features", "inf"),
    case("csi-train-logits-shape", lambda tmp: csi_score(tf, tl[:, :3], qf, ql), InputError, "train_shift_logits"),
    case("csi-test-logits-shape", lambda tmp: csi_score(tf, tl, qf, ql[:1]), InputError, "test_shift_logits"),
    case("csi-test-feature-size", lambda tmp: csi_score(tf, tl, qf[..., :3], ql), InputError, "test_features",
         "D = 4"),
    case("csi-test-shifts", lambda tmp: csi_score(tf, tl, qf[:1], ql[:1]), InputError, "test_features", "K = 2"),
    case("csi-chunk-zero", lambda tmp: csi_score(tf, tl, qf, ql, chunk_size=0), InputError, "chunk_size"),
    case("csi-chunk-float", lambda tmp: csi_score(tf, tl, qf, ql, chunk_size=64.0), InputError, "chunk_size"),
    case("csi-negative-mean-logit", lambda tmp: csi_score(tf, -tl, qf, ql), InputError, "shift logit"),
    case("csi-zero-train-features", lambda tmp: csi_score(torch.zeros(K, N, D), tl, qf, ql), InputError,
         "training projections"),
    case("simclr-zero-train-features", lambda tmp: simclr_score(torch.zeros(N, D), qf[0]), InputError,
         "training projections"),
    case("simclr-test-nan", lambda tmp: simclr_score(tf[0], qf[0].index_fill(0, torch.tensor([0]), float("nan"))),
         InputError, "test_features", "NaN"),
    case("simclr-feature-size", lambda tmp: simclr_score(tf[0], qf[0, :, :3]), InputError, "D"),
    case("shift-score-shifts", lambda tmp: shift_score(tl, ql[:1]), InputError, "shifts K"),
    case("max-similarity-size", lambda tmp: max_similarity(qf[0], tf[0, :, :2]), InputError, "queries", "keys"),
]

METRIC_CASES = [
    case("auroc-one-class", lambda tmp: auroc([0.1, 0.2, 0.3], [0, 0, 0]), InputError, "labels", "both"),
    case("auroc-label-two", lambda tmp: auroc([0.1, 0.2, 0.3], [0, 1, 2]), InputError, "labels", "[0, 1, 2]"),
    case("auroc-nan-score", lambda tmp: auroc([0.1, float("nan")], [0, 1]), InputError, "scores", "NaN"),
    case("auroc-length-mismatch", lambda tmp: auroc([0.1, 0.2, 0.3], [0, 1]), InputError, "labels", "(2,)"),
    case("auroc-empty", lambda tmp: auroc([], []), InputError, "scores", "empty"),
    case("auroc-2d-scores", lambda tmp: auroc([[0.1, 0.2]], [0, 1]), InputError, "scores", "1-D"),
    case("aupr-one-class", lambda tmp: aupr([0.1, 0.2], [1, 1]), InputError, "labels"),
    case("fpr-tpr-zero", lambda tmp: fpr_at_tpr([0.1, 0.9], [1, 0], tpr=0.0), InputError, "tpr"),
    case("fpr-tpr-percent", lambda tmp: fpr_at_tpr([0.1, 0.9], [1, 0], tpr=95), InputError, "tpr", "95"),
    case("per-class-length", lambda tmp: per_class_auroc([0.1, 0.9], [1, 0], [1]), InputError, "classes"),
    case("per-class-names", lambda tmp: per_class_auroc([0.1, 0.9], [1, 0], [3, 0], ["normal", "x"]), InputError,
         "class_names"),
]

SCORER_CASES = [
    case("model-function", lambda tmp: CSIScorer(lambda y: y), InputTypeError, "model"),
    case("shift-kind", lambda tmp: scorer(shift="flip"), ConfigError, "shift", "flip"),
    case("num-shifts-zero", lambda tmp: scorer(num_shifts=0), ConfigError, "num_shifts"),
    case("num-shifts-five", lambda tmp: scorer(num_shifts=5), ConfigError, "num_shifts", "[1, 4]"),
    case("num-shifts-float", lambda tmp: scorer(num_shifts=2.0), ConfigError, "num_shifts"),
    case("num-samples-zero", lambda tmp: scorer(num_samples=0), ConfigError, "num_samples"),
    case("resize-factor-zero", lambda tmp: scorer(resize_factor=0), ConfigError, "resize_factor"),
    case("resize-factor-above-one", lambda tmp: scorer(resize_factor=1.5), ConfigError, "resize_factor"),
    case("resize-factor-string", lambda tmp: scorer(resize_factor="0.54"), ConfigError, "resize_factor"),
    case("image-size-zero", lambda tmp: scorer(image_size=0), ConfigError, "image_size"),
    case("batch-size-zero", lambda tmp: scorer(batch_size=0), ConfigError, "batch_size"),
    case("seed-string", lambda tmp: scorer(seed="0"), ConfigError, "seed"),
    case("augmentation-not-callable", lambda tmp: scorer(augmentation=3), InputTypeError, "augmentation"),
    case("chunk-size-zero", lambda tmp: scorer(chunk_size=0), ConfigError, "chunk_size"),
    case("fit-nan", lambda tmp: scorer().fit(with_value(images(4, 1, 8), float("nan"))), InputError, "images",
         "NaN"),
    case("fit-range", lambda tmp: scorer().fit(images(4, 1, 8) * 255), InputError, "images", "[0, 1]"),
    case("fit-3d", lambda tmp: scorer().fit(images(4, 1, 8)[0]), InputError, "images", "(B, C, H, W)"),
    case("fit-list", lambda tmp: scorer().fit([images(1, 1, 8)[0]]), InputTypeError, "images", "list"),
    case("fit-empty-dataset", lambda tmp: scorer().fit(Items([])), InputError, "images", "empty"),
    case("fit-dataset-mixed-sizes",
         lambda tmp: scorer().fit(Items([images(1, 1, 8)[0], images(1, 1, 6)[0]])), InputError, "dataset images"),
    case("fit-dataset-strings", lambda tmp: scorer().fit(Items(["a.png"])), InputTypeError, "dataset item 0"),
    case("fit-not-square", lambda tmp: scorer().fit(images(4, 1, 8, 6)), InputError, "square", "image_size"),
    case("fit-model-output", lambda tmp: scorer(model=Bare()).fit(images(4, 1, 8)), InputTypeError, "projection"),
    case("score-method", lambda tmp: scorer().fit(images(4, 1, 8)).score(images(2, 1, 8), method="knn"), InputError,
         "method", "knn"),
    case("score-uint8", lambda tmp: scorer().fit(images(4, 1, 8)).score(images(2, 1, 8).to(torch.uint8)),
         InputTypeError, "images", "uint8"),
]

FILE_CASES = [
    case("load-missing-folder", lambda tmp: CSIScorer.load(tmp / "nowhere", Linear()), CheckpointError,
         "csi_scorer.json", "nowhere"),
    case("load-config-list", lambda tmp: load(tmp, config_edit=lambda c: [c]), CheckpointError, "csi_scorer.json"),
    case("load-config-format", lambda tmp: load(tmp, config_edit=set_("format", "other")), CheckpointError,
         "csi_scorer.json", "format"),
    case("load-config-missing-key", lambda tmp: load(tmp, config_edit=drop("num_samples")), CheckpointError,
         "csi_scorer.json", "num_samples"),
    case("load-config-wrong-type", lambda tmp: load(tmp, config_edit=set_("num_samples", "10")), CheckpointError,
         "csi_scorer.json", "num_samples"),
    case("load-config-bad-value", lambda tmp: load(tmp, config_edit=set_("shift", "flip")), CheckpointError,
         "csi_scorer.json", "shift"),
    case("load-tensors-missing-key",
         lambda tmp: load(tmp, tensors={"train_features": torch.zeros(4, 4, 4)}), CheckpointError,
         "csi_scorer.safetensors", "train_shift_logits"),
    case("load-tensors-wrong-shift-count",
         lambda tmp: load(tmp, tensors={"train_features": torch.zeros(2, 4, 4), "train_shift_logits": torch.zeros(2, 4)}),
         CheckpointError, "csi_scorer.safetensors", "K = 4"),
    case("load-tensors-corrupt", lambda tmp: load(tmp, tensors=b"not a safetensors file"), CheckpointError,
         "csi_scorer.safetensors", "corrupt"),
    case("load-config-not-json", lambda tmp: CSIScorer.load(_corrupt_json(saved_scorer(tmp)), Linear()),
         CheckpointError, "csi_scorer.json", "JSON"),
    case("load-custom-augmentation-missing",
         lambda tmp: CSIScorer.load(_saved_with_augmentation(tmp), Linear()), InputError, "augmentation"),
]


def _corrupt_json(folder: Path) -> Path:
    (folder / "csi_scorer.json").write_text('{"format": ')
    return folder


def _saved_with_augmentation(tmp: Path) -> Path:
    folder = tmp / "custom"
    scorer(augmentation=lambda rows, generator=None: rows).fit(images(4, 1, 8)).save(folder)
    return folder


@pytest.mark.parametrize("call, error, names", FUNCTION_CASES + METRIC_CASES + SCORER_CASES + FILE_CASES)
def test_scoring_rejects(call, error, names, tmp_path):
    assert_raises_naming(call, tmp_path, error, names)
