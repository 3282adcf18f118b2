import pytest
import torch

from dia_augment.detect import AnomalyDetector
from dia_augment.models import build_model
from dia_augment.score import ScoreConfig


def images(n, seed, channels=1, size=12):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    model = build_model("resnet18", in_channels=1, width=2).eval()
    with torch.no_grad():
        model.shift_head.bias += 5.0  # a trained shift head: positive mean logits, so the CSI score is defined
    return model


@pytest.fixture(scope="module")
def detector(tiny_model):
    """A calibrated detector on 12 px gray images, 3 views, 8 px model input, float32 (parity with ONNX)."""
    return AnomalyDetector.fit(
        tiny_model, images(10, 0), calibration=images(6, 1), config=ScoreConfig(num_views=3, seed=1, mixed_precision="no"),
        image_size=8, progress=False
    )
