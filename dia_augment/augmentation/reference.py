r"""The reference code's SimCLR augmentation: jitter, then grayscale, then an affine crop.

The DIA/CSI code augments every training row and every test-time sample with
``ColorJitterLayer(0.4, 0.4, 0.4, 0.1, p=0.8)``, ``RandomColorGrayLayer(p=0.2)`` and
``RandomResizedCropLayer(scale, size)``, in that order, on RGB images.
:class:`ReferenceSimCLRAugmentation` draws the same random parameters (from a
``torch.Generator`` instead of NumPy's and torch's global state) and applies them with the pure
functions of :mod:`dia_augment.augmentation.colour`:

- jitter: one order per call (contrast first with probability 1/2), and per row an apply flag
  (Bernoulli ``p_jitter``), a contrast, a saturation and a value factor uniform in
  :math:`[\max(1 - s, 0), 1 + s]` for their strength :math:`s`, a hue factor uniform in
  :math:`[-s_h, s_h]` (:func:`~dia_augment.augmentation.colour.reference_colour_jitter`);
- grayscale: per row a Bernoulli ``p_gray`` flag (:func:`~dia_augment.augmentation.colour.grayscale`);
- crop: per row a box from :func:`draw_reference_boxes`
  (:func:`~dia_augment.augmentation.colour.affine_crop`).

**Box sampling** (:func:`draw_reference_boxes`), for ``n`` rows of an :math:`H \times W` image:
:math:`10n` trials each draw an area :math:`A \sim U(s_0, s_1)\,HW` and an aspect ratio
:math:`r = e^{U(\log r_0, \log r_1)}`, and round
:math:`w = \operatorname{round}(\sqrt{A r}),\ h = \operatorname{round}(\sqrt{A / r})` (half to
even). The first :math:`n` trials with :math:`0 < w \le W` and :math:`0 < h \le H` are the boxes
(in trial order); rows left over get the full image. Each row then draws integer offsets
:math:`k_w \in [w - W, W - w]` and :math:`k_h \in [h - H, H - h]` (uniform), and the box is
:math:`(w / W,\ h / H,\ k_w / W,\ k_h / H)`. Since the normalised image spans 2, an offset
:math:`k_w` moves the window by :math:`k_w / 2` pixels: its left edge is at
:math:`(W - w + k_w) / 2 \in [0, W - w]`, always inside the image, on a half-pixel lattice.

The reference names ``N, _, width, height = inputs.shape``, so its "width" is :math:`H` (the
rows) and it rounds, bounds and offsets the box's first side against :math:`H` although
``theta[0, 0]`` scales the columns. Here the box's ``w`` goes with :math:`W` and ``h`` with
:math:`H`; the two agree on square images, the only ones the reference's recipes use.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from dia_augment.augmentation.colour import (
    _check_boxes,
    _check_factor,
    _check_flags,
    _check_mask,
    _check_size,
    _affine_crop,
    _grayscale,
    _reference_jitter,
)
from dia_augment.errors import ConfigError, InputError, InputTypeError
from dia_augment.utils.checks import check_int, check_pair, check_images, check_probability

__all__ = ["draw_reference_boxes", "ReferenceSimCLRAugmentation", "PARAM_KEYS"]

#: The entries of :meth:`ReferenceSimCLRAugmentation.draw_params`'s dictionary.
PARAM_KEYS = ("jitter_apply", "contrast_first", "contrast", "hue", "saturation", "value", "gray_apply", "boxes")


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None, device: torch.device,
             dtype: torch.dtype = torch.float64) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device, dtype=dtype)


def _integer_offsets(span: Tensor, generator: torch.Generator | None) -> Tensor:
    """A uniform integer in ``[-span, span]`` per entry (``span`` a float64 tensor of integers >= 0)."""
    count = (2 * span + 1).long()
    draws = torch.randint(0, 2**62, span.shape, generator=generator, device=span.device)
    return (draws % count).double() - span


def draw_reference_boxes(n: int, input_size: int | tuple[int, int], scale: tuple[float, float],
                         ratio: tuple[float, float] = (3 / 4, 4 / 3),
                         generator: torch.Generator | None = None) -> Tensor:
    r"""Draw ``n`` crop boxes as the reference's ``RandomResizedCropLayer`` does.

    ``10 n`` trials of an area uniform in ``scale`` times the image's and a log-uniform aspect
    ratio in ``ratio``, rounded to whole pixels; the first ``n`` that fit are the boxes, rows
    left over get the full image (``(1, 1, 0, 0)``), and each box gets a uniform integer pixel
    offset divided by the image's side (see the module docstring). Computed in float64; every
    draw comes from ``generator`` (the global generator when ``None``), on its device.

    Args:
        n: the number of boxes.
        input_size: the image side, or ``(H, W)``.
        scale: the range of the box's area as a fraction of the image's, ``0 < low <= high``.
        ratio: the range of the aspect ratio ``w / h``, ``0 < low <= high``.
        generator: the source of randomness.

    Returns:
        ``(w, h, w_bias, h_bias)`` per row in :func:`~dia_augment.augmentation.colour.affine_crop`'s
        convention, float64, on the generator's device (the CPU without one).

    Raises:
        InputTypeError: ``n`` or a size not an int, a range not a pair of numbers, a generator
            that is not a ``torch.Generator``.
        InputError: ``n`` or a size below 1, an empty, inverted or non-positive range.

    Shape:
        - output: :math:`(n, 4)`

    Examples:
        >>> boxes = draw_reference_boxes(3, 32, (0.08, 1.0), generator=torch.Generator().manual_seed(0))
        >>> boxes.shape, boxes.dtype
        (torch.Size([3, 4]), torch.float64)
        >>> bool(((boxes[:, :2] * 32) == (boxes[:, :2] * 32).round()).all())  # whole pixels
        True
        >>> draw_reference_boxes(2, 32, (1.0, 1.0), ratio=(4.0, 4.0))  # no trial fits: full boxes
        tensor([[1., 1., 0., 0.],
                [1., 1., 0., 0.]], dtype=torch.float64)
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise InputTypeError(f"n must be an int; got {type(n).__name__} {n!r}")
    if n < 1:
        raise InputError(f"n must be at least 1; got {n}")
    n = int(n)
    height, width = _check_size(input_size, "input_size")
    s_lo, s_hi = check_pair(scale, "scale", low=0, error=InputError)
    r_lo, r_hi = check_pair(ratio, "ratio", low=0, error=InputError)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InputTypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")
    device = generator.device if generator is not None else torch.device("cpu")

    trials = 10 * n
    area = _uniform(trials, s_lo, s_hi, generator, device) * (height * width)
    aspect = torch.exp(_uniform(trials, math.log(r_lo), math.log(r_hi), generator, device))
    w = torch.round(torch.sqrt(area * aspect))
    h = torch.round(torch.sqrt(area / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    w, h = w[fits][:n], h[fits][:n]
    missing = n - w.shape[0]
    if missing:
        w = torch.cat([w, w.new_full((missing,), float(width))])
        h = torch.cat([h, h.new_full((missing,), float(height))])
    w_offset = _integer_offsets(width - w, generator)
    h_offset = _integer_offsets(height - h, generator)
    return torch.stack([w / width, h / height, w_offset / width, h_offset / height], dim=1)


class ReferenceSimCLRAugmentation(nn.Module):
    r"""The reference's SimCLR augmentation: colour jitter, grayscale, then an affine crop.

    The same arguments as :class:`~dia_augment.augmentation.simclr.SimCLRAugmentation`, with
    the reference code's order and semantics (module docstring): per call one jitter order; per
    row a jitter flag (``p_jitter``) with contrast, hue, saturation and value factors, a gray
    flag (``p_gray``) and a crop box; then
    :func:`~dia_augment.augmentation.colour.reference_colour_jitter`,
    :func:`~dia_augment.augmentation.colour.grayscale` and
    :func:`~dia_augment.augmentation.colour.affine_crop` to ``output_size``. The output is
    clamped to ``[0, 1]`` (the crop's bilinear and average weights can overshoot by an ulp).

    ``forward(images, generator)`` is ``apply(images, draw_params(N, (H, W), generator))``; every
    draw comes from ``generator`` on its device (the global generator when ``None``), so the
    same generator state gives the same output, and recorded parameters replay exactly. RGB only:
    the reference converts every image to RGB (expand a gray batch with
    ``images.expand(-1, 3, -1, -1)``).

    Args:
        output_size: side of the square output.
        crop_scale: range of the crop's area as a fraction of the image, within ``(0, 1]``.
        crop_ratio: range of the crop's aspect ratio.
        jitter: brightness (value), contrast, saturation, hue strengths; hue at most 0.5.
        p_jitter: probability of the colour jitter for each row.
        p_gray: probability of the grayscale conversion for each row.

    Raises:
        ConfigError: a setting out of range.

    Shape:
        - images: :math:`(N, 3, H, W)` in ``[0, 1]``
        - output: :math:`(N, 3, S, S)` in ``[0, 1]``, on the images' device

    Examples:
        >>> aug = ReferenceSimCLRAugmentation(8)
        >>> x = torch.rand(4, 3, 16, 16)
        >>> a = aug(x, generator=torch.Generator().manual_seed(0))
        >>> params = aug.draw_params(4, (16, 16), torch.Generator().manual_seed(0))
        >>> a.shape, torch.equal(a, aug.apply(x, params))
        (torch.Size([4, 3, 8, 8]), True)
        >>> aug(x[:, :1])
        Traceback (most recent call last):
        ...
        dia_augment.errors.InputError: ReferenceSimCLRAugmentation needs RGB images ...; got C = 1: expand gray ...
    """

    def __init__(self, output_size: int, crop_scale: tuple[float, float] = (0.08, 1.0),
                 crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
                 jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1), p_jitter: float = 0.8,
                 p_gray: float = 0.2) -> None:
        super().__init__()
        self.output_size = check_int(output_size, "output_size", error=ConfigError)
        self.crop_scale = check_pair(crop_scale, "crop_scale", low=0, high=1.0)
        self.crop_ratio = check_pair(crop_ratio, "crop_ratio", low=0)
        if (isinstance(jitter, (str, bytes)) or not isinstance(jitter, Sequence) or len(jitter) != 4
                or not all(isinstance(j, numbers.Real) and not isinstance(j, bool) and 0 <= j < math.inf
                           for j in jitter)):
            raise ConfigError(f"jitter must be 4 non-negative strengths (brightness, contrast, saturation, hue); "
                              f"got {jitter!r}")
        if float(jitter[3]) > 0.5:
            raise ConfigError(f"hue jitter must be in [0, 0.5]; got {jitter[3]}")
        self.jitter = tuple(float(j) for j in jitter)
        self.p_jitter = check_probability(p_jitter, "p_jitter")
        self.p_gray = check_probability(p_gray, "p_gray")

    def _factor_range(self, index: int) -> tuple[float, float]:
        strength = self.jitter[index]
        if index == 3:
            return -strength, strength
        return max(1.0 - strength, 0.0), 1.0 + strength

    def draw_params(self, n: int, input_size: int | tuple[int, int],
                    generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Draw the parameters of ``n`` rows of ``input_size`` images.

        Args:
            n: the number of rows.
            input_size: the images' side, or ``(H, W)``.
            generator: the source of randomness (the global generator when ``None``).

        Returns:
            On the generator's device (the CPU without one): ``jitter_apply``, ``contrast_first``
            and ``gray_apply`` ``(n,)`` bool (``contrast_first`` holds the call's single draw on
            every row), ``contrast``, ``hue``, ``saturation``, ``value`` ``(n,)`` float32 factors
            and ``boxes`` ``(n, 4)`` float64.

        Examples:
            >>> params = ReferenceSimCLRAugmentation(8).draw_params(3, 16, torch.Generator().manual_seed(0))
            >>> sorted(params) == sorted(PARAM_KEYS), params["boxes"].shape
            (True, torch.Size([3, 4]))
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise InputTypeError(f"n must be an int; got {type(n).__name__} {n!r}")
        if n < 1:
            raise InputError(f"n must be at least 1; got {n}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise InputTypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")
        _check_size(input_size, "input_size")  # before any draw
        device = generator.device if generator is not None else torch.device("cpu")

        def uniform(index: int) -> Tensor:
            return _uniform(n, *self._factor_range(index), generator, device, torch.float32)

        def bernoulli(p: float) -> Tensor:
            return torch.rand(n, generator=generator, device=device, dtype=torch.float32) < p  # whatever the default dtype

        contrast_first = torch.rand((), generator=generator, device=device, dtype=torch.float64) < 0.5
        params = {
            "contrast_first": contrast_first.expand(n).clone(),
            "jitter_apply": bernoulli(self.p_jitter),
            "contrast": uniform(1),
            "hue": uniform(3),
            "saturation": uniform(2),
            "value": uniform(0),
            "gray_apply": bernoulli(self.p_gray),
        }
        params["boxes"] = draw_reference_boxes(n, input_size, self.crop_scale, self.crop_ratio, generator)
        return {key: params[key] for key in PARAM_KEYS}

    def _check_rgb(self, images: Tensor) -> None:
        check_images(images, channels=None)
        if images.shape[1] != 3:
            raise InputError(f"{type(self).__name__} needs RGB images (the reference converts every image to RGB); "
                             f"got C = {images.shape[1]}: expand gray images with images.expand(-1, 3, -1, -1)")

    def apply(self, images: Tensor, params: Mapping[str, Tensor]) -> Tensor:
        """Augment ``images`` with given parameters (as :meth:`draw_params` returns them).

        Args:
            images: RGB images in ``[0, 1]``.
            params: the parameters of each row; moved to the images' device.

        Returns:
            The augmented images, in ``[0, 1]``.

        Raises:
            InputError / InputTypeError: bad images, or a missing, misshapen or out-of-range
                parameter (the message names it).

        Examples:
            >>> aug = ReferenceSimCLRAugmentation(4, p_jitter=0.0, p_gray=0.0)
            >>> x = torch.rand(2, 3, 4, 4)
            >>> params = aug.draw_params(2, 4, torch.Generator().manual_seed(0))
            >>> params["boxes"] = torch.tensor([[1.0, 1.0, 0.0, 0.0]]).expand(2, 4)  # the whole image
            >>> torch.allclose(aug.apply(x, params), x, atol=1e-6)
            True
        """
        self._check_rgb(images)
        return self._apply(images, params)

    def _apply(self, images: Tensor, params: Mapping[str, Tensor]) -> Tensor:
        """:meth:`apply` on checked images: checks the parameters, then runs the three steps."""
        if not isinstance(params, Mapping):
            raise InputTypeError(f"params must be a dict of tensors (see draw_params); got {type(params).__name__}")
        missing = [key for key in PARAM_KEYS if key not in params]
        if missing:
            raise InputError(f"params misses {', '.join(missing)} (see draw_params)")
        n = images.shape[0]
        jitter_apply = _check_mask(params["jitter_apply"], n, "jitter_apply")
        gray_apply = _check_mask(params["gray_apply"], n, "gray_apply")
        contrast_first = _check_flags(params["contrast_first"], n)
        boxes = _check_boxes(params["boxes"], n)
        factors = {"contrast": _check_factor(params["contrast"], n, "contrast", low=0.0),
                   "hue": _check_factor(params["hue"], n, "hue", low=-0.5, high=0.5),
                   "saturation": _check_factor(params["saturation"], n, "saturation", low=0.0),
                   "value": _check_factor(params["value"], n, "value", low=0.0)}
        x = _reference_jitter(images, jitter_apply, factors["contrast"], factors["hue"], factors["saturation"],
                              factors["value"], contrast_first)
        x = _grayscale(x, gray_apply)
        size = (self.output_size, self.output_size)
        return _affine_crop(x, boxes, size).clamp(0.0, 1.0)

    def forward(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self._check_rgb(images)
        return self._apply(images, self.draw_params(images.shape[0], tuple(images.shape[-2:]), generator))

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, crop_scale={self.crop_scale}, crop_ratio={self.crop_ratio}, "
                f"jitter={self.jitter}, p_jitter={self.p_jitter}, p_gray={self.p_gray}")
