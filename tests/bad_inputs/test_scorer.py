"""Bad inputs to the CSI score functions, the metrics, ``ScoreConfig`` and the one scorer (settings, images, folders)."""

from __future__ import annotations

import json
from collections import namedtuple
from pathlib import Path

import pytest
import torch
from torch import nn

from dia_augment.detect import AnomalyDetector
from dia_augment.errors import CheckpointError, ConfigError, InputError, InputTypeError, MissingFileError
from dia_augment.score import ScoreConfig, aupr, auroc, csi_score, fpr_at_tpr, max_similarity, per_class_auroc
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


def fit(model: nn.Module | None = None, images_=None, **config) -> AnomalyDetector:
    options = {"num_views": 1, "batch_size": 4, **config}
    return AnomalyDetector.fit(Linear() if model is None else model, images(4, 1, 8) if images_ is None else images_,
                               config=ScoreConfig(**options), progress=False)


def saved_detector(tmp: Path, record_edit=None, tensors=None) -> Path:
    """Fit and save a DIAResNet detector into ``tmp/detector``, then damage its files as asked."""
    from dia_augment.models import build_model

    folder = tmp / "detector"
    model = build_model("resnet18", 1, 2)
    with torch.no_grad():
        model.shift_head.bias += 5.0
    AnomalyDetector.fit(model, images(4, 1, 8), config=ScoreConfig(num_views=1), progress=False).save_pretrained(folder)
    if record_edit is not None:
        path = folder / "config.json"
        path.write_text(json.dumps(record_edit(json.loads(path.read_text()))))
    if tensors is not None:
        path = folder / "statistics.safetensors"
        if isinstance(tensors, bytes):
            path.write_bytes(tensors)
        else:
            atomic_save_tensors(tensors, path)
    return folder


def load(tmp: Path, **damage) -> AnomalyDetector:
    return AnomalyDetector.from_pretrained(saved_detector(tmp, **damage), progress=False)


def score_config(key: str, value):
    return lambda record: {**record, "score": {**record["score"], "config": {**record["score"]["config"], key: value}}}


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
    case("model-function", lambda tmp: AnomalyDetector.fit(lambda y: y, images(4, 1, 8)), InputTypeError, "model"),
    case("config-dict", lambda tmp: AnomalyDetector.fit(Linear(), images(4, 1, 8), config={"num_views": 2}),
         InputTypeError, "ScoreConfig"),
    case("shift-kind", lambda tmp: ScoreConfig(shift="flip"), ConfigError, "ScoreConfig.shift", "flip"),
    case("num-shifts-zero", lambda tmp: AnomalyDetector.fit(Linear(), images(4, 1, 8), num_shifts=0), InputError,
         "num_shifts"),
    case("num-views-zero", lambda tmp: ScoreConfig(num_views=0), ConfigError, "ScoreConfig.num_views"),
    case("num-views-float", lambda tmp: ScoreConfig(num_views=2.0), ConfigError, "ScoreConfig.num_views", "integer"),
    case("resize-factor-zero", lambda tmp: ScoreConfig(resize_factor=0), ConfigError, "resize_factor"),
    case("resize-factor-above-one", lambda tmp: ScoreConfig(resize_factor=1.5), ConfigError, "resize_factor"),
    case("resize-factor-string", lambda tmp: ScoreConfig(resize_factor="0.54"), ConfigError, "resize_factor"),
    case("batch-size-zero", lambda tmp: ScoreConfig(batch_size=0), ConfigError, "batch_size"),
    case("seed-string", lambda tmp: ScoreConfig(seed="0"), ConfigError, "seed"),
    case("chunk-size-zero", lambda tmp: ScoreConfig(chunk_size=0), ConfigError, "chunk_size"),
    case("precision-name", lambda tmp: ScoreConfig(mixed_precision="bfloat16"), ConfigError, "mixed_precision"),
    case("method-name", lambda tmp: ScoreConfig(method="knn"), ConfigError, "method", "knn"),
    case("augmentation-name", lambda tmp: AnomalyDetector.fit(Linear(), images(4, 1, 8), augmentation="fancy"),
         InputError, "augmentation", "fancy"),
    case("fit-nan", lambda tmp: fit(images_=with_value(images(4, 1, 8), float("nan"))), InputError, "images", "NaN"),
    case("fit-range", lambda tmp: fit(images_=images(4, 1, 8) * 255), InputError, "images", "[0, 1]"),
    case("fit-3d", lambda tmp: fit(images_=images(4, 1, 8)[0]), InputError, "images", "(B, C, H, W)"),
    case("fit-list", lambda tmp: fit(images_=[images(1, 1, 8)[0]]), InputTypeError, "images", "list"),
    case("fit-not-square", lambda tmp: fit(images_=images(4, 1, 8, 6)), InputError, "8 x 6", "image_size"),
    case("fit-model-output", lambda tmp: fit(model=Bare()), InputTypeError, "projection", "shift_logits"),
    case("score-uint8", lambda tmp: fit().score(images(2, 1, 8).to(torch.uint8)), InputTypeError, "images", "uint8"),
    case("score-channels", lambda tmp: fit().score(images(2, 3, 8)), InputError, "3 channel", "1-channel"),
    case("score-size", lambda tmp: fit().score(images(2, 1, 6)), InputError, "6 x 6", "8 x 8"),
    case("runtime-not-runtime", lambda tmp: AnomalyDetector.from_pretrained(saved_detector(tmp), num_views=3),
         InputError, "runtime settings", "num_views"),
]

FILE_CASES = [
    case("load-missing-folder", lambda tmp: AnomalyDetector.from_pretrained(tmp / "nowhere"), MissingFileError,
         "nowhere", "does not exist"),
    case("load-record-format", lambda tmp: load(tmp, record_edit=lambda r: {**r, "format": "other"}), CheckpointError,
         "config.json", "format"),
    case("load-record-missing-key", lambda tmp: load(tmp, record_edit=lambda r: {k: v for k, v in r.items()
                                                                                  if k != "score"}),
         CheckpointError, "detector", "score"),
    case("load-score-config-type", lambda tmp: load(tmp, record_edit=score_config("num_views", "10")), CheckpointError,
         "config.json", "num_views"),
    case("load-score-config-unknown", lambda tmp: load(tmp, record_edit=score_config("resize", 1)), CheckpointError,
         "config.json", "resize"),
    case("load-tensors-missing-key",
         lambda tmp: load(tmp, tensors={"train_features": torch.zeros(4, 4, 4)}), CheckpointError,
         "detector", "train_shift_logits"),
    case("load-tensors-wrong-shift-count", lambda tmp: load(tmp, tensors={
        **_stats(saved_detector(tmp)), "train_features": torch.zeros(2, 4, 128), "train_shift_logits": torch.zeros(2, 4)}),
         CheckpointError, "statistics.safetensors", "K = 4"),
    case("load-tensors-corrupt", lambda tmp: load(tmp, tensors=b"not a safetensors file"), CheckpointError,
         "statistics.safetensors", "corrupt"),
]


def _stats(folder: Path) -> dict:
    from dia_augment.utils.io import load_tensors

    return load_tensors(folder / "statistics.safetensors")


@pytest.mark.parametrize("call, error, names", FUNCTION_CASES + METRIC_CASES + SCORER_CASES + FILE_CASES)
def test_scoring_rejects(call, error, names, tmp_path):
    assert_raises_naming(call, tmp_path, error, names)
