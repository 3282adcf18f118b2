"""Bad inputs to the dissolving probe (lesion twins) and the anomaly maps and their metrics."""

from __future__ import annotations

import pytest
import torch

from dia_augment import GaussianDissolving
from dia_augment.errors import InputError, InputTypeError
from dia_augment.localize.maps import dissolve_residual_map, gradient_map, occlusion_map
from dia_augment.localize.metrics import pixel_auroc
from dia_augment.probe.probe import probe_dissolver
from tests.bad_inputs import assert_raises_naming, case, images, with_value

clean = images(2, 1, 8)
lesioned = images(2, 1, 8, seed=1)
mask = torch.zeros(2, 1, 8, 8, dtype=torch.bool)


def score(batch: torch.Tensor) -> torch.Tensor:
    """A differentiable score: the mean brightness of each image."""
    return batch.mean(dim=(1, 2, 3))


def probe(**changes):
    arguments = {"clean": clean, "lesioned": lesioned, "mask": mask, "steps": (0, 50), "progress": False, **changes}
    return probe_dissolver(GaussianDissolving(), **arguments)


CASES = [
    case("probe-clean-range", lambda tmp: probe(clean=clean * 255), InputError, "clean", "[0, 1]"),
    case("probe-lesioned-nan", lambda tmp: probe(lesioned=with_value(lesioned, float("nan"))), InputError,
         "lesioned", "NaN"),
    case("probe-lesioned-shape", lambda tmp: probe(lesioned=images(2, 1, 6)), InputError, "lesioned", "clean"),
    case("probe-mask-float", lambda tmp: probe(mask=mask.float()), InputError, "mask", "bool"),
    case("probe-mask-shape", lambda tmp: probe(mask=mask[:1]), InputError, "mask"),
    case("probe-steps-out-of-range", lambda tmp: probe(steps=(0, 1000)), InputError, "steps"),
    case("probe-steps-empty", lambda tmp: probe(steps=()), InputError, "steps"),
    case("probe-batch-size-zero", lambda tmp: probe(batch_size=0), InputError, "batch_size"),
    case("gradient-map-method", lambda tmp: gradient_map(score, clean, method="saliency"), InputError, "method",
         "saliency"),
    case("gradient-map-samples", lambda tmp: gradient_map(score, clean, samples=0), InputError, "samples"),
    case("gradient-map-noise", lambda tmp: gradient_map(score, clean, noise=-0.1), InputError, "noise"),
    case("gradient-map-images-range", lambda tmp: gradient_map(score, clean * 255), InputError, "images"),
    case("gradient-map-score-shape", lambda tmp: gradient_map(lambda b: b.sum(), clean), InputError, "score_fn"),
    case("gradient-map-baseline-shape",
         lambda tmp: gradient_map(score, clean, method="integrated", baseline=images(1, 1, 8)), InputError, "baseline"),
    case("occlusion-patch-too-large", lambda tmp: occlusion_map(score, clean, lesioned, patch=16), InputError, "patch",
         "8 x 8"),
    case("occlusion-replacement-shape", lambda tmp: occlusion_map(score, clean, images(1, 1, 8)), InputError,
         "replacement"),
    case("residual-map-sensitivity-type", lambda tmp: dissolve_residual_map(clean, lesioned, sensitivity=[1.0]),
         InputTypeError, "sensitivity"),
    case("residual-map-sensitivity-negative",
         lambda tmp: dissolve_residual_map(clean, lesioned, sensitivity=-torch.ones(2, 8, 8)), InputError,
         "sensitivity"),
    case("pixel-auroc-list", lambda tmp: pixel_auroc([[0.5]], mask[:, 0]), InputTypeError, "maps"),
    case("pixel-auroc-empty", lambda tmp: pixel_auroc(torch.zeros(0, 8, 8), mask[:0, 0]), InputError, "maps"),
]


@pytest.mark.parametrize("call, error, names", CASES)
def test_probe_and_maps_reject(call, error, names, tmp_path):
    assert_raises_naming(call, tmp_path, error, names)
