r"""The embedded data set: synthetic fundus-like images with and without tiny lesions.

Nothing is shipped or downloaded: the images are generated in torch from a seed, vectorised over
the batch, so that every example, test and demo has a fine-grained one-class task at hand.

**What it is.** A *normal* image is a smooth orange-red disc on a dark background, like a
fundus photograph: low-frequency texture, a random illumination gradient and vignetting, a
pale optic disc on the left or right, a darker macula, and about ten dark vessels that leave the
optic disc and curve outwards, thinning as they go. An *anomalous* image is a normal image of
the same kind plus 2 to 6 tiny lesions: bright yellow spots (like hard exudates) or dark red dots
(like microaneurysms), Gaussian blobs with a standard deviation of 0.6 to 1.1 px (for
``image_size`` up to 64, in proportion above), truncated at 2.5 standard deviations so that
outside those few pixels the anomalous image equals its clean version exactly. The anomaly is
therefore a change to a small fraction of the pixels (1.4 % on average and under 3 % in any
image at 64 px and above; as lesions keep their pixel size below 64 px, 5 % at 32 px), not a
change of the whole image: a fine-grained task, as in diabetic retinopathy grading.

**Options.** ``lesion_sigma`` (the lesions' standard deviation in pixels: their size, from
sub-pixel up) and ``lesion_opacity`` (their contrast) make the task harder or easier. The twins
(clean, with lesions) and their masks are :func:`make_embedded_anomalies`; :func:`add_lesions`
pastes the same lesions into any images, grayscale or RGB, for the lesion probe
(:mod:`dia_augment.probe`).

**What it is not.** It is not medical data and says nothing about real fundus images; it is a
controlled stand-in to test the pipeline end to end and to check that a method can see small
lesions at all.

Default sizes: train 600 normal images; test 200 normal and 200 anomalous images (normal
first), 64 x 64 RGB. The train images, the normal test images and the anomalies' clean versions
come from three independent streams seeded from ``seed``, so no image is shared between splits.
The anomalies of a contaminated training set (``load_one_class(..., contamination_ratio=r)``,
:mod:`dia_augment.data.contamination`) come from two more (their clean versions, their lesions):
``make_embedded_anomalies(..., split="train")``, never test images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from dia_augment.data.container import ANOMALY, NORMAL, OneClassData
from dia_augment.data.split import check_split, derive_seed
from dia_augment.errors import ConfigError, InputError, InputTypeError
from dia_augment.utils.random import make_generator

__all__ = [
    "EMBEDDED_CLASS_NAMES",
    "EMBEDDED_SIZES",
    "render_fundus",
    "add_lesions",
    "LESION_OPACITY",
    "LESION_SIGMA",
    "make_embedded_anomalies",
    "make_embedded_dataset",
    "embedded_data",
]

#: Class names of the embedded data set: index 0 normal, 1 with lesions.
EMBEDDED_CLASS_NAMES = ["normal", "lesions"]
#: Default (normal, anomalous) image counts per split.
EMBEDDED_SIZES = {"train": (600, 0), "test": (200, 200)}

_NUM_VESSELS = 10
_CHUNK = 128  # images rendered at once (bounds memory; the result does not depend on it)
_BACKGROUND = 0.02
_OPTIC_DISC_COLOUR = (0.98, 0.86, 0.62)
_VESSEL_ABSORPTION = (0.35, 0.62, 0.5)  # fraction of R, G, B removed at a vessel's centre
_EXUDATE_COLOUR = (1.0, 0.93, 0.55)
_MICROANEURYSM_COLOUR = (0.32, 0.04, 0.03)
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, for the lesions' colour in grayscale images


def _check_count_and_size(num: int, image_size: int, name: str = "num") -> None:
    if isinstance(num, bool) or not isinstance(num, int) or num < 0:
        raise ConfigError(f"{name}, the number of images, must be a non-negative int; got {num!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ConfigError(f"image_size must be an int >= 8; got {image_size!r}")


def _uniform(u: Tensor, low: float, high: float) -> Tensor:
    return low + (high - low) * u


def _grid(height: int, width: int | None = None) -> tuple[Tensor, Tensor]:
    """Pixel centres, x to the right and y downwards, each (1, H, W), in units of half the shorter side.

    The image's centre is 0 and the shorter side spans [-1, 1] (a square image: both sides).
    """
    width = height if width is None else width
    short = min(height, width)
    cx = (torch.arange(width, dtype=torch.float32) + 0.5) / short * 2 - width / short
    cy = (torch.arange(height, dtype=torch.float32) + 0.5) / short * 2 - height / short
    y, x = torch.meshgrid(cy, cx, indexing="ij")
    return x[None], y[None]


def _smooth_noise(num: int, channels: int, cells: int, image_size: int, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise on a ``cells`` x ``cells`` grid, upsampled bicubically: (num, channels, S, S)."""
    coarse = torch.randn(num, channels, cells, cells, generator=generator)
    return F.interpolate(coarse, size=(image_size, image_size), mode="bicubic", align_corners=False)


def render_fundus(num: int, image_size: int = 64, generator: torch.Generator | int | None = None) -> Tensor:
    """Render ``num`` synthetic fundus-like RGB images (the normal images of the embedded set).

    Args:
        num: the number of images.
        image_size: the side of the square images (at least 8).
        generator: a generator or an int seed; the same seed gives the same images.

    Returns:
        float32 images in ``[0, 1]``.

    Shape:
        - output: :math:`(num, 3, image\\_size, image\\_size)`

    Examples:
        >>> x = render_fundus(2, 32, generator=0)
        >>> x.shape, torch.equal(x, render_fundus(2, 32, generator=0))
        (torch.Size([2, 3, 32, 32]), True)
    """
    _check_count_and_size(num, image_size)
    generator = make_generator(generator)
    # Every random number is drawn here, up front, so that rendering in chunks changes nothing.
    u = torch.rand(num, 20, generator=generator)
    vessel_u = torch.rand(num, _NUM_VESSELS, 8, generator=generator)
    brightness_noise = _smooth_noise(num, 1, 6, image_size, generator)
    colour_noise = _smooth_noise(num, 3, 4, image_size, generator)
    fine_noise = _smooth_noise(num, 1, 16, image_size, generator)
    chunks = [
        _render_chunk(u[s : s + _CHUNK], vessel_u[s : s + _CHUNK], brightness_noise[s : s + _CHUNK],
                      colour_noise[s : s + _CHUNK], fine_noise[s : s + _CHUNK], image_size)
        for s in range(0, num, _CHUNK)
    ]
    return torch.cat(chunks) if chunks else torch.zeros(0, 3, image_size, image_size)


def _render_chunk(
    u: Tensor, vessel_u: Tensor, brightness_noise: Tensor, colour_noise: Tensor, fine_noise: Tensor, image_size: int
) -> Tensor:
    n = u.shape[0]
    x, y = _grid(image_size)  # (1, S, S)
    col = lambda i, lo, hi: _uniform(u[:, i], lo, hi).view(n, 1, 1)  # noqa: E731

    # The fundus disc with a soft rim.
    cx, cy, radius = col(0, -0.04, 0.04), col(1, -0.04, 0.04), col(2, 0.86, 0.95)
    r_disc = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    disc = torch.sigmoid((radius - r_disc) / 0.015)

    # Base colour, texture, illumination gradient and vignetting.
    base = torch.stack([col(3, 0.62, 0.82), col(4, 0.28, 0.42), col(5, 0.10, 0.20)], dim=1)  # (n, 3, 1, 1)
    texture = 1 + 0.06 * brightness_noise + 0.02 * fine_noise  # (n, 1, S, S)
    colour = base * texture * (1 + 0.03 * colour_noise)
    phi = col(6, 0.0, 2 * math.pi)
    gradient = 1 + col(7, 0.0, 0.25) * (x * torch.cos(phi) + y * torch.sin(phi))
    vignette = 1 - col(8, 0.2, 0.45) * (r_disc / radius) ** 2
    illumination = (col(9, 0.85, 1.1) * gradient * vignette).unsqueeze(1)

    # Optic disc (left or right eye) and macula.
    side = torch.where(u[:, 10] < 0.5, -1.0, 1.0).view(n, 1, 1)
    od_x, od_y, od_r = side * col(11, 0.38, 0.5), col(12, -0.08, 0.08), col(13, 0.11, 0.15)
    d_od = torch.sqrt((x - od_x) ** 2 + (y - od_y) ** 2)
    optic = (0.85 * torch.exp(-((d_od / od_r) ** 4).clamp(max=30))).unsqueeze(1)
    mac_x, mac_y = od_x - side * col(14, 0.42, 0.52), od_y + col(15, -0.05, 0.05)
    macula = 1 - col(16, 0.15, 0.3) * torch.exp(-(((x - mac_x) ** 2 + (y - mac_y) ** 2) / 0.18**2).clamp(max=30))
    od_colour = torch.tensor(_OPTIC_DISC_COLOUR).view(1, 3, 1, 1)
    colour = (colour * macula.unsqueeze(1)) * (1 - optic) + od_colour * optic

    # Vessels: curves theta(r) = theta0 + k r + a sin(f r + p) in polar coordinates about the optic disc.
    v = lambda j, lo, hi: _uniform(vessel_u[:, :, j], lo, hi).view(n, -1, 1, 1)  # noqa: E731
    slot = torch.arange(_NUM_VESSELS, dtype=torch.float32).view(1, -1, 1, 1)
    theta0 = 2 * math.pi * slot / _NUM_VESSELS + v(0, -0.3, 0.3)
    r = d_od.unsqueeze(1)  # (n, 1, S, S)
    theta = torch.atan2(y - od_y, x - od_x).unsqueeze(1)
    # The (n, V, S, S) work is done in place: it dominates the cost of rendering.
    offset = (v(3, 4.0, 8.0) * r).add_(v(4, 0.0, 2 * math.pi)).sin_().mul_(v(2, 0.02, 0.08))
    offset.addcmul_(v(1, -0.9, 0.9), r).add_(theta0)  # the vessel's angle theta(r)
    distance = offset.neg_().add_(theta).add_(math.pi).remainder_(2 * math.pi).sub_(math.pi)  # wrapped angle
    distance.mul_(r / (1 - 0.6 * (r / 1.4).clamp(max=1))).div_(v(5, 0.018, 0.035))  # arc length / width
    # Clamped exponents: exp of large negative numbers takes a slow path on CPU (10x), and
    # exp(-30) is already invisible.
    profile = distance.square_().clamp_(max=60).mul_(-0.5).exp_()
    start, end = od_r.unsqueeze(1) * v(6, 0.3, 1.5), v(7, 0.9, 1.6)
    profile.mul_((r - start).div_(0.03).clamp_(-30, 30).sigmoid_())
    profile.mul_((end - r).div_(0.08).clamp_(-30, 30).sigmoid_())
    vessels = 1 - torch.prod(profile.mul_(-0.9).add_(1), dim=1, keepdim=True)  # (n, 1, S, S)
    absorption = torch.tensor(_VESSEL_ABSORPTION).view(1, 3, 1, 1)
    colour = colour * (1 - absorption * vessels)

    fundus = colour * illumination
    mask = disc.unsqueeze(1)
    return (fundus * mask + _BACKGROUND * (1 - mask)).clamp(0, 1)


#: Default range of a lesion's opacity (its contrast): the blend weight of its colour at the centre.
LESION_OPACITY = (0.6, 0.9)
#: Default range of a lesion's standard deviation in pixels (scaled by ``size / 64`` above 64 px).
LESION_SIGMA = (0.6, 1.1)
# A lesion is cut off at this many standard deviations: nothing changes beyond.
_CUTOFF = 2.5


def _check_pair(pair: tuple[float, float], name: str, low: float, high: float) -> tuple[float, float]:
    """Check a ``(a, b)`` range of numbers with ``low < a <= b <= high``."""
    try:
        a, b = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a (low, high) pair of numbers; got {pair!r}") from None
    if not low < a <= b <= high:
        raise InputError(f"{name} must be (low, high) with {low:g} < low <= high <= {high:g}; got {pair!r}")
    return a, b


def _check_lesion_options(lesion_sigma: tuple[float, float] | None, lesion_opacity: tuple[float, float], size: int) -> None:
    """Validate the lesion options before any image is rendered."""
    _check_pair(lesion_opacity, "lesion_opacity", 0.0, 1.0)
    if lesion_sigma is not None:
        _check_pair(lesion_sigma, "lesion_sigma", 0.0, float(size))


def add_lesions(
    images: Tensor,
    generator: torch.Generator | int | None = None,
    num_lesions: tuple[int, int] = (2, 6),
    lesion_sigma: tuple[float, float] | None = None,
    lesion_opacity: tuple[float, float] = LESION_OPACITY,
) -> tuple[Tensor, Tensor]:
    """Paste tiny bright (exudate-like) or dark red (microaneurysm-like) spots into images.

    Works on the embedded set's fundus images and on any other images in ``[0, 1]``, grayscale
    or RGB, of any size: it makes *twins* (clean, with lesions) of a user's own normal images,
    for the lesion probe (:mod:`dia_augment.probe`). Each image gets between ``num_lesions[0]``
    and ``num_lesions[1]`` lesions (inclusive) within 0.7 of half the shorter side from the
    centre. A lesion is a Gaussian blob with a standard deviation drawn uniformly from
    ``lesion_sigma`` (pixels) and an opacity drawn from ``lesion_opacity``, cut off at 2.5
    standard deviations: pixels outside the returned mask are left exactly as they were. Its
    colour is an exudate's pale yellow or a microaneurysm's dark red (their luma in grayscale).

    Args:
        images: images in ``[0, 1]``, 1 or 3 channels.
        generator: a generator or an int seed.
        num_lesions: the inclusive range of the lesion count per image, ``1 <= low <= high``.
        lesion_sigma: the range of a lesion's standard deviation in pixels (its size: the
            changed disc has a radius of 2.5 sigma); default 0.6 to 1.1 px, scaled by
            ``min(H, W) / 64`` above 64 px. Below about 0.3 px a lesion hits a single pixel.
        lesion_opacity: the range of a lesion's opacity in ``(0, 1]`` (its contrast): the
            weight of its colour at its centre.

    Returns:
        ``(lesioned, mask)``: the images with lesions, and a bool mask of the pixels changed.

    Shape:
        - images: :math:`(N, C, H, W)`, C in {1, 3}
        - lesioned: :math:`(N, C, H, W)`
        - mask: :math:`(N, 1, H, W)`

    Examples:
        >>> clean = render_fundus(2, 32, generator=0)
        >>> sick, mask = add_lesions(clean, generator=1)
        >>> bool(((sick != clean).any(1, keepdim=True) <= mask).all()), bool(mask.float().mean() < 0.1)
        (True, True)
        >>> ct = torch.full((1, 1, 40, 60), 0.3)  # a grayscale image of your own
        >>> sick, mask = add_lesions(ct, generator=0, num_lesions=(1, 1), lesion_sigma=(2.0, 2.0))
        >>> torch.equal(sick[~mask], ct[~mask]), int(mask.sum())  # a disc of radius 2.5 sigma = 5 px
        (True, 75)
    """
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise InputError(f"images must be a (N, C, H, W) tensor with C = 1 or 3; got {getattr(images, 'shape', type(images).__name__)}")
    if not images.is_floating_point():
        raise InputTypeError(f"images must be a floating-point tensor in [0, 1]; got dtype {images.dtype}")
    low, high = (int(v) for v in num_lesions)
    if not 1 <= low <= high:
        raise InputError(f"num_lesions must be (low, high) with 1 <= low <= high; got {num_lesions!r}")
    n, channels, height, width = images.shape
    short = min(height, width)
    _check_lesion_options(lesion_sigma, lesion_opacity, short)
    opacity_range = _check_pair(lesion_opacity, "lesion_opacity", 0.0, 1.0)
    if lesion_sigma is None:
        sigma_range, sigma_scale = LESION_SIGMA, max(1.0, short / 64)
    else:
        sigma_range, sigma_scale = _check_pair(lesion_sigma, "lesion_sigma", 0.0, float(short)), 1.0
    generator = make_generator(generator)
    count = torch.randint(low, high + 1, (n, 1), generator=generator)
    u = torch.rand(n, high, 6, generator=generator)
    active = torch.arange(high).view(1, high) < count  # (n, L)
    radius, angle = 0.7 * torch.sqrt(u[..., 0]), 2 * math.pi * u[..., 1]
    lx, ly = radius * torch.cos(angle), radius * torch.sin(angle)
    sigma = _uniform(u[..., 2], *sigma_range) * sigma_scale * 2 / short  # in grid units
    opacity = _uniform(u[..., 3], *opacity_range) * active
    bright = u[..., 4] < 0.5
    palette = torch.tensor([_EXUDATE_COLOUR, _MICROANEURYSM_COLOUR])  # (2, 3)
    if channels == 1:
        palette = palette @ torch.tensor(_LUMA).view(3, 1)
    colours = torch.where(bright.unsqueeze(-1), palette[0], palette[1])  # (n, L, C)

    x, y = _grid(height, width)
    d2 = (x.unsqueeze(1) - lx[..., None, None]) ** 2 + (y.unsqueeze(1) - ly[..., None, None]) ** 2  # (n, L, H, W)
    z2 = (d2 / (sigma**2)[..., None, None]).clamp_(max=_CUTOFF**2)  # clamped: nothing changes beyond the cut-off
    alpha = opacity[..., None, None] * torch.exp(-0.5 * z2) * (z2 < _CUTOFF**2)
    out = images.clone()
    for lesion in range(high):
        a = alpha[:, lesion].unsqueeze(1).to(images.dtype)
        out = out * (1 - a) + colours[:, lesion, :, None, None].to(images.dtype) * a
    mask = (alpha > 0).any(dim=1, keepdim=True)
    return torch.where(mask, out.clamp(0, 1), images), mask


def make_embedded_anomalies(
    num: int,
    image_size: int = 64,
    seed: int = 0,
    lesion_sigma: tuple[float, float] | None = None,
    lesion_opacity: tuple[float, float] = LESION_OPACITY,
    split: str = "test",
) -> tuple[Tensor, Tensor, Tensor]:
    """The anomalous images of a split of the embedded set, with their clean versions and lesion masks.

    :func:`make_embedded_dataset` with ``split="test"`` and the same ``seed``, ``image_size``
    and lesion options uses exactly these anomalous images: these are its twins (clean, with
    lesions) and their masks, for the lesion probe. With ``split="train"`` they are the
    anomalies of a contaminated training set (:mod:`dia_augment.data.contamination`), drawn
    from streams of their own: never a test image.

    Args:
        num: the number of twins.
        image_size: the side of the square RGB images.
        seed: the data set's seed.
        lesion_sigma: the lesions' standard deviation range in pixels (see :func:`add_lesions`).
        lesion_opacity: the lesions' opacity (contrast) range.
        split: ``"test"`` or ``"train"``: the split whose anomalies these are.

    Returns:
        ``(clean, anomalous, mask)``.

    Shape:
        - clean, anomalous: :math:`(num, 3, image\\_size, image\\_size)`
        - mask: :math:`(num, 1, image\\_size, image\\_size)` bool

    Examples:
        >>> clean, sick, mask = make_embedded_anomalies(2, 32)
        >>> torch.equal(clean * ~mask, sick * ~mask)
        True
    """
    check_split(split, sorted(EMBEDDED_SIZES))
    _check_lesion_options(lesion_sigma, lesion_opacity, image_size)
    clean = render_fundus(num, image_size, generator=derive_seed(seed, "embedded", split, "anomaly-clean"))
    anomalous, mask = add_lesions(
        clean,
        generator=derive_seed(seed, "embedded", split, "lesions"),
        lesion_sigma=lesion_sigma,
        lesion_opacity=lesion_opacity,
    )
    return clean, anomalous, mask


def make_embedded_dataset(
    split: str,
    image_size: int = 64,
    seed: int = 0,
    num_normal: int | None = None,
    num_anomalies: int | None = None,
    lesion_sigma: tuple[float, float] | None = None,
    lesion_opacity: tuple[float, float] = LESION_OPACITY,
) -> OneClassData:
    """Generate a split of the embedded fine-grained one-class data set (see the module docstring).

    Args:
        split: ``"train"`` (normal images only) or ``"test"`` (normal images, then anomalies).
        image_size: the side of the square RGB images.
        seed: fixes every image; the same seed gives identical tensors.
        num_normal: the number of normal images (default 600 for train, 200 for test).
        num_anomalies: the number of anomalous images (default 200 for test; must be 0 for train).
        lesion_sigma: the lesions' standard deviation range in pixels, their size (default 0.6
            to 1.1 px, in proportion above 64 px; see :func:`add_lesions`). The clean versions
            and masks of the anomalies: :func:`make_embedded_anomalies` with the same options.
        lesion_opacity: the lesions' opacity range in ``(0, 1]``, their contrast (default 0.6 to 0.9).

    Returns:
        :class:`~dia_augment.data.container.OneClassData` with ``class_names`` ``["normal", "lesions"]``.

    Examples:
        >>> test = make_embedded_dataset("test", image_size=32, num_normal=3, num_anomalies=2)
        >>> test.images.shape, test.labels.tolist(), test.normal_class
        (torch.Size([5, 3, 32, 32]), [0, 0, 0, 1, 1], 'normal')
    """
    check_split(split, sorted(EMBEDDED_SIZES))
    default_normal, default_anomalies = EMBEDDED_SIZES[split]
    num_normal = default_normal if num_normal is None else num_normal
    num_anomalies = default_anomalies if num_anomalies is None else num_anomalies
    _check_count_and_size(num_normal, image_size, "num_normal")
    _check_count_and_size(num_anomalies, image_size, "num_anomalies")
    if split == "train" and num_anomalies:
        raise ConfigError(f"the train split holds normal images only; got num_anomalies = {num_anomalies}")
    if num_normal + num_anomalies == 0:
        raise ConfigError("the split would be empty: ask for at least one image")
    _check_lesion_options(lesion_sigma, lesion_opacity, image_size)
    normal = render_fundus(num_normal, image_size, generator=derive_seed(seed, "embedded", split, "normal"))
    anomalous = make_embedded_anomalies(num_anomalies, image_size, seed, lesion_sigma, lesion_opacity)[1]
    return embedded_data(normal, anomalous)


def embedded_data(normal: Tensor, anomalous: Tensor) -> OneClassData:
    """A split of the embedded set from its images: the normal ones (label 0), then the anomalous ones (label 1).

    Args:
        normal: the normal images.
        anomalous: the images with lesions.

    Shape:
        - normal: :math:`(N, 3, H, W)`
        - anomalous: :math:`(M, 3, H, W)`
        - output images: :math:`(N + M, 3, H, W)`

    Examples:
        >>> data = embedded_data(torch.zeros(2, 3, 8, 8), torch.ones(1, 3, 8, 8))
        >>> data.labels.tolist(), data.counts()
        ([0, 0, 1], {'normal': 2, 'lesions': 1})
    """
    labels = torch.cat([torch.full((len(normal),), NORMAL), torch.full((len(anomalous),), ANOMALY)]).long()
    return OneClassData(torch.cat([normal, anomalous]), labels, labels.clone(), list(EMBEDDED_CLASS_NAMES), "normal")
