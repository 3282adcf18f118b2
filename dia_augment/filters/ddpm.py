"""DDPM dissolving: one-step x0 prediction with a small diffusion model trained on normal images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from diffusers import DDPMScheduler, UNet2DModel
from torch import Tensor

from dia_augment._version import __version__
from dia_augment.errors import CheckpointError, ConfigError, InputTypeError, MissingCheckpointError
from dia_augment.filters.base import RESIZE_MODES, Dissolver
from dia_augment.utils.precision import PRECISIONS
from dia_augment.utils.io import atomic_write_json, is_hub_id, load_tensors, read_json

__all__ = ["predict_original_sample", "ddpm_dissolve", "DDPMDissolving", "DISSOLVER_CONFIG_NAME", "ONLINE_UNET_FOLDER",
           "INPUT_RANGES", "DISSOLVER_WEIGHTS"]

DISSOLVER_CONFIG_NAME = "dissolver_config.json"
#: The sub-folder of a saved dissolver that holds the online (not averaged) UNet weights, when saved.
ONLINE_UNET_FOLDER = "unet_online"
#: ``explicit``: ``[0, 1]`` mapped to the model's ``[-1, 1]`` and back; ``reference``: the paper
#: code's flaw, ``[0, 1]`` fed as is and the clamped ``[-1, 1]`` prediction kept (an ablation).
INPUT_RANGES = ("explicit", "reference")
#: Which weights of a dissolver trained by the library to load.
DISSOLVER_WEIGHTS = ("ema", "online")
#: The dissolving settings ``dissolver_config.json`` keeps and ``from_pretrained`` restores.
_SAVED_OPTIONS = ("resize_mode", "antialias", "add_noise", "clip_sample", "input_range", "mixed_precision",
                  "channels_last")
#: The precision option as files written before the one precision vocabulary name it (``autocast``: a dtype name).
_OLD_AUTOCAST = {None: None, "bfloat16": "bf16", "float16": "fp16"}
_HUB_KWARGS = ("cache_dir", "local_files_only", "token", "revision", "force_download", "proxies")


def predict_original_sample(sample: Tensor, model_output: Tensor, alphas_cumprod: Tensor, t: Tensor,
                            clip_sample: bool = True) -> Tensor:
    r"""The x0 prediction of an epsilon model, with a step per sample.

    .. math::
        \hat x_0 = \frac{x_t - \sqrt{1 - \bar\alpha_t}\,\epsilon_\theta(x_t, t)}{\sqrt{\bar\alpha_t}}

    It equals ``DDPMScheduler.step(eps, t, x).pred_original_sample``, which only takes one scalar
    ``t``; here ``t`` indexes ``alphas_cumprod`` per sample.

    Args:
        sample: :math:`(B, C, H, W)` in the model's range.
        model_output: :math:`(B, C, H, W)` predicted noise.
        alphas_cumprod: :math:`(T,)` the schedule's cumulative products.
        t: :math:`(B,)` int64 steps.
        clip_sample: clamp the prediction to ``[-1, 1]``.

    Shape:
        - output: :math:`(B, C, H, W)`

    Examples:
        >>> abar = torch.tensor([0.25, 0.5])
        >>> x, eps = torch.full((1, 1, 1, 1), 0.5), torch.zeros(1, 1, 1, 1)
        >>> predict_original_sample(x, eps, abar, torch.tensor([0])).item()
        1.0
    """
    abar = alphas_cumprod.to(device=sample.device)[t].to(sample.dtype).view(-1, 1, 1, 1)
    x0 = (sample - (1 - abar).sqrt() * model_output) / abar.sqrt()
    return x0.clamp(-1, 1) if clip_sample else x0


class DDPMDissolving(Dissolver):
    r"""Dissolve images with a DDPM noise predictor in one step (DIA's main dissolving).

    .. math::
        D(x, t) = \mathrm{clamp}\!\left(\frac{s(x) - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta(s(x), t)}
                  {\sqrt{\bar\alpha_t}}, -1, 1\right), \quad s(x) = 2x - 1,

    mapped back to ``[0, 1]`` with :math:`(D + 1) / 2`. The clean image is treated as if it were
    :math:`x_t` and no noise is added (as in the paper); with ``add_noise=True`` the image is
    first noised, :math:`x_t = \sqrt{\bar\alpha_t} s(x) + \sqrt{1-\bar\alpha_t} n`, with
    :math:`n` from ``noise`` or a ``generator``. Images are resized to the model's resolution,
    dissolved, and resized back (bilinear, no antialias by default, as in the paper).

    Unlike the paper's code, the input range is mapped explicitly (``[0, 1]`` in, the model's
    ``[-1, 1]`` inside, ``[0, 1]`` out), and every sample can have its own step in a single
    UNet call. The model is frozen (``requires_grad_(False)``) and put in eval mode; gradients
    still flow from the output to the input. The UNet runs in its own dtype (fp32 / bf16 /
    fp16); the output has the input's dtype.

    ``input_range="reference"`` reproduces the paper code's flaw, as an ablation, never a
    default: the ``[0, 1]`` image is fed to the ``[-1, 1]`` model as it is (:math:`s(x) = x`)
    and the clamped ``[-1, 1]`` prediction is kept, not mapped back. The reference never clamps
    it to ``[0, 1]`` itself: its colour jitter (p = 0.8) clamps the rows it touches, and the
    other 20 % reach the backbone with values below 0. Here the output is clamped to
    ``[0, 1]`` after the resize back, like every dissolver's, which matches the jittered rows.

    The first call on images whose channel count differs from the model's, or smaller than
    its resolution, warns once (the model never saw such images).

    Args:
        unet: a diffusers ``UNet2DModel`` predicting the noise, trained on ``[-1, 1]`` images.
        scheduler: the ``DDPMScheduler`` (or any scheduler with ``alphas_cumprod``) it was trained with.
        resolution: the working resolution; defaults to ``unet.config.sample_size``.
        resize_mode: interpolation mode of both resizes.
        antialias: antialias the down-resize (the reference: no antialias, a tensor resize).
        add_noise: noise the image to step ``t`` before the prediction.
        clip_sample: clamp the x0 prediction to ``[-1, 1]``.
        freeze: freeze the UNet's weights and put it in eval mode.
        check_inputs: validate inputs on every call (the forward pass's only host sync).
        input_range: ``"explicit"`` (default) or ``"reference"`` (the paper code's range flaw).
        mixed_precision: ``None`` (the caller's precision), ``"auto"``, ``"no"``, ``"fp16"`` or
            ``"bf16"`` (the UNet's weights held in bf16); the schedule, the x0 formula and the clamp
            stay fp32 (see :class:`~dia_augment.filters.base.Dissolver`).
        channels_last: lay out the UNet's weights and inputs as ``channels_last``.

    The UNet may also be cast as a whole (``dissolver.to(torch.bfloat16)`` or
    ``from_pretrained(..., torch_dtype=torch.bfloat16)``): the schedule (``alphas_cumprod``)
    stays fp32 whatever the module is cast to, since bf16 cannot tell ``1 - abar_t`` apart at
    small ``t``.

    Shape:
        - images: :math:`(B, C, H, W)`, C in {1, 3}, float in ``[0, 1]``
        - t: int or :math:`(B,)`
        - output: :math:`(B, C, H, W)`, same dtype

    Examples:
        >>> from dia_augment.filters.presets import make_unet, make_scheduler
        >>> _ = torch.manual_seed(0)
        >>> dissolver = DDPMDissolving(make_unet("micro", 16, 1), make_scheduler())
        >>> x = torch.rand(2, 1, 32, 32)
        >>> y = dissolver(x, torch.tensor([30, 90]))
        >>> y.shape, bool(y.min() >= 0), bool(y.max() <= 1)
        (torch.Size([2, 1, 32, 32]), True, True)

        The fast path on a CPU with bf16 units or a GPU (see ``docs/benchmarks.md``):

        >>> fast = DDPMDissolving(dissolver.unet, make_scheduler(), mixed_precision="bf16", channels_last=True)
        >>> z = fast(x, torch.tensor([30, 90]))
        >>> z.dtype, bool((z - y).abs().mean() < 1 / 255)
        (torch.float32, True)
    """

    default_step_range = (30, 100)

    def __init__(self, unet: UNet2DModel, scheduler: DDPMScheduler, resolution: int | None = None,
                 resize_mode: str = "bilinear", antialias: bool = False, add_noise: bool = False,
                 clip_sample: bool = True, freeze: bool = True, check_inputs: bool = True,
                 input_range: str = "explicit", mixed_precision: str | None = None,
                 channels_last: bool = False) -> None:
        if input_range not in INPUT_RANGES:
            raise ConfigError(f"input_range must be one of {INPUT_RANGES}; got {input_range!r}")
        if not hasattr(scheduler, "alphas_cumprod"):
            raise InputTypeError(f"scheduler must have alphas_cumprod (e.g. a DDPMScheduler); got {type(scheduler).__name__}")
        config = unet.config
        if config.in_channels != config.out_channels or config.in_channels not in (1, 3):
            raise ConfigError(f"the UNet must map 1 or 3 channels to as many; got {config.in_channels} -> "
                              f"{config.out_channels}")
        sample_size = config.sample_size if isinstance(config.sample_size, int) else config.sample_size[0]
        super().__init__(resolution=int(resolution if resolution is not None else sample_size), resize_mode=resize_mode,
                         antialias=antialias, model_channels=config.in_channels, check_inputs=check_inputs,
                         mixed_precision=mixed_precision, channels_last=channels_last)
        self.unet, self.scheduler, self.add_noise = unet, scheduler, bool(add_noise)
        self.clip_sample, self.input_range = bool(clip_sample), input_range
        self.trained_on = (int(config.in_channels), self.resolution)
        self.num_train_timesteps = int(scheduler.config.num_train_timesteps)
        self.register_buffer("alphas_cumprod", scheduler.alphas_cumprod.detach().clone().float(), persistent=False)
        if freeze:
            unet.requires_grad_(False).eval()
        if self.channels_last:
            unet.to(memory_format=torch.channels_last)

    def _apply(self, fn, recurse=True):  # noqa: ANN001, ANN202 (nn.Module's signature)
        """Move and cast as ``nn.Module`` does, but keep the schedule fp32 whatever the UNet's dtype."""
        super()._apply(fn, recurse)
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(device=self.alphas_cumprod.device, dtype=torch.float32)
        return self

    def noise_shape(self, images_shape: torch.Size) -> tuple[int, ...] | None:
        return (images_shape[0], self.model_channels, self.resolution, self.resolution) if self.add_noise else None

    def dissolve(self, images: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        model_dtype = self.unet.dtype
        math_dtype = torch.promote_types(model_dtype, torch.float32)
        x = images.to(math_dtype)
        if self.input_range == "explicit":
            x = x * 2 - 1
        if noise is not None:
            abar = self.alphas_cumprod.to(math_dtype)[t].view(-1, 1, 1, 1)
            x = abar.sqrt() * x + (1 - abar).sqrt() * noise.to(math_dtype)
        eps = self.unet(x.to(model_dtype), t).sample.to(math_dtype)
        x0 = predict_original_sample(x, eps, self.alphas_cumprod.to(math_dtype), t, self.clip_sample)
        return (x0 + 1) / 2 if self.input_range == "explicit" else x0

    # ----------------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return dict(_class_name=type(self).__name__, _dia_augment_version=__version__, resolution=self.resolution,
                    resize_mode=self.resize_mode, antialias=self.antialias, add_noise=self.add_noise,
                    clip_sample=self.clip_sample, input_range=self.input_range, channels=self.model_channels,
                    mixed_precision=self.mixed_precision, channels_last=self.channels_last)

    def save_pretrained(self, save_directory: str | os.PathLike, online_unet: UNet2DModel | None = None) -> None:
        """Save in the diffusers pipeline layout (``unet/``, ``scheduler/``, ``model_index.json``).

        The directory also loads as a diffusers ``DDPMPipeline``; ``dissolver_config.json``
        keeps the dissolving settings. Weights are safetensors.

        Args:
            save_directory: the folder.
            online_unet: a trainer's online (not averaged) weights, saved to
                ``unet_online/`` beside the dissolver's own (EMA) ``unet/``, for
                ``from_pretrained(..., weights="online")``.
        """
        import diffusers

        root = Path(save_directory)
        root.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(root / "unet", safe_serialization=True)
        if online_unet is not None:
            online_unet.save_pretrained(root / ONLINE_UNET_FOLDER, safe_serialization=True)
        self.scheduler.save_pretrained(root / "scheduler")
        index = dict(_class_name="DDPMPipeline", _diffusers_version=diffusers.__version__,
                     scheduler=["diffusers", type(self.scheduler).__name__], unet=["diffusers", "UNet2DModel"])
        atomic_write_json(root / "model_index.json", index)
        atomic_write_json(root / DISSOLVER_CONFIG_NAME, self._config())  # written last: marks a complete save

    @classmethod
    def from_pretrained(cls, pretrained: str | os.PathLike, resolution: int | None = None,
                        torch_dtype: torch.dtype | None = None, weights: str = "ema", **kwargs: Any) -> DDPMDissolving:
        """Load a dissolver saved by :meth:`save_pretrained`, or any ``DDPMPipeline`` directory or hub id.

        Weights are read from safetensors files only: a folder holding only pickle weights
        (``.bin``) is refused, never unpickled. A path that is not a local folder is taken as a
        Hugging Face hub id only when it reads as one (``org/name``), and the error then says so.

        Args:
            pretrained: a local directory or a Hugging Face hub id (e.g. ``"google/ddpm-cifar10-32"``).
            resolution: the resolution you expect; a checkpoint of another resolution raises.
            torch_dtype: load the UNet in this dtype.
            weights: ``"ema"`` (the saved ``unet/``: for a dissolver trained by the library, the
                exponential moving average of its weights) or ``"online"`` (the raw weights of
                the last training step, as the paper's code dissolves with: ``unet_online/``
                when saved there, else the final checkpoint of the training run the folder
                is the ``dissolver/`` of).
            **kwargs: ``cache_dir``, ``local_files_only``, ``token``, ``revision`` ... for the hub,
                and dissolving settings (``resize_mode``, ``antialias``, ``add_noise``,
                ``clip_sample``, ``input_range``, ``check_inputs``, ``mixed_precision``, ``channels_last``)
                that override the saved ones.

        Raises:
            CheckpointError: a missing or corrupt directory (a ``dissolver_config.json`` field of
                the wrong type included), pickle-only weights, missing online weights, or a
                checkpoint of another resolution.
        """
        if weights not in DISSOLVER_WEIGHTS:
            raise ConfigError(f"weights must be one of {DISSOLVER_WEIGHTS}; got {weights!r}")
        hub_kwargs = {k: kwargs.pop(k) for k in _HUB_KWARGS if k in kwargs}
        path = Path(pretrained)
        local = path.is_dir()
        if path.exists() and not local:
            raise CheckpointError(f"{path} is a file; a dissolver is a folder saved by DDPMDissolving.save_pretrained")
        if not local and not is_hub_id(str(pretrained)):
            raise MissingCheckpointError(f"dissolver folder not found: {pretrained} (looked for {path.resolve()})")
        settings: dict[str, Any] = {}
        if local:
            if not (path / "unet").is_dir():
                raise CheckpointError(f"{path} is not a saved dissolver: it has no unet/ folder")
            _refuse_pickle_only(path / "unet")
            if (path / DISSOLVER_CONFIG_NAME).exists():
                settings = _read_settings(path / DISSOLVER_CONFIG_NAME)
        try:
            unet = UNet2DModel.from_pretrained(pretrained, subfolder="unet", torch_dtype=torch_dtype,
                                               use_safetensors=True, **hub_kwargs)
            scheduler = DDPMScheduler.from_pretrained(pretrained, subfolder="scheduler", **hub_kwargs)
        except (OSError, ValueError, RuntimeError, KeyError) as err:
            where = "the directory" if local else (f"the Hugging Face hub: there is no local folder {path.resolve()}, "
                                                   f"so {str(pretrained)!r} was taken as a hub id (offline? pass a "
                                                   "local folder)")
            raise CheckpointError(f"could not load the dissolver {pretrained} from {where}: {err}") from err
        if weights == "online":
            _load_online_weights(unet, pretrained, path if local else None, hub_kwargs)
        saved_resolution = settings.get("resolution", unet.config.sample_size)
        if resolution is not None and resolution != saved_resolution:
            raise CheckpointError(f"{pretrained} is a {saved_resolution} px dissolver, but resolution={resolution} was "
                                  f"asked for; train a dissolver at {resolution} px or load with "
                                  f"resolution={saved_resolution}")
        options = {k: settings[k] for k in _SAVED_OPTIONS if k in settings}
        return cls(unet, scheduler, resolution=saved_resolution, **{**options, **kwargs})

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, add_noise={self.add_noise}, input_range={self.input_range!r}, "
                f"num_train_timesteps={self.num_train_timesteps}")


def _read_settings(file: Path) -> dict[str, Any]:
    """``dissolver_config.json``, its fields checked, naming the file and the field on any problem."""
    settings = read_json(file, what="dissolver config")
    if not isinstance(settings, dict):
        raise CheckpointError(f"{file} must hold a JSON object; got {type(settings).__name__}")
    expected = dict(resolution=lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                    resize_mode=lambda v: v in RESIZE_MODES, antialias=lambda v: isinstance(v, bool),
                    add_noise=lambda v: isinstance(v, bool), clip_sample=lambda v: isinstance(v, bool),
                    input_range=lambda v: v in INPUT_RANGES, mixed_precision=lambda v: v is None or v in PRECISIONS,
                    autocast=lambda v: v in _OLD_AUTOCAST,
                    channels_last=lambda v: isinstance(v, bool))
    for field, valid in expected.items():
        if field in settings and not valid(settings[field]):
            raise CheckpointError(f"{file}: field {field!r} has an invalid value {settings[field]!r}")
    if "autocast" in settings:  # written before the one precision vocabulary
        settings.setdefault("mixed_precision", _OLD_AUTOCAST[settings.pop("autocast")])
    return settings


def _refuse_pickle_only(folder: Path) -> None:
    if not any(folder.glob("*.safetensors")) and any(folder.glob("*.bin")):
        names = ", ".join(sorted(f.name for f in folder.glob("*.bin")))
        raise CheckpointError(f"{folder} holds only pickle weights ({names}); they are never unpickled, as unpickling "
                              "can run code. Convert them to safetensors with a tool you trust (diffusers' "
                              "save_pretrained(safe_serialization=True))")


def _load_online_weights(unet: UNet2DModel, pretrained: str | os.PathLike, local: Path | None, hub_kwargs: dict) -> None:
    """Replace ``unet``'s weights by the online weights saved with (or beside) the dissolver."""
    if local is not None and not (local / ONLINE_UNET_FOLDER).is_dir():
        from dia_augment.utils.run_layout import latest_checkpoint

        checkpoint = latest_checkpoint(local.parent)
        if checkpoint is None or not (checkpoint / "unet.safetensors").is_file():
            raise CheckpointError(f"{local} has no {ONLINE_UNET_FOLDER}/ folder and {local.parent} no training "
                                  "checkpoint with unet.safetensors: the online weights were not kept; load "
                                  "weights='ema'")
        try:
            unet.load_state_dict(load_tensors(checkpoint / "unet.safetensors", what="online UNet weights"))
        except RuntimeError as err:
            raise CheckpointError(f"{checkpoint / 'unet.safetensors'} does not fit the UNet of {local}: {err}") from err
        return
    if local is not None:
        _refuse_pickle_only(local / ONLINE_UNET_FOLDER)
    try:
        online = UNet2DModel.from_pretrained(pretrained, subfolder=ONLINE_UNET_FOLDER, torch_dtype=unet.dtype,
                                             use_safetensors=True, **hub_kwargs)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise CheckpointError(f"could not load the online weights ({ONLINE_UNET_FOLDER}/) of {pretrained}: {err}") from err
    unet.load_state_dict(online.state_dict())


def ddpm_dissolve(images: Tensor, t: int | Tensor, unet: UNet2DModel, scheduler: DDPMScheduler,
                  resolution: int | None = None, noise: Tensor | None = None, generator: torch.Generator | None = None,
                  **kwargs: Any) -> Tensor:
    r"""Functional form of :class:`DDPMDissolving` (the UNet is not frozen or moved to eval mode).

    Args:
        images: :math:`(B, C, H, W)` in ``[0, 1]``.
        t: an int or a :math:`(B,)` tensor of steps.
        unet: the noise predictor.
        scheduler: its schedule.
        resolution: the working resolution (default: the UNet's).
        noise: with ``add_noise=True``, the forward-process noise.
        generator: draws the noise when ``add_noise=True`` and ``noise`` is omitted.
        **kwargs: the other :class:`DDPMDissolving` options.

    Examples:
        >>> from dia_augment.filters.presets import make_unet, make_scheduler
        >>> _ = torch.manual_seed(0)
        >>> unet = make_unet("micro", 16, 1).eval()
        >>> ddpm_dissolve(torch.rand(1, 1, 16, 16), 50, unet, make_scheduler()).shape
        torch.Size([1, 1, 16, 16])
    """
    module = DDPMDissolving(unet, scheduler, resolution=resolution, freeze=False, **kwargs)
    return module(images, t, noise=noise, generator=generator)

