import json

import numpy as np
import pytest

from dia_augment.cli import main
from dia_augment.detect import anomaly_score_numpy, score_statistics
from tests.detect.conftest import images

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def test_numpy_score_equals_the_torch_score(detector):
    x = images(4, 3)
    features, logits = detector.encoder(x)
    stats = score_statistics(detector.train_features.numpy(), detector.train_shift_logits.numpy())
    got = anomaly_score_numpy(features.detach().numpy(), logits.detach().numpy(), stats, detector.method)
    np.testing.assert_allclose(got, detector.score(x).numpy(), rtol=0, atol=1e-5)
    simclr = anomaly_score_numpy(features.detach().numpy(), logits.detach().numpy(), stats, "simclr")
    unit = features[0] / features[0].norm(dim=1, keepdim=True)
    axes = detector.train_features[0] / detector.train_features[0].norm(dim=1, keepdim=True)
    np.testing.assert_allclose(simclr, -(unit @ axes.T).amax(dim=1).detach().numpy(), rtol=0, atol=1e-5)


def test_onnx_export_through_the_command_matches_torch_to_1e4(detector, tmp_path):
    from safetensors.numpy import load_file

    saved = detector.save_pretrained(tmp_path / "det")
    assert main(["export", "--detector", str(saved), "--format", "onnx"]) == 0
    out = saved / "onnx"
    info = json.loads((out / "export.json").read_text())
    assert info["score"]["method"] == detector.method and info["threshold"] == detector.threshold.to_dict()
    session = ort.InferenceSession(str(out / "encoder.onnx"))
    x = images(5, 11)  # another batch size than the export's example
    features, logits = session.run(["features", "shift_logits"], {"images": x.numpy()})
    scores = anomaly_score_numpy(features, logits, load_file(str(out / "score_statistics.safetensors")), info["score"]["method"])
    np.testing.assert_allclose(scores, detector.score(x).numpy(), rtol=0, atol=1e-4)
