import pytest
import torch
import torch.nn.functional as F

from dia_augment.models import DIAResNet, ModelOutput, ResNet18Backbone, build_model, load_pretrained_backbone
from dia_augment.utils.io import CheckpointError, atomic_save_tensors


def _bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def _reference_backbone(x, net):
    """Eval-mode ResNet-18 written out with functional ops, reading the module's weights."""
    stride, pad = (1, 1) if net.stem == "cifar" else (2, 3)
    x = F.relu(_bn(F.conv2d(x, net.conv1.weight, stride=stride, padding=pad), net.bn1))
    if net.stem == "imagenet":
        x = F.max_pool2d(x, 3, 2, 1)
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        for block in layer:
            s = block.conv1.stride
            out = F.relu(_bn(F.conv2d(x, block.conv1.weight, stride=s, padding=1), block.bn1))
            out = _bn(F.conv2d(out, block.conv2.weight, padding=1), block.bn2)
            short = x
            if block.downsample is not None:
                short = _bn(F.conv2d(x, block.downsample[0].weight, stride=s), block.downsample[1])
            x = F.relu(out + short)
    return x.flatten(2).mean(-1)


def _randomise_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def test_parameter_counts_match_standard_resnet18():
    # torchvision's resnet18 has 11,689,512 parameters, 513,000 of them in the 1000-way fc.
    imagenet = ResNet18Backbone("imagenet", 3, 64)
    assert sum(p.numel() for p in imagenet.parameters()) == 11_689_512 - 513_000
    cifar = ResNet18Backbone("cifar", 3, 64)
    assert sum(p.numel() for p in cifar.parameters()) == 11_689_512 - 513_000 - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64


@pytest.mark.parametrize("stem, size, channels", [("cifar", 8, 1), ("imagenet", 32, 3)])
def test_forward_matches_functional_reference(stem, size, channels):
    torch.manual_seed(0)
    model = DIAResNet(stem, in_channels=channels, width=4, num_shifts=4, proj_dim=6).eval()
    _randomise_bn(model)
    x = torch.rand(3, channels, size, size)
    out = model(x)
    assert isinstance(out, ModelOutput)
    feat = _reference_backbone((x - 0.5) / 0.5, model.backbone)
    torch.testing.assert_close(out.features, feat, rtol=1e-4, atol=1e-5)
    p = model.projection
    proj = F.linear(F.relu(F.linear(feat, p[0].weight, p[0].bias)), p[2].weight, p[2].bias)
    torch.testing.assert_close(out.projection, proj, rtol=1e-4, atol=1e-5)
    logits = F.linear(feat, model.shift_head.weight, model.shift_head.bias)
    torch.testing.assert_close(out.shift_logits, logits, rtol=1e-4, atol=1e-5)
    assert out.features.shape == (3, 32) and out.projection.shape == (3, 6) and out.shift_logits.shape == (3, 4)


def test_build_model_normalisation():
    m = build_model("resnet18_imagenet", in_channels=3, width=4)
    assert m.backbone.stem == "imagenet"
    assert m.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert m.std.flatten().tolist() == pytest.approx([0.229, 0.224, 0.225])
    m1 = build_model("resnet18", in_channels=1, width=4)
    assert m1.backbone.stem == "cifar" and m1.mean.flatten().tolist() == [0.5] and m1.std.flatten().tolist() == [0.5]
    assert "mean" in m1.state_dict() and "std" in m1.state_dict()
    with pytest.raises(ValueError, match="unknown model 'resnet50'"):
        build_model("resnet50")


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="in_channels"):
        DIAResNet(in_channels=2)
    with pytest.raises(ValueError, match="stem"):
        DIAResNet("vit")
    with pytest.raises(ValueError, match="width"):
        DIAResNet(width=0)
    model = DIAResNet(in_channels=3, width=4)
    with pytest.raises(ValueError, match="3 channels; got C = 1"):
        model(torch.rand(2, 1, 8, 8))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


def _torchvision_style_state(width, seed=0):
    torch.manual_seed(seed)
    state = dict(ResNet18Backbone("imagenet", 3, width).state_dict())
    state["fc.weight"] = torch.randn(10, 8 * width)
    state["fc.bias"] = torch.randn(10)
    return state


def test_load_pretrained_from_torch_file(tmp_path):
    state = _torchvision_style_state(4)
    path = tmp_path / "r18.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    model = load_pretrained_backbone(DIAResNet("imagenet", 3, width=4), path)
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_load_pretrained_into_grey_model_sums_conv1(tmp_path):
    state = _torchvision_style_state(4)
    path = tmp_path / "r18.safetensors"
    atomic_save_tensors(state, path)
    model = load_pretrained_backbone(DIAResNet("imagenet", 1, width=4), path)
    assert torch.equal(model.backbone.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(model.backbone.layer3[0].downsample[0].weight, state["layer3.0.downsample.0.weight"])


def test_load_pretrained_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_pretrained_backbone(DIAResNet(width=4), tmp_path / "missing.safetensors")
    state = _torchvision_style_state(4)
    del state["layer1.0.bn1.weight"]
    path = tmp_path / "partial.safetensors"
    atomic_save_tensors(state, path)
    with pytest.raises(CheckpointError, match=r"missing \['layer1.0.bn1.weight'\]"):
        load_pretrained_backbone(DIAResNet(width=4), path)
    wide = tmp_path / "wide.safetensors"
    atomic_save_tensors(_torchvision_style_state(8), wide)
    with pytest.raises(CheckpointError, match="width 4"):
        load_pretrained_backbone(DIAResNet(width=4), wide)
    corrupt = tmp_path / "bad.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_pretrained_backbone(DIAResNet(width=4), corrupt)
