r"""Colour and crop operations with explicit per-row parameters (no randomness inside).

Every function here takes the parameters of each row as tensors, so the same code serves a
random augmentation (which draws them, see :mod:`dia_augment.augmentation.reference`) and fixed
test-time views (which hold them). Images are ``(N, C, H, W)`` floats in ``[0, 1]``; a row whose
``apply`` flag is ``False`` comes back bit for bit unchanged.

**The reference jitter** (:func:`reference_colour_jitter`, the DIA/CSI code's
``ColorJitterLayer``). A row gets a contrast factor :math:`c`, a hue factor :math:`f_h`, a
saturation factor :math:`f_s` and a value (brightness) factor :math:`f_v`. Contrast works per
channel around that channel's spatial mean :math:`\mu`, then clamps:

.. math::

    C(x) = \operatorname{clamp}_{[0, 1]}\bigl((x - \mu)\, c + \mu\bigr).

The HSV step reads hue from an ``atan2`` (not the usual lookup table), saturation and value:

.. math::

    \theta = \frac{\operatorname{atan2}(\sqrt{3}\,(G - B),\; 2R - G - B) \bmod 2\pi}{2\pi}, \qquad
    S = \frac{\max - \min}{\max} \;(0 \text{ where } \max = 0), \qquad V = \max,

shifts and scales them, clamps all three to ``[0, 1]`` (after the hue's modulo):

.. math::

    h = \bigl(\theta + f_h \cdot 255 / 360\bigr) \bmod 1, \quad s = \operatorname{clamp}(S f_s), \quad
    v = \operatorname{clamp}(V f_v),

and goes back to RGB with, for :math:`n = 5, 3, 1` (R, G, B):

.. math::

    k_n = (n + 6h) \bmod 6, \qquad \mathrm{out}_n = v - v\,s\,\operatorname{clamp}_{[0, 1]}(\min(k_n, 4 - k_n)).

So a hue factor in ``[-0.1, 0.1]`` turns the hue by at most :math:`0.1 \cdot 255 / 360` of a turn
(25.5 degrees). The two steps run in the order ``contrast_first`` gives: ``HSV(C(x))`` or
``C(HSV(x))``; the result is in ``[0, 1]`` either way (contrast clamps; the HSV round trip gives
:math:`v (1 - s t) \in [0, 1]`).

**kornia's jitter** (:func:`kornia_colour_jitter`, ``kornia.augmentation.ColorJitter``'s apply
step): brightness :math:`\operatorname{clamp}(x b)`, contrast
:math:`\operatorname{clamp}(x c + \bar L (1 - c))` with :math:`\bar L` the spatial mean of the
luma (the image's mean for one channel), saturation :math:`\operatorname{clamp}((1 - s) L + s x)`,
hue a shift of kornia's (lookup-table) HSV hue by :math:`2\pi f` radians; the input is clamped to
``[0, 1]`` first, the result last, and the steps run in a given order.

**Grayscale** (:func:`grayscale`): :math:`L = 0.299 R + 0.587 G + 0.114 B` on all three channels
(the reference's and kornia's weights are the same).

**The reference crop** (:func:`affine_crop`, the reference's ``RandomResizedCropLayer``). A box
:math:`(w, h, w_b, h_b)` in normalised coordinates (the image spans ``[-1, 1]`` on each axis) is
the affine map :math:`\theta = \begin{pmatrix} w & 0 & w_b \\ 0 & h & h_b \end{pmatrix}`, sampled
at the input's own size: output column :math:`j` of a width-:math:`W` image reads the source
column

.. math::

    u_j = \frac{\bigl(w\,(\tfrac{2j + 1}{W} - 1) + w_b + 1\bigr) W - 1}{2}

(rows alike with :math:`h, h_b, H`), reflected about :math:`-\tfrac12` and :math:`W - \tfrac12`,
bilinearly interpolated (``grid_sample(..., padding_mode="reflection", align_corners=False)``),
then ``adaptive_avg_pool2d`` to the output size. The box covers a :math:`wW \times hH` pixel window
whose centre is :math:`w_b W / 2` pixels right of the image's centre. Since :math:`\theta` is
diagonal, the whole crop is separable: ``out = rows @ x @ cols.T`` with one ``(S_h, H)`` and one
``(S_w, W)`` matrix per box (:func:`affine_crop_matrices`), which is how a fixed view exports to
ONNX as two matrix products.

Gradients: all functions are differentiable w.r.t. the images. The reference backpropagates
through its HSV step as the identity; :func:`reference_colour_jitter` uses the plain derivative
instead, with the gray pixels (where ``atan2(0, 0)`` and ``0 / 0`` have none) given a zero hue and
saturation gradient, so no NaN reaches the images' gradient.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor

from dia_augment.errors import InputError, InputTypeError
from dia_augment.utils.checks import check_images

__all__ = [
    "colour_view",
    "reference_contrast_first",
    "reference_colour_jitter",
    "kornia_colour_jitter",
    "grayscale",
    "affine_crop",
    "affine_crop_matrices",
    "GRAY_WEIGHTS",
    "KORNIA_NEUTRAL",
]

#: The luma weights of R, G and B (ITU-R BT.601), the reference's and kornia's alike.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)

#: The neutral factor of kornia's brightness, contrast, saturation and hue steps.
KORNIA_NEUTRAL = (1.0, 1.0, 1.0, 0.0)

_KORNIA_NAMES = ("brightness", "contrast", "saturation", "hue")


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------

def _check_mask(mask: object, n: int, name: str = "apply") -> Tensor:
    if not isinstance(mask, Tensor):
        raise InputTypeError(f"{name} must be a ({n},) bool tensor; got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise InputTypeError(f"{name} must be a bool tensor (one flag per row); got dtype {mask.dtype}")
    if tuple(mask.shape) != (n,):
        raise InputError(f"{name} must have shape ({n},), one flag per row; got shape {tuple(mask.shape)}")
    return mask


def _check_factor(factor: object, n: int, name: str, low: float | None = None,
                  high: float | None = None) -> Tensor:
    if not isinstance(factor, Tensor):
        raise InputTypeError(f"{name} must be a ({n},) float tensor (one factor per row); got {type(factor).__name__}")
    if not factor.is_floating_point():
        raise InputTypeError(f"{name} must be a floating-point tensor; got dtype {factor.dtype}")
    if tuple(factor.shape) != (n,):
        raise InputError(f"{name} must have shape ({n},), one factor per row; got shape {tuple(factor.shape)}")
    lo, hi, total = torch.stack([factor.amin(), factor.amax(), factor.sum()]).detach().double().cpu().tolist()
    if not math.isfinite(total):
        raise InputError(f"{name} contains NaN or inf values")
    if (low is not None and lo < low) or (high is not None and hi > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise InputError(f"{name} factors must be in {bounds}; got values in [{lo:.4g}, {hi:.4g}]")
    return factor


def _check_flags(flags: object, n: int, name: str = "contrast_first") -> Tensor:
    if isinstance(flags, bool):
        return torch.full((n,), flags, dtype=torch.bool)
    if not isinstance(flags, Tensor):
        raise InputTypeError(f"{name} must be a bool or a ({n},) bool tensor; got {type(flags).__name__}")
    if flags.dtype != torch.bool:
        raise InputTypeError(f"{name} must be a bool tensor; got dtype {flags.dtype}")
    if flags.ndim == 0:
        return flags.expand(n)
    if tuple(flags.shape) != (n,):
        raise InputError(f"{name} must be a bool or have shape ({n},); got shape {tuple(flags.shape)}")
    return flags


def _check_size(size: object, name: str) -> tuple[int, int]:
    """An int side or an ``(H, W)`` pair of positive ints."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (not isinstance(size, (Sequence, torch.Size)) or isinstance(size, (str, bytes)) or len(size) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size)):
        raise InputTypeError(f"{name} must be an int or a pair of ints (H, W); got {size!r}")
    if min(size) < 1:
        raise InputError(f"{name} must be positive; got {tuple(size)}")
    return int(size[0]), int(size[1])


def _check_boxes(boxes: object, n: int, name: str = "boxes") -> Tensor:
    if not isinstance(boxes, Tensor):
        raise InputTypeError(f"{name} must be a ({n}, 4) float tensor of (w, h, w_bias, h_bias); "
                             f"got {type(boxes).__name__}")
    if not boxes.is_floating_point():
        raise InputTypeError(f"{name} must be a floating-point tensor; got dtype {boxes.dtype}")
    if tuple(boxes.shape) != (n, 4):
        raise InputError(f"{name} must have shape ({n}, 4), one (w, h, w_bias, h_bias) per row; "
                         f"got shape {tuple(boxes.shape)}")
    if not bool(torch.isfinite(boxes).all()):
        raise InputError(f"{name} contains NaN or inf values")
    if not bool((boxes[:, :2] > 0).all()):
        raise InputError(f"{name} must have positive widths and heights (columns 0 and 1); "
                         f"got a minimum of {float(boxes[:, :2].min()):.4g}")
    return boxes


def _row_view(values: Tensor, like: Tensor) -> Tensor:
    """``(N,)`` values as ``(N, 1, 1, 1)`` in ``like``'s dtype and device."""
    return values.to(device=like.device, dtype=like.dtype).view(-1, 1, 1, 1)


# --------------------------------------------------------------------------------------------
# The reference jitter
# --------------------------------------------------------------------------------------------

def _contrast(x: Tensor, factor: Tensor) -> Tensor:
    """``clamp((x - mean) * factor + mean)`` per channel; a factor of exactly 1 only clamps."""
    means = x.mean(dim=(2, 3), keepdim=True)
    adjusted = (x - means) * factor + means
    # The reference skips the formula (but not the clamp) when its contrast strength is 0, i.e.
    # every factor is exactly 1; doing it per row keeps that case exact.
    adjusted = torch.where(factor == 1, x, adjusted)
    return adjusted.clamp(0.0, 1.0)


def _rgb_to_hsv(rgb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    r, g, b = rgb.unbind(1)
    cmax = rgb.amax(dim=1)
    cmin = rgb.amin(dim=1)
    delta = cmax - cmin
    y = math.sqrt(3) * (g - b)
    x = 2 * r - g - b
    # atan2(0, 0) = 0 but has no derivative: use atan2(0, 1) (also 0) there, so the gradient is
    # zero instead of NaN on gray pixels.
    gray = (y == 0) & (x == 0)
    hue = torch.atan2(torch.where(gray, torch.zeros_like(y), y), torch.where(gray, torch.ones_like(x), x))
    hue = (hue % (2 * math.pi)) / (2 * math.pi)
    # S = delta / max, 0 where that is not finite (max = 0), again without a NaN gradient.
    nonzero = cmax != 0
    sat = delta / torch.where(nonzero, cmax, torch.ones_like(cmax))
    sat = torch.where(nonzero & torch.isfinite(sat), sat, torch.zeros_like(sat))
    return hue, sat, cmax


def _hsv_to_rgb(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    h, s, v = h.unsqueeze(1), s.unsqueeze(1), v.unsqueeze(1)
    c = v * s
    n = h.new_tensor([5.0, 3.0, 1.0]).view(3, 1, 1)
    k = (n + h * 6) % 6
    t = torch.minimum(k, 4 - k).clamp(0.0, 1.0)
    return v - c * t


def _hsv_step(x: Tensor, f_h: Tensor, f_s: Tensor, f_v: Tensor) -> Tensor:
    hue, sat, val = _rgb_to_hsv(x)
    f_h, f_s, f_v = f_h.view(-1, 1, 1), f_s.view(-1, 1, 1), f_v.view(-1, 1, 1)
    hue = (hue + f_h * 255.0 / 360.0) % 1
    sat = sat * f_s
    val = val * f_v
    return _hsv_to_rgb(hue.clamp(0.0, 1.0), sat.clamp(0.0, 1.0), val.clamp(0.0, 1.0))


def _reference_rows(x: Tensor, contrast: Tensor, hue: Tensor, saturation: Tensor, value: Tensor,
                    contrast_first: bool) -> Tensor:
    contrast = contrast.view(-1, 1, 1, 1)
    if contrast_first:
        return _hsv_step(_contrast(x, contrast), hue, saturation, value)
    return _contrast(_hsv_step(x, hue, saturation, value), contrast)


def reference_colour_jitter(images: Tensor, apply: Tensor, contrast: Tensor, hue: Tensor, saturation: Tensor,
                            value: Tensor, contrast_first: bool | Tensor) -> Tensor:
    r"""The reference's colour jitter (contrast and an ``atan2`` HSV step) with given per-row factors.

    For each row with ``apply`` True: contrast around the per-channel mean and the HSV step
    (hue shift ``hue * 255 / 360`` of a turn, saturation and value scaled), in the order
    ``contrast_first`` gives (formulas in the module docstring). The reference draws one order
    per call; here it may differ per row, so that fixed views can each hold their own. The
    factors are cast to the images' dtype (the reference draws them in it).

    A contrast factor of exactly 1 only clamps (as the reference does with a contrast strength
    of 0); otherwise every applied row goes through the formulas, an HSV round trip included.
    Differentiable w.r.t. ``images`` with the plain derivative (the reference's HSV step
    backpropagates as the identity); gray pixels get a zero hue and saturation gradient.

    Args:
        images: RGB images in ``[0, 1]``.
        apply: which rows to jitter; the other rows are returned unchanged, bit for bit.
        contrast: contrast factors (the reference draws them in ``[0.6, 1.4]``), ``>= 0``.
        hue: hue factors (drawn in ``[-0.1, 0.1]``), in ``[-0.5, 0.5]``.
        saturation: saturation factors (drawn in ``[0.6, 1.4]``), ``>= 0``.
        value: value (brightness) factors (drawn in ``[0.6, 1.4]``), ``>= 0``.
        contrast_first: ``True`` for contrast then HSV, ``False`` for HSV then contrast; one bool
            for the batch or one per row.

    Returns:
        The jittered images, in ``[0, 1]`` on the applied rows.

    Raises:
        InputTypeError: a non-tensor, a non-float image or factor, a non-bool mask or order.
        InputError: not RGB, values outside ``[0, 1]``, a parameter without one entry per row,
            NaN factors or factors out of range.

    Shape:
        - images: :math:`(N, 3, H, W)`
        - apply, contrast, hue, saturation, value: :math:`(N,)`; contrast_first: a bool or :math:`(N,)`
        - output: :math:`(N, 3, H, W)`

    Examples:
        >>> x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> one = torch.ones(2)
        >>> y = reference_colour_jitter(x, torch.tensor([True, False]), 1.4 * one, 0.1 * one, one, one, True)
        >>> torch.equal(y[1], x[1]), y.shape
        (True, torch.Size([2, 3, 4, 4]))
        >>> reference_colour_jitter(x[:, :1], torch.tensor([True, False]), one, one, one, one, True)
        Traceback (most recent call last):
        ...
        dia_augment.errors.InputError: images must have 3 channels; got C = 1
    """
    check_images(images, channels=(3,))
    n = images.shape[0]
    return _reference_jitter(images, _check_mask(apply, n), _check_factor(contrast, n, "contrast", low=0.0),
                             _check_factor(hue, n, "hue", low=-0.5, high=0.5),
                             _check_factor(saturation, n, "saturation", low=0.0),
                             _check_factor(value, n, "value", low=0.0), _check_flags(contrast_first, n))


def _reference_jitter(images: Tensor, apply: Tensor, contrast: Tensor, hue: Tensor, saturation: Tensor,
                      value: Tensor, contrast_first: Tensor) -> Tensor:
    """:func:`reference_colour_jitter` on checked arguments.

    The row selection stays on the masks' device (the CPU where the draws were made), so the
    tests of which rows to jitter cost no synchronisation with a GPU holding the images.
    """
    flags = contrast_first.to(apply.device)
    factors = [f.to(device=images.device, dtype=images.dtype) for f in (contrast, hue, saturation, value)]

    result = images
    for first in (True, False):
        rows = apply & (flags == first)
        if not bool(rows.any()):
            continue
        if bool(rows.all()):  # the common case: the whole batch, no gather
            return _reference_rows(images, *factors, contrast_first=first)
        index = rows.nonzero().squeeze(1).to(images.device)
        out = _reference_rows(images[index], *(f[index] for f in factors), contrast_first=first)
        result = result.index_put((index,), out)
    return images.clone() if result is images else result  # always a new tensor, as kornia's


# --------------------------------------------------------------------------------------------
# kornia's jitter
# --------------------------------------------------------------------------------------------

def _clamp_unit(x: Tensor) -> Tensor:
    """``clamp(x, 0, 1)`` whose gradient is the identity on the closed range, as kornia's is."""
    clamped = x.clamp(0.0, 1.0)
    if not (torch.is_grad_enabled() and x.requires_grad):
        return clamped
    return torch.where(clamped == x, x, clamped)


def _kornia_hue(x: Tensor, factor: Tensor) -> Tensor:
    return kornia.enhance.adjust_hue(x, factor * 2 * math.pi)


_KORNIA_STEPS = (
    kornia.enhance.adjust_brightness_accumulative,
    kornia.enhance.adjust_contrast_with_mean_subtraction,
    kornia.enhance.adjust_saturation_with_gray_subtraction,
    _kornia_hue,
)


def _check_order(order: object) -> tuple[int, ...]:
    if isinstance(order, Tensor):
        if order.is_floating_point() or order.dtype == torch.bool or order.ndim != 1:
            raise InputTypeError(f"order must be a 1-D integer tensor or a sequence of ints; got {order.dtype} "
                                 f"tensor of shape {tuple(order.shape)}")
        order = order.tolist()
    if (isinstance(order, (str, bytes)) or not isinstance(order, Sequence)
            or not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in order)):
        raise InputTypeError(f"order must be a sequence of indices into (brightness, contrast, saturation, hue); "
                             f"got {order!r}")
    order = tuple(int(i) for i in order)
    if not set(order) <= {0, 1, 2, 3} or len(set(order)) != len(order):
        raise InputError(f"order must hold distinct indices in 0..3 (brightness, contrast, saturation, hue); "
                         f"got {order}")
    return order


def kornia_colour_jitter(images: Tensor, apply: Tensor, brightness: Tensor, contrast: Tensor, saturation: Tensor,
                         hue: Tensor, order: Sequence[int] | Tensor) -> Tensor:
    r"""kornia 0.9's ``ColorJitter`` apply step with given per-row factors and step order.

    On the rows with ``apply`` True, exactly what ``kornia.augmentation.ColorJitter`` computes
    from its ``_params`` (``brightness_factor``, ``contrast_factor``, ``saturation_factor``,
    ``hue_factor``, ``order``, and ``apply = batch_prob > 0.5``): the input is clamped to
    ``[0, 1]``, then ``adjust_brightness_accumulative``, ``adjust_contrast_with_mean_subtraction``,
    ``adjust_saturation_with_gray_subtraction`` and ``adjust_hue(x, hue * 2 * pi)`` run in
    ``order``, and the result is clamped. As in kornia, a step is skipped when the factors of
    every row (applied or not) are neutral (1, 1, 1, 0), and a step that runs, runs with each
    row's own factor.

    Args:
        images: images in ``[0, 1]``, RGB or gray.
        apply: which rows to jitter; the other rows are returned unchanged, bit for bit.
        brightness: brightness factors (multipliers), ``>= 0``.
        contrast: contrast factors, ``>= 0``.
        saturation: saturation factors, ``>= 0``; all 1 for gray images.
        hue: hue factors in turns (kornia draws them in ``[-hue, hue]``), in ``[-0.5, 0.5]``; all 0
            for gray images.
        order: the steps to run, as distinct indices into (brightness, contrast, saturation, hue);
            kornia's ``_params["order"]`` is accepted as it is.

    Returns:
        The jittered images.

    Raises:
        InputTypeError: a non-tensor, a non-float image or factor, a non-bool mask, a bad order.
        InputError: wrong shape or channel count, values outside ``[0, 1]``, a parameter without
            one entry per row, factors out of range, or a saturation or hue change asked of gray
            images.

    Shape:
        - images: :math:`(N, C, H, W)`, C in {1, 3}
        - apply, brightness, contrast, saturation, hue: :math:`(N,)`
        - output: :math:`(N, C, H, W)`

    Examples:
        >>> import kornia.augmentation as K
        >>> x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> aug = K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0)
        >>> y = aug(x)
        >>> p = aug._params
        >>> z = kornia_colour_jitter(x, torch.ones(3, dtype=torch.bool), p["brightness_factor"],
        ...                          p["contrast_factor"], p["saturation_factor"], p["hue_factor"], p["order"])
        >>> torch.equal(y, z)
        True
    """
    check_images(images)
    n = images.shape[0]
    apply = _check_mask(apply, n)
    factors = (
        _check_factor(brightness, n, "brightness", low=0.0),
        _check_factor(contrast, n, "contrast", low=0.0),
        _check_factor(saturation, n, "saturation", low=0.0),
        _check_factor(hue, n, "hue", low=-0.5, high=0.5),
    )
    order = _check_order(order)
    factors = tuple(f.to(images.device) for f in factors)
    active = [bool((f != neutral).any()) for f, neutral in zip(factors, KORNIA_NEUTRAL)]
    if images.shape[1] == 1:
        for idx in (2, 3):
            if active[idx]:
                raise InputError(f"gray (1-channel) images take brightness and contrast only: {_KORNIA_NAMES[idx]} "
                                 f"must be all {KORNIA_NEUTRAL[idx]:g}")
    x = _clamp_unit(images)
    for idx in order:
        if active[idx]:
            x = _KORNIA_STEPS[idx](x, factors[idx])
    x = _clamp_unit(x)
    return torch.where(apply.to(images.device).view(-1, 1, 1, 1), x, images)


# --------------------------------------------------------------------------------------------
# Grayscale
# --------------------------------------------------------------------------------------------

def grayscale(images: Tensor, apply: Tensor) -> Tensor:
    r"""Replace the rows with ``apply`` True by their luma ``0.299 R + 0.587 G + 0.114 B`` on 3 channels.

    The reference's ``RandomColorGrayLayer`` and kornia's ``RandomGrayscale`` use the same
    weights; the luma is computed as kornia's ``rgb_to_grayscale`` does (equal to
    ``RandomGrayscale`` bit for bit).

    Args:
        images: RGB images in ``[0, 1]``.
        apply: which rows to convert; the other rows are returned unchanged, bit for bit.

    Returns:
        The images, gray rows with three equal channels.

    Raises:
        InputTypeError: a non-tensor or non-float image, a non-bool mask.
        InputError: not RGB, values outside ``[0, 1]``, ``apply`` without one flag per row.

    Shape:
        - images: :math:`(N, 3, H, W)`
        - apply: :math:`(N,)`
        - output: :math:`(N, 3, H, W)`

    Examples:
        >>> x = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).repeat(2, 1, 1, 1)
        >>> grayscale(x, torch.tensor([True, False])).flatten(1)
        tensor([[0.2990, 0.2990, 0.2990],
                [1.0000, 0.0000, 0.0000]])
    """
    check_images(images, channels=(3,))
    return _grayscale(images, _check_mask(apply, images.shape[0]))


def _grayscale(images: Tensor, apply: Tensor) -> Tensor:
    apply = apply.to(images.device)
    luma = kornia.color.rgb_to_grayscale(images)
    return torch.where(apply.view(-1, 1, 1, 1), luma.expand_as(images), images)


def reference_contrast_first(order: Sequence[int] | Tensor) -> bool:
    """Whether a view of order ``order`` (a permutation of brightness, contrast, saturation, hue)
    runs the reference's contrast step before its HSV step: contrast before hue, so that a uniform
    permutation gives either order with probability 1/2, as the reference's coin does.

    Examples:
        >>> reference_contrast_first([1, 0, 2, 3]), reference_contrast_first([3, 2, 1, 0])
        (True, False)
        >>> import itertools
        >>> sum(reference_contrast_first(p) for p in itertools.permutations(range(4)))   # 12 of the 24
        12
    """
    order = _check_order(order)
    if not {1, 3} <= set(order):
        raise InputError(f"order must hold contrast (1) and hue (3) to say which reference step comes first; got {order}")
    return order.index(1) < order.index(3)


def colour_view(images: Tensor, jitter: Sequence[float] | None, order: Sequence[int], gray: bool,
                semantics: str = "library") -> Tensor:
    """One fixed view's colour jitter and grayscale, the same for every row, without checks or data-dependent branches.

    The fixed test-time views (:class:`~dia_augment.score.TestTimeEncoder`) call it with draws made
    once; it is what :func:`kornia_colour_jitter` (``"library"``) or
    :func:`reference_colour_jitter` (``"reference"``) and :func:`grayscale` compute on every row,
    written so that ``torch.export`` and ``torch.compile`` trace it (the images are not checked:
    the caller has).

    Args:
        images: images in ``[0, 1]``.
        jitter: ``(brightness / value, contrast, saturation, hue)`` as numbers, or ``None``: no jitter.
        order: the order of (brightness, contrast, saturation, hue) for ``"library"``; for
            ``"reference"`` whether contrast (1) comes before hue (3): :func:`reference_contrast_first`.
        gray: convert to grayscale afterwards (3-channel images).
        semantics: ``"library"`` (kornia's) or ``"reference"`` (the paper code's).

    Shape:
        - images: :math:`(N, C, H, W)`
        - output: :math:`(N, C, H, W)`

    Examples:
        >>> x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> on = torch.ones(2, dtype=torch.bool)
        >>> f = [torch.full((2,), v) for v in (1.2, 0.9, 1.1, 0.05)]
        >>> torch.equal(colour_view(x, (1.2, 0.9, 1.1, 0.05), [2, 0, 3, 1], gray=False),
        ...             kornia_colour_jitter(x, on, *f, order=[2, 0, 3, 1]))
        True
    """
    n = images.shape[0]
    x = images
    if jitter is not None:
        factors = [x.new_full((n,), float(value)) for value in jitter]
        if semantics == "reference":
            x = _reference_rows(x, factors[1], factors[3], factors[2], factors[0],
                                contrast_first=reference_contrast_first(order))
        else:
            x = _clamp_unit(x)
            for idx in order:
                if float(jitter[idx]) != KORNIA_NEUTRAL[idx]:
                    x = _KORNIA_STEPS[idx](x, factors[idx])
            x = _clamp_unit(x)
    return kornia.color.rgb_to_grayscale(x).expand_as(x) if gray else x


# --------------------------------------------------------------------------------------------
# The reference crop
# --------------------------------------------------------------------------------------------

def _affine_crop(images: Tensor, boxes: Tensor, output_size: tuple[int, int]) -> Tensor:
    boxes = boxes.to(device=images.device, dtype=images.dtype)
    theta = images.new_zeros(images.shape[0], 2, 3)
    theta[:, 0, 0] = boxes[:, 0]
    theta[:, 1, 1] = boxes[:, 1]
    theta[:, 0, 2] = boxes[:, 2]
    theta[:, 1, 2] = boxes[:, 3]
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return F.adaptive_avg_pool2d(out, output_size)


def affine_crop(images: Tensor, boxes: Tensor, output_size: int | tuple[int, int]) -> Tensor:
    r"""The reference's crop: an affine grid per box, bilinear with reflection, then average pooling.

    Each box ``(w, h, w_bias, h_bias)`` is in the reference's normalised convention (the image
    spans ``[-1, 1]``; ``w = 1, w_bias = 0`` is the full width; ``w`` scales the width axis): the
    image is resampled at its own size with ``theta = [[w, 0, w_bias], [0, h, h_bias]]``
    (``affine_grid`` / ``grid_sample``, bilinear, reflection padding, ``align_corners=False``),
    then ``adaptive_avg_pool2d`` brings it to ``output_size``. The box ``(1, 1, 0, 0)`` with the
    input's size is the identity. Any channel count; linear in the images (so it needs no range).

    Args:
        images: the images.
        boxes: one box per row, ``(w, h, w_bias, h_bias)``; ``w, h > 0``.
        output_size: the output side, or ``(S_h, S_w)``.

    Returns:
        The crops.

    Raises:
        InputTypeError: a non-tensor or non-float image or box, a non-int size.
        InputError: a wrong shape, boxes without one row per image, NaN or non-positive sizes.

    Shape:
        - images: :math:`(N, C, H, W)`
        - boxes: :math:`(N, 4)`
        - output: :math:`(N, C, S_h, S_w)`

    Examples:
        >>> x = torch.arange(16.0).view(1, 1, 4, 4)
        >>> affine_crop(x, torch.tensor([[1.0, 1.0, 0.0, 0.0]]), 2)  # the whole image, 2 x 2 averages
        tensor([[[[ 2.5000,  4.5000],
                  [10.5000, 12.5000]]]])
        >>> torch.allclose(affine_crop(x, torch.tensor([[1.0, 1.0, 0.0, 0.0]]), 4), x)
        True
    """
    check_images(images, channels=None, check_range=False)
    boxes = _check_boxes(boxes, images.shape[0])
    return _affine_crop(images, boxes, _check_size(output_size, "output_size"))


def affine_crop_matrices(box: Tensor | Sequence[float], input_size: int | tuple[int, int],
                         output_size: int | tuple[int, int], dtype: torch.dtype = torch.float32,
                         device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    r"""The two linear maps of one box's :func:`affine_crop`: ``crop(x) = rows @ x @ cols.T``.

    The crop's ``theta`` is diagonal, so each output row reads from the input rows only through
    ``h, h_bias`` and each output column from the input columns only through ``w, w_bias``;
    bilinear weights factor into a row and a column weight, reflection acts on each coordinate
    alone, and the average pool averages rectangles. The matrices are built by running the crop on
    impulses: a ``(H, 1)`` image per input row (a single column, which the crop maps to itself)
    gives ``rows`` and a ``(1, W)`` image per input column gives ``cols``. A fixed test-time view
    then exports to ONNX as two matrix products.

    Args:
        box: ``(w, h, w_bias, h_bias)`` as in :func:`affine_crop`.
        input_size: the input side, or ``(H, W)``.
        output_size: the output side, or ``(S_h, S_w)``.
        dtype: the matrices' floating dtype (the crop runs in it).
        device: the matrices' device (default: the box's, or the CPU).

    Returns:
        ``(rows, cols)``.

    Raises:
        InputTypeError: a box that is not four numbers, a non-int size, a non-float dtype.
        InputError: NaN or non-positive box sizes, non-positive sizes.

    Shape:
        - box: :math:`(4,)`
        - rows: :math:`(S_h, H)`; cols: :math:`(S_w, W)`

    Examples:
        >>> box = torch.tensor([0.75, 0.5, 0.25, 0.0])
        >>> rows, cols = affine_crop_matrices(box, (6, 8), 4)
        >>> rows.shape, cols.shape
        (torch.Size([4, 6]), torch.Size([4, 8]))
        >>> x = torch.rand(2, 3, 6, 8)
        >>> torch.allclose(rows @ x @ cols.T, affine_crop(x, box.expand(2, 4), 4), atol=1e-6)
        True
    """
    if isinstance(box, Tensor):
        if device is None:
            device = box.device
        if not box.is_floating_point():
            raise InputTypeError(f"box must be a floating-point tensor; got dtype {box.dtype}")
    elif (isinstance(box, Sequence) and not isinstance(box, (str, bytes))
          and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in box)):
        box = torch.tensor([float(v) for v in box], dtype=torch.float64)
    else:
        raise InputTypeError(f"box must be a (4,) tensor or four numbers (w, h, w_bias, h_bias); got {box!r}")
    if tuple(box.shape) != (4,):
        raise InputError(f"box must have shape (4,), (w, h, w_bias, h_bias); got shape {tuple(box.shape)}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InputTypeError(f"dtype must be a floating torch.dtype; got {dtype!r}")
    boxes = _check_boxes(box.view(1, 4), 1, "box")
    (h, w), (sh, sw) = _check_size(input_size, "input_size"), _check_size(output_size, "output_size")
    device = torch.device("cpu") if device is None else torch.device(device)
    boxes = boxes.to(device=device, dtype=dtype)
    row_impulses = torch.eye(h, dtype=dtype, device=device).view(h, 1, h, 1)
    col_impulses = torch.eye(w, dtype=dtype, device=device).view(w, 1, 1, w)
    rows = _affine_crop(row_impulses, boxes.expand(h, 4), (sh, 1))[:, 0, :, 0].T
    cols = _affine_crop(col_impulses, boxes.expand(w, 4), (1, sw))[:, 0, 0, :].T
    return rows.contiguous(), cols.contiguous()
