from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dia_augment.errors import ConfigError, RunFolderError
from dia_augment.filters.ddpm import DDPMDissolving
from dia_augment.filters.presets import make_scheduler, make_unet
from dia_augment.train.checkpoint import latest_checkpoint
from dia_augment.train.config import DissolverTrainConfig
from dia_augment.train.dissolver import denoising_loss, train_dissolver
from dia_augment.utils.io import CheckpointError, load_tensors

# A tiny run: micro UNet at 8 px, 12 images (4 held out), batches of 4.
TINY = dict(resolution=8, preset="micro", batch_size=4, progress=False)


def train(images, out, resume=False, overwrite=False, final_check=None, **settings):
    """Train with the TINY settings, overridden by ``settings``."""
    return train_dissolver(DissolverTrainConfig(**(TINY | settings)), images, out, resume=resume, overwrite=overwrite,
                           final_check=final_check)


def images(n: int = 12, channels: int = 1, size: int = 8, seed: int = 0) -> torch.Tensor:
    """Smooth random images (blurred noise), so that there is something to learn."""
    x = torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def records(out: Path, kind: str) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


@contextmanager
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ---- the loss --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_denoising_loss_matches_the_schedulers_forward_process(kind):
    torch.manual_seed(0)
    unet, scheduler = make_unet("micro", 8, 1), make_scheduler()
    x0, noise = torch.rand(3, 1, 8, 8) * 2 - 1, torch.randn(3, 1, 8, 8)
    t = torch.tensor([0, 250, 999])
    x_t = scheduler.add_noise(x0, noise, t)
    prediction = unet(x_t, t).sample
    expected = (prediction - noise).abs().mean() if kind == "l1" else ((prediction - noise) ** 2).mean()
    got = denoising_loss(unet, scheduler.alphas_cumprod, x0, t, noise, kind)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_denoising_loss_rejects_an_unknown_loss():
    with pytest.raises(ValueError, match="loss must be one of"):
        denoising_loss(torch.nn.Identity(), torch.ones(10), torch.zeros(1, 1, 2, 2), torch.zeros(1, dtype=torch.long),
                       torch.zeros(1, 1, 2, 2), "huber")


# ---- training ----------------------------------------------------------------------------------


def test_training_lowers_the_loss_and_saves_a_loadable_ema_dissolver(tmp_path):
    from dia_augment.probe import probe_readiness

    data = images(12)
    checked = []

    def final_check(dissolver, holdout):
        assert not (tmp_path / "dissolver").exists()  # before the dissolver is saved
        checked.append(holdout)
        probe_readiness(dissolver, holdout, tmp_path / "probe")

    with one_thread():
        dissolver = train(data, tmp_path, train_steps=40, lr=2e-3, log_every=1, eval_every=20, grid_images=2,
                          final_check=final_check)
    losses = [r["loss"] for r in records(tmp_path, "train")]
    assert len(losses) == 40
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.1, (first, last)
    evals = records(tmp_path, "eval")
    assert [r["step"] for r in evals] == [0, 20, 40]
    assert evals[-1]["holdout_loss_raw"] < evals[0]["holdout_loss_raw"] - 0.05
    assert [r["grid"] for r in evals] == [f"grids/step_{s:08d}.png" for s in (0, 20, 40)]
    assert all((tmp_path / r["grid"]).is_file() for r in evals)
    assert (tmp_path / "readiness.png").is_file()

    # the saved dissolver is the EMA of the weights, and loads back to identical outputs
    loaded = DDPMDissolving.from_pretrained(tmp_path / "dissolver")
    assert loaded.resolution == 8 and loaded.model_channels == 1
    x, t = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(5)), torch.tensor([30, 60, 99])
    assert torch.equal(loaded(x, t), dissolver(x, t))
    raw = load_tensors(latest_checkpoint(tmp_path) / "unet.safetensors")
    ema = loaded.unet.state_dict()
    assert sorted(raw) == sorted(ema)
    assert max((raw[k] - ema[k]).abs().max().item() for k in raw) > 1e-4

    # the folder also holds the online weights: weights="online" loads exactly the last checkpoint's
    online = DDPMDissolving.from_pretrained(tmp_path / "dissolver", weights="online").unet.state_dict()
    assert all(torch.equal(online[k], raw[k]) for k in raw)

    # the final check saw the 4 held-out images, at the dissolver's resolution; the lesion probe there
    # (no resize): at t = 0 the one-step prediction is nearly the identity and erases ~nothing
    assert [tuple(h.shape) for h in checked] == [(4, 1, 8, 8)]
    probe = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert (tmp_path / "probe" / "probe.png").is_file()
    curve = {r["t"]: r for r in probe["curves"]["dissolver"]}
    assert abs(curve[0]["erasure"]) < 0.02
    assert curve[100]["erasure"] > curve[0]["erasure"]


def test_ema_decay_zero_keeps_the_raw_weights(tmp_path):
    with one_thread():
        dissolver = train(images(12), tmp_path, train_steps=6, lr=2e-3, ema_decay=0.0, grid_images=0)
    raw = load_tensors(latest_checkpoint(tmp_path) / "unet.safetensors")
    for name, value in dissolver.unet.state_dict().items():
        torch.testing.assert_close(value, raw[name], rtol=0, atol=1e-6)


def test_a_dataset_of_pairs_trains_exactly_like_the_tensor(tmp_path):
    data = images(12, channels=3)

    class Pairs(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 12

        def __getitem__(self, i: int):
            return data[i], 0

    with one_thread():
        a = train(data, tmp_path / "a", train_steps=5, grid_images=0)
        b = train(Pairs(), tmp_path / "b", train_steps=5, grid_images=0)
    assert a.model_channels == 3
    for (name, x), (_, y) in zip(a.unet.state_dict().items(), b.unet.state_dict().items()):
        assert torch.equal(x, y), name


def test_images_are_resized_to_the_resolution_and_epochs_count_full_batches(tmp_path):
    # 14 images: 4 held out, 10 to train on -> 2 full batches of 4 per epoch
    with one_thread():
        dissolver = train(images(14, size=20), tmp_path, epochs=3, log_every=1, grid_images=1)
    assert dissolver.resolution == 8
    assert [r["step"] for r in records(tmp_path, "train")] == list(range(1, 7))
    assert [(r["step"], r["epoch"]) for r in records(tmp_path, "eval")] == [(0, 0), (2, 1), (4, 2), (6, 3)]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["data"]["num_images"] == 14 and run["config"]["epochs"] == 3 and run["data"]["channels"] == 1


def test_antialias_sets_the_training_resize_and_a_run_written_before_the_field_resumes(tmp_path):
    from dia_augment.train.dissolver import DissolverTrainer

    x = images(14, size=20)
    for antialias in (True, False):
        config = DissolverTrainConfig(**TINY, train_steps=1, antialias=antialias)
        trainer = DissolverTrainer(config, x, tmp_path / str(antialias))
        expected = F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False, antialias=antialias).clamp(0, 1)
        assert torch.equal(trainer.dataset.tensors[0], expected)
    assert not torch.equal(F.interpolate(x, size=(8, 8), mode="bilinear", antialias=True),
                           F.interpolate(x, size=(8, 8), mode="bilinear", antialias=False))
    with one_thread():
        train(x, tmp_path / "old", train_steps=2, grid_images=0)
    run = json.loads((tmp_path / "old" / "run.json").read_text())
    del run["config"]["antialias"]  # as written before the field existed (it resized with antialias)
    (tmp_path / "old" / "run.json").write_text(json.dumps(run))
    with one_thread():
        train(x, tmp_path / "old", train_steps=3, grid_images=0, resume=True)
        with pytest.raises(RunFolderError, match=r"antialias \(saved True, now False\)"):
            train(x, tmp_path / "old", train_steps=4, grid_images=0, resume=True, antialias=False)


def test_the_readiness_check_is_fixed_across_runs(tmp_path):
    # step 0 evaluates the same initial model on the same held-out images, steps and noise
    with one_thread():
        train(images(12), tmp_path / "a", train_steps=1, grid_images=0)
        train(images(12), tmp_path / "b", train_steps=1, grid_images=0)
    a, b = records(tmp_path / "a", "eval"), records(tmp_path / "b", "eval")
    assert a[0]["holdout_loss"] == b[0]["holdout_loss"] == a[0]["holdout_loss_raw"]
    assert a[1]["holdout_loss"] == b[1]["holdout_loss"]


# ---- checkpoints and resume --------------------------------------------------------------------

def test_resume_extends_a_finished_run_and_refuses_other_settings(tmp_path):
    with one_thread():
        train(images(12), tmp_path / "a", train_steps=4, grid_images=0)
        extended = train(images(12), tmp_path / "a", train_steps=8, grid_images=0, resume=True)
        straight = train(images(12), tmp_path / "b", train_steps=8, grid_images=0)
    assert all(torch.equal(x, y) for x, y in zip(extended.unet.parameters(), straight.unet.parameters()))
    a, b = records(tmp_path / "a", "eval"), records(tmp_path / "b", "eval")
    assert [(r["step"], r["holdout_loss"]) for r in a] == [(r["step"], r["holdout_loss"]) for r in b]
    with pytest.raises(RunFolderError, match="resume=True"):
        train(images(12), tmp_path / "a", train_steps=8, grid_images=0)
    with pytest.raises(RunFolderError, match=r"lr \(saved 8e-05, now 0.001\)"):
        train(images(12), tmp_path / "a", train_steps=9, lr=1e-3, grid_images=0, resume=True)
    with pytest.raises(RunFolderError, match="num_images"):
        train(images(13), tmp_path / "a", train_steps=9, grid_images=0, resume=True)


@pytest.mark.parametrize("name", ["unet.safetensors", "ema.safetensors", "optimizer.safetensors", "rng-rank0.safetensors",
                                  "optimizer.json", "state.json"])
def test_a_corrupt_checkpoint_file_is_named(tmp_path, name):
    with one_thread():
        train(images(12), tmp_path, train_steps=2, grid_images=0)
    target = latest_checkpoint(tmp_path) / name
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        train(images(12), tmp_path, train_steps=3, grid_images=0, resume=True)


def test_an_interrupted_checkpoint_write_is_ignored(tmp_path):
    with one_thread():
        train(images(12), tmp_path / "a", train_steps=2, grid_images=0)
        (tmp_path / "a" / "checkpoints" / ".tmp-step-00000003").mkdir()  # a write killed before its manifest
        resumed = train(images(12), tmp_path / "a", train_steps=4, grid_images=0, resume=True)
        straight = train(images(12), tmp_path / "b", train_steps=4, grid_images=0)
    assert all(torch.equal(x, y) for x, y in zip(resumed.unet.parameters(), straight.unet.parameters()))
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir()) == ["step-00000004"]


def test_resume_without_a_checkpoint_starts_afresh(tmp_path):
    with one_thread():
        a = train(images(12), tmp_path / "a", train_steps=2, grid_images=0, resume=True)
        b = train(images(12), tmp_path / "b", train_steps=2, grid_images=0)
    assert all(torch.equal(x, y) for x, y in zip(a.unet.parameters(), b.unet.parameters()))


# ---- bad input ---------------------------------------------------------------------------------


def test_no_or_too_few_images_raise_clear_errors(tmp_path):
    class Empty(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 0

    with pytest.raises(ValueError, match="empty batch"):
        train(torch.zeros(0, 1, 8, 8), tmp_path, train_steps=1)
    with pytest.raises(ValueError, match="holds no images"):
        train(Empty(), tmp_path, train_steps=1)
    with pytest.raises(ValueError, match="need at least 5 normal images"):
        train(images(4), tmp_path, train_steps=1)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        train(images(12) * 255, tmp_path, train_steps=1)
    with pytest.raises(TypeError, match="tensor or a torch Dataset"):
        train([1, 2, 3], tmp_path, train_steps=1)
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "run.json").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(train_steps=None), "exactly one of train_steps and epochs"),
        (dict(epochs=2), "exactly one of train_steps and epochs"),
        (dict(train_steps=2.5), "train_steps must be an integer"),
        (dict(loss="huber"), "loss must be one of"),
        (dict(preset="huge"), "preset must be one of"),
        (dict(resolution=7), "multiple of 2"),
        (dict(ema_decay=1.5), "ema_decay"),
        (dict(holdout=0.9), "holdout"),
        (dict(batch_size=0), "batch_size must be >= 1"),
        (dict(mixed_precision="fp8"), "mixed_precision"),
    ],
)
def test_invalid_settings_are_rejected(kwargs, message):
    settings = dict(train_steps=1, resolution=8, preset="micro") | kwargs
    with pytest.raises(ConfigError, match=message):
        DissolverTrainConfig(**settings)


def test_cli_trains_on_the_normal_train_split_of_a_folder(tmp_path):
    import numpy as np
    from PIL import Image

    from dia_augment.cli import main

    for cls, count in (("normal", 15), ("lesion", 5)):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(count):
            pixels = (images(1, size=12, seed=i)[0, 0] * 255).round().to(torch.uint8).numpy()
            Image.fromarray(np.ascontiguousarray(pixels)).save(tmp_path / "data" / cls / f"{i}.png")
    with one_thread():
        code = main(["train-dissolver", "--data", str(tmp_path / "data"), "--normal-class", "normal", "--resolution", "8",
                     "--preset", "micro", "--train-steps", "2", "--batch-size", "4", "--out", str(tmp_path / "run"),
                     "--no-progress"])
    assert code == 0
    loaded = DDPMDissolving.from_pretrained(tmp_path / "run" / "dissolver")
    assert loaded.resolution == 8 and loaded.model_channels == 1
    # the seeded 80 / 20 split keeps 12 of the 15 normal images for training, and no lesion
    assert json.loads((tmp_path / "run" / "run.json").read_text())["data"]["num_images"] == 12
    # the command probes the final dissolver on the 4 held-out images (seeded by the run's seed)
    probe = json.loads((tmp_path / "run" / "probe" / "probe.json").read_text())
    assert (tmp_path / "run" / "probe" / "probe.png").is_file()
    assert probe["meta"]["num_images"] == 4 and probe["meta"]["seed"] == 0
    assert [r["t"] for r in probe["curves"]["dissolver"]] == [0, 30, 60, 100, 200, 400]
