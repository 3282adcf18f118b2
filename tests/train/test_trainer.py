import json
import shutil

import pytest
import torch

from dia_augment.filters.base import ResizeDissolving
from dia_augment.errors import MissingFileError, RunFolderError
from dia_augment.train import TrainConfig, load_model, train_model
from dia_augment.train.checkpoint import latest_checkpoint
from dia_augment.utils.io import CheckpointError, load_tensors


def _images(n=16, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def _config(**kw):
    base = dict(mode="dia", width=2, proj_dim=8, image_size=8, epochs=2, batch_size=4, lr=0.05, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_same_seed_same_weights_and_outputs(tmp_path):
    x = _images()
    a = train_model(_config(), x, ResizeDissolving(4), out_dir=tmp_path / "a")
    b = train_model(_config(), x, ResizeDissolving(4), out_dir=tmp_path / "b")
    _assert_same_weights(a, b)
    c = train_model(_config(seed=1), x, ResizeDissolving(4), out_dir=tmp_path / "c")
    assert not torch.equal(a.projection[2].weight, c.projection[2].weight)
    log = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 9))
    assert log[0]["lr"] == pytest.approx(0.05 / 4)  # linear warm-up over the first epoch (4 steps)
    assert all(r["loss"] == pytest.approx(r["loss_contrastive"] + r["loss_shift"]) for r in log)
    model, config = load_model(tmp_path / "a")
    _assert_same_weights(model, a)
    assert config.in_channels == 1 and config.mode == "dia"
    # only the last checkpoint is kept
    assert [p.name for p in (tmp_path / "a" / "checkpoints").iterdir()] == ["step-00000008"]


def test_dataset_input_gives_the_same_run(tmp_path):
    x = _images()
    labels = torch.zeros(16, dtype=torch.long)
    ds = torch.utils.data.TensorDataset(x, labels)
    a = train_model(_config(mode="csi", epochs=1), x, out_dir=tmp_path / "a")
    b = train_model(_config(mode="csi", epochs=1), ds, out_dir=tmp_path / "b")
    _assert_same_weights(a, b)


def test_resume_without_checkpoint_starts_fresh_and_resume_after_end_is_a_no_op(tmp_path):
    x = _images(8)
    cfg = _config(mode="simclr", epochs=1)
    a = train_model(cfg, x, out_dir=tmp_path / "a", resume=True)
    b = train_model(cfg, x, out_dir=tmp_path / "a", resume=True)
    _assert_same_weights(a, b)
    with pytest.raises(RunFolderError, match="already holds a finished contrastive run"):
        train_model(cfg, x, out_dir=tmp_path / "a")  # a finished run is never replaced silently
    train_model(cfg, x, out_dir=tmp_path / "a", overwrite=True)  # a fresh run replaces the earlier run's log
    log = [json.loads(line)["step"] for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert log == [1, 2]


def test_checkpoint_holds_optimizer_and_rng_state(tmp_path):
    train_model(_config(mode="csi", epochs=1), _images(8), out_dir=tmp_path)
    ckpt = latest_checkpoint(tmp_path)
    manifest = json.loads((ckpt / "manifest.json").read_text())["files"]
    assert manifest == sorted(
        ["config.json", "model.safetensors", "optimizer.json", "optimizer.safetensors", "order.safetensors",
         "rng-rank0.safetensors", "state.json"]
    )
    state = json.loads((ckpt / "state.json").read_text())
    assert (state["step"], state["epoch"], state["step_in_epoch"]) == (2, 1, 0)
    assert state["scheduler"]["last_epoch"] == 2
    opt = load_tensors(ckpt / "optimizer.safetensors")
    assert all(k.startswith("state.") and k.endswith(".momentum_buffer") for k in opt)
    model, _ = load_model(ckpt)
    assert len(opt) == len(list(model.parameters()))


def test_bad_inputs_raise(tmp_path):
    with pytest.raises(ValueError, match="needs a dissolver"):
        train_model(_config(), _images(), out_dir=tmp_path)
    with pytest.raises(ValueError, match="larger than the 2 training images"):
        train_model(_config(mode="csi"), _images(2), out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_model(_config(mode="csi"), _images() * 255, out_dir=tmp_path)
    with pytest.raises(ValueError, match="in_channels = 3"):
        train_model(_config(mode="csi", in_channels=3), _images(), out_dir=tmp_path)
    with pytest.raises(ValueError, match="TrainConfig.mode"):
        TrainConfig(mode="byol")
    with pytest.raises(ValueError, match="TrainConfig.batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"mode": "csi", "colour": 1})
    with pytest.raises(MissingFileError, match="no trained model at .*nothing: the folder does not exist"):
        load_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no trained model"):
        load_model(tmp_path / "empty")
    train_model(_config(mode="csi", epochs=1), _images(8), out_dir=tmp_path / "run")
    (tmp_path / "run" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "run")


def test_a_run_written_before_run_json_resumes_only_with_its_own_settings(tmp_path):
    x = _images(8)
    cfg = _config(mode="csi", epochs=2, checkpoint_every=1)
    train_model(_config(mode="csi", epochs=1, checkpoint_every=1), x, out_dir=tmp_path / "ref")
    (tmp_path / "old" / "checkpoints").mkdir(parents=True)  # an older run: its checkpoint, no run.json
    shutil.copytree(latest_checkpoint(tmp_path / "ref"), tmp_path / "old" / "checkpoints" / "step-00000002")
    with pytest.raises(RunFolderError, match=r"its settings differ: epochs \(saved 1, now 2\)"):
        train_model(cfg, x, out_dir=tmp_path / "old", resume=True)
    assert not (tmp_path / "old" / "run.json").exists()  # a refused resume leaves the folder as it was
    resumed = train_model(_config(mode="csi", epochs=1, checkpoint_every=1), x, out_dir=tmp_path / "old", resume=True)
    _assert_same_weights(resumed, load_model(tmp_path / "ref")[0])
