from __future__ import annotations

import pickle

import kornia.augmentation as K
import pytest
import torch
from torch import nn

from dia_augment import DDPMDissolving, GaussianDissolving, RandomDissolving
from dia_augment.filters.presets import make_scheduler, make_unet


@pytest.fixture
def ddpm() -> DDPMDissolving:
    torch.manual_seed(0)
    return DDPMDissolving(make_unet("micro", 8, 3), make_scheduler())


def batch(b: int = 6, c: int = 3, s: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(seed))


def changed_rows(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).flatten(1).abs().amax(1) > 0


class TestValues:
    def test_each_row_is_dissolved_with_its_own_step(self, ddpm):
        aug = RandomDissolving(ddpm, p=1.0, generator=0)
        x = batch()
        y = aug(x)
        steps = aug._params["step"]
        assert steps.shape == (6,) and len(set(steps.tolist())) > 1
        assert all(30 <= s < 100 for s in steps.tolist())
        torch.testing.assert_close(y, ddpm(x, steps))

    def test_same_on_batch_shares_step_and_gate(self, ddpm):
        aug = RandomDissolving(ddpm, p=0.5, same_on_batch=True, generator=3)
        for _ in range(5):
            aug(batch())
            assert len(set(aug._params["step"].tolist())) == 1
            assert len(set(aug._params["batch_prob"].tolist())) == 1

    def test_p_zero_is_identity_and_p_one_changes_every_row(self, ddpm):
        x = batch()
        assert torch.equal(RandomDissolving(ddpm, p=0.0, generator=0)(x), x)
        assert changed_rows(x, RandomDissolving(ddpm, p=1.0, generator=0)(x)).all()

    def test_gate_selects_rows(self, ddpm):
        aug = RandomDissolving(ddpm, p=0.5, generator=1)
        x = batch(16)
        y = aug(x)
        gate = aug._params["batch_prob"] > 0.5
        assert 0 < gate.sum() < 16
        assert torch.equal(changed_rows(x, y), gate)
        torch.testing.assert_close(y[gate], ddpm(x[gate], aug._params["step"][gate]))

    def test_only_selected_rows_reach_the_model(self, ddpm):
        seen: list[int] = []
        ddpm.unet.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
        aug = RandomDissolving(ddpm, p=0.25, generator=2)
        aug(batch(32))
        assert seen == [int((aug._params["batch_prob"] > 0.5).sum())] and seen[0] < 32

    def test_step_range(self):
        aug = RandomDissolving(GaussianDissolving(), step_range=(10, 12), p=1.0, generator=0)
        aug(batch(64))
        assert set(aug._params["step"].tolist()) == {10, 11}


class TestReproducibility:
    def test_same_seed_same_output(self, ddpm):
        x = batch()
        a = RandomDissolving(ddpm, p=0.5, generator=7)(x)
        b = RandomDissolving(ddpm, p=0.5, generator=7)(x)
        c = RandomDissolving(ddpm, p=0.5, generator=8)(x)
        assert torch.equal(a, b) and not torch.equal(a, c)

    def test_replay_from_params_is_exact(self, ddpm):
        aug = RandomDissolving(ddpm, p=0.5, generator=0)
        x = batch()
        y = aug(x)
        params = {k: v.clone() for k, v in aug._params.items()}
        aug(batch(seed=1))  # a different draw in between
        assert torch.equal(aug(x, params=params), y)

    def test_replay_with_noise_draw(self):
        torch.manual_seed(0)
        noisy = DDPMDissolving(make_unet("micro", 8, 1), make_scheduler(), add_noise=True)
        aug = RandomDissolving(noisy, p=1.0, generator=0)
        x = batch(c=1)
        y = aug(x)
        assert aug._params["noise"].shape == (6, 1, 8, 8)
        assert torch.equal(aug(x, params=aug._params), y)
        torch.testing.assert_close(y, noisy(x, aug._params["step"], noise=aug._params["noise"]))


class TestIntegration:
    def test_inside_augmentation_sequential(self, ddpm):
        aug = RandomDissolving(ddpm, p=1.0, generator=0)
        seq = K.AugmentationSequential(K.RandomHorizontalFlip(p=1.0), aug, data_keys=["input"])
        x = batch()
        torch.testing.assert_close(seq(x), ddpm(x.flip(-1), aug._params["step"]))

    def test_inside_nn_sequential(self, ddpm):
        aug = RandomDissolving(ddpm, p=1.0, generator=0)
        seq = nn.Sequential(K.RandomHorizontalFlip(p=1.0), aug)
        x = batch()
        torch.testing.assert_close(seq(x), ddpm(x.flip(-1), aug._params["step"]))

    def test_pickle_round_trip(self, ddpm):
        aug = RandomDissolving(ddpm, p=0.5, generator=5)
        clone = pickle.loads(pickle.dumps(aug))
        x = batch()
        assert torch.equal(clone(x), aug(x))

    def test_unbatched_with_keepdim(self, ddpm):
        aug = RandomDissolving(ddpm, p=1.0, keepdim=True, generator=0)
        x = batch(1)[0]
        y = aug(x)
        assert y.shape == x.shape
        torch.testing.assert_close(y, ddpm(x[None], aug._params["step"])[0])

    def test_to_and_half_move_the_model(self, ddpm):
        aug = RandomDissolving(ddpm, p=1.0, generator=0).to(torch.float64)
        assert ddpm.unet.dtype == torch.float64
        aug.half()
        assert ddpm.unet.dtype == torch.float16

    def test_gradient_flows_to_input(self, ddpm):
        x = batch().requires_grad_(True)
        RandomDissolving(ddpm, p=0.5, generator=1)(x).sum().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


class TestBadArguments:
    def test_inverted_step_range(self):
        with pytest.raises(ValueError, match="inverted"):
            RandomDissolving(GaussianDissolving(), step_range=(100, 30))

    def test_step_range_outside_schedule(self):
        with pytest.raises(ValueError, match=r"within \[0, 1000\]"):
            RandomDissolving(GaussianDissolving(), step_range=(900, 1200))

    @pytest.mark.parametrize("p", [-0.1, 1.5])
    def test_p_outside_unit_interval(self, p):
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
            RandomDissolving(GaussianDissolving(), p=p)

    def test_positional_step_range_is_explained(self):
        with pytest.raises(TypeError, match="step_range= as a keyword"):
            RandomDissolving((100, 500))

    def test_version_with_a_dissolver(self):
        with pytest.raises(ValueError, match="only apply when no dissolver"):
            RandomDissolving(GaussianDissolving(), version="1.5")

    def test_bad_images(self):
        aug = RandomDissolving(GaussianDissolving(), p=1.0)
        with pytest.raises(TypeError, match="floating-point tensor in \\[0, 1\\]; got dtype torch.int64"):
            aug(torch.randint(0, 255, (2, 3, 8, 8)))
        with pytest.raises(ValueError, match="NaN"):
            aug(torch.full((2, 3, 8, 8), float("nan")))


class TestKorniaContract:
    """What RandomDissolving relies on in the installed kornia; an upgrade that breaks it fails here."""

    def test_only_public_extension_points_are_overridden(self):
        import inspect

        import dia_augment.augmentation.random_dissolving as module

        own = {name for name, value in vars(RandomDissolving).items()
               if callable(value) and inspect.getsourcefile(value) == inspect.getsourcefile(module)}
        assert own - {"__init__", "__repr__"} == {"forward_parameters", "generate_parameters", "apply_transform",
                                                  "transform_tensor", "__unpack_input__"}
        assert "kornia.augmentation.utils" not in inspect.getsource(module)  # no private helper imported

    def test_kornia_skips_nothing_the_gate_keeps_and_blends_nothing_else(self, ddpm):
        # kornia calls apply_transform on the whole batch and keeps its gated rows: the output
        # equals dissolving the gated rows alone and leaves the others bit-identical.
        aug = RandomDissolving(ddpm, p=0.5, generator=5)
        x = batch(12)
        y = aug(x)
        gate = aug._params["batch_prob"] > 0.5
        assert torch.equal(y[~gate], x[~gate])
        torch.testing.assert_close(y[gate], ddpm(x[gate], aug._params["step"][gate]))

    def test_autocast_returns_the_input_dtype(self, ddpm):
        aug = RandomDissolving(ddpm, p=1.0, generator=0)
        x = batch(4)
        expected = aug(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = aug(x, params=aug._params)
        assert got.dtype == torch.float32  # kornia's transform_inputs casts back under autocast
        torch.testing.assert_close(got, expected, atol=0.05, rtol=0)

    def test_the_whole_batch_is_checked_whatever_the_gate(self):
        bad = batch(4)
        bad[3] = float("nan")
        for p in (0.0, 0.5, 1.0):
            with pytest.raises(ValueError, match="NaN"):
                RandomDissolving(GaussianDissolving(), p=p, generator=0)(bad)

    def test_replayed_params_of_another_batch_size_are_refused(self):
        aug = RandomDissolving(GaussianDissolving(), p=0.5, generator=0)
        aug(batch(4))
        with pytest.raises(ValueError, match=r"params\['batch_prob'\] holds 4 rows but the batch has 6"):
            aug(batch(6), params=aug._params)
