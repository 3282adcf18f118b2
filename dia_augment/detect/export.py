"""Export a detector's encoder to ONNX, with the statistics the NumPy score needs.

``export_onnx(detector, folder)`` writes:

- ``encoder.onnx``: images :math:`(B, C, H, W)` in ``[0, 1]`` (input ``images``, any batch
  size) -> ``features`` :math:`(K, B, D)` and ``shift_logits`` :math:`(K, B)`, the detector's
  fixed views and shifts included;
- ``score_statistics.safetensors``: ``axes``, ``w_sim``, ``w_shi`` (float64,
  :func:`~dia_augment.detect.score_statistics`) for
  :func:`~dia_augment.detect.anomaly_score_numpy`;
- ``export.json``: the score method, the threshold, the input layout and how to score.

Why ONNX through ``torch.onnx.export(..., dynamo=True)``: it is the exporter PyTorch maintains
(the TorchScript-based one refuses ``rot90``, the rotation shift); ``torch.export`` programs
load only in PyTorch and TorchScript is deprecated. Needs the ``export`` extra
(``pip install dia_augment[export]``: onnx, onnxscript, onnxruntime for the check).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors.numpy import save as safetensors_bytes

from dia_augment.detect.detector import AnomalyDetector
from dia_augment.detect.reference import score_statistics
from dia_augment.errors import ConfigError, InputTypeError
from dia_augment.utils.io import atomic_open, atomic_write_json

__all__ = ["EXPORT_FORMATS", "export_onnx"]

EXPORT_FORMATS = ("onnx",)
ONNX_FILE, STATS_FILE, INFO_FILE = "encoder.onnx", "score_statistics.safetensors", "export.json"


def export_onnx(detector: AnomalyDetector, folder: str | os.PathLike, opset: int = 18) -> Path:
    """Write the detector's encoder as ONNX plus its score statistics into ``folder``; returns the ONNX path.

    Args:
        detector: a fitted detector.
        folder: the output folder (created).
        opset: the ONNX opset.

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
    encoder = detector.encoder.cpu().eval()
    c, (h, w) = detector.channels, detector.input_size
    example = torch.rand(2, c, h, w, generator=torch.Generator().manual_seed(0))
    program = torch.onnx.export(
        encoder,
        (example,),
        input_names=["images"],
        output_names=["features", "shift_logits"],
        dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1)}},
        opset_version=opset,
        dynamo=True,
        verbose=False,
    )
    onnx_path = folder / ONNX_FILE
    with atomic_open(onnx_path, "wb") as f:
        f.write(program.model_proto.SerializeToString())
    stats = score_statistics(detector.train_features.numpy(), detector.train_shift_logits.numpy())
    with atomic_open(folder / STATS_FILE, "wb") as f:
        f.write(safetensors_bytes(stats))
    atomic_write_json(folder / INFO_FILE, _info(detector))
    return onnx_path


def _info(detector: AnomalyDetector) -> dict[str, Any]:
    return {
        "encoder": ONNX_FILE,
        "input": {"name": "images", "shape": ["batch", detector.channels, *detector.input_size], "range": [0, 1]},
        "outputs": {"features": ["K", "batch", "D"], "shift_logits": ["K", "batch"]},
        "statistics": STATS_FILE,
        "score": {
            "method": detector.method,
            "function": "dia_augment.detect.anomaly_score_numpy(features, shift_logits, statistics, method)",
            "higher_is": "more anomalous",
        },
        "threshold": None if detector.threshold is None else detector.threshold.to_dict(),
    }
