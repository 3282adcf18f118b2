import pytest
import torch

from dia_augment.shift import cutperm, expand_shifts, parse_training_type, rotate, shift_transform


def _images(b=5, c=3, h=6, w=6, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def _rotate_reference(img, k):
    """Rotate one (C, H, W) image counter-clockwise by k * 90 degrees, pixel by pixel."""
    out = img.clone()
    for _ in range(k):
        c, h, w = out.shape
        new = torch.empty(c, w, h)
        for i in range(w):
            for j in range(h):
                new[:, i, j] = out[:, j, w - 1 - i]
        out = new
    return out


def _cutperm_reference(img, k):
    c, h, w = img.shape
    out = torch.empty_like(img)
    for i in range(h):
        for j in range(w):
            si = (i + h // 2) % h if k // 2 else i
            sj = (j + w // 2) % w if k % 2 else j
            out[:, i, j] = img[:, si, sj]
    return out


@pytest.mark.parametrize("k", range(4))
def test_rotate_matches_pixel_reference(k):
    x = _images(2, 1, 4, 4)
    out = rotate(x, k)
    for b in range(2):
        assert torch.equal(out[b], _rotate_reference(x[b], k))


@pytest.mark.parametrize("k", range(4))
def test_cutperm_matches_pixel_reference(k):
    x = _images(2, 2, 6, 4)
    out = cutperm(x, k)
    for b in range(2):
        assert torch.equal(out[b], _cutperm_reference(x[b], k))


def test_cutperm_known_values():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert cutperm(x, 1)[0, 0, 0].tolist() == [2.0, 3.0, 0.0, 1.0]
    assert cutperm(x, 2)[0, 0, :, 0].tolist() == [8.0, 12.0, 0.0, 4.0]


@pytest.mark.parametrize("k", range(4))
def test_rotation_inverse_is_identity(k):
    x = _images()
    assert torch.equal(rotate(rotate(x, k), (4 - k) % 4), x)
    assert torch.equal(rotate(x, 0), x)


@pytest.mark.parametrize("k", range(4))
def test_cutperm_is_an_involution(k):
    x = _images(h=6, w=8)
    assert torch.equal(cutperm(cutperm(x, k), k), x)


@pytest.mark.parametrize("kind", ["rotation", "cutperm"])
def test_per_sample_k_equals_each_sample_alone(kind):
    x = _images(b=7)
    k = torch.tensor([0, 1, 2, 3, 3, 1, 0])
    out = shift_transform(x, k, kind)
    for b in range(7):
        assert torch.equal(out[b : b + 1], shift_transform(x[b : b + 1], int(k[b]), kind))


def test_expand_shifts_is_shift_major():
    x = _images(b=3)
    for kind in ("rotation", "cutperm"):
        shifted, labels = expand_shifts(x, kind)
        assert labels.dtype == torch.int64
        assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
        for k in range(4):
            assert torch.equal(shifted[3 * k : 3 * (k + 1)], shift_transform(x, k, kind))
    one, labels = expand_shifts(x, num_shifts=1)
    assert torch.equal(one, x) and labels.tolist() == [0, 0, 0]


def test_gradients_flow_through_shifts():
    x = _images(b=2).requires_grad_()
    w = torch.rand(2, 3, 6, 6)
    (shift_transform(x, torch.tensor([1, 3]), "rotation") * w).sum().backward()
    expected = torch.stack([rotate(w[0:1], 3)[0], rotate(w[1:2], 1)[0]])
    assert torch.allclose(x.grad, expected)


def test_bad_inputs_raise():
    x = _images()
    with pytest.raises(ValueError, match="outside"):
        rotate(x, 4)
    with pytest.raises(ValueError, match="outside"):
        cutperm(x, torch.tensor([0, 1, 2, 3, -1]))
    with pytest.raises(ValueError, match=r"\(5,\) tensor"):
        rotate(x, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer"):
        rotate(x, torch.zeros(5))
    with pytest.raises(ValueError, match="square"):
        rotate(torch.rand(1, 1, 4, 6), 1)
    with pytest.raises(ValueError, match="kind"):
        shift_transform(x, 1, "flip")
    with pytest.raises(ValueError, match="num_shifts"):
        expand_shifts(x, num_shifts=5)
    with pytest.raises(ValueError, match="dimensions"):
        rotate(torch.rand(3, 4, 4), 1)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("diffusion_rotation", ("ddpm", "rotation")),
        ("diffusion_cutperm", ("ddpm", "cutperm")),
        ("blurgaussian_rotation", ("gaussian-reference", "rotation")),
        ("blurmedian_cutperm", ("median-reference", "cutperm")),
        ("sd_rotation", ("sd", "rotation")),
        ("resize_cutperm", ("resize", "cutperm")),
        ("rotation", (None, "rotation")),
        ("cutperm", (None, "cutperm")),
    ],
)
def test_parse_training_type(name, expected):
    assert parse_training_type(name) == expected


def test_parse_training_type_rejects_unknown():
    with pytest.raises(ValueError, match="unknown training type 'diffusion_flip'"):
        parse_training_type("diffusion_flip")


def test_random_hflip_is_seeded():
    from dia_augment.shift import random_hflip

    x = torch.rand(16, 1, 3, 3)
    a = random_hflip(x, torch.Generator().manual_seed(0))
    b = random_hflip(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    flips = torch.rand(16, generator=torch.Generator().manual_seed(0)) < 0.5
    for i in range(16):
        assert torch.equal(a[i], x[i].flip(-1) if flips[i] else x[i])


def test_shifted_views_flip_each_image_once_then_shift_it():
    from dia_augment.shift import shifted_views

    x = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    flips = torch.rand(5, generator=torch.Generator().manual_seed(2)) < 0.5
    rows = shifted_views(x, "cutperm", 4, torch.Generator().manual_seed(2))
    base = torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)
    for k in range(4):
        assert torch.equal(rows[k * 5 : (k + 1) * 5], cutperm(base, k))
    assert torch.equal(shifted_views(x, "rotation", 2, flip=False), torch.cat([x, rotate(x, 1)]))
