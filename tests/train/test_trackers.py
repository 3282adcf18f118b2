"""Experiment trackers (``log_with`` / ``--log-with``): what they receive, and that they never change a run.

TensorBoard is read back with its own event reader; W&B runs offline (``WANDB_MODE=offline``) and
MLflow on a local file store. A tracker whose package is missing is simulated by patching
``dia_augment.train.log.tracker_installed``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dia_augment.cli import main
from dia_augment.errors import ConfigError
from dia_augment.train import DissolverTrainConfig, TrainConfig, train_dissolver, train_model
from dia_augment.train import log as log_module
from dia_augment.train.dissolver import DissolverTrainer
from dia_augment.train.log import TRACKER_PROJECT, resolve_trackers, tracker_config

CSI = TrainConfig(mode="csi", width=2, proj_dim=8, image_size=8, epochs=2, batch_size=4, progress=False)
DISSOLVER = DissolverTrainConfig(resolution=8, preset="micro", train_steps=4, batch_size=4, lr=1e-3, log_every=1,
                                 eval_every=2, checkpoint_every=2, grid_images=2, progress=False)
#: The fields of a log record that measure time, which two runs never share.
TIMING = ("images_per_s", "elapsed_s")


def _images(n: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def _records(out: Path, kind: str | None = None) -> list[dict]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if kind is None or r["kind"] == kind]


def _untimed(out: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in _records(out)]


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name, tensor in a.items():
        assert torch.equal(tensor, b[name]), name


def _events(out: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / TRACKER_PROJECT), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def _scalars(events, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in events.Scalars(tag)]


def _only(installed: set[str]):
    return lambda name: name in installed


# ---- which trackers --------------------------------------------------------------------------
def test_all_is_every_installed_tracker_and_a_missing_one_names_its_pip_command(monkeypatch):
    monkeypatch.setattr(log_module, "tracker_installed", _only({"tensorboard", "mlflow"}))
    assert resolve_trackers("all") == ("tensorboard", "mlflow")
    assert resolve_trackers(["mlflow", "tensorboard", "mlflow"]) == ("tensorboard", "mlflow")
    assert resolve_trackers(None) == resolve_trackers([]) == ()
    with pytest.raises(ConfigError, match=r"'wandb' \(--log-with wandb\) needs the wandb package.*pip install wandb"):
        resolve_trackers(["all", "wandb"])
    monkeypatch.setattr(log_module, "tracker_installed", _only(set()))
    with pytest.raises(ConfigError, match="none of the trackers tensorboard, wandb, mlflow installed: pip install"):
        resolve_trackers("all")
    with pytest.raises(ConfigError, match="'comet_ml'"):
        resolve_trackers("comet_ml")


def test_the_hyperparameters_are_numbers_strings_booleans_or_none():
    values = tracker_config(CSI.to_dict(), run_kind="contrastive", image_size=[8, 8])
    assert values["crop_scale"] == "[0.08, 1.0]" and values["image_size"] == "[8, 8]"
    assert values["lr"] == 0.1 and values["step_range"] is None and values["run_kind"] == "contrastive"
    assert all(v is None or isinstance(v, (bool, int, float, str)) for v in values.values())


def test_a_missing_tracker_package_fails_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(log_module, "tracker_installed", _only(set()))
    with pytest.raises(ConfigError, match="pip install wandb"):
        train_model(CSI, _images(), out_dir=tmp_path / "run", log_with="wandb")
    with pytest.raises(ConfigError, match="pip install mlflow"):
        train_dissolver(DISSOLVER, _images(12), tmp_path / "run", log_with="mlflow")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [
    ["train", "--mode", "csi", "--load-size", "8", "--width", "2", "--epochs", "1"],
    ["train-dissolver", "--resolution", "8", "--preset", "micro", "--train-steps", "1"],
])
def test_the_command_line_says_which_package_to_install_in_one_line(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(log_module, "tracker_installed", _only({"tensorboard"}))
    monkeypatch.delenv("DIA_AUGMENT_DEBUG", raising=False)
    out = tmp_path / "run"
    argv = [*command, "--data", "embedded", "--out", str(out), "--log-with", "tensorboard", "wandb"]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]
    assert f"dia-augment {command[0]}: error: log_with 'wandb' (--log-with wandb) needs the wandb package" in lines[0]
    assert "pip install wandb" in lines[0]
    assert not (out / "run.json").exists() and not (out / TRACKER_PROJECT).exists()


# ---- what they receive, and the same weights -------------------------------------------------
def test_tensorboard_gets_the_logged_scalars_and_the_loss_curve_and_the_weights_do_not_change(tmp_path):
    pytest.importorskip("tensorboard")
    plain = train_model(CSI, _images(), out_dir=tmp_path / "plain").state_dict()
    tracked = train_model(CSI, _images(), out_dir=tmp_path / "tracked", log_with="tensorboard").state_dict()
    _assert_same_weights(plain, tracked)
    assert _untimed(tmp_path / "plain") == _untimed(tmp_path / "tracked")  # metrics.jsonl as without trackers
    assert not (tmp_path / "plain" / TRACKER_PROJECT).exists()
    events, records = _events(tmp_path / "tracked"), _records(tmp_path / "tracked", "train")
    for name in ("loss", "loss_contrastive", "loss_shift", "lr", "images_per_s", "epoch"):
        logged = _scalars(events, f"train/{name}")
        assert [step for step, _ in logged] == [r["step"] for r in records] == [1, 2, 3, 4]
        assert [value for _, value in logged] == pytest.approx([r[name] for r in records], rel=1e-6)
    assert [e.step for e in events.Images("loss_curve")] == [4]
    assert events.Images("loss_curve")[0].encoded_image_string[:4] == b"\x89PNG"


def test_the_dissolver_sends_its_readiness_loss_grids_and_figure_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    plain = train_dissolver(DISSOLVER, _images(12), tmp_path / "plain").unet.state_dict()
    tracked = train_dissolver(DISSOLVER, _images(12), tmp_path / "tracked", log_with="tensorboard").unet.state_dict()
    _assert_same_weights(plain, tracked)
    assert _untimed(tmp_path / "plain") == _untimed(tmp_path / "tracked")
    events, evals = _events(tmp_path / "tracked"), _records(tmp_path / "tracked", "eval")
    assert [r["step"] for r in evals] == [0, 2, 4]
    for name in ("holdout_loss", "holdout_loss_raw"):
        logged = _scalars(events, f"eval/{name}")
        assert logged == [(r["step"], pytest.approx(r[name], rel=1e-6)) for r in evals]
    assert [step for step, _ in _scalars(events, "train/loss")] == [1, 2, 3, 4]
    assert [e.step for e in events.Images("dissolve_grid")] == [0, 2, 4]
    assert [e.step for e in events.Images("readiness")] == [0, 2, 4]
    assert [e.step for e in events.Images("loss_curve")] == [4]
    grid = events.Images("dissolve_grid")[-1]
    from PIL import Image

    with Image.open(tmp_path / "tracked" / "grids" / "step_00000004.png") as png:  # the grid file, as it is
        assert (grid.width, grid.height) == png.size


def test_a_resumed_run_logs_the_redone_steps_once(tmp_path, monkeypatch):
    """Killed after step 3 (checkpoint at 2), resumed: TensorBoard shows steps 1..4 once, as the trimmed log does."""
    pytest.importorskip("tensorboard")
    after_step = DissolverTrainer.after_step

    def interrupted(self, end_of_epoch, logger):
        if self.step == 3:
            raise KeyboardInterrupt
        return after_step(self, end_of_epoch, logger)

    out = tmp_path / "run"
    monkeypatch.setattr(DissolverTrainer, "after_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_dissolver(DISSOLVER, _images(12), out, log_with="tensorboard")
    monkeypatch.setattr(DissolverTrainer, "after_step", after_step)
    first_loss = {r["step"]: r["loss"] for r in _records(out, "train")}
    resumed = train_dissolver(DISSOLVER, _images(12), out, resume=True, log_with="tensorboard").unet.state_dict()
    _assert_same_weights(resumed, train_dissolver(DISSOLVER, _images(12), tmp_path / "whole").unet.state_dict())
    logged, records = _scalars(_events(out), "train/loss"), _records(out, "train")
    assert [r["step"] for r in records] == [step for step, _ in logged] == [1, 2, 3, 4]
    assert [value for _, value in logged] == pytest.approx([r["loss"] for r in records], rel=1e-6)
    assert sorted(first_loss) == [1, 2, 3]  # the first attempt had logged step 3, which the resumed run redid


def test_wandb_offline_gets_the_images_and_the_weights_do_not_change(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    for name, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WANDB_DIR", raising=False)
    plain = train_dissolver(DISSOLVER, _images(12), tmp_path / "plain").unet.state_dict()
    tracked = train_dissolver(DISSOLVER, _images(12), tmp_path / "tracked", log_with="wandb").unet.state_dict()
    _assert_same_weights(plain, tracked)
    runs = list((tmp_path / "tracked" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    media = sorted(p.name.rsplit("_", 1)[0] for p in (runs[0] / "files" / "media" / "images").iterdir())
    assert media == ["dissolve_grid_0", "dissolve_grid_2", "dissolve_grid_4", "loss_curve_4", "readiness_0",
                     "readiness_2", "readiness_4"]


def test_mlflow_gets_the_metrics_and_the_figures_and_the_weights_do_not_change(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    for name in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_TAGS", "MLFLOW_NESTED_RUN"):
        monkeypatch.delenv(name, raising=False)
    plain = train_dissolver(DISSOLVER, _images(12), tmp_path / "plain").unet.state_dict()
    tracked = train_dissolver(DISSOLVER, _images(12), tmp_path / "tracked", log_with="mlflow").unet.state_dict()
    _assert_same_weights(plain, tracked)
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    experiment = client.get_experiment_by_name(TRACKER_PROJECT)
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "tracked" and run.data.params["preset"] == "micro"
    evals = _records(tmp_path / "tracked", "eval")
    history = client.get_metric_history(run.info.run_id, "eval/holdout_loss")
    assert [(m.step, m.value) for m in history] == [(r["step"], pytest.approx(r["holdout_loss"])) for r in evals]
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["grids", "loss.png", "readiness.png"]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "grids")] == [
        f"grids/step_{step:08d}.png" for step in (0, 2, 4)]


def test_the_command_line_sends_a_run_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    argv = ["train", "--data", "embedded", "--load-size", "8", "--mode", "csi", "--width", "2", "--image-size", "8",
            "--epochs", "1", "--batch-size", "200", "--calibration-fraction", "0", "--no-progress",
            "--log-with", "tensorboard", "--out", str(out)]
    assert main(argv) == 0
    logged, records = _scalars(_events(out), "train/loss"), _records(out, "train")
    assert [step for step, _ in logged] == [r["step"] for r in records] == [1, 2, 3]
    # the trackers are not part of the run: its record (what --config RUN/run.json replays) leaves them out
    assert "log_with" not in json.loads((out / "run.json").read_text())["command"]["options"]
