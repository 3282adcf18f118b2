"""Export a detector as one ONNX file that maps images to anomaly scores and calls.

``export_onnx(detector, folder)`` writes:

- ``detector.onnx``: input ``images`` :math:`(B, C, H, W)` float32 in ``[0, 1]`` (any batch
  size) -> ``scores`` :math:`(B,)` (anomaly scores, higher = more anomalous) and, for a calibrated
  detector, ``is_anomaly`` :math:`(B,)` (bool, ``scores > threshold``). The fixed test-time views
  and shifts, the model, the training statistics (the normalised training projections and the
  CSI weights, as graph constants) and the threshold are all inside the graph
  (:class:`ScoringGraph`), so a service needs only onnxruntime;
- ``export.json``: the preprocessing a service must apply to a file to get ``images`` (window
  and its HU values, NIfTI slice axis and range, size, channels, value range, layout:
  :func:`~dia_augment.detect.reading.describe_reading`), the score, the threshold(s) and the
  outputs.

The score is the detector's (:meth:`~dia_augment.detect.AnomalyDetector.score_features`) written
as whole-tensor operations: the CSI score
``-mean_k [w_sim_k max_m <z_k(x), a_k,m> + w_shi_k l_k(x)]``, the SimCLR score
``-max_m cos(z_0(x), a_0,m)`` or the shift score ``-mean_k w_shi_k l_k(x)``, in float32 (a test
checks the ONNX scores against ``detector.score`` to 1e-4). :func:`~dia_augment.detect.anomaly_score_numpy`
remains for scoring features in NumPy.

Why ONNX through ``torch.onnx.export(..., dynamo=True)``: it is the exporter PyTorch maintains
(the TorchScript-based one refuses ``rot90``, the rotation shift); ``torch.export`` programs
load only in PyTorch and TorchScript is deprecated. Needs the ``export`` extra
(``pip install dia_augment[export]``: onnx, onnxscript, onnxruntime for the check).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dia_augment.detect.detector import AnomalyDetector
from dia_augment.detect.reading import describe_reading
from dia_augment.errors import ConfigError, InputError, InputTypeError
from dia_augment.score.csi import SCORE_METHODS, csi_weights
from dia_augment.utils.io import atomic_open, atomic_write_json

__all__ = ["EXPORT_FORMATS", "ScoringGraph", "export_onnx"]

EXPORT_FORMATS = ("onnx",)
ONNX_FILE, INFO_FILE = "detector.onnx", "export.json"
# The exporter's logger that says, for every torchvision operator it knows, that torchvision is not installed.
_REGISTRATION_LOGGER = "torch.onnx._internal.exporter._registration"


class ScoringGraph(nn.Module):
    """A detector as one module: images -> anomaly scores (and the calls at its threshold), statistics inside.

    Args:
        detector: a fitted detector (its encoder, training statistics, method and threshold are used).

    Shape:
        - input: :math:`(B, C, H, W)` in ``[0, 1]``
        - output: ``scores`` :math:`(B,)` float32, and ``is_anomaly`` :math:`(B,)` bool when calibrated

    Examples:
        >>> from dia_augment.models import build_model
        >>> from dia_augment.score import ScoreConfig
        >>> g = torch.Generator().manual_seed(0)
        >>> model = build_model("resnet18", 1, width=2)
        >>> _ = model.shift_head.bias.data.fill_(3.0)   # positive mean shift logits: the CSI score is defined
        >>> det = AnomalyDetector.fit(model, torch.rand(6, 1, 8, 8, generator=g), torch.rand(4, 1, 8, 8, generator=g),
        ...                           ScoreConfig(num_views=2, mixed_precision="no"), progress=False)
        >>> x = torch.rand(3, 1, 8, 8, generator=g)
        >>> scores, calls = ScoringGraph(det).eval()(x)
        >>> torch.allclose(scores, det.score(x), atol=1e-5), torch.equal(calls, scores > det.threshold.value)
        (True, True)
    """

    def __init__(self, detector: AnomalyDetector) -> None:
        super().__init__()
        if not isinstance(detector, AnomalyDetector):
            raise InputTypeError(f"detector must be an AnomalyDetector; got {type(detector).__name__}")
        if detector.method not in SCORE_METHODS:
            raise InputError(f"cannot export the score method {detector.method!r}; known: {SCORE_METHODS}")
        self.encoder = detector.encoder
        self.method = detector.method
        features = detector.train_features.float()
        axes = features / features.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        if self.method == "simclr":
            w_sim = w_shi = torch.zeros(features.shape[0])
        else:
            w_sim, w_shi = csi_weights(features, detector.train_shift_logits.float(), detector.config.fallback)
        self.register_buffer("axes", axes.contiguous())
        self.register_buffer("w_sim", w_sim.float())
        self.register_buffer("w_shi", w_shi.float())
        threshold = detector.threshold
        self.calibrated = threshold is not None
        self.register_buffer("threshold", torch.tensor(threshold.value if threshold is not None else 0.0,
                                                       dtype=torch.float32))

    def forward(self, images: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        z, logits = self.encoder(images)  # (K, B, D), (K, B)
        if self.method == "simclr":
            unit = z[0] / z[0].norm(dim=-1, keepdim=True).clamp(min=1e-12)
            scores = -(unit @ self.axes[0].T).amax(dim=1)
        elif self.method == "shift":
            scores = -(self.w_shi[:, None] * logits).mean(dim=0)
        else:
            similarity = torch.einsum("kbd,knd->kbn", z, self.axes).amax(dim=2)
            scores = -(self.w_sim[:, None] * similarity + self.w_shi[:, None] * logits).mean(dim=0)
        if not self.calibrated:
            return scores
        return scores, scores > self.threshold


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence, for the export only, the exporter's "torchvision is not installed" log lines and pytree's deprecation."""
    logger = logging.getLogger(_REGISTRATION_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning)
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")
            yield
    finally:
        logger.setLevel(level)


def export_onnx(detector: AnomalyDetector, folder: str | os.PathLike, opset: int = 18) -> Path:
    """Write the detector as one ONNX file (images -> scores, calls) and ``export.json`` into ``folder``.

    Args:
        detector: a fitted detector.
        folder: the output folder (created).
        opset: the ONNX opset.

    Returns:
        The path of ``detector.onnx``.

    Raises:
        ConfigError: the ``export`` extra is not installed.
    """
    if not isinstance(detector, AnomalyDetector):
        raise InputTypeError(f"detector must be an AnomalyDetector; got {type(detector).__name__}")
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as err:
        raise ConfigError("ONNX export needs the export extra: pip install 'dia_augment[export]'") from err
    folder = Path(folder)
    detector.encoder.cpu().eval()
    graph = ScoringGraph(detector).eval()
    c, (h, w) = detector.channels, detector.input_size
    example = torch.rand(2, c, h, w, generator=torch.Generator().manual_seed(0))
    outputs = ["scores", "is_anomaly"] if graph.calibrated else ["scores"]
    with _quiet_exporter():
        program = torch.onnx.export(
            graph,
            (example,),
            input_names=["images"],
            output_names=outputs,
            dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1)}},
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    onnx_path = folder / ONNX_FILE
    with atomic_open(onnx_path, "wb") as f:
        f.write(program.model_proto.SerializeToString())
    atomic_write_json(folder / INFO_FILE, export_info(detector))
    return onnx_path


def export_info(detector: AnomalyDetector) -> dict[str, Any]:
    """The ``export.json`` record: the file, its input and preprocessing, its outputs, the score and the thresholds."""
    calibrated = detector.threshold is not None
    outputs = {"scores": {"shape": ["batch"], "dtype": "float32", "meaning": "anomaly score: higher = more anomalous"}}
    if calibrated:
        outputs["is_anomaly"] = {"shape": ["batch"], "dtype": "bool",
                                 "meaning": f"scores > threshold ({detector.threshold.value:.6g})"}
    groups = detector.group_calibration
    return {
        "model": ONNX_FILE,
        "input": {"name": "images", "shape": ["batch", detector.channels, *detector.input_size], "dtype": "float32",
                  "range": [0, 1], "layout": "NCHW"},
        "preprocessing": describe_reading(detector.provenance.get("data_options"), detector.channels,
                                          detector.input_size),
        "outputs": outputs,
        "score": {"method": detector.method, "higher_is": "more anomalous", "precision": "float32",
                  "statistics": "inside the graph: the normalised training projections and the CSI weights"},
        "threshold": detector.threshold.to_dict() if calibrated else None,
        "group_calibration": None if groups is None else {
            **groups.to_dict(), "how": "a group's score is the max, mean or top-k mean of its slices' scores; the "
            "group is anomalous when that score is above the threshold of the same name"},
    }
