"""A DIA run that reads its dissolved views from a dissolve cache."""

import pytest
import torch

from dia_augment.augmentation.cache import CachedDissolving, build_dissolve_cache
from dia_augment.errors import ConfigError, DiaError
from dia_augment.filters import DDPMDissolving
from dia_augment.filters.presets import make_scheduler, make_unet
from dia_augment.train import TrainConfig, train_model
from dia_augment.train.step import build_rows


def _dissolver(seed=0):
    torch.manual_seed(seed)
    return DDPMDissolving(make_unet("micro", 8, 3), make_scheduler(), resolution=8)


def _images():
    return torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def _config(tmp_path, **kw):
    base = dict(mode="dia", width=2, image_size=16, epochs=1, batch_size=8, progress=False, mixed_precision="no",
                dissolve_cache=str(tmp_path / "cache"), cache_steps=4)
    return TrainConfig(**{**base, **kw})


def test_the_dissolved_rows_are_the_cached_views_of_the_drawn_steps(tmp_path):
    dissolver, images = _dissolver(), _images()
    cache = build_dissolve_cache(dissolver, images, tmp_path / "cache", steps=4, batch_size=1, progress=False)
    dissolve = CachedDissolving(cache, generator=3)
    indices = torch.tensor([4, 9, 1])
    rows = build_rows(images[indices], lambda x, generator=None: x, num_shifts=1, dissolve=dissolve,
                      generator=torch.Generator().manual_seed(0), indices=indices)
    dissolved = rows.images[rows.labels.dissolved]
    steps = dissolve._params["step"]
    assert set(steps.tolist()) <= set(cache.grid)
    with torch.no_grad():
        live = torch.cat([dissolver(images[i : i + 1], int(t)) for i, t in zip(indices.tolist(), steps.tolist())])
    assert all(torch.equal(d, l) or torch.equal(d, l.flip(-1)) for d, l in zip(dissolved, live))  # each dissolved row is its image's cached view, up to the view's random flip
    with pytest.raises(DiaError, match="indices"):
        build_rows(images[indices], lambda x, generator=None: x, dissolve=dissolve)


def test_a_run_builds_the_cache_once_and_a_second_run_reuses_it(tmp_path):
    first = train_model(_config(tmp_path), _images(), _dissolver(), out_dir=tmp_path / "a")
    shard = next((tmp_path / "cache").glob("shard-*.safetensors"))
    built = shard.stat().st_mtime_ns
    second = train_model(_config(tmp_path), _images(), _dissolver(), out_dir=tmp_path / "b")
    assert shard.stat().st_mtime_ns == built
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_a_cache_of_another_dissolver_is_refused(tmp_path):
    train_model(_config(tmp_path), _images(), _dissolver(0), out_dir=tmp_path / "a")
    with pytest.raises(DiaError, match="cache"):
        train_model(_config(tmp_path), _images(), _dissolver(1), out_dir=tmp_path / "b")


def test_a_cache_needs_dia_mode():
    with pytest.raises(ConfigError, match="dissolve_cache needs mode 'dia'"):
        TrainConfig(mode="csi", dissolve_cache="somewhere")
