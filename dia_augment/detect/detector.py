"""``AnomalyDetector``: a trained model, its fitted statistics, preprocessing and threshold, in one folder.

Scores are **anomaly scores: higher = more anomalous** (the negative of CSI's normality
score, as the anomaly-detection libraries people know report them). An image is called
anomalous when its score is strictly above the calibrated threshold.

Folder layout (Hugging Face style, safetensors and JSON only, nothing is unpickled):

- ``config.json``: format and layout version, the model's architecture, preprocessing (input
  size, channels, views, shifts), the score method, the threshold and how it was chosen, the
  training provenance and any test metrics;
- ``model.safetensors``: the encoder's weights;
- ``statistics.safetensors``: the training statistics (view-averaged projections and shift
  logits of the normal training images) and the fixed views (crop boxes and flips);
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
from dia_augment.detect.views import TestTimeEncoder, ViewSet, draw_views
from dia_augment.errors import CheckpointError, InputError, InputTypeError, MissingFileError
from dia_augment.score.csi import check_training_statistics, resolve_score_method, score_by_method
from dia_augment.utils.checks import check_images, check_int
from dia_augment.utils.io import atomic_open, atomic_save_tensors, atomic_write_json, is_hub_id, load_tensors, read_json

__all__ = ["AnomalyDetector", "Prediction", "FORMAT", "LAYOUT_VERSION"]

FORMAT = "dia_augment.AnomalyDetector"
#: The folder layout this version writes and reads.
LAYOUT_VERSION = 1
_CONFIG, _WEIGHTS, _STATS, _CARD = "config.json", "model.safetensors", "statistics.safetensors", "README.md"
_HUB_FILES = [_CONFIG, _WEIGHTS, _STATS, _CARD]
_SCORE_METHODS = ("csi", "simclr")


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
    r"""One object, one folder: score new images with a trained model (higher = more anomalous).

    Build one with :meth:`fit` (or :func:`~dia_augment.detect.build_detector` at the end of
    training), load one with :meth:`from_pretrained`.

    Args:
        encoder: the model averaged over fixed test-time views (:class:`TestTimeEncoder`).
        views: the views of ``encoder``.
        train_features: :math:`(K, N, D)` view-averaged projections of the normal training images.
        train_shift_logits: :math:`(K, N)` view-averaged own-shift logits of the same images.
        channels: the images' channel count (1 or 3).
        method: ``"csi"`` or ``"simclr"``, the score actually used.
        method_note: why the method differs from the one asked for, if it does.
        threshold: the calibrated threshold, or ``None``.
        model_spec: the ``build_model`` arguments (needed to save).
        provenance: what made the model (data, mode, dissolver, training config, ...).
        metrics: test-set metrics to show in the model card.
        batch_size: images per forward pass.
        progress: show a progress bar while scoring.

    Shape:
        - images: :math:`(N, C, H, W)` in ``[0, 1]`` with ``C = channels``, ``(H, W) = input_size``
        - scores: :math:`(N,)`

    Examples:
        >>> from dia_augment.models import build_model
        >>> model = build_model("resnet18", in_channels=1, width=2)
        >>> g = torch.Generator().manual_seed(0)
        >>> normal, held_out = torch.rand(8, 1, 12, 12, generator=g), torch.rand(5, 1, 12, 12, generator=g)
        >>> detector = AnomalyDetector.fit(model, normal, calibration=held_out, num_views=2, image_size=8,
        ...                                method="simclr", progress=False)
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
        views: ViewSet,
        train_features: Tensor,
        train_shift_logits: Tensor,
        channels: int,
        *,
        method: str = "csi",
        method_note: str | None = None,
        threshold: Threshold | None = None,
        model_spec: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        batch_size: int = 16,
        progress: bool = True,
    ) -> None:
        if method not in _SCORE_METHODS:
            raise InputError(f"method must be one of {_SCORE_METHODS}; got {method!r}")
        if channels not in (1, 3):
            raise InputError(f"channels must be 1 or 3; got {channels!r}")
        self.encoder = encoder.eval()
        self.views = views
        self.train_features = train_features.float()
        self.train_shift_logits = train_shift_logits.float()
        self.channels = channels
        self.method = method
        self.method_note = method_note
        self.threshold = threshold
        self.model_spec = model_spec
        self.provenance = dict(provenance or {})
        self.metrics = dict(metrics or {})
        self.batch_size = check_int(batch_size, "batch_size")
        self.progress = bool(progress)

    # ------------------------------------------------------------------------------------------
    @property
    def input_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images the detector takes."""
        return self.views.input_size

    @classmethod
    def fit(
        cls,
        model: nn.Module,
        normal_train_images: Tensor,
        calibration: Tensor | tuple[Tensor, Tensor] | None = None,
        *,
        calibration_mode: str = "normal_quantile",
        target: float | None = 0.95,
        method: str = "csi",
        shift: str = "rotation",
        num_shifts: int = 4,
        num_views: int = 10,
        resize_factor: float = 0.54,
        resize_fix: bool = True,
        hflip: bool = True,
        image_size: int | None = None,
        seed: int = 0,
        batch_size: int = 16,
        provenance: dict[str, Any] | None = None,
        progress: bool = True,
    ) -> AnomalyDetector:
        """Fit the training statistics on normal images and, given a calibration set, the threshold.

        Everything the score needs from the training set is checked here, before any new image:
        all-zero projections raise; a degenerate CSI shift weight (a shift's mean training
        logit ``<= 0``) switches ``method="csi"`` to ``"simclr"`` (the policy of
        :meth:`~dia_augment.score.CSIScorer.resolve_method`), recorded in ``method_note``.

        Args:
            model: a trained model returning ``projection`` and ``shift_logits``.
            normal_train_images: :math:`(N, C, H, W)` normal training images in ``[0, 1]``.
            calibration: held-out images for the threshold: normal images only, or
                ``(images, labels)`` with label 1 = anomaly; ``None`` leaves it uncalibrated.
            calibration_mode: ``"normal_quantile"``, ``"sensitivity"`` or ``"f1"``
                (:func:`~dia_augment.detect.calibrate_threshold`).
            target: the mode's target (share of normals kept below the threshold, or sensitivity).
            method: ``"csi"`` or ``"simclr"``.
            shift: the shift the model was trained with (``"rotation"`` or ``"cutperm"``).
            num_shifts: K.
            num_views: T, fixed test-time views (:func:`~dia_augment.detect.draw_views`).
            resize_factor: the views' crop area (0.54, CSI's evaluation).
            resize_fix: fixed crop area; otherwise drawn from ``[resize_factor, 1]``.
            hflip: random flips among the views.
            image_size: the model's input side; ``None``: the images' (square) side.
            seed: the seed of the views.
            batch_size: images per forward pass.
            provenance: what made the model, recorded in the folder and the model card.
            progress: show progress bars.
        """
        if not isinstance(model, nn.Module):
            raise InputTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        if method not in _SCORE_METHODS:
            raise InputError(f"method must be one of {_SCORE_METHODS}; got {method!r}")
        check_images(normal_train_images, name="normal_train_images")
        h, w = normal_train_images.shape[-2:]
        if image_size is None and h != w:
            raise InputError(f"normal_train_images are {h} x {w}: pass image_size (the model's input side)")
        views = draw_views(num_views, (h, w), resize_factor, resize_fix, hflip, seed)
        encoder = TestTimeEncoder(model, views, image_size or h, shift, num_shifts)
        encoder.to(_model_device(model))
        detector = cls(
            encoder,
            views,
            torch.zeros(0),
            torch.zeros(0),
            normal_train_images.shape[1],
            model_spec=_model_spec(model),
            provenance={**(provenance or {}), "num_train": int(normal_train_images.shape[0])},
            batch_size=batch_size,
            progress=progress,
        )
        if calibration is not None:  # check it before the long work
            detector._check_input(calibration[0] if isinstance(calibration, tuple) else calibration, "calibration")
        features, logits = detector.features(normal_train_images)
        check_training_statistics(features, logits)
        detector.train_features, detector.train_shift_logits = features, logits
        detector.method, detector.method_note = resolve_score_method(method, logits)
        if calibration is not None:
            images, labels = calibration if isinstance(calibration, tuple) else (calibration, None)
            detector.calibrate(images, labels, mode=calibration_mode, target=target)
        return detector

    # ------------------------------------------------------------------------------------------
    def _check_input(self, images: object, name: str = "images") -> Tensor:
        check_images(images, name=name)
        c, h, w = images.shape[1:]
        if c != self.channels:
            raise InputError(
                f"{name} have {c} channel(s) but the detector was trained on {self.channels}-channel images "
                "(convert them first, e.g. dia-augment predict --convert)"
            )
        if (h, w) != self.input_size:
            raise InputError(
                f"{name} are {h} x {w} pixels but the detector takes {self.input_size[0]} x {self.input_size[1]} "
                "(resize them first, e.g. dia-augment predict --convert)"
            )
        return images

    def _batches(self, images: Tensor) -> Iterator[Tensor]:
        with tqdm(total=images.shape[0], desc="scoring", unit="img", disable=not self.progress) as bar:
            for start in range(0, images.shape[0], self.batch_size):
                batch = images[start : start + self.batch_size]
                yield batch
                bar.update(batch.shape[0])

    def features(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """The encoder's view-averaged projections :math:`(K, N, D)` and own-shift logits :math:`(K, N)`."""
        self._check_input(images)
        device = _model_device(self.encoder)
        features, logits = [], []
        with torch.no_grad():
            for batch in self._batches(images):
                z, l = self.encoder(batch.to(device))
                features.append(z.cpu())
                logits.append(l.cpu())
        return torch.cat(features, dim=1), torch.cat(logits, dim=1)

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
        features, logits = self.features(images)
        return -score_by_method(self.method, self.train_features, self.train_shift_logits, features, logits).float()

    def anomaly_map(self, images: Tensor, method: str = "smoothgrad", **options: Any) -> Tensor:
        """Per-pixel anomaly maps at the images' size: where the anomaly score comes from.

        Methods by name: ``"smoothgrad"``, ``"integrated"`` (integrated gradients from the
        dissolved image), ``"occlusion"`` (patches replaced by their dissolved version) and
        ``"residual"`` (where dissolving changes the image, times the score's gradient); see
        :func:`dia_augment.localize.anomaly_map` for ``options`` (``dissolver``, ``step``,
        ``samples``, ``noise``, ``patch``, ``stride``, ``batch_size``, ``generator``).

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
    ) -> Threshold:
        """Choose and store the threshold on held-out images (never the test set).

        Args:
            images: :math:`(N, C, H, W)` calibration images.
            labels: :math:`(N,)` 1 = anomaly, 0 = normal; ``None``: all normal.
            mode: see :func:`~dia_augment.detect.calibrate_threshold`.
            target: the mode's target.

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
        scores = self.score(images)
        self.threshold = calibrate_threshold(scores[labels == 0], scores[labels == 1], mode, target)
        return self.threshold

    def evaluate(self, images: Tensor, labels: Tensor) -> dict[str, Any]:
        """AUROC, AUPR and FPR at 95 % TPR on a labelled test set (1 = anomaly), stored for the model card."""
        from dia_augment.score.metrics import evaluate

        self.metrics = evaluate(-self.score(images), torch.as_tensor(labels))
        return self.metrics

    # ------------------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The JSON record written to ``config.json``."""
        from dia_augment import __version__

        encoder = self.encoder
        return {
            "format": FORMAT,
            "layout_version": LAYOUT_VERSION,
            "package_version": __version__,
            "model": self.model_spec,
            "preprocessing": {
                "channels": self.channels,
                "input_size": list(self.input_size),
                "image_size": encoder.output_size,
                "shift": encoder.shift,
                "num_shifts": encoder.num_shifts,
                "num_views": self.views.num_views,
            },
            "score": {"method": self.method, "note": self.method_note, "higher_is": "more anomalous"},
            "threshold": None if self.threshold is None else self.threshold.to_dict(),
            "provenance": self.provenance,
            "metrics": self.metrics,
            "batch_size": self.batch_size,
        }

    def model_card(self) -> str:
        """The ``README.md`` written beside the weights."""
        return model_card(self.config(), None if self.threshold is None else self.threshold.describe())

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write the detector into ``folder`` (every file atomically); returns the folder.

        Raises:
            InputTypeError: the model is not a :class:`~dia_augment.models.DIAResNet` (its
                architecture could not be rebuilt on load).
        """
        if self.model_spec is None:
            raise InputTypeError("only a DIAResNet detector can be saved: its architecture must be rebuilt on load")
        folder = Path(folder)
        atomic_save_tensors(self.encoder.model.state_dict(), folder / _WEIGHTS)
        atomic_save_tensors(
            {
                "train_features": self.train_features,
                "train_shift_logits": self.train_shift_logits,
                "view_boxes": self.views.boxes,
                "view_flips": self.views.flips.to(torch.uint8),
            },
            folder / _STATS,
        )
        with atomic_open(folder / _CARD) as f:
            f.write(self.model_card())
        atomic_write_json(folder / _CONFIG, self.config())  # last: a folder with a config is complete
        return folder

    @classmethod
    def from_pretrained(
        cls, name: str | os.PathLike, *, revision: str | None = None, device: str | torch.device = "cpu", progress: bool = True
    ) -> AnomalyDetector:
        """Load a detector from a folder written by :meth:`save_pretrained`, or a hub id (``org/name``).

        Args:
            name: a local folder, or a Hugging Face hub repository id.
            revision: the hub revision (branch, tag or commit).
            device: where to put the model.
            progress: show progress bars when scoring.

        Raises:
            MissingFileError: ``name`` is neither an existing folder nor a hub id.
            CheckpointError: not a detector folder, another layout version, or corrupt files;
                the message names the file and field.
        """
        folder = _resolve_folder(str(name), revision)
        record = read_json(folder / _CONFIG, "detector config")
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            hint = " (it looks like a training run: build a detector with dia_augment.detect.build_detector)" if (
                isinstance(record, dict) and "mode" in record
            ) else ""
            raise CheckpointError(f"{folder} is not an AnomalyDetector folder: {folder / _CONFIG} has no format {FORMAT!r}{hint}")
        if record.get("layout_version") != LAYOUT_VERSION:
            raise CheckpointError(
                f"{folder} was written with detector layout {record.get('layout_version')!r} by dia_augment "
                f"{record.get('package_version')}; this version reads layout {LAYOUT_VERSION}: re-save it with that version"
            )
        try:
            return cls._from_record(folder, record, torch.device(device), progress)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise CheckpointError(f"{folder / _CONFIG} has a missing or invalid field: {err!r}") from err

    @classmethod
    def _from_record(cls, folder: Path, record: dict[str, Any], device: torch.device, progress: bool) -> AnomalyDetector:
        from dia_augment.models import build_model

        spec, pre, score = record["model"], record["preprocessing"], record["score"]
        model = build_model(spec["name"], spec["in_channels"], spec["width"], spec["num_shifts"], spec["proj_dim"])
        try:
            model.load_state_dict(load_tensors(folder / _WEIGHTS, "detector weights"))
        except RuntimeError as err:
            raise CheckpointError(f"{folder / _WEIGHTS} does not fit the model in {folder / _CONFIG}: {err}") from err
        stats = load_tensors(folder / _STATS, "detector statistics")
        missing = {"train_features", "train_shift_logits", "view_boxes", "view_flips"} - set(stats)
        if missing:
            raise CheckpointError(f"{folder / _STATS} lacks {sorted(missing)}")
        views = ViewSet(stats["view_boxes"].long(), stats["view_flips"].bool(), tuple(pre["input_size"]))
        encoder = TestTimeEncoder(model, views, pre["image_size"], pre["shift"], pre["num_shifts"]).to(device)
        features, logits = stats["train_features"], stats["train_shift_logits"]
        k = pre["num_shifts"]
        if features.ndim != 3 or features.shape[0] != k or tuple(logits.shape) != tuple(features.shape[:2]):
            raise CheckpointError(f"{folder / _STATS}: train_features must be (K, N, D) and train_shift_logits (K, N), K = {k}")
        return cls(
            encoder,
            views,
            features,
            logits,
            pre["channels"],
            method=score["method"],
            method_note=score.get("note"),
            threshold=None if record["threshold"] is None else Threshold.from_dict(record["threshold"]),
            model_spec=spec,
            provenance=record.get("provenance"),
            metrics=record.get("metrics"),
            batch_size=record.get("batch_size", 16),
            progress=progress,
        )

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
