"""Maps of a fitted detector: its differentiable score equals its score; identities of the maps."""

from __future__ import annotations

import pytest
import torch

from dia_augment.detect import AnomalyDetector
from dia_augment.errors import InputError
from dia_augment.localize import anomaly_map, detector_score_fn
from dia_augment.models import build_model
from dia_augment.score import ScoreConfig


@pytest.fixture(scope="module", params=["csi", "simclr"])
def detector(request):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = build_model("resnet18", 3, width=2)
    with torch.no_grad():
        model.shift_head.bias.fill_(3.0)  # positive mean shift logits: the CSI score is not degenerate
    detector = AnomalyDetector.fit(model, torch.rand(8, 3, 12, 12, generator=g),
                                   config=ScoreConfig(num_views=2, method=request.param, mixed_precision="no"), image_size=8,
                                   progress=False)
    assert detector.method == request.param
    return detector


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def test_differentiable_score_equals_the_detector_score(detector, images):
    torch.testing.assert_close(detector_score_fn(detector)(images), detector.score(images), atol=1e-5, rtol=1e-5)


def test_occlusion_residual_and_integrated_with_an_identity_dissolver_are_zero(detector, images):
    identity = lambda x, t: x  # noqa: E731
    for method in ("occlusion", "residual", "integrated"):
        m = anomaly_map(detector, images, method, dissolver=identity, patch=4, stride=4)
        assert m.shape == (3, 12, 12)
        # zero up to the float rounding of kernels run on batches of other sizes (the colour views' included)
        torch.testing.assert_close(m, torch.zeros_like(m), rtol=0, atol=1e-6)


def test_maps_do_not_depend_on_the_batch_and_smoothgrad_follows_its_generator(detector, images):
    a = anomaly_map(detector, images, "occlusion", patch=4, stride=4, batch_size=1)
    b = anomaly_map(detector, images, "occlusion", patch=4, stride=4, batch_size=3)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    s1 = anomaly_map(detector, images, samples=2, generator=torch.Generator().manual_seed(3))
    s2 = anomaly_map(detector, images, samples=2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2) and bool((s1 >= 0).all())


def test_bad_method_and_wrong_size_are_named(detector, images):
    with pytest.raises(InputError, match="method"):
        anomaly_map(detector, images, "gradcam")
    with pytest.raises(InputError, match="12 x 12"):
        anomaly_map(detector, images[..., :8, :8])


@pytest.mark.parametrize("method, samples, per_image", [("occlusion", 8, 1 + 9), ("smoothgrad", 3, 3), ("integrated", 2, 2),
                                                       ("residual", 8, 1)])
def test_the_progress_bar_counts_every_scored_image_to_the_end(detector, images, method, samples, per_image, monkeypatch):
    """The bar's total is the work (occlusion: the image and one copy per window) and it reaches it, chunk by chunk."""
    import dia_augment.localize.detector as module
    from dia_augment.localize.detector import map_work

    bars = []
    real = module.tqdm

    def recording(*args, **kwargs):
        bar = real(*args, **kwargs)
        updates = []
        update = bar.update
        bar.update = lambda n=1: (updates.append(n), update(n))[1]
        bars.append((kwargs["total"], updates))
        return bar

    monkeypatch.setattr(module, "tqdm", recording)
    identity = lambda x, t: x  # noqa: E731
    anomaly_map(detector, images, method, dissolver=identity, samples=samples, patch=4, stride=4, batch_size=2,
                progress=True)
    (total, updates), = bars
    assert total == map_work(method, 3, (12, 12), samples=samples, patch=4, stride=4) == 3 * per_image
    assert sum(updates) == total and len(updates) > 1  # updated along the way, not once at the end
