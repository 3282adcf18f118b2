import json

import numpy as np
import pytest
import torch

from dia_augment.cli import main
from dia_augment.detect import AnomalyDetector, anomaly_score_numpy, score_statistics
from dia_augment.detect.export import ScoringGraph
from dia_augment.score import ScoreConfig
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


@pytest.mark.parametrize("method", ["csi", "simclr", "shift"])
def test_the_scoring_graph_equals_the_detectors_score_for_every_method(tiny_model, method):
    det = AnomalyDetector.fit(tiny_model, images(8, 0), calibration=images(4, 1), image_size=8, progress=False,
                              config=ScoreConfig(num_views=2, method=method, mixed_precision="no"))
    x = images(5, 7)
    scores, calls = ScoringGraph(det).eval()(x)
    torch.testing.assert_close(scores, det.score(x), rtol=0, atol=1e-5)
    assert torch.equal(calls, scores > det.threshold.value)


def test_onnx_export_is_one_file_with_the_score_and_the_call_and_matches_torch_to_1e4(detector, tmp_path, capfd):
    detector.provenance["data_options"] = {"window": "lung", "slice_axis": 2, "slices": [2, -2], "load_size": 12,
                                           "channels": 1}
    saved = detector.save_pretrained(tmp_path / "det")
    capfd.readouterr()
    assert main(["export", "--detector", str(saved), "--format", "onnx"]) == 0
    out, err = capfd.readouterr()
    assert err == "" and "torchvision" not in out and "deprecated" not in out  # the exporter's noise is silenced
    assert out.strip().endswith(f"preprocessing in {saved / 'onnx' / 'export.json'}")
    folder = saved / "onnx"
    assert sorted(p.name for p in folder.iterdir()) == ["detector.onnx", "export.json"]
    info = json.loads((folder / "export.json").read_text())
    assert info["score"]["method"] == detector.method and info["threshold"] == detector.threshold.to_dict()
    pre = info["preprocessing"]
    assert (pre["window"]["name"], pre["window"]["center"], pre["window"]["width"]) == ("lung", -600.0, 1500.0)
    assert (pre["window"]["low"], pre["window"]["high"]) == (-1350.0, 150.0)
    assert pre["slice_axis"]["axis"] == 2 and pre["slices"] == [2, -2] and pre["resize"]["to"] == [12, 12]
    assert (pre["range"], pre["layout"], pre["dtype"], pre["shape"]) == ([0, 1], "NCHW", "float32", ["batch", 1, 12, 12])
    session = ort.InferenceSession(str(folder / "detector.onnx"))
    assert [o.name for o in session.get_outputs()] == ["scores", "is_anomaly"]
    for batch, seed in ((5, 11), (1, 12), (9, 13)):  # other batch sizes than the export's example
        x = images(batch, seed)
        scores, calls = session.run(None, {"images": x.numpy()})
        expected = detector.score(x).numpy()
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-4)
        assert calls.dtype == np.bool_ and (calls == (expected > detector.threshold.value)).all()


def test_an_uncalibrated_detector_exports_scores_only(tiny_model, tmp_path):
    from dia_augment.detect.export import export_onnx

    det = AnomalyDetector.fit(tiny_model, images(6, 0), image_size=8, progress=False,
                              config=ScoreConfig(num_views=1, mixed_precision="no"))
    path = export_onnx(det, tmp_path / "onnx")
    session = ort.InferenceSession(str(path))
    (scores,) = session.run(None, {"images": images(3, 5).numpy()})
    np.testing.assert_allclose(scores, det.score(images(3, 5)).numpy(), rtol=0, atol=1e-4)
    info = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert info["threshold"] is None and list(info["outputs"]) == ["scores"]
    assert info["preprocessing"]["recorded"] is False and info["preprocessing"]["window"]["name"] is None


def test_the_exporters_noise_is_silenced_at_the_call_only(capfd):
    import logging
    import warnings

    from dia_augment.detect.export import _REGISTRATION_LOGGER, _quiet_exporter

    logger = logging.getLogger(_REGISTRATION_LOGGER)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _quiet_exporter():
            logger.warning("torchvision is not installed. Skipping torchvision::nms")
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)
            warnings.warn("another warning stays", UserWarning)
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)  # outside: kept
    assert [str(w.message)[:20] for w in caught] == ["another warning stay", "`isinstance(treespec"]
    assert "torchvision" not in capfd.readouterr().err
    assert logger.level == logging.NOTSET  # the logger's level is restored
