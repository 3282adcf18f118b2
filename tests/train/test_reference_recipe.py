"""The paper code's recipe, one call or one flag away: config, step curricula, all-view dissolving."""

from __future__ import annotations

import argparse
import math

import pytest
import torch

from dia_augment.augmentation.random_dissolving import RandomDissolving
from dia_augment.augmentation.simclr import SimCLRAugmentation
from dia_augment.cli import train as train_cli
from dia_augment.cli._config_options import config_from_args
from dia_augment.filters import ResizeDissolving
from dia_augment.filters.blur import ReferenceGaussianBlur
from dia_augment.train.config import TrainConfig
from dia_augment.train.step import build_rows
from dia_augment.utils.random import STEP_CURRICULA, draw_steps, step_curriculum


def _reference_sampler(name, epoch):
    """The paper code's `--diffusion_scheduler` branches, written out: (alpha, beta) of its Beta, or None."""

    def by_epoch(epoch, reverse, t_max=30, mean_value=20):
        step = (mean_value - 2) / t_max * 2
        epoch = epoch % t_max
        if epoch < t_max / 2:
            alpha, beta = mean_value, step * epoch + 2
        else:
            beta, alpha = mean_value, step * (t_max - epoch - 1) + 2
        return (beta, alpha) if reverse else (alpha, beta)

    return {
        "uniform": None,
        "beta_by_epoch": by_epoch(epoch, False),
        "beta_by_epoch_reversed": by_epoch(epoch, True),
        "beta_skewed": (1, 1.7),
        "beta_skewed_reversed": (1.7, 1.0),
    }[name]


@pytest.mark.parametrize("name", STEP_CURRICULA)
def test_curricula_match_the_reference_over_two_cycles(name):
    for epoch in range(1, 61):
        expected = _reference_sampler(name, epoch)
        got = step_curriculum(name, epoch)
        if expected is None:
            assert got is None
        else:
            assert got == pytest.approx(expected, abs=1e-9), (name, epoch)
    with pytest.raises(ValueError, match="step curriculum"):
        step_curriculum("beta", 1)


@pytest.mark.parametrize(("a", "b"), [(20.0, 3.2), (1.0, 1.7), (1.7, 1.0), (0.5, 0.5)])
def test_beta_steps_have_the_beta_moments(a, b):
    # t = 30 + floor(70 u): E[t] = 30 + 70 E[u] - 0.5 up to the floor's bias, which is below 0.5
    n = 10000
    steps = draw_steps(n, (30, 100), torch.Generator().manual_seed(0), beta=(a, b)).double()
    assert int(steps.min()) >= 30 and int(steps.max()) <= 99
    mean_u, var_u = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    assert float(steps.mean()) == pytest.approx(30 + 70 * mean_u - 0.5, abs=0.5 + 4 * 70 * math.sqrt(var_u / n))
    assert float(steps.var()) == pytest.approx(70**2 * var_u + 1 / 12, rel=0.05)
    again = draw_steps(n, (30, 100), torch.Generator().manual_seed(0), beta=(a, b)).double()
    assert torch.equal(steps, again)  # one generator, one stream: reproducible


def test_random_dissolving_draws_the_curriculum_steps():
    dissolve = RandomDissolving(ResizeDissolving(4), p=1.0, generator=3)
    dissolve.step_beta = (20.0, 2.0)
    steps = dissolve.forward_parameters((64, 1, 8, 8))["step"]
    assert torch.equal(steps, draw_steps(64, (30, 100), torch.Generator().manual_seed(3), beta=(20.0, 2.0)))


def test_reference_recipe_sets_every_item_of_the_paper_code():
    cfg = TrainConfig.reference()
    expected = {
        "mode": "dia", "shift": "rotation", "num_shifts": 4, "model": "resnet18_imagenet", "width": 64,
        "image_size": 224, "batch_size": 32, "epochs": 1000, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-6,
        "optimizer": "lars", "lr_schedule": "gradual_warmup_cosine", "warmup_epochs": 10.0, "temperature": 0.5,
        "loss_mode": "shifted_removed", "loss_normalisation": "reference", "shift_loss_on_dissolved": True,
        "step_range": (30, 100), "step_curriculum": "uniform", "crop_scale": (0.08, 1.0), "dissolve_all_views": False,
    }
    assert {k: getattr(cfg, k) for k in expected} == expected
    assert TrainConfig.reference(epochs=5, dissolve_all_views=True).epochs == 5
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    # the library's own defaults follow the reference where the issue asks: loss and shift loss
    default = TrainConfig()
    assert (default.loss_mode, default.loss_normalisation, default.shift_loss_on_dissolved) == (
        "shifted_removed", "reference", True)
    with pytest.raises(ValueError, match="dissolve_all_views needs mode 'dia'"):
        TrainConfig(mode="csi", dissolve_all_views=True)


@pytest.mark.parametrize(
    ("argv", "overrides"),
    [
        (["--recipe", "reference", "--epochs", "3", "--width", "8"], {"epochs": 3, "width": 8}),
        (["--epochs", "3", "--recipe", "reference"], {"epochs": 3}),  # given before it and not a default: kept
        (["--recipe", "reference", "--no-shift-loss-on-dissolved"], {"shift_loss_on_dissolved": False}),
    ],
)
def test_cli_recipe_flag(argv, overrides):
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    args = parser.parse_args(["--data", "embedded", "--out", "unused", *argv])
    assert config_from_args(TrainConfig, args) == TrainConfig.reference(**overrides)


def test_dissolve_all_views_blurs_the_clean_views_too():
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    blur = ReferenceGaussianBlur()
    identity = SimCLRAugmentation(8, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), p_jitter=0.0, p_gray=0.0)
    rows = build_rows(x, identity, 1, "rotation", RandomDissolving(blur, p=1.0, generator=0),
                      torch.Generator().manual_seed(0), dissolve_all_views=True)
    blurred = blur(x, 0)
    for r in range(6):  # views x images, one shift: each row is the blurred image, maybe h-flipped
        i = r % 2
        got = rows.images[r]
        assert torch.allclose(got, blurred[i], atol=1e-6) or torch.allclose(got, blurred[i].flip(-1), atol=1e-6), r
    assert rows.labels.dissolved.tolist() == [False] * 4 + [True] * 2
    with pytest.raises(ValueError, match="dissolve_all_views needs a dissolve"):
        build_rows(x, identity, 1, "rotation", None, torch.Generator().manual_seed(0), dissolve_all_views=True)


def test_cli_offers_the_reference_blurs_for_every_view():
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    args = parser.parse_args(["--data", "embedded", "--out", "unused", "--recipe", "reference",
                              "--dissolver", "gaussian-reference", "--dissolve-all-views"])
    mode, backend, shift = train_cli.resolve_objective(args)
    assert (mode, backend, shift) == ("dia", "gaussian-reference", "rotation")
    assert config_from_args(TrainConfig, args, mode=mode, shift=shift) == TrainConfig.reference(dissolve_all_views=True)


def test_cli_dissolver_weights_and_input_range_reach_the_dissolver(tmp_path, monkeypatch):
    from dia_augment.filters import DDPMDissolving
    from dia_augment.filters.presets import make_scheduler, make_unet

    torch.manual_seed(0)
    DDPMDissolving(make_unet("micro", 8, 1), make_scheduler()).save_pretrained(tmp_path / "dis", online_unet=make_unet("micro", 8, 1))
    seen = {}

    def fake_train(config, images, dissolver, **kwargs):  # stop before training: only the dissolver is checked
        seen["dissolver"] = dissolver

    monkeypatch.setattr("dia_augment.train.train_model", fake_train)
    monkeypatch.setattr("dia_augment.data.load_one_class", lambda *a, **k: argparse.Namespace(images=torch.rand(4, 1, 8, 8),
                                                                                         normal_class="normal"))
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    args = parser.parse_args(["--data", "embedded", "--out", str(tmp_path / "run"), "--dissolver", "ddpm",
                              "--dissolver-path", str(tmp_path / "dis"), "--dissolver-weights", "online",
                              "--dissolver-input-range", "reference", "--calibration-fraction", "0"])
    assert train_cli.run(args) == 0
    dissolver = seen["dissolver"]
    assert dissolver.input_range == "reference"
    online = DDPMDissolving.from_pretrained(tmp_path / "dis", weights="online")
    assert all(torch.equal(a, b) for a, b in zip(dissolver.unet.state_dict().values(), online.unet.state_dict().values()))
