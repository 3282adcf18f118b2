"""The one scorer against a direct transcription of the paper code's evaluation (``evals/ood_pre.py``).

The transcription follows the reference's loops as they are: per test-time sample, every shift's
copy of the batch is flipped, shifted and concatenated, the SimCLR augmentation (jitter, grayscale,
crop) runs on the ``K B`` rows, the projections and shift logits are chunked per shift and stacked
per sample, reordered shift-major, averaged per shift; the axes, ``weight_sim`` and ``weight_shi``
come from the training features; the score is a per-image Python loop with ``.item()``. Only the
reference's random draws are replaced: each row takes the parameters the detector recorded for
its view and shift. The reference's augmentation ops are restated independently in
``tests/augmentation/test_colour.py`` (``ref_jitter``, ``ref_gray``, ``ref_crop``).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dia_augment.augmentation.colour import reference_contrast_first
from dia_augment.detect import AnomalyDetector
from dia_augment.models import build_model
from dia_augment.score import ScoreConfig
from tests.augmentation.test_colour import ref_crop, ref_gray, ref_jitter


def _rows_of_one_sample(x, views, t, shift, kind):
    """The reference's ``simclr_aug(cat([shift_trans(hflip(x), k) for k in range(K)]))`` with view t's draws."""
    k_shifts, b = views.num_shifts, x.shape[0]
    copies = []
    for k in range(k_shifts):
        flipped = x.flip(-1) if bool(views.flips[t, k]) else x
        if kind == "rotation":
            copies.append(torch.rot90(flipped, k, (2, 3)))
        else:  # CutPerm: k // 2 swaps the top and bottom halves, k % 2 the left and right halves
            h, w = flipped.shape[-2:]
            out = torch.cat((flipped[:, :, h // 2 :], flipped[:, :, : h // 2]), dim=2) if k // 2 else flipped
            copies.append(torch.cat((out[..., w // 2 :], out[..., : w // 2]), dim=3) if k % 2 else out)
    x_t = torch.cat(copies)
    per_row = lambda values: values.repeat_interleave(b, dim=0)  # noqa: E731  (row k * B + i takes shift k's draw)
    jitter = views.jitter[t]
    x_t = ref_jitter(x_t, per_row(views.jitter_apply[t]), per_row(jitter[:, 1]), per_row(jitter[:, 3]),
                     per_row(jitter[:, 2]), per_row(jitter[:, 0]), contrast_first=reference_contrast_first(views.order[t]))
    x_t = ref_gray(x_t, per_row(views.gray[t]))
    return ref_crop(x_t, per_row(views.boxes[t]), tuple(x.shape[-2:])).float()


def _get_features(model, x, views, kind):
    """``_get_features``: (N, T, d) per layer, reordered shift-major as the reference does."""
    k_shifts = views.num_shifts
    feats = {"simclr": [], "shift": []}
    with torch.no_grad():
        for t in range(views.num_views):
            out = model(_rows_of_one_sample(x, views, t, None, kind))
            feats["simclr"] += out.projection.chunk(k_shifts)
            feats["shift"] += out.shift_logits.chunk(k_shifts)
    result = {}
    for key, val in feats.items():
        val = torch.stack(val, dim=1)  # (N, T' K, d), sample-major
        n, tk, d = val.size()
        result[key] = val.view(n, -1, k_shifts, d).transpose(2, 1).reshape(n, tk, d)  # shift-major
    return result


def _reference_scores(model, train, test, views, kind):
    k_shifts = views.num_shifts
    feats_train = _get_features(model, train, views, kind)
    axis = [F.normalize(f.mean(dim=1), dim=1) for f in feats_train["simclr"].chunk(k_shifts, dim=1)]
    f_sim = [f.mean(dim=1) for f in feats_train["simclr"].chunk(k_shifts, dim=1)]
    f_shi = [f.mean(dim=1) for f in feats_train["shift"].chunk(k_shifts, dim=1)]
    weight_sim = [1 / f_sim[k].norm(dim=1).mean().item() for k in range(k_shifts)]
    weight_shi = [1 / f_shi[k][:, k].mean().item() for k in range(k_shifts)]
    feats_test = _get_features(model, test, views, kind)
    scores = []
    for sim, shi in zip(feats_test["simclr"], feats_test["shift"]):
        sim = [f.mean(dim=0, keepdim=True) for f in sim.chunk(k_shifts)]
        shi = [f.mean(dim=0, keepdim=True) for f in shi.chunk(k_shifts)]
        score = 0
        for k in range(k_shifts):
            score += (sim[k] * axis[k]).sum(dim=1).max().item() * weight_sim[k]
            score += shi[k][:, k].item() * weight_shi[k]
        scores.append(score / k_shifts)
    return torch.tensor(scores, dtype=torch.float64)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = build_model("resnet18", in_channels=3, width=2, normalisation="half").eval()
    with torch.no_grad():
        model.shift_head.bias.copy_(torch.tensor([5.0, 6.0, 7.0, 8.0]))  # positive mean logits: CSI weights defined
    return model


@pytest.mark.parametrize("kind", ["rotation", "cutperm"])
def test_the_score_is_the_reference_evaluation_with_the_recorded_views(model, kind):
    g = torch.Generator().manual_seed(1)
    train, test = torch.rand(7, 3, 12, 12, generator=g), torch.rand(5, 3, 12, 12, generator=g)
    config = ScoreConfig.reference(num_views=3, seed=4, shift=kind, mixed_precision="no")
    detector = AnomalyDetector.fit(model, train, config=config, augmentation="reference", progress=False)
    views = detector.views
    assert views.augmentation == "reference" and bool(views.jitter_apply.any()) and bool(views.gray.any())
    assert bool(views.flips.any()) and not bool(views.flips.all())  # the draws exercise every branch
    expected = _reference_scores(model, train, test, views, kind)  # the reference's normality score
    torch.testing.assert_close(detector.score(test).double(), -expected, rtol=1e-4, atol=1e-5)


def test_the_views_are_the_papers_evaluation_protocol():
    from dia_augment.score import draw_views

    views = draw_views(200, (32, 32), channels=3, augmentation="reference", seed=0)
    area = (views.boxes[..., 0] * views.boxes[..., 1]).flatten()
    # crop area 0.54 of the image (rounded to whole pixels), aspect ratio within [3/4, 4/3]
    assert float((area - 0.54).abs().max()) < 0.04
    ratio = (views.boxes[..., 0] / views.boxes[..., 1]).flatten()
    assert float(ratio.min()) >= 0.75 - 0.05 and float(ratio.max()) <= 4 / 3 + 0.05
    # colour jitter on 80 % and grayscale on 20 % of the (view, shift) pairs, flips on half
    assert abs(views.jitter_apply.float().mean().item() - 0.8) < 0.05
    assert abs(views.gray.float().mean().item() - 0.2) < 0.05
    assert abs(views.flips.float().mean().item() - 0.5) < 0.05
    factors = views.jitter.reshape(-1, 4)
    assert float(factors[:, :3].min()) >= 0.6 and float(factors[:, :3].max()) <= 1.4
    assert float(factors[:, 3].abs().max()) <= 0.1
    # the reference's coin for contrast before HSV: heads on half the views (200 views: within 3.5 sd)
    first = sum(reference_contrast_first(order) for order in views.order)
    assert abs(first - 100) < 25, first
