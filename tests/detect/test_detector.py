import json
from typing import NamedTuple

import pytest
import torch
from torch import nn

from dia_augment.detect import AnomalyDetector, build_detector, calibrate_threshold, split_calibration
from dia_augment.errors import CheckpointError, InputError, InputTypeError, MissingFileError
from dia_augment.score import ScoreConfig, csi_score, simclr_score
from tests.detect.conftest import images


def test_score_is_the_csi_anomaly_score_of_the_view_averaged_features(detector):
    x = images(5, 7)
    features, logits = detector.encoder(x)
    expected = csi_score(detector.train_features, detector.train_shift_logits, features, logits)
    assert detector.method == "csi" and detector.method_note is None
    torch.testing.assert_close(detector.score(x), expected, rtol=0, atol=1e-5)
    train_f, train_l = detector.encoder(images(10, 0))  # fit stored the statistics of the training images
    torch.testing.assert_close(detector.train_features, train_f, rtol=0, atol=1e-5)


def test_an_image_scores_the_same_in_any_batch(detector):
    x = images(4, 8)
    alone = torch.cat([detector.score(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(detector.score(x), alone, rtol=0, atol=1e-5)
    torch.testing.assert_close(detector.score(x.flip(0)), alone.flip(0), rtol=0, atol=1e-5)


def test_predict_calls_scores_above_the_threshold_calibrated_on_held_out_normals(detector):
    held_out = images(6, 1)
    expected = calibrate_threshold(detector.score(held_out), target=0.95)
    assert detector.threshold == expected and expected.false_alarm_rate == 0.0  # ceil(0.95 * 6) = 6: the max
    x = images(8, 9)
    result = detector.predict(x)
    assert torch.equal(result.is_anomaly, result.scores > expected.value) and result.threshold == expected.value


def test_calibration_with_labels_and_refusal_without_anomalies(tiny_model):
    det = AnomalyDetector.fit(tiny_model, images(8, 0), config=ScoreConfig(num_views=2), image_size=8, progress=False)
    with pytest.raises(InputError, match="has no threshold"):
        det.predict(images(2, 1))
    calls = []
    det.encoder.register_forward_hook(lambda *a: calls.append(1))
    with pytest.raises(InputError, match="'f1' needs labelled anomalies"):
        det.calibrate(images(4, 2), torch.zeros(4), mode="f1")
    assert calls == []  # refused before any image was scored
    x, labels = images(6, 3), torch.tensor([0, 0, 0, 1, 1, 1])
    t = det.calibrate(x, labels, mode="sensitivity", target=2 / 3)
    s = det.score(x)
    assert t == calibrate_threshold(s[:3], s[3:], mode="sensitivity", target=2 / 3)
    assert t.sensitivity >= 2 / 3 and det.threshold is t


class Out(NamedTuple):
    projection: torch.Tensor
    shift_logits: torch.Tensor


class Linear(nn.Module):
    def __init__(self, logit_offset=0.0, projection_scale=1.0):
        super().__init__()
        self.proj = nn.Linear(64, 5)
        self.head = nn.Linear(64, 4)
        self.offset, self.scale = logit_offset, projection_scale

    def forward(self, x):
        f = x.flatten(1)
        return Out(self.proj(f) * self.scale, self.head(f) + self.offset)


def test_degenerate_shift_weight_falls_back_to_simclr_at_fit():
    torch.manual_seed(0)
    det = AnomalyDetector.fit(Linear(logit_offset=-50.0), images(6, 0), config=ScoreConfig(num_views=2, mixed_precision="no"),
                              image_size=8, progress=False)
    assert det.method == "simclr" and "--method simclr" in det.method_note
    x = images(3, 4)
    features, _ = det.encoder(x)
    torch.testing.assert_close(det.score(x), simclr_score(det.train_features[0], features[0]), rtol=0, atol=1e-6)
    with pytest.raises(InputTypeError, match="only a DIAResNet detector can be saved"):
        det.save_pretrained("unused")


def test_collapsed_projections_are_refused_at_fit():
    with pytest.raises(InputError, match="projections of some shift are all zero"):
        AnomalyDetector.fit(Linear(projection_scale=0.0), images(4, 0), config=ScoreConfig(num_views=2), image_size=8, progress=False)


@pytest.mark.parametrize(
    "x, match",
    [
        (images(2, 0, channels=3), "have 3 channel\\(s\\) but the detector was trained on 1-channel"),
        (images(2, 0, size=16), "are 16 x 16 pixels but the detector takes 12 x 12"),
        (images(2, 0) * 255, "must be in \\[0, 1\\]"),
    ],
)
def test_images_that_do_not_fit_are_refused(detector, x, match):
    with pytest.raises(InputError, match=match):
        detector.score(x)


def test_save_and_load_round_trip(detector, tmp_path):
    detector.save_pretrained(tmp_path / "det")
    assert sorted(p.name for p in (tmp_path / "det").iterdir()) == [
        "README.md", "config.json", "model.safetensors", "statistics.safetensors"
    ]
    loaded = AnomalyDetector.from_pretrained(tmp_path / "det", progress=False)
    x = images(4, 5)
    assert torch.equal(loaded.score(x), detector.score(x))
    assert loaded.threshold == detector.threshold and loaded.record() == detector.record()
    config = json.loads((tmp_path / "det" / "config.json").read_text())
    assert config["score"]["higher_is"] == "more anomalous" and config["preprocessing"]["input_size"] == [12, 12]
    card = (tmp_path / "det" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: dia_augment") and detector.threshold.describe() in card


def _corrupt(folder, name, text):
    (folder / name).write_text(text)


@pytest.mark.parametrize(
    "damage, error, match",
    [
        (lambda d: None, MissingFileError, "detector folder .*missing does not exist"),
        (lambda d: (d / "config.json").unlink(), CheckpointError, "detector config not found"),
        (lambda d: _corrupt(d, "config.json", "{"), CheckpointError, "is corrupt \\(not valid JSON\\)"),
        (lambda d: _corrupt(d, "config.json", '{"mode": "dia"}'), CheckpointError, "looks like a training run"),
        (lambda d: _corrupt(d, "statistics.safetensors", "xx"), CheckpointError, "statistics .* corrupt"),
    ],
)
def test_bad_detector_folders_get_one_clear_error(detector, tmp_path, damage, error, match):
    folder = detector.save_pretrained(tmp_path / "det")
    if damage(folder) is None and error is MissingFileError:
        folder = tmp_path / "missing"
    with pytest.raises(error, match=match):
        AnomalyDetector.from_pretrained(folder)


def test_other_layout_version_and_missing_field_are_named(detector, tmp_path):
    folder = detector.save_pretrained(tmp_path / "det")
    record = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**record, "layout_version": 7, "package_version": "9.0"}))
    with pytest.raises(CheckpointError, match="AnomalyDetector folder of layout_version 7 \\(written by dia_augment 9.0\\); this version reads layout_version 2"):
        AnomalyDetector.from_pretrained(folder)
    del record["preprocessing"]
    (folder / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="config.json lacks the field 'preprocessing'"):
        AnomalyDetector.from_pretrained(folder)


def test_hub_ids_download_the_detector_files_and_push_uploads_the_folder(detector, tmp_path, monkeypatch):
    import huggingface_hub

    saved = detector.save_pretrained(tmp_path / "det")
    asked = {}

    def snapshot_download(repo_id, revision=None, allow_patterns=None):
        asked.update(repo_id=repo_id, revision=revision, patterns=allow_patterns)
        return str(saved)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    loaded = AnomalyDetector.from_pretrained("someone/ct-detector", revision="v1", progress=False)
    assert asked == {"repo_id": "someone/ct-detector", "revision": "v1", "patterns": [
        "config.json", "model.safetensors", "statistics.safetensors", "README.md"]}
    assert loaded.threshold == detector.threshold

    uploads = []

    class FakeApi:
        def __init__(self, token=None):
            self.token = token

        def create_repo(self, repo_id, private, exist_ok):
            uploads.append(("create", repo_id, private))

        def upload_folder(self, repo_id, folder_path, commit_message):
            from pathlib import Path

            uploads.append(("upload", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))
            return "https://huggingface.co/someone/ct-detector/commit/0"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert detector.push_to_hub("someone/ct-detector").endswith("/commit/0")
    assert uploads == [("create", "someone/ct-detector", True),
                       ("upload", "someone/ct-detector", ["README.md", "config.json", "model.safetensors", "statistics.safetensors"])]


def test_build_detector_holds_a_seeded_slice_out_for_calibration(tiny_model):
    from dia_augment.train import TrainConfig

    config = TrainConfig(mode="csi", width=2, image_size=8, epochs=1, batch_size=4, progress=False)
    normals = images(10, 0)
    det = build_detector(tiny_model, config, normals, score_config=ScoreConfig(num_views=2, seed=5, mixed_precision="no"),
                         provenance={"data": "toy"}, progress=False)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(5))
    assert det.provenance["num_train"] == 8 and det.provenance["data"] == "toy"
    assert det.provenance["train_config"]["image_size"] == 8 and "seen in training" in det.provenance["calibration"]
    features, _ = det.encoder(normals[order[2:]])
    torch.testing.assert_close(det.train_features, features, rtol=0, atol=1e-5)
    assert det.threshold == calibrate_threshold(det.score(normals[order[:2]]), target=0.95)
    held = build_detector(tiny_model, config, normals, images(3, 9), ScoreConfig(num_views=2), progress=False)
    assert held.threshold.num_normal == 3
    assert held.provenance["calibration"] == "normal images held out of training, drawn per image"
    assert held.group_calibration is None and held.provenance["calibration_by"] is None
    with pytest.raises(InputError, match="cannot hold 10% of 4 normal images out"):
        build_detector(tiny_model, config, normals[:4], calibration_fraction=0.1, progress=False)


def test_split_calibration_is_seeded_and_disjoint():
    x = torch.arange(20.0).view(20, 1, 1, 1)
    rest, held = split_calibration(x, 0.25, seed=3)
    order = torch.randperm(20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(held.flatten(), order[:5].float()) and torch.equal(rest.flatten(), order[5:].float())
    with pytest.raises(InputError, match="calibration_fraction must be a float in \\(0, 1\\)"):
        split_calibration(x, 1.0)


def test_evaluate_uses_the_anomaly_score_and_its_threshold_and_the_card_shows_it(tiny_model):
    from dia_augment.score import auroc

    det = AnomalyDetector.fit(tiny_model, images(6, 0), calibration=images(4, 1), config=ScoreConfig(num_views=2),
                              image_size=8, progress=False)
    x, labels = images(6, 2), torch.tensor([0, 0, 0, 1, 1, 1])
    metrics = det.evaluate(x, labels)
    scores = det.score(x)
    assert metrics["auroc"] == pytest.approx(auroc(scores, labels))
    flagged = scores > det.threshold.value
    assert metrics["threshold_false_alarm_rate"] == pytest.approx(flagged[:3].float().mean().item())
    assert metrics["threshold_sensitivity"] == pytest.approx(flagged[3:].float().mean().item())
    assert f"| auroc | {metrics['auroc']:.4f} |" in det.model_card()
    assert "on new normal images 95 % interval" in det.model_card()
