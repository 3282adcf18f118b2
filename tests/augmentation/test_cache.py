"""The dissolve cache: views bit for bit the live dissolve, stale caches refused, resumable, multi-process."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from dia_augment import DDPMDissolving, StableDiffusionDissolving
from dia_augment.augmentation.cache import (MANIFEST_NAME, CachedDissolving, DissolveCache, build_dissolve_cache,
                                            step_grid, view_noise)
from dia_augment.errors import (CheckpointError, ConfigError, InputError, InputTypeError, MissingCheckpointError,
                                RunFolderError)
from dia_augment.filters.presets import make_scheduler, make_unet
from tests.processes import run_processes
from tests.stable_diffusion.conftest import build_sd_pipeline

N, SHAPE, GRID, DRAWS, SEED = 5, (3, 16, 16), (40, 80), 2, 3
# 3 shards of 2, 2 and 1 images, 2 images per call: one dissolver call per shard, step and draw
ARGS = dict(steps=GRID, draws=DRAWS, seed=SEED, batch_size=2, shard_size=2, progress=False)
CALLS_PER_SHARD = len(GRID) * DRAWS


def tiny_ddpm(add_noise: bool = True) -> DDPMDissolving:
    torch.manual_seed(0)
    return DDPMDissolving(make_unet("tiny", 16, 3), make_scheduler(), add_noise=add_noise)


def dataset_images(seed: int = 0) -> torch.Tensor:
    return torch.rand(N, *SHAPE, generator=torch.Generator().manual_seed(seed))


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


class CallCounter:
    """A forward pre-hook counting the dissolver's calls, raising (a simulated kill) at call ``fail_at``."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, module, args):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt("killed")


@pytest.fixture(scope="module")
def ddpm() -> DDPMDissolving:
    return tiny_ddpm()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return dataset_images()


@pytest.fixture(scope="module")
def reference(ddpm, images, tmp_path_factory) -> Path:
    """A complete one-process build, never modified by the tests."""
    folder = tmp_path_factory.mktemp("reference")
    build_dissolve_cache(ddpm, images, folder, **ARGS)
    return folder


@pytest.fixture
def cache(reference) -> DissolveCache:
    return DissolveCache.open(reference)


def live_view(dissolver, images, cache: DissolveCache, index: int, grid_index: int, draw: int) -> torch.Tensor:
    """The live dissolve of image ``index`` in its build batch, with the cache's noise."""
    a, b = cache.build_batch(index)
    step = cache.grid[grid_index]
    noise = view_noise(dissolver, cache.image_shape, cache.seed, range(a, b), step, draw)
    with torch.no_grad():
        return dissolver(images[a:b], step, noise=noise)[index - a]


class TestGrid:
    def test_step_grid_spreads_distinct_steps_with_both_ends(self):
        assert step_grid((30, 100), 8) == (30, 40, 50, 60, 69, 79, 89, 99)
        assert step_grid((100, 500), 8) == (100, 157, 214, 271, 328, 385, 442, 499)
        assert step_grid((0, 3), 3) == (0, 1, 2)
        assert step_grid((100, 500), 1) == (299,)

    @pytest.mark.parametrize("step_range, count, needle", [((0, 3), 4, "4 distinct"), ((5, 5), 2, "empty"),
                                                            ((0, 10), 0, "count"), ((0.5, 10), 2, "integers")])
    def test_bad_grids(self, step_range, count, needle):
        with pytest.raises(ConfigError, match=needle):
            step_grid(step_range, count)

    def test_a_count_spreads_over_the_dissolvers_default_range(self, ddpm, images, tmp_path):
        cache = build_dissolve_cache(tiny_ddpm(add_noise=False), images[:2], tmp_path, steps=3, progress=False)
        assert cache.grid == step_grid(ddpm.default_step_range, 3) == (30, 65, 99)  # 34.5 rounds up

    @pytest.mark.parametrize("steps, needle", [((80, 40), "strictly increasing"), ((40, 1000), r"\[0, 1000\)"),
                                               ((40.0, 80), "integers"), ((), "non-empty")])
    def test_bad_steps_are_refused_before_any_work(self, ddpm, images, tmp_path, steps, needle):
        with pytest.raises(ConfigError, match=needle):
            build_dissolve_cache(ddpm, images, tmp_path / "c", **{**ARGS, "steps": steps})
        assert not (tmp_path / "c").exists()


class TestExact:
    def test_ddpm_views_are_the_live_dissolve_bit_for_bit(self, ddpm, images, cache):
        seen = []
        for i in range(N):
            for j in range(len(GRID)):
                for d in range(DRAWS):
                    view = cache.read([i], j, d)[0]
                    assert view.dtype == torch.float32
                    assert torch.equal(view, live_view(ddpm, images, cache, i, j, d)), (i, j, d)
                    seen.append(view)
        assert len({v.sum().item() for v in seen}) == len(seen)  # every step and draw gives its own view

    def test_batch_size_one_views_are_the_one_image_calls(self, ddpm, images, tmp_path):
        cache = build_dissolve_cache(ddpm, images[:3], tmp_path, steps=[60], draws=2, seed=5, batch_size=1,
                                     progress=False)
        for i in range(3):
            assert cache.build_batch(i) == (i, i + 1)
            for d in range(2):
                noise = view_noise(ddpm, SHAPE, 5, [i], 60, d)
                with torch.no_grad():
                    assert torch.equal(cache.read([i], 0, d), ddpm(images[i:i + 1], 60, noise=noise))

    def test_stable_diffusion_views_are_the_live_dissolve_bit_for_bit(self, tmp_path):
        sd = StableDiffusionDissolving(pipeline=build_sd_pipeline(), sample_latent=True)
        images = dataset_images(1)[:3]
        cache = build_dissolve_cache(sd, images, tmp_path, steps=[100, 400], draws=2, seed=1, batch_size=2,
                                     shard_size=2, progress=False)
        assert view_noise(sd, SHAPE, 1, [0], 100, 0).shape == (1, 4, 2, 2)  # the VAE latent's noise
        for i in range(3):
            for j in range(2):
                for d in range(2):
                    assert torch.equal(cache.read([i], j, d)[0], live_view(sd, images, cache, i, j, d)), (i, j, d)
        assert not torch.equal(cache.read([0], 0, 0), cache.read([0], 0, 1))
        DissolveCache.open(tmp_path, dissolver=sd, images=images)

    def test_noise_depends_on_image_step_draw_and_seed_only(self, ddpm):
        batch = view_noise(ddpm, SHAPE, 0, [3, 1], 40, 1)
        assert torch.equal(batch[0], view_noise(ddpm, SHAPE, 0, [3], 40, 1)[0])
        others = [view_noise(ddpm, SHAPE, *args)[0] for args in [(1, [3], 40, 1), (0, [3], 80, 1), (0, [3], 40, 0),
                                                                   (0, [1], 40, 1)]]
        assert not any(torch.equal(batch[0], other) for other in others)

    def test_float16_storage_halves_the_bytes_and_rounds(self, ddpm, images, reference, tmp_path):
        cache = build_dissolve_cache(ddpm, images, tmp_path, **ARGS, dtype=torch.float16)
        exact = DissolveCache.open(reference)
        half, full = cache.read(range(N), 1, 1), exact.read(range(N), 1, 1)
        assert half.dtype == torch.float16 and not torch.equal(half.float(), full)
        assert (half.float() - full).abs().max() <= 2**-12  # float16 rounding in [0.5, 1)
        size = lambda folder: (folder / "shard-00000.safetensors").stat().st_size  # noqa: E731
        assert size(tmp_path) < 0.55 * size(reference)

    def test_a_deterministic_dissolver_takes_one_draw(self, images, tmp_path):
        ddpm = tiny_ddpm(add_noise=False)
        assert view_noise(ddpm, SHAPE, 0, [0], 40, 0) is None
        with pytest.raises(ConfigError, match="draws=2.*draws no noise.*draws=1"):
            build_dissolve_cache(ddpm, images, tmp_path, **ARGS)
        cache = build_dissolve_cache(ddpm, images, tmp_path, **{**ARGS, "draws": 1})
        with torch.no_grad():
            assert torch.equal(cache.read([0, 1], 1, 0), ddpm(images[:2], 80))

    def test_a_dataset_of_pairs_builds_the_same_files_as_the_tensor(self, ddpm, images, reference, tmp_path):
        pairs = [(image, 0) for image in images]
        build_dissolve_cache(ddpm, pairs, tmp_path, **ARGS)
        assert folder_bytes(tmp_path) == folder_bytes(reference)

    def test_manifest_records_the_build(self, reference, images):
        manifest = json.loads((reference / MANIFEST_NAME).read_text())
        assert manifest["format"] == "dia_augment.dissolve_cache" and manifest["version"] == 1
        assert manifest["complete"] and manifest["grid"] == list(GRID) and manifest["draws"] == DRAWS
        assert (manifest["seed"], manifest["dtype"], manifest["stochastic"]) == (SEED, "float32", True)
        assert manifest["data"]["count"] == N and manifest["data"]["shape"] == list(SHAPE)
        assert [(s["start"], s["stop"]) for s in manifest["shards"]] == [(0, 2), (2, 4), (4, 5)]
        assert all(len(s["sha256"]) == 64 for s in manifest["shards"])
        assert "unet.conv_in.weight" in manifest["dissolver"]["tensors"]


class TestRefusal:
    def test_the_same_dissolver_and_images_open(self, ddpm, images, reference):
        cache = DissolveCache.open(reference, dissolver=tiny_ddpm(), images=[(im, 1) for im in images], verify=True)
        assert len(cache) == N and cache.grid == GRID

    def test_a_changed_weight_is_refused_naming_it(self, ddpm, reference):
        changed = copy.deepcopy(ddpm)
        with torch.no_grad():
            changed.unet.conv_in.weight[0, 0, 0, 0] += 1e-3
        with pytest.raises(CheckpointError, match=r"another dissolver: its weights differ: unet\.conv_in\.weight "
                                                  rf".*{MANIFEST_NAME}"):
            DissolveCache.open(reference, dissolver=changed)

    def test_a_changed_option_is_refused_naming_it(self, ddpm, reference):
        with pytest.raises(CheckpointError, match="option add_noise is False \\(the cache's: True\\)"):
            DissolveCache.open(reference, dissolver=DDPMDissolving(ddpm.unet, make_scheduler()))

    def test_a_changed_pixel_is_refused_naming_the_image(self, images, reference):
        changed = images.clone()
        changed[2, 1, 5, 7] = 1 - changed[2, 1, 5, 7]
        with pytest.raises(CheckpointError, match="other images: image 2 differs"):
            DissolveCache.open(reference, images=changed)
        with pytest.raises(CheckpointError, match="there are 4 images; the cache was built from 5"):
            DissolveCache.open(reference, images=images[:4])

    def test_a_build_with_other_arguments_is_refused(self, ddpm, images, reference, tmp_path):
        with pytest.raises(RunFolderError, match="other arguments \\(seed 4 here, 3 there\\)"):
            build_dissolve_cache(ddpm, images, reference, **{**ARGS, "seed": 4})
        with pytest.raises(RunFolderError, match="the images"):
            build_dissolve_cache(ddpm, images.flip(0), reference, **ARGS)
        (tmp_path / "notes.txt").write_text("x")
        with pytest.raises(RunFolderError, match="notes.txt.*not a dissolve cache"):
            build_dissolve_cache(ddpm, images, tmp_path, **ARGS)

    def test_missing_folder_manifest_and_shard_are_refused(self, reference, tmp_path):
        with pytest.raises(MissingCheckpointError, match="not found"):
            DissolveCache.open(tmp_path / "nope")
        with pytest.raises(CheckpointError, match=f"no {MANIFEST_NAME}"):
            DissolveCache.open(tmp_path)
        copy_dir = tmp_path / "copy"
        copy_dir.mkdir()
        for name, data in folder_bytes(reference).items():
            (copy_dir / name).write_bytes(data)
        opened = DissolveCache.open(copy_dir)
        (copy_dir / "shard-00001.safetensors").unlink()
        with pytest.raises(CheckpointError, match="shard-00001.safetensors: it is missing.*it rebuilds the shard"):
            DissolveCache.open(copy_dir)
        with pytest.raises(CheckpointError, match="shard-00001.safetensors cannot be read"):
            opened.read([2], 0, 0)
        (copy_dir / "shard-00001.safetensors").write_bytes((reference / "shard-00001.safetensors").read_bytes()[:-8])
        with pytest.raises(CheckpointError, match="shard-00001.safetensors: it is corrupt"):
            DissolveCache.open(copy_dir)
        (copy_dir / "shard-00001.safetensors").write_bytes((reference / "shard-00000.safetensors").read_bytes())
        with pytest.raises(CheckpointError, match="shard-00001.safetensors: it was written by another build"):
            DissolveCache.open(copy_dir)


class TestResume:
    def test_a_killed_build_resumes_with_the_missing_shards_and_ends_with_the_same_files(self, ddpm, images,
                                                                                         reference, tmp_path):
        killer = CallCounter(fail_at=CALLS_PER_SHARD + 2)  # in the middle of the second shard
        handle = ddpm.register_forward_pre_hook(killer)
        try:
            with pytest.raises(KeyboardInterrupt):
                build_dissolve_cache(ddpm, images, tmp_path, **ARGS)
        finally:
            handle.remove()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["images.safetensors", MANIFEST_NAME,
                                                              "shard-00000.safetensors"]  # no temp file left
        progress = json.loads((tmp_path / MANIFEST_NAME).read_text())
        assert not progress["complete"] and [bool(s["sha256"]) for s in progress["shards"]] == [True, False, False]
        with pytest.raises(CheckpointError, match="incomplete.*2 of 3 shards.*resumes"):
            DissolveCache.open(tmp_path)

        counter = CallCounter()
        handle = ddpm.register_forward_pre_hook(counter)
        try:
            build_dissolve_cache(ddpm, images, tmp_path, **ARGS)
            assert counter.calls == 2 * CALLS_PER_SHARD  # shards 1 and 2 only
            build_dissolve_cache(ddpm, images, tmp_path, **ARGS)  # complete: opened, nothing dissolved
            assert counter.calls == 2 * CALLS_PER_SHARD
        finally:
            handle.remove()
        assert folder_bytes(tmp_path) == folder_bytes(reference)

    def test_damaged_shards_are_rebuilt(self, ddpm, images, reference, tmp_path):
        def rebuild() -> int:
            counter = CallCounter()
            handle = ddpm.register_forward_pre_hook(counter)
            try:
                build_dissolve_cache(ddpm, images, tmp_path, **ARGS)
            finally:
                handle.remove()
            assert folder_bytes(tmp_path) == folder_bytes(reference)
            return counter.calls

        for name, data in folder_bytes(reference).items():
            (tmp_path / name).write_bytes(data)
        (tmp_path / "shard-00001.safetensors").unlink()  # from a complete cache
        assert rebuild() == CALLS_PER_SHARD

        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        manifest["complete"] = False
        manifest["shards"][0]["sha256"] = None  # written, but killed before the manifest recorded it
        (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
        (tmp_path / "shard-00002.safetensors").write_bytes(b"garbage")
        (tmp_path / ".shard-00002.safetensors.abc.tmp").write_bytes(b"left by a SIGKILL")
        assert rebuild() == CALLS_PER_SHARD

    def test_verify_compares_each_shards_sha256(self, reference, tmp_path):
        for name, data in folder_bytes(reference).items():
            (tmp_path / name).write_bytes(data)
        shard = bytearray((tmp_path / "shard-00000.safetensors").read_bytes())
        shard[-1] ^= 1  # a flipped bit in the views: the header still reads
        (tmp_path / "shard-00000.safetensors").write_bytes(bytes(shard))
        DissolveCache.open(tmp_path)
        with pytest.raises(CheckpointError, match="shard-00000.safetensors: its SHA-256 differs.*delete the shard"):
            DissolveCache.open(tmp_path, verify=True)


def _build_worker(rank: int, world: int, init_file: str, folder: str, threads: int) -> None:
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        counter = CallCounter()
        ddpm = tiny_ddpm()
        ddpm.register_forward_pre_hook(counter)
        cache = build_dissolve_cache(ddpm, dataset_images(), folder, **ARGS)
        assert len(cache) == N
        calls = torch.tensor([counter.calls])
        dist.all_reduce(calls)
        assert int(calls) == 3 * CALLS_PER_SHARD, int(calls)  # every shard built once, by one process
        assert counter.calls == (2 if rank == 0 else 1) * CALLS_PER_SHARD  # shards 0 and 2 | shard 1
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_build_the_one_process_files_byte_for_byte(reference, tmp_path):
    folder = tmp_path / "two"
    run_processes(_build_worker, (2, str(tmp_path / "init"), str(folder), torch.get_num_threads()))
    assert folder_bytes(folder) == folder_bytes(reference)


class TestCachedDissolving:
    def test_views_steps_and_draws(self, images, cache):
        aug = CachedDissolving(cache, generator=0)
        indices = torch.tensor([4, 0, 2, 2, 1, 3])
        out = aug(images[indices], indices)
        params = aug._params
        assert set(params) == {"step", "grid_index", "draw", "index"}
        assert torch.equal(params["index"], indices)
        assert torch.equal(params["step"], torch.tensor(GRID)[params["grid_index"]])
        assert set(params["draw"].tolist()) <= {0, 1} and set(params["step"].tolist()) <= set(GRID)
        assert len(set(zip(params["grid_index"].tolist(), params["draw"].tolist()))) > 1
        assert torch.equal(out, cache.read(indices, params["grid_index"], params["draw"]))

    def test_replay_is_exact_and_the_seed_decides(self, images, cache):
        indices = torch.tensor([1, 3, 0, 4, 2, 2, 1, 0])
        aug = CachedDissolving(cache, generator=7)
        out = aug(images[indices], indices)
        params = aug._params
        again = aug(images[indices], indices)
        assert not torch.equal(again, out)  # the generator moved on
        assert torch.equal(aug(images[indices], indices, params=params), out)
        assert torch.equal(CachedDissolving(cache, generator=7)(images[indices], indices), out)
        other = CachedDissolving(cache, generator=8)
        other(images[indices], indices)
        assert not torch.equal(other._params["grid_index"] * 2 + other._params["draw"],
                               params["grid_index"] * 2 + params["draw"])

    def test_output_follows_the_images_dtype(self, images, cache):
        aug = CachedDissolving(cache, generator=0, check_images=False)
        out = aug(images[:2].double(), [0, 1])
        assert out.dtype == torch.float64
        assert torch.equal(out, cache.read([0, 1], aug._params["grid_index"], aug._params["draw"]).double())

    def test_step_subsets(self, images, cache):
        indices = torch.arange(N).repeat(4)
        for aug in (CachedDissolving(cache, step_range=(50, 100), generator=0),
                    CachedDissolving(cache, steps=[80], generator=0)):
            aug(images[indices], indices)
            assert set(aug._params["step"].tolist()) == {80}
        with pytest.raises(ConfigError, match="holds none of the cache's steps"):
            CachedDissolving(cache, step_range=(41, 80))
        with pytest.raises(ConfigError, match="subset of the cache's grid"):
            CachedDissolving(cache, steps=[50])
        with pytest.raises(ConfigError, match="not both"):
            CachedDissolving(cache, step_range=(0, 100), steps=[40])

    def test_a_step_curriculum_skews_the_grid_draws(self, images, cache):
        aug = CachedDissolving(cache, generator=0)
        aug.step_beta = (20.0, 1.0)  # u near 1: the last grid step
        indices = torch.arange(N).repeat(8)
        aug(images[indices], indices)
        assert (aug._params["step"] == GRID[-1]).float().mean() > 0.8

    def test_it_pickles_and_reads_in_the_copy(self, images, cache, reference):
        aug = CachedDissolving(reference, generator=3)
        indices = torch.tensor([0, 4])
        aug(images[indices], indices)  # opens shards
        copy_aug = pickle.loads(pickle.dumps(aug))
        assert torch.equal(copy_aug(images[indices], indices), aug(images[indices], indices))
        assert torch.equal(copy_aug._params["draw"], aug._params["draw"])

    def test_images_that_are_not_the_cached_ones_are_refused(self, images, cache):
        aug = CachedDissolving(cache, generator=0)
        indices = torch.tensor([3, 1])
        with pytest.raises(InputError, match="images\\[1\\] is not the image the cache holds at index 1"):
            aug(torch.stack([images[3], images[1].flip(-1)]), indices)
        with pytest.raises(InputError, match="images\\[0\\] is not the image the cache holds at index 1 "
                                             "\\(nor are 1 other rows\\)"):
            aug(images[indices], indices.flip(0))
        with pytest.raises(InputError, match="float64"):
            aug(images[indices].double(), indices)
        assert CachedDissolving(cache, check_images=False)(images[indices].flip(-1), indices).shape == (2, *SHAPE)

    @pytest.mark.parametrize("indices, error, needle", [
        (torch.tensor([0, 5]), InputError, r"holds \[5\], outside \[0, 5\): the cache holds 5 images"),
        (torch.tensor([-1, 0]), InputError, "outside"),
        (torch.tensor([0, 1, 2]), InputError, r"must be a \(2,\) tensor.*got shape \(3,\)"),
        (torch.tensor([[0, 1]]), InputError, r"shape \(1, 2\)"),
        (torch.tensor([0.0, 1.0]), InputTypeError, "integer"),
        ("01", InputTypeError, "indices must be"),
    ])
    def test_bad_indices(self, images, cache, indices, error, needle):
        with pytest.raises(error, match=needle):
            CachedDissolving(cache, generator=0)(images[:2], indices)

    def test_bad_replays_and_reads(self, images, cache):
        aug = CachedDissolving(cache, generator=0)
        indices = torch.tensor([0, 1])
        aug(images[indices], indices)
        params = dict(aug._params)
        with pytest.raises(InputError, match="step 50 is not on the cache's grid \\(40, 80\\)"):
            aug(images[indices], indices, params={**params, "step": torch.tensor([40, 50])})
        with pytest.raises(InputError, match="drawn for the indices \\[0, 1\\]; got \\[1, 0\\]"):
            aug(images[indices.flip(0)], indices.flip(0), params=params)
        with pytest.raises(InputError, match="has no \\['draw'\\]"):
            aug(images[indices], indices, params={"step": params["step"]})
        with pytest.raises(InputError, match="params\\['draw'\\] holds \\[2\\], outside \\[0, 2\\)"):
            aug(images[indices], indices, params={**params, "draw": torch.tensor([0, 2])})
        with pytest.raises(InputError, match="does not match"):
            aug(images[indices], indices, params={**params, "grid_index": 1 - params["grid_index"]})
        with pytest.raises(InputError, match=r"cache holds \(3, 16, 16\) views"):
            aug(torch.rand(2, 3, 8, 8), indices)
        with pytest.raises(InputError, match=r"grid_index holds \[2\]"):
            cache.read([0], 2, 0)
        with pytest.raises(InputError, match=r"draw must be an int or a \(1,\) tensor"):
            cache.read([0], 0, torch.tensor([0, 1]))

    def test_bad_build_arguments(self, ddpm, images, tmp_path):
        with pytest.raises(InputTypeError, match="dissolver must be a Dissolver"):
            build_dissolve_cache(torch.nn.Identity(), images, tmp_path, **ARGS)
        with pytest.raises(InputTypeError, match="images must be a \\(N, C, H, W\\) tensor"):
            build_dissolve_cache(ddpm, 3, tmp_path, **ARGS)
        with pytest.raises(InputError, match="must be in \\[0, 1\\]"):
            build_dissolve_cache(ddpm, images * 255, tmp_path, **ARGS)
        with pytest.raises(InputError, match="dataset item 1 is a \\(3, 8, 8\\)"):
            build_dissolve_cache(ddpm, [images[0], images[1, :, :8, :8]], tmp_path, **ARGS)
        with pytest.raises(ConfigError, match="dtype must be None"):
            build_dissolve_cache(ddpm, images, tmp_path, **ARGS, dtype=torch.int8)
        with pytest.raises(ConfigError, match="batch_size must be a positive int"):
            build_dissolve_cache(ddpm, images, tmp_path, **{**ARGS, "batch_size": 0})
        assert list(tmp_path.iterdir()) == []
