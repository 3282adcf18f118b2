"""The dissolving interface shared by every backend (DDPM, Stable Diffusion, blur, resize only)."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dia_augment.errors import ConfigError, InputError
from dia_augment.utils.precision import PRECISIONS, autocast_context, resolve_precision
from dia_augment.utils.checks import check_int, check_images, check_min_size, check_steps

__all__ = ["Dissolver", "ResizeDissolving", "RESIZE_MODES", "check_dissolver_precision"]

RESIZE_MODES = ("nearest", "bilinear", "bicubic", "area", "nearest-exact")

# ITU-R BT.601 luma, as kornia's rgb_to_grayscale.
_LUMA = (0.299, 0.587, 0.114)


def check_dissolver_precision(value: object, name: str = "mixed_precision") -> str | None:
    """A dissolver's ``mixed_precision``: ``None`` (the surrounding precision) or one of :data:`PRECISIONS`.

    Examples:
        >>> check_dissolver_precision("bf16"), check_dissolver_precision(None)
        ('bf16', None)
    """
    if value is not None and value not in PRECISIONS:
        raise ConfigError(f"{name} must be None or one of {PRECISIONS}; got {value!r}")
    return value


class Dissolver(nn.Module):
    r"""Base class of the dissolving filters: ``forward(images, t)`` removes fine detail.

    A dissolver takes a ``(B, C, H, W)`` batch in ``[0, 1]`` and a strength ``t`` (an int for
    the whole batch, or a ``(B,)`` integer tensor with a step per sample) and returns a batch of
    the same shape, dtype and range. This base class does the bookkeeping that every backend
    shares, so that subclasses implement only :meth:`dissolve` on a batch already at the
    working resolution and channel count:

    1. validate the input (shape, dtype, NaN / inf, range, steps) unless ``check_inputs=False``;
       check that the working size is at least :attr:`min_size` (always: it costs no sync);
       warn once per dissolver when the images differ from the model's training data
       (:attr:`trained_on`) in channels, or are smaller than its resolution;
    2. resize to ``resolution`` (when set) and adapt the channels to ``model_channels``: a
       1-channel image through a 3-channel model is repeated and averaged back; a 3-channel
       image through a 1-channel model dissolves its luma, and the change of the luma is added to
       every channel, so colour survives;
    3. call :meth:`dissolve` once for the whole batch, in the dissolver's ``mixed_precision``
       (its model's weights held in bf16 for ``"bf16"``), on a ``channels_last`` batch when
       ``channels_last`` is set;
    4. resize back, clamp to ``[0, 1]`` and cast to the input dtype.

    The input checks are the only host synchronisation in the forward pass; pass
    ``check_inputs=False`` for ``torch.compile`` or CUDA graphs once the data is trusted: the
    forward then compiles with ``torch.compile(dissolver, fullgraph=True)`` (no graph break).

    Speed: ``mixed_precision="bf16"`` holds the model's weights in bf16 (cast once, on the first
    call, not at every call as ``torch.autocast`` does) and runs it on bf16 inputs, for the matrix
    units of recent CPUs and of GPUs, while everything around the model (the schedule, the x0
    formula, the resizes, the clamp) stays in float32; ``"fp16"`` runs it under ``torch.autocast``
    (CUDA); ``"auto"`` is ``"bf16"`` where the hardware runs it natively, else float32; ``"no"`` keeps
    float32 even inside a caller's autocast; ``None`` (the default) runs in the caller's precision (a
    training step's autocast, or float32). ``channels_last=True`` lays the model's weights and inputs
    out as NHWC, the layout oneDNN and cuDNN convolutions prefer. ``docs/benchmarks.md`` measures
    them.

    Args:
        resolution: side of the square working resolution, or ``None`` to work at the input size.
        resize_mode: interpolation mode for both resizes (``torch.nn.functional.interpolate``).
        antialias: antialias the down-resize (bilinear / bicubic only).
        model_channels: the channel count :meth:`dissolve` expects, or ``None`` for any.
        check_inputs: validate inputs on every call.
        mixed_precision: ``None`` (the caller's), ``"auto"``, ``"no"``, ``"fp16"`` or ``"bf16"`` (see above).
        channels_last: hand :meth:`dissolve` a ``channels_last`` batch (a subclass also lays out
            its model's weights so).

    Shape:
        - images: :math:`(B, C, H, W)`, C in {1, 3}
        - t: int or :math:`(B,)`
        - output: :math:`(B, C, H, W)`
    """

    #: Steps are valid in ``[0, num_train_timesteps)``.
    num_train_timesteps: int = 1000
    #: The step range :class:`~dia_augment.RandomDissolving` draws from by default.
    default_step_range: tuple[int, int] = (30, 100)
    #: The smallest side :meth:`dissolve` accepts at the working resolution.
    min_size: int = 1
    #: ``(channels, resolution)`` of the model's training images, for backends trained on a data set.
    trained_on: tuple[int, int] | None = None

    def __init__(self, resolution: int | None = None, resize_mode: str = "bilinear", antialias: bool = False,
                 model_channels: int | None = None, check_inputs: bool = True,
                 mixed_precision: str | None = None, channels_last: bool = False) -> None:
        super().__init__()
        check_int(resolution, "resolution", error=ConfigError, allow_none=True)
        if resize_mode not in RESIZE_MODES:
            raise ConfigError(f"resize_mode must be one of {RESIZE_MODES}; got {resize_mode!r}")
        if model_channels not in (None, 1, 3):
            raise ConfigError(f"model_channels must be 1, 3 or None; got {model_channels!r}")
        self.resolution, self.resize_mode, self.antialias = resolution, resize_mode, bool(antialias)
        self.model_channels, self.check_inputs = model_channels, bool(check_inputs)
        self.mixed_precision = check_dissolver_precision(mixed_precision)
        self.channels_last = bool(channels_last)
        self._warned: set[str] = set()

    def _check_resolution(self) -> None:
        """Refuse a working resolution below :attr:`min_size` (for subclasses that set it)."""
        if self.resolution is not None and self.resolution < self.min_size:
            raise ConfigError(f"resolution {self.resolution} is below the {self.min_size} px this {type(self).__name__} needs")

    # ----------------------------------------------------------------------------------------
    # to implement
    def dissolve(self, images: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        """Dissolve a batch already at the working resolution and channel count.

        Args:
            images: :math:`(B, C_m, h, w)` in ``[0, 1]``.
            t: :math:`(B,)` int64 steps on the images' device.
            noise: the backend's random draw (see :meth:`noise_shape`), or ``None``.

        Returns:
            :math:`(B, C_m, h, w)`, not necessarily clamped.
        """
        raise NotImplementedError

    def noise_shape(self, images_shape: torch.Size) -> tuple[int, ...] | None:
        """The shape of the random draw :meth:`dissolve` needs for a batch, or ``None`` if deterministic.

        :class:`~dia_augment.RandomDissolving` draws this noise with its own generator and records
        it in its params, so that replay is exact.
        """
        return None

    def draw_noise(self, images_shape: torch.Size, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> Tensor | None:
        """Draw the standard normal noise of :meth:`noise_shape` (``None`` if deterministic)."""
        shape = self.noise_shape(images_shape)
        if shape is None:
            return None
        gen_device = generator.device if generator is not None else device
        return torch.randn(shape, generator=generator, device=gen_device).to(device)

    # ----------------------------------------------------------------------------------------
    def forward(self, images: Tensor, t: int | Tensor, noise: Tensor | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        """Dissolve ``images`` with strength ``t``.

        Args:
            images: :math:`(B, C, H, W)` float in ``[0, 1]``.
            t: an int, or a :math:`(B,)` integer tensor (a step per sample).
            noise: for stochastic backends, the draw of :meth:`noise_shape`; drawn from
                ``generator`` when omitted.
            generator: the generator for a missing ``noise``.

        Returns:
            :math:`(B, C, H, W)` in ``[0, 1]``, the dtype of ``images``.
        """
        if self.check_inputs:
            check_images(images)
            t = check_steps(t, images.shape[0], self.num_train_timesteps)
        elif isinstance(t, int):
            t = torch.full((images.shape[0],), t, dtype=torch.long)
        t = t.to(device=images.device, dtype=torch.long).expand(images.shape[0])
        if self.resolution is None and self.min_size > 1:
            check_min_size(images, self.min_size, why=f"the {self.min_size} px that {type(self).__name__}'s padding needs")
        if self.trained_on is not None:
            self._warn_if_unlike_training(images)
        expected = self.noise_shape(images.shape)
        if expected is not None:
            if noise is None:
                noise = self.draw_noise(images.shape, generator, images.device)
            elif tuple(noise.shape) != tuple(expected):
                raise InputError(f"noise must have shape {tuple(expected)}; got {tuple(noise.shape)}")
            noise = noise.to(images.device)
        x = self._to_working(images.clamp(0, 1))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        precision = None if self.mixed_precision is None else resolve_precision(self.mixed_precision, x.device)
        if precision == "bf16":  # the weights held in bf16: the model runs on bf16 inputs, no per-call weight casts
            self._hold_weights(torch.bfloat16)
            y = self.dissolve(x, t, noise)
        elif precision is None:
            y = self.dissolve(x, t, noise)
        else:  # "fp16" under autocast; "no": float32, even inside a caller's autocast
            dtype = torch.float16 if precision == "fp16" else None
            with torch.autocast(x.device.type, enabled=False) if dtype is None else autocast_context(dtype, x.device):
                y = self.dissolve(x, t, noise)
        return self._from_working(y, x, images).clamp(0, 1).to(images.dtype)

    # ----------------------------------------------------------------------------------------
    def _hold_weights(self, dtype: torch.dtype) -> None:
        """Cast the model's floating-point weights to ``dtype`` once (a no-op when they are already)."""
        first = next((p for p in self.parameters() if p.is_floating_point()), None)
        if first is not None and first.dtype != dtype:
            self.to(dtype)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, UserWarning, stacklevel=4)

    def _warn_if_unlike_training(self, images: Tensor) -> None:
        channels, resolution = self.trained_on  # type: ignore[misc]
        c, (h, w) = images.shape[1], images.shape[-2:]
        if c != channels:
            how = "repeated to 3 channels and averaged back" if c == 1 else "dissolved through their luma"
            self._warn_once("channels", f"this {type(self).__name__} was trained on {channels}-channel images, but "
                            f"these have {c}: they are {how}, which the model never saw; train a dissolver on this "
                            "data for a faithful dissolve (said once per dissolver)")
        if min(h, w) < resolution:
            self._warn_once("size", f"these {h}x{w} images are smaller than the {resolution} px images this "
                            f"{type(self).__name__} was trained on: they are upsampled before dissolving (said once "
                            "per dissolver)")

    def _resize(self, x: Tensor, size: tuple[int, int], down: bool) -> Tensor:
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        smooth = self.resize_mode in ("bilinear", "bicubic")
        kwargs = {"align_corners": False, "antialias": self.antialias and down} if smooth else {}
        return F.interpolate(x, size=size, mode=self.resize_mode, **kwargs)

    def _to_working(self, images: Tensor) -> Tensor:
        x = images if self.resolution is None else self._resize(images, (self.resolution, self.resolution), down=True)
        c, cm = x.shape[1], self.model_channels
        if cm is None or c == cm:
            return x
        if c == 1:  # 1 -> 3
            return x.expand(-1, 3, -1, -1)
        luma = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * luma).sum(1, keepdim=True)  # 3 -> 1

    def _from_working(self, y: Tensor, x_working: Tensor, images: Tensor) -> Tensor:
        c, cm = images.shape[1], y.shape[1]
        if c != cm:
            if c == 1:  # 3 -> 1: average the model's channels
                y = y.mean(1, keepdim=True)
            else:  # 1 -> 3: carry the luma change to every channel (at the working resolution)
                return images + self._resize(y - x_working, tuple(images.shape[-2:]), down=False)
        return self._resize(y, tuple(images.shape[-2:]), down=False)

    def extra_repr(self) -> str:
        fast = f", mixed_precision={self.mixed_precision!r}" if self.mixed_precision is not None else ""
        fast += ", channels_last=True" if self.channels_last else ""
        return (f"resolution={self.resolution}, resize_mode={self.resize_mode!r}, antialias={self.antialias}, "
                f"model_channels={self.model_channels}{fast}")


class ResizeDissolving(Dissolver):
    r"""The resize-only ablation: down to ``resolution`` and back, no model.

    DIA's DDPM dissolving works at a low resolution (32 px in the paper) on images the backbone
    sees at a higher one, so part of what it removes is removed by the resize alone. This
    dissolver isolates that part; ``t`` is accepted (and ignored) so that it can stand in for
    any other backend.

    Args:
        resolution: the side of the square intermediate resolution.
        resize_mode: interpolation mode.
        antialias: antialias the down-resize.

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> d = ResizeDissolving(4)
        >>> x = torch.rand(2, 1, 8, 8)
        >>> d(x, 50).shape
        torch.Size([2, 1, 8, 8])
        >>> torch.equal(ResizeDissolving(8)(x, 0), x)
        True
    """

    def __init__(self, resolution: int, resize_mode: str = "bilinear", antialias: bool = False) -> None:
        if resolution is None:
            raise ConfigError("ResizeDissolving needs a resolution")
        super().__init__(resolution=resolution, resize_mode=resize_mode, antialias=antialias)

    def dissolve(self, images: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        return images
