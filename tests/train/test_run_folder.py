"""The run-folder policy shared by both trainers: refuse, resume with the same settings, or overwrite."""

from __future__ import annotations

import json

import pytest
import torch

from dia_augment.errors import RunFolderError
from dia_augment.train import DissolverTrainConfig, TrainConfig, check_run_fits, train_dissolver, train_model
from dia_augment.train.run_folder import data_record, open_run, start_run


def _csi(out, images, **kw):
    config = TrainConfig(mode="csi", width=2, proj_dim=8, image_size=8, epochs=1, batch_size=4, progress=False)
    return train_model(config, images, out_dir=out, data_source="embedded", **kw)


def test_run_json_records_what_made_the_run_and_the_loss_curve_is_written(tmp_path):
    images = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    _csi(tmp_path, images)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["kind"] == "contrastive" and run["finished"] is True and run["step"] == 2
    assert run["data"] == {"source": "embedded", "num_images": 8, "channels": 1, "image_size": [8, 8]}
    assert run["config"]["mode"] == "csi" and run["config"]["in_channels"] == 1
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_overwrite_removes_the_old_runs_outputs_and_nothing_else(tmp_path):
    images = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    _csi(tmp_path, images)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "checkpoints" / "step-00000099").mkdir()  # a stale checkpoint of another run
    _csi(tmp_path, images[:4], overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-00000001"]
    assert json.loads((tmp_path / "run.json").read_text())["data"]["num_images"] == 4


def test_resume_refuses_another_kind_other_data_and_both_flags(tmp_path):
    images = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    _csi(tmp_path, images)
    dissolver = DissolverTrainConfig(resolution=8, preset="micro", train_steps=1, batch_size=4, progress=False)
    with pytest.raises(RunFolderError, match="holds a contrastive run, not a dissolver run"):
        train_dissolver(dissolver, images, tmp_path, resume=True)
    with pytest.raises(RunFolderError, match=r"channels \(saved 1, now 3\)"):
        _csi(tmp_path, images.expand(12, 3, 8, 8).contiguous(), resume=True)
    with pytest.raises(RunFolderError, match="exclude each other"):
        open_run(tmp_path, "contrastive", {}, {}, (), resume=True, overwrite=True)


def test_check_run_fits_refuses_other_channels_or_size_and_warns_on_another_source(tmp_path):
    start_run(tmp_path, "contrastive", {}, data_record("sarscov2:/data", 10, (1, 32, 32)))
    assert check_run_fits(tmp_path, channels=1, image_size=(32, 32), source="sarscov2:/data")["kind"] == "contrastive"
    with pytest.raises(RunFolderError, match="trained on 1-channel images; the data has 3 channels"):
        check_run_fits(tmp_path, channels=3)
    with pytest.raises(RunFolderError, match=r"trained on \(32, 32\) images; the data has \(64, 64\) images"):
        check_run_fits(tmp_path, image_size=(64, 64))
    with pytest.warns(UserWarning, match="trained on 'sarscov2:/data', not on 'embedded'"):
        check_run_fits(tmp_path, source="embedded")


def test_data_loader_workers_give_the_same_run(tmp_path):
    images = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    base = dict(mode="csi", width=2, proj_dim=8, image_size=8, epochs=1, batch_size=4, progress=False)
    a = train_model(TrainConfig(**base), images, out_dir=tmp_path / "a")
    b = train_model(TrainConfig(**base, num_workers=1), images, out_dir=tmp_path / "b")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name
