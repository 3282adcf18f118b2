"""``AnomalyDetector``: the one scorer of the package: a trained model, its statistics, views and threshold.

Every command scores through it: ``dia-augment score`` (the test split of a data set),
``dia-augment predict`` (new files), the anomaly maps, the ONNX export and the example.
Scores are **anomaly scores: higher = more anomalous** (the negative of CSI's normality score);
an image is called anomalous when its score is strictly above the calibrated threshold.

The score is CSI's over ``T`` fixed test-time views (:mod:`dia_augment.score.views`: CSI's
evaluation protocol, the paper's crop area 0.54 with flips, shifts, the training's colour jitter
and grayscale, drawn once from a seed), so an image's score depends only on the image.

Folder layout (Hugging Face style, safetensors and JSON only, nothing is unpickled):

- ``config.json``: format and layout version, the model's architecture, preprocessing (input
  size, channels, shifts, the augmentation the views follow), the score and its settings
  (:class:`~dia_augment.score.ScoreConfig`), the threshold and how it was chosen, the training
  provenance and any test metrics;
- ``model.safetensors``: the encoder's weights;
- ``statistics.safetensors``: the training statistics (view-averaged projections and shift
  logits of the normal training images) and the fixed views;
- ``README.md``: the model card.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from dia_augment.detect.calibration import Threshold, calibrate_threshold
from dia_augment.detect.card import model_card
from dia_augment.detect.groups import DEFAULT_AGGREGATION, DEFAULT_GROUP_K, GroupCalibration, aggregation_name, calibrate_groups
from dia_augment.errors import CheckpointError, InputError, InputTypeError, MissingFileError
from dia_augment.score.config import ScoreConfig
from dia_augment.score.csi import check_training_statistics, resolve_score_method, score_by_method
from dia_augment.score.encoder import TestTimeEncoder
from dia_augment.score.views import ViewSet, draw_views
from dia_augment.utils.checks import check_images
from dia_augment.utils.distributed import all_gather_no_grad, gather_rows, rank, row_shares, world_size
from dia_augment.utils.io import (atomic_open, atomic_save_tensors, atomic_write_json, check_format, is_hub_id,
                                  load_tensors, read_json)
from dia_augment.utils.precision import autocast_context, autocast_dtype

__all__ = ["AnomalyDetector", "Prediction", "FORMAT", "LAYOUT_VERSION"]

FORMAT = "dia_augment.AnomalyDetector"
#: The folder layout this version writes and reads (2: views with colour, crop boxes per view and shift).
LAYOUT_VERSION = 2
_CONFIG, _WEIGHTS, _STATS, _CARD = "config.json", "model.safetensors", "statistics.safetensors", "README.md"
_HUB_FILES = [_CONFIG, _WEIGHTS, _STATS, _CARD]


class Prediction(NamedTuple):
    """Anomaly scores (higher = more anomalous) and the calls ``score > threshold``."""

    scores: Tensor
    is_anomaly: Tensor
    threshold: float


def _model_spec(model: nn.Module) -> dict[str, Any] | None:
    """The ``build_model`` arguments of a :class:`~dia_augment.models.DIAResNet` (``None`` for other models)."""
    from dia_augment.models.dia_resnet import MODEL_NAMES, DIAResNet

    if not isinstance(model, DIAResNet):
        return None
    name = {stem: name for name, stem in MODEL_NAMES.items()}[model.backbone.stem]
    return {
        "name": name,
        "in_channels": model.in_channels,
        "width": model.backbone.width,
        "num_shifts": model.num_shifts,
        "proj_dim": model.projection[-1].out_features,
    }


def _model_device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters()), torch.empty(0)).device


class AnomalyDetector:
    r"""The one scorer: score images with a trained model (higher = more anomalous), in one object and one folder.

    Build one with :meth:`fit` (or :func:`~dia_augment.detect.build_detector` at the end of
    training), load one with :meth:`from_pretrained`.

    Args:
        encoder: the model averaged over fixed test-time views (:class:`~dia_augment.score.TestTimeEncoder`).
        train_features: :math:`(K, N, D)` view-averaged projections of the normal training images.
        train_shift_logits: :math:`(K, N)` view-averaged own-shift logits of the same images.
        config: the score's settings (views, method, fallback, precision).
        method: the score actually used (``"csi"``, ``"simclr"`` or ``"shift"``).
        method_note: why the method or its weights differ from the ones asked for, if they do.
        threshold: the calibrated threshold, or ``None``.
        group_calibration: the thresholds of group scores (a patient's, a volume's), calibrated on the
            calibration hold-out's groups (:mod:`dia_augment.detect.groups`), or ``None``.
        model_spec: the ``build_model`` arguments (needed to save).
        provenance: what made the model (data, mode, dissolver, training config, ...).
        metrics: test-set metrics to show in the model card.
        progress: show a progress bar while scoring.

    Shape:
        - images: :math:`(N, C, H, W)` in ``[0, 1]`` with ``C = channels``, ``(H, W) = input_size``
        - scores: :math:`(N,)`

    Examples:
        >>> from dia_augment.models import build_model
        >>> model = build_model("resnet18", in_channels=1, width=2)
        >>> g = torch.Generator().manual_seed(0)
        >>> normal, held_out = torch.rand(8, 1, 12, 12, generator=g), torch.rand(5, 1, 12, 12, generator=g)
        >>> detector = AnomalyDetector.fit(model, normal, calibration=held_out, config=ScoreConfig(num_views=2),
        ...                                image_size=8, progress=False)
        >>> result = detector.predict(held_out)
        >>> int(result.is_anomaly.sum())   # target 0.95 of 5 normals: the largest score is the threshold
        0
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = detector.save_pretrained(folder)
        >>> torch.equal(AnomalyDetector.from_pretrained(folder, progress=False).score(held_out), result.scores)
        True
    """

    def __init__(
        self,
        encoder: TestTimeEncoder,
        train_features: Tensor,
        train_shift_logits: Tensor,
        config: ScoreConfig | None = None,
        *,
        method: str = "csi",
        method_note: str | None = None,
        threshold: Threshold | None = None,
        group_calibration: GroupCalibration | None = None,
        model_spec: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        progress: bool = True,
    ) -> None:
        if not isinstance(encoder, TestTimeEncoder):
            raise InputTypeError(f"encoder must be a TestTimeEncoder; got {type(encoder).__name__}")
        self.encoder = encoder.eval()
        self.config = config if config is not None else ScoreConfig()
        if not isinstance(self.config, ScoreConfig):
            raise InputTypeError(f"config must be a ScoreConfig; got {type(self.config).__name__}")
        self.train_features = train_features.float()
        self.train_shift_logits = train_shift_logits.float()
        self.method = method
        self.method_note = method_note
        self.threshold = threshold
        self.group_calibration = group_calibration
        self.model_spec = model_spec
        self.provenance = dict(provenance or {})
        self.metrics = dict(metrics or {})
        self.progress = bool(progress)
        self._forward = None

    # ------------------------------------------------------------------------------------------
    @property
    def views(self) -> ViewSet:
        """The fixed test-time views."""
        return self.encoder.views

    @property
    def channels(self) -> int:
        """The channel count of the images the detector takes."""
        return self.encoder.views.channels

    @property
    def input_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images the detector takes."""
        return self.encoder.input_size

    @classmethod
    def fit(
        cls,
        model: nn.Module,
        normal_train_images: Tensor,
        calibration: Tensor | tuple[Tensor, Tensor] | None = None,
        config: ScoreConfig | None = None,
        *,
        shift: str = "rotation",
        num_shifts: int = 4,
        augmentation: str = "library",
        image_size: int | None = None,
        mode: str | None = None,
        calibration_mode: str = "normal_quantile",
        target: float | None = 0.95,
        calibration_groups: list[str] | None = None,
        group_level: str = "group",
        group_k: int = DEFAULT_GROUP_K,
        provenance: dict[str, Any] | None = None,
        progress: bool = True,
    ) -> AnomalyDetector:
        """Fit the training statistics on normal images and, given a calibration set, the threshold.

        Everything the score needs from the training set is checked here, before any new image:
        all-zero projections raise; a degenerate CSI shift weight (a shift's mean training
        logit ``<= 0``) switches ``"csi"`` to ``"simclr"`` unless ``config.fallback`` is off
        (:func:`~dia_augment.score.resolve_score_method`), recorded in ``method_note``.

        Args:
            model: a trained model returning ``projection`` and ``shift_logits``.
            normal_train_images: :math:`(N, C, H, W)` the images the model was trained on, in ``[0, 1]``.
            calibration: held-out images for the threshold: normal images only, or
                ``(images, labels)`` with label 1 = anomaly; ``None`` leaves it uncalibrated.
            config: the score's settings; ``None``: :class:`~dia_augment.score.ScoreConfig` defaults.
            shift: the shift the model was trained with (the views use ``config.shift`` when set).
            num_shifts: K.
            augmentation: the training augmentation the views follow (``"library"`` or ``"reference"``).
            image_size: the model's input side; ``None``: the images' (square) side.
            mode: the training mode (a ``simclr`` model is scored with the SimCLR score by default).
            calibration_mode: ``"normal_quantile"``, ``"sensitivity"`` or ``"f1"``
                (:func:`~dia_augment.detect.calibrate_threshold`).
            target: the mode's target (share of normals kept below the threshold, or sensitivity).
            calibration_groups: the group of each calibration image (whole groups held out): the
                group scores' thresholds are calibrated too (see :meth:`calibrate`).
            group_level: what a group is (``"PatientID"``, ``"volume"``, ``"group"``).
            group_k: the ``k`` of the top-k mean group score.
            provenance: what made the model, recorded in the folder and the model card.
            progress: show progress bars.
        """
        if not isinstance(model, nn.Module):
            raise InputTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        config = config if config is not None else ScoreConfig()
        if not isinstance(config, ScoreConfig):
            raise InputTypeError(f"config must be a ScoreConfig; got {type(config).__name__}")
        check_images(normal_train_images, name="normal_train_images")
        c, h, w = normal_train_images.shape[1:]
        if image_size is None and h != w:
            raise InputError(f"normal_train_images are {h} x {w}: pass image_size (the model's input side)")
        views = draw_views(config.num_views, (h, w), c, num_shifts, augmentation, config.resize_factor,
                           config.resize_fix, config.hflip, config.colour, config.seed)
        encoder = TestTimeEncoder(model, views, image_size or h, config.shift or shift).to(_model_device(model))
        detector = cls(encoder, torch.zeros(0), torch.zeros(0), config, model_spec=_model_spec(model),
                       provenance={**(provenance or {}), "num_train": int(normal_train_images.shape[0])},
                       progress=progress)
        if calibration is not None:  # check it before the long work
            detector._check_input(calibration[0] if isinstance(calibration, tuple) else calibration, "calibration")
        features, logits = detector.features(normal_train_images)
        check_training_statistics(features, logits)
        detector.train_features, detector.train_shift_logits = features, logits
        detector.method, detector.method_note = resolve_score_method(config.method_for(mode), logits, config.fallback)
        if calibration is not None:
            images, labels = calibration if isinstance(calibration, tuple) else (calibration, None)
            detector.calibrate(images, labels, mode=calibration_mode, target=target, groups=calibration_groups,
                               group_level=group_level, group_k=group_k)
        return detector

    # ------------------------------------------------------------------------------------------
    def _check_input(self, images: object, name: str = "images") -> Tensor:
        return self.encoder.check_input(images, name)

    def _batches(self, images: Tensor, first: int, last: int) -> Iterator[Tensor]:
        size = self.config.batch_size
        show = self.progress and rank() == 0
        with tqdm(total=min(images.shape[0], last * size) - first * size, desc="scoring", unit="img",
                  disable=not show) as bar:
            for start in range(first * size, min(images.shape[0], last * size), size):
                batch = images[start : start + size]
                yield batch
                bar.update(batch.shape[0])

    def _model_forward(self, rows: Tensor) -> Any:
        """The model on the rows, under the configured precision, layout and compilation."""
        if self._forward is None:
            model = self.encoder.model
            self._forward = torch.compile(model) if self.config.compile else model
        if self.config.channels_last:
            rows = rows.contiguous(memory_format=torch.channels_last)
        with autocast_context(autocast_dtype(self.config.mixed_precision, "ScoreConfig.mixed_precision", rows.device),
                              rows.device):
            return self._forward(rows)

    def features(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """The view-averaged projections :math:`(K, N, D)` and own-shift logits :math:`(K, N)`, float32 on CPU.

        On several processes (``torch.distributed`` initialised, e.g. under ``accelerate launch``),
        each runs the model on its share of the batches and every process returns the features of
        all the images (the same values as one process: the views are fixed).
        """
        self._check_input(images)
        device = _model_device(self.encoder)
        n, size = images.shape[0], self.config.batch_size
        shares = row_shares(-(-n // size), world_size())
        first, last = shares[rank()]
        features, logits = [], []
        with torch.no_grad():
            for batch in self._batches(images, first, last):
                z, l = self.encoder(batch.to(device), forward=self._model_forward)
                features.append(z)
                logits.append(l)
        if len(shares) == 1:
            return torch.cat(features, dim=1).cpu(), torch.cat(logits, dim=1).cpu()
        # (rows, K, D + 1): the projections and the logit of each image side by side, one gather
        local = [torch.cat([z.transpose(0, 1), l.transpose(0, 1).unsqueeze(-1)], dim=-1) for z, l in zip(features, logits)]
        width = int(all_gather_no_grad(torch.tensor([local[0].shape[-1] if local else 0], device=device)).max())
        rows = torch.cat(local) if local else torch.zeros(0, self.encoder.num_shifts, width, device=device)
        stats = gather_rows(rows, [min(n, b * size) - min(n, a * size) for a, b in shares]).cpu()
        return stats[..., :-1].transpose(0, 1).contiguous(), stats[..., -1].transpose(0, 1).contiguous()

    def score_features(self, features: Tensor, shift_logits: Tensor) -> Tensor:
        """Anomaly scores of pre-computed features (:meth:`features`), higher = more anomalous.

        Differentiable in the features (the anomaly maps take gradients through it).
        """
        return score_by_method(self.method, self.train_features.to(features.device),
                               self.train_shift_logits.to(features.device), features, shift_logits,
                               self.config.chunk_size, strict=self.config.fallback).float()

    def score(self, images: Tensor) -> Tensor:
        """Anomaly scores, **higher = more anomalous** (minus CSI's normality score).

        An image's score depends only on the image (fixed views), not on the batch it came in.

        Args:
            images: :math:`(N, C, H, W)` in ``[0, 1]`` of the detector's channels and size.

        Returns:
            :math:`(N,)` float32 scores on CPU.

        Raises:
            InputError: images of another size or channel count, values outside ``[0, 1]``, NaN.
        """
        return self.score_features(*self.features(images))

    def anomaly_map(self, images: Tensor, method: str = "smoothgrad", **options: Any) -> Tensor:
        """Per-pixel anomaly maps at the images' size: where the anomaly score comes from.

        Methods by name: ``"smoothgrad"``, ``"integrated"`` (integrated gradients from the
        dissolved image), ``"occlusion"`` (patches replaced by their dissolved version) and
        ``"residual"`` (where dissolving changes the image, times the score's gradient); see
        :func:`dia_augment.localize.anomaly_map` for ``options``.

        Shape:
            - images: :math:`(N, C, H, W)`
            - output: :math:`(N, H, W)`, higher = more responsible for a high anomaly score
        """
        from dia_augment.localize import anomaly_map

        return anomaly_map(self, images, method, **options)

    def predict(self, images: Tensor) -> Prediction:
        """Scores (higher = more anomalous) and the calls ``score > threshold``.

        Raises:
            InputError: the detector is not calibrated (see :meth:`calibrate`), or bad images.
        """
        threshold = self.calibrated_threshold()
        scores = self.score(images)
        return Prediction(scores, scores > threshold.value, threshold.value)

    def calibrated_threshold(self) -> Threshold:
        """The stored threshold; raises :class:`~dia_augment.errors.InputError` when there is none."""
        if self.threshold is None:
            raise InputError(
                "the detector has no threshold: calibrate it on held-out normal images first "
                "(detector.calibrate(images) or AnomalyDetector.fit(..., calibration=images))"
            )
        return self.threshold

    def calibrate(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        *,
        mode: str = "normal_quantile",
        target: float | None = 0.95,
        groups: list[str] | None = None,
        group_level: str = "group",
        group_k: int = DEFAULT_GROUP_K,
    ) -> Threshold:
        """Choose and store the threshold on held-out images (never the test set).

        With ``groups`` (whole groups: a hold-out drawn by patient or volume), the thresholds of the
        group scores are calibrated too, on the normal images' groups, keeping ``target`` of them
        below each (0.95 for the modes whose target is a sensitivity), and stored in
        ``group_calibration`` (:func:`~dia_augment.detect.groups.calibrate_groups`).

        Args:
            images: :math:`(N, C, H, W)` calibration images.
            labels: :math:`(N,)` 1 = anomaly, 0 = normal; ``None``: all normal.
            mode: see :func:`~dia_augment.detect.calibrate_threshold`.
            target: the mode's target.
            groups: the group of each image, or ``None``.
            group_level: what a group is (``"PatientID"``, ``"volume"``, ``"group"``).
            group_k: the ``k`` of the top-k mean group score.

        Returns:
            The stored :class:`~dia_augment.detect.Threshold`, with its false-alarm rate.
        """
        self._check_input(images, "calibration images")
        if labels is None:
            labels = torch.zeros(images.shape[0], dtype=torch.long)
        labels = torch.as_tensor(labels).flatten()
        if labels.shape[0] != images.shape[0] or not bool(((labels == 0) | (labels == 1)).all()):
            raise InputError(f"calibration labels must be {images.shape[0]} values of 0 (normal) or 1 (anomaly)")
        # checked before scoring: modes that need anomalies refuse a set without any
        calibrate_threshold([0.0], [0.0] if bool(labels.eq(1).any()) else None, mode, target)
        if groups is not None and (isinstance(groups, str) or len(groups) != images.shape[0]):
            raise InputError(f"calibration groups must hold one group per image ({images.shape[0]})")
        scores = self.score(images)
        normal_groups = None if groups is None else [g for g, keep in zip(groups, (labels == 0).tolist()) if keep]
        self.threshold = calibrate_threshold(scores[labels == 0], scores[labels == 1], mode, target, normal_groups)
        if normal_groups is not None:
            self.group_calibration = calibrate_groups(
                scores[labels == 0], normal_groups, group_level, group_k,
                target if mode == "normal_quantile" and target is not None else 0.95)
        return self.threshold

    def evaluate(self, images: Tensor, labels: Tensor) -> dict[str, Any]:
        """Metrics on a labelled test set (1 = anomaly; anomalies positive), stored for the model card.

        Besides :func:`~dia_augment.score.evaluate`'s metrics, a calibrated detector records its own
        threshold's false-alarm rate and sensitivity on these images.
        """
        scores = self.score(images)
        self.metrics = self.test_metrics(scores, torch.as_tensor(labels))
        return self.metrics

    def test_metrics(self, scores: Tensor, labels: Tensor, classes: Tensor | None = None,
                     class_names: list[str] | None = None) -> dict[str, Any]:
        """:func:`~dia_augment.score.evaluate` of ``scores`` plus the stored threshold's operating point on them."""
        from dia_augment.score.metrics import evaluate

        metrics = evaluate(scores, labels, classes, class_names)
        if self.threshold is not None:
            flagged = scores > self.threshold.value
            normal, anomalous = labels == 0, labels == 1
            metrics["threshold"] = self.threshold.value
            metrics["threshold_false_alarm_rate"] = float(flagged[normal].float().mean())
            metrics["threshold_sensitivity"] = float(flagged[anomalous].float().mean())
            metrics["threshold_specificity"] = 1.0 - metrics["threshold_false_alarm_rate"]
        return metrics

    def group_metrics(self, scores: Tensor, labels: Tensor, groups: list[str], level: str,
                      aggregation: str | None = None, k: int | None = None) -> dict[str, Any]:
        """Metrics per group (patient, volume) of a labelled test split: a group is anomalous when any image of it is.

        A group's score aggregates its images' scores (:mod:`dia_augment.detect.groups`; by default
        as the detector's group thresholds were calibrated, else the top-3 mean); the AUROC and the
        other metrics of :func:`~dia_augment.score.evaluate` are computed over the groups, and, when
        the detector holds a threshold for that level and aggregation, its false-alarm rate and
        sensitivity on the groups.

        Args:
            scores: :math:`(N,)` anomaly scores of the test images.
            labels: :math:`(N,)` 1 = anomaly.
            groups: the group of each image.
            level: what a group is (``"PatientID"``, ``"volume"``, ``"group"``).
            aggregation: ``"max"``, ``"mean"`` or ``"topk"``; ``None``: ``"topk"``.
            k: the top-k mean's ``k``; ``None``: the calibration's (else 3).

        Returns:
            ``level``, ``aggregation`` (its column name, e.g. ``"top3_mean"``), ``num_groups``,
            ``num_normal_groups``, ``num_anomalous_groups`` and, when both kinds of groups occur, the
            metrics; with a calibrated threshold, ``threshold``, ``threshold_false_alarm_rate`` and
            ``threshold_sensitivity``.
        """
        from dia_augment.detect.groups import group_scores
        from dia_augment.score.metrics import evaluate

        labels = torch.as_tensor(labels).flatten()
        aggregation = aggregation or DEFAULT_AGGREGATION
        k = k or (self.group_calibration.k if self.group_calibration is not None else DEFAULT_GROUP_K)
        name = aggregation_name(aggregation, k)
        per_group = group_scores(scores, groups, k)
        anomalous: dict[str, int] = {}
        for group, label in zip(groups, labels.tolist()):
            anomalous[str(group)] = max(anomalous.get(str(group), 0), int(label))
        values = torch.tensor([g[name] for g in per_group.values()], dtype=torch.float64)
        group_labels = torch.tensor([anomalous[g] for g in per_group], dtype=torch.long)
        out: dict[str, Any] = {"level": level, "aggregation": name, "num_groups": len(per_group),
                               "num_normal_groups": int((group_labels == 0).sum()),
                               "num_anomalous_groups": int((group_labels == 1).sum()),
                               "label": "a group is anomalous when any of its images is"}
        if 0 < out["num_anomalous_groups"] < len(per_group):
            out.update({key: value for key, value in evaluate(values, group_labels).items()
                        if key not in ("num_normal", "num_anomaly")})
        threshold = None if self.group_calibration is None else self.group_calibration.threshold(level, aggregation, k)
        if threshold is not None:
            flagged = values > threshold.value
            out["threshold"] = threshold.value
            if out["num_normal_groups"]:
                out["threshold_false_alarm_rate"] = float(flagged[group_labels == 0].float().mean())
            if out["num_anomalous_groups"]:
                out["threshold_sensitivity"] = float(flagged[group_labels == 1].float().mean())
        return out

    # ------------------------------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        """The JSON record written to ``config.json``."""
        from dia_augment._version import __version__

        views = self.views
        return {
            "format": FORMAT,
            "layout_version": LAYOUT_VERSION,
            "package_version": __version__,
            "model": self.model_spec,
            "preprocessing": {
                "channels": self.channels,
                "input_size": list(self.input_size),
                "image_size": self.encoder.output_size,
                "shift": self.encoder.shift,
                "num_shifts": views.num_shifts,
                "num_views": views.num_views,
                "augmentation": views.augmentation,
            },
            "score": {"method": self.method, "note": self.method_note, "higher_is": "more anomalous",
                      "config": self.config.to_dict()},
            "threshold": None if self.threshold is None else self.threshold.to_dict(),
            "group_calibration": None if self.group_calibration is None else self.group_calibration.to_dict(),
            "provenance": self.provenance,
            "metrics": self.metrics,
        }

    def model_card(self) -> str:
        """The ``README.md`` written beside the weights."""
        return model_card(self.record(), None if self.threshold is None else self.threshold.describe(),
                          None if self.group_calibration is None else self.group_calibration.describe())

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write the detector into ``folder`` (every file atomically; ``config.json`` last); returns the folder.

        Raises:
            InputTypeError: the model is not a :class:`~dia_augment.models.DIAResNet` (its
                architecture could not be rebuilt on load).
        """
        if self.model_spec is None:
            raise InputTypeError("only a DIAResNet detector can be saved: its architecture must be rebuilt on load")
        folder = Path(folder)
        atomic_save_tensors(self.encoder.model.state_dict(), folder / _WEIGHTS)
        atomic_save_tensors({"train_features": self.train_features, "train_shift_logits": self.train_shift_logits,
                             **self.views.tensors()}, folder / _STATS)
        with atomic_open(folder / _CARD) as f:
            f.write(self.model_card())
        atomic_write_json(folder / _CONFIG, self.record())  # last: a folder with a config is complete
        return folder

    @classmethod
    def from_pretrained(
        cls, name: str | os.PathLike, *, revision: str | None = None, device: str | torch.device = "cpu",
        progress: bool = True, **runtime: Any,
    ) -> AnomalyDetector:
        """Load a detector from a folder written by :meth:`save_pretrained`, or a hub id (``org/name``).

        Args:
            name: a local folder, or a Hugging Face hub repository id.
            revision: the hub revision (branch, tag or commit).
            device: where to put the model.
            progress: show progress bars when scoring.
            **runtime: :class:`~dia_augment.score.ScoreConfig` fields that change only how fast the
                score runs (``batch_size``, ``chunk_size``, ``mixed_precision``, ``channels_last``, ``compile``).

        Raises:
            MissingFileError: ``name`` is neither an existing folder nor a hub id.
            CheckpointError: not a detector folder, another layout version, or corrupt files;
                the message names the file and field.
        """
        unknown = sorted(set(runtime) - set(ScoreConfig.RUNTIME))
        if unknown:
            raise InputError(f"from_pretrained takes the runtime settings {ScoreConfig.RUNTIME} only; got {unknown}")
        folder = _resolve_folder(str(name), revision)
        record = read_json(folder / _CONFIG, "detector config")
        hint = " (it looks like a training run: build a detector with dia_augment.detect.build_detector)" if (
            isinstance(record, dict) and "mode" in record) else ""
        check_format(record, str(folder / _CONFIG), "AnomalyDetector folder", FORMAT, LAYOUT_VERSION, "layout_version",
                     fix="build it again (dia-augment score --checkpoint RUN --save-detector, or build_detector)",
                     hint=hint)
        try:
            return cls._from_record(folder, record, torch.device(device), progress, runtime)
        except KeyError as err:
            raise CheckpointError(f"{folder / _CONFIG} lacks the field {err}") from err
        except (TypeError, ValueError, IndexError) as err:
            raise CheckpointError(f"{folder / _CONFIG} has an invalid field: {err!r}") from err

    @classmethod
    def _from_record(cls, folder: Path, record: dict[str, Any], device: torch.device, progress: bool,
                     runtime: dict[str, Any]) -> AnomalyDetector:
        from dia_augment.models import build_model

        spec, pre, score = record["model"], record["preprocessing"], record["score"]
        model = build_model(spec["name"], spec["in_channels"], spec["width"], spec["num_shifts"], spec["proj_dim"])
        try:
            model.load_state_dict(load_tensors(folder / _WEIGHTS, "detector weights"))
        except RuntimeError as err:
            raise CheckpointError(f"{folder / _WEIGHTS} does not fit the model in {folder / _CONFIG}: {err}") from err
        stats = load_tensors(folder / _STATS, "detector statistics")
        missing = sorted({"train_features", "train_shift_logits", *ViewSet.TENSORS} - set(stats))
        if missing:
            raise CheckpointError(f"{folder / _STATS} lacks the tensors {missing}")
        views = ViewSet.from_tensors(stats, tuple(pre["input_size"]), pre["channels"], pre["augmentation"])
        config = ScoreConfig.from_dict({**score["config"], **runtime}, str(folder / _CONFIG))
        encoder = TestTimeEncoder(model, views, pre["image_size"], pre["shift"]).to(device)
        features, logits = stats["train_features"], stats["train_shift_logits"]
        k = views.num_shifts
        if features.ndim != 3 or features.shape[0] != k or tuple(logits.shape) != tuple(features.shape[:2]):
            raise CheckpointError(f"{folder / _STATS}: train_features must be (K, N, D) and train_shift_logits (K, N), K = {k}")
        return cls(encoder, features, logits, config, method=score["method"], method_note=score.get("note"),
                   threshold=None if record["threshold"] is None else Threshold.from_dict(record["threshold"]),
                   group_calibration=None if record.get("group_calibration") is None
                   else GroupCalibration.from_dict(record["group_calibration"]),
                   model_spec=spec, provenance=record.get("provenance"), metrics=record.get("metrics"),
                   progress=progress)

    def push_to_hub(self, repo_id: str, *, token: str | None = None, private: bool = True, commit_message: str | None = None) -> str:
        """Upload the saved folder to the Hugging Face hub (via ``huggingface_hub``); returns the commit URL."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder)
            info = api.upload_folder(
                repo_id=repo_id, folder_path=folder, commit_message=commit_message or "Upload dia_augment AnomalyDetector"
            )
        return str(info)

    def __repr__(self) -> str:
        threshold = "uncalibrated" if self.threshold is None else f"threshold={self.threshold.value:.4g}"
        return (
            f"{type(self).__name__}(channels={self.channels}, input_size={self.input_size}, views={self.views.num_views}, "
            f"method={self.method!r}, N={self.train_features.shape[1] if self.train_features.ndim == 3 else 0}, {threshold})"
        )

def _resolve_folder(name: str, revision: str | None) -> Path:
    path = Path(name)
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{path} is a file; a detector is a folder (written by save_pretrained)")
    if not is_hub_id(name):
        raise MissingFileError(f"detector folder {name} does not exist (and it is not a hub id of the form org/name)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, revision=revision, allow_patterns=_HUB_FILES))
    except Exception as err:  # network, missing repo, authentication: one message naming the id
        raise CheckpointError(
            f"detector {name!r} is not a local folder and could not be fetched from the Hugging Face hub: {err}"
        ) from err
