import json
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from dia_augment.errors import InputError, NotFittedError
from dia_augment.score import CSIScorer, csi_score, shift_score, simclr_score
from dia_augment.shift import shift_transform
from dia_augment.utils.io import CheckpointError


def _gen(seed):
    return torch.Generator().manual_seed(seed)


class Output(NamedTuple):
    features: torch.Tensor
    projection: torch.Tensor
    shift_logits: torch.Tensor


class TinyModel(nn.Module):
    """A stand-in for DIAResNet: linear heads on the flattened image; records its mode."""

    def __init__(self, channels=1, size=8, dim=6, seed=0):
        super().__init__()
        g = _gen(seed)
        n = channels * size * size
        self.proj = nn.Linear(n, dim)
        self.shift = nn.Linear(n, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        f = x.flatten(1)
        return Output(f, self.proj(f), self.shift(f) + 3.0)  # + 3: positive mean logits


class Brightness:
    """A random test-time augmentation stand-in that records what it returns."""

    def __init__(self):
        self.outputs = []

    def __call__(self, rows, generator=None):
        gain = 0.5 + 0.5 * torch.rand(rows.shape[0], 1, 1, 1, generator=generator, device=rows.device)
        out = rows * gain
        self.outputs.append(out)
        return out


def identity(rows, generator=None):
    return rows


def _images(n, seed, channels=1, size=8):
    return torch.rand(n, channels, size, size, generator=_gen(seed))


def _direct(model, images, shift="rotation", k=4):
    """Projection and own-shift logit of each shifted image, straight from the model."""
    with torch.no_grad():
        outs = [model(shift_transform(images, j, kind=shift)) for j in range(k)]
    return torch.stack([o.projection for o in outs]), torch.stack([o.shift_logits[:, j] for j, o in enumerate(outs)])


@pytest.mark.parametrize("shift", ["rotation", "cutperm"])
def test_fit_statistics_equal_direct_computation(shift):
    model = TinyModel()
    x = _images(7, 0)
    scorer = CSIScorer(model, shift=shift, num_samples=1, batch_size=3, hflip=False, augmentation=identity, progress=False)
    scorer.fit(x)
    features, logits = _direct(model, x, shift)
    torch.testing.assert_close(scorer.train_features, features, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(scorer.train_shift_logits, logits, rtol=1e-5, atol=1e-6)


def test_samples_are_averaged_over_recorded_augmentations():
    model, aug = TinyModel(), Brightness()
    x = _images(5, 1)
    scorer = CSIScorer(model, num_samples=3, batch_size=2, augmentation=aug, progress=False).fit(x)
    # batches of 2, 2, 1 images; 3 samples each; every call holds the 4 shifts shift-major
    assert [o.shape[0] for o in aug.outputs] == [8, 8, 8, 8, 8, 8, 4, 4, 4]
    sizes, call, feats, logits = [2, 2, 1], 0, [], []
    for b in sizes:
        z = l = 0
        for _ in range(3):
            with torch.no_grad():
                out = model(aug.outputs[call])
            call += 1
            z = z + out.projection.reshape(4, b, -1)
            l = l + torch.stack([out.shift_logits.reshape(4, b, 4)[k, :, k] for k in range(4)])
        feats.append(z / 3)
        logits.append(l / 3)
    torch.testing.assert_close(scorer.train_features, torch.cat(feats, 1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(scorer.train_shift_logits, torch.cat(logits, 1), rtol=1e-5, atol=1e-6)


def test_hflip_is_drawn_per_image_and_shared_by_its_shifts():
    model = TinyModel(size=6)
    x = _images(16, 2, size=6)
    scorer = CSIScorer(model, num_samples=1, augmentation=identity, progress=False)
    features = scorer.fit(x).train_features
    plain, _ = _direct(model, x)
    flipped, _ = _direct(model, x.flip(-1))
    is_plain = (features - plain).abs().amax(-1) < 1e-5  # (K, N)
    is_flipped = (features - flipped).abs().amax(-1) < 1e-5
    assert bool((is_plain ^ is_flipped).all())  # every row is one of the two
    assert bool((is_flipped == is_flipped[:1]).all())  # the same choice for all shifts of an image
    assert 0 < int(is_flipped[0].sum()) < 16  # both occur


def test_same_seed_same_scores_and_other_seed_differs():
    model, x, y = TinyModel(), _images(6, 3), _images(4, 4)
    a = CSIScorer(model, num_samples=2, seed=5, augmentation=Brightness(), progress=False).fit(x)
    b = CSIScorer(model, num_samples=2, seed=5, augmentation=Brightness(), progress=False).fit(x)
    c = CSIScorer(model, num_samples=2, seed=6, augmentation=Brightness(), progress=False).fit(x)
    assert torch.equal(a.train_features, b.train_features)
    assert torch.equal(a.score(y), b.score(y))
    assert torch.equal(a.score(y), a.score(y))  # each call restarts from the seed
    assert not torch.allclose(a.score(y), c.score(y))


def test_score_methods_match_the_functional_scores():
    model, x, y = TinyModel(), _images(9, 5), _images(4, 6)
    scorer = CSIScorer(model, num_samples=2, batch_size=4, augmentation=Brightness(), progress=False).fit(x)
    feats, logits = scorer.extract_features(y)
    tf, tl = scorer.train_features, scorer.train_shift_logits
    torch.testing.assert_close(scorer.score(y), csi_score(tf, tl, feats, logits))
    torch.testing.assert_close(scorer.score(y, method="simclr"), simclr_score(tf[0], feats[0]))
    torch.testing.assert_close(scorer.score(y, method="shift"), shift_score(tl, logits))
    # the training images score themselves with the maximal similarity term: their own axis
    w_sim = 1 / tf.norm(dim=-1).mean(1)
    own = (w_sim[:, None] * tf.norm(dim=-1)).mean(0) + shift_score(tl, tl)
    torch.testing.assert_close(scorer.score(x), own, rtol=1e-5, atol=1e-5)


def test_model_runs_in_eval_without_grad_and_mode_is_restored():
    model = TinyModel()
    model.train()
    CSIScorer(model, num_samples=2, augmentation=identity, progress=False).fit(_images(3, 7))
    assert model.calls and all(call == (False, False) for call in model.calls)
    assert model.training


def test_dataset_input_equals_tensor_input():
    class Pairs(Dataset):
        def __init__(self, images):
            self.images = images

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            return self.images[i], 0

    model, x = TinyModel(), _images(7, 8)
    kwargs = dict(num_samples=2, batch_size=3, augmentation=Brightness(), progress=False)
    a = CSIScorer(model, **kwargs).fit(x)
    b = CSIScorer(model, **kwargs).fit(Pairs(x))
    assert torch.equal(a.train_features, b.train_features)
    assert torch.equal(a.score(x[:2]), b.score(Pairs(x[:2])))


def test_image_size_is_the_model_input_size():
    # A custom augmentation's rows are resized to image_size; resizing commutes with the shifts.
    model = TinyModel(size=8)
    big = _images(4, 9, size=12)
    small = F.interpolate(big, size=(8, 8), mode="bilinear", antialias=True, align_corners=False)
    kwargs = dict(num_samples=1, hflip=False, augmentation=identity, progress=False)
    a = CSIScorer(model, image_size=8, **kwargs).fit(big)
    b = CSIScorer(model, **kwargs).fit(small)
    torch.testing.assert_close(a.train_features, b.train_features)
    # the default augmentation crops from the full-resolution image straight to image_size
    c = CSIScorer(model, image_size=8, num_samples=2, progress=False).fit(big)
    assert c.train_features.shape == (4, 4, 6)
    assert not torch.allclose(c.train_features, a.train_features)


def test_default_augmentation_is_simclr_with_the_fixed_crop(monkeypatch):
    import dia_augment.augmentation.simclr as simclr

    built = []

    class Recording(simclr.SimCLRAugmentation):
        def __init__(self, output_size, **kwargs):
            built.append((output_size, kwargs))
            super().__init__(output_size, **kwargs)

    monkeypatch.setattr(simclr, "SimCLRAugmentation", Recording)
    model, x = TinyModel(), _images(5, 10)
    a = CSIScorer(model, num_samples=2, progress=False).fit(x)
    CSIScorer(model, num_samples=1, resize_factor=0.3, resize_fix=False, progress=False).fit(x)
    assert built == [(8, {"crop_scale": (0.54, 0.54)}), (8, {"crop_scale": (0.3, 1.0)})]
    b = CSIScorer(model, num_samples=2, progress=False).fit(x)
    assert torch.equal(a.train_features, b.train_features)  # the real augmentation is seeded too


def test_save_load_round_trip(tmp_path):
    model, x, y = TinyModel(), _images(6, 11), _images(3, 12)
    scorer = CSIScorer(model, num_samples=2, batch_size=4, seed=3, progress=False).fit(x)
    scorer.save(tmp_path / "scorer")
    loaded = CSIScorer.load(tmp_path / "scorer", model, progress=False)
    assert loaded.config() == scorer.config()
    assert torch.equal(loaded.train_features, scorer.train_features)
    for method in ("csi", "simclr", "shift"):
        assert torch.equal(loaded.score(y, method=method), scorer.score(y, method=method))
    assert json.loads((tmp_path / "scorer" / "csi_scorer.json").read_text())["num_samples"] == 2
    assert sorted(p.name for p in (tmp_path / "scorer").iterdir()) == ["csi_scorer.json", "csi_scorer.safetensors"]


def test_load_errors(tmp_path):
    model = TinyModel()
    with pytest.raises(CheckpointError, match="CSIScorer config not found"):
        CSIScorer.load(tmp_path / "missing", model)
    scorer = CSIScorer(model, num_samples=1, augmentation=identity, progress=False).fit(_images(3, 13))
    scorer.save(tmp_path / "s")
    with pytest.raises(ValueError, match="fitted with a custom augmentation"):
        CSIScorer.load(tmp_path / "s", model)
    assert torch.equal(CSIScorer.load(tmp_path / "s", model, augmentation=identity).train_features, scorer.train_features)
    (tmp_path / "s" / "csi_scorer.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="corrupt"):
        CSIScorer.load(tmp_path / "s", model, augmentation=identity)
    (tmp_path / "s" / "csi_scorer.json").write_text("{")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        CSIScorer.load(tmp_path / "s", model, augmentation=identity)
    scorer.num_shifts = 2  # statistics of 4 shifts under a config of 2
    scorer.save(tmp_path / "t")
    with pytest.raises(CheckpointError, match="with K = 2"):
        CSIScorer.load(tmp_path / "t", model, augmentation=identity)


def test_bad_inputs_raise():
    model = TinyModel()
    scorer = CSIScorer(model, num_samples=1, augmentation=identity, progress=False)
    with pytest.raises(NotFittedError, match="not fitted"):
        scorer.score(_images(2, 0))
    with pytest.raises(NotFittedError, match="not fitted"):
        scorer.save("unused")
    bad = _images(2, 0)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        scorer.fit(bad)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        scorer.fit(_images(2, 0) * 255)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        scorer.fit(_images(2, 0)[0])
    with pytest.raises(TypeError, match="sized torch Dataset"):
        scorer.fit([_images(1, 0)])
    with pytest.raises(ValueError, match="must be square unless image_size is set"):
        CSIScorer(TinyModel(size=4), shift="cutperm", augmentation=identity, progress=False).fit(torch.rand(2, 1, 4, 16))
    scorer.fit(_images(3, 0))
    with pytest.raises(ValueError, match="method must be one of"):
        scorer.score(_images(2, 0), method="mahalanobis")
    with pytest.raises(ValueError, match="shift must be one of"):
        CSIScorer(model, shift="jigsaw")
    with pytest.raises(ValueError, match=r"num_shifts must be an int in \[1, 4\]"):
        CSIScorer(model, num_shifts=5)
    with pytest.raises(ValueError, match="num_samples must be an int >= 1"):
        CSIScorer(model, num_samples=0)
    with pytest.raises(ValueError, match="resize_factor"):
        CSIScorer(model, resize_factor=1.5)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        CSIScorer(lambda x: x)

    class NoHeads(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="projection and shift_logits"):
        CSIScorer(NoHeads(), num_samples=1, augmentation=identity, progress=False).fit(_images(2, 0))


def test_degenerate_shift_weight_falls_back_to_simclr_and_says_so():
    class NegativeShift(TinyModel):
        def forward(self, x):
            out = super().forward(x)
            return out._replace(shift_logits=out.shift_logits - 100.0)

    model, x = NegativeShift(), _images(4, 14)
    scorer = CSIScorer(model, num_samples=1, augmentation=identity, progress=False).fit(x)
    assert scorer.degenerate_shifts == [0, 1, 2, 3]
    method, note = scorer.resolve_method("csi")
    assert method == "simclr" and "--method simclr" in note and "shift(s) 0" in note
    assert scorer.resolve_method("simclr") == ("simclr", None)
    with pytest.warns(UserWarning, match="using the SimCLR score instead"):
        fallback = scorer.score(x)
    sim = scorer.score(x, method="simclr")
    assert torch.equal(fallback, sim)
    torch.testing.assert_close(sim, torch.ones(4), rtol=0, atol=1e-5)  # each training image finds itself
    calls = len(model.calls)
    with pytest.raises(InputError, match="'shift' score cannot be used.*--method simclr"):
        scorer.score(x, method="shift")
    assert len(model.calls) == calls  # refused before any test image went through the model


def test_collapsed_projections_are_refused_at_fit_and_by_the_simclr_score():
    class Collapsed(TinyModel):
        def forward(self, x):
            out = super().forward(x)
            return out._replace(projection=out.projection * 0.0)

    with pytest.raises(InputError, match="projections of some shift are all zero"):
        CSIScorer(Collapsed(), num_samples=1, augmentation=identity, progress=False).fit(_images(3, 1))
    with pytest.raises(InputError, match="training projections are all zero"):
        simclr_score(torch.zeros(3, 4), torch.rand(2, 4))


