"""Stable Diffusion dissolving: one-step x0 prediction in the latent space of a Stable Diffusion pipeline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import (AutoencoderKL, DDIMScheduler, DiffusionPipeline, StableDiffusionPipeline,
                       StableDiffusionXLPipeline, UNet2DConditionModel)
from torch import Tensor, nn

from dia_augment.filters.base import Dissolver
from dia_augment.errors import ConfigError, MissingCheckpointError
from dia_augment.utils.device import module_device
from dia_augment.utils.io import CheckpointError, is_hub_id

__all__ = ["StableDiffusionDissolving", "SD_VERSIONS", "SDXL_TIME_IDS", "make_dissolving_scheduler",
           "encode_empty_prompt"]

#: The hub id of each Stable Diffusion version ``version=`` knows.
SD_VERSIONS: dict[str, str] = {"1.4": "CompVis/stable-diffusion-v1-4",
                               "1.5": "stable-diffusion-v1-5/stable-diffusion-v1-5",
                               "2.1": "stabilityai/stable-diffusion-2-1",
                               "xl": "stabilityai/stable-diffusion-xl-base-1.0"}

#: SDXL's micro-conditioning (original size, crop top-left, target size), as kornia passes it.
SDXL_TIME_IDS = (1024, 1024, 0, 0, 1024, 1024)

_PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
_COMPONENTS = ("vae", "unet", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2", "scheduler")
_HUB_KWARGS = ("cache_dir", "local_files_only", "token", "revision", "proxies", "force_download")


def make_dissolving_scheduler() -> DDIMScheduler:
    """The schedule Stable Diffusion was trained with, as kornia's dissolving builds it.

    DDIM, ``scaled_linear`` betas from 0.00085 to 0.012 over 1000 steps. Only its
    ``alphas_cumprod`` is used: dissolving is a single x0 prediction, not a sampling loop.

    Examples:
        >>> s = make_dissolving_scheduler()
        >>> s.config.num_train_timesteps, round(float(s.alphas_cumprod[0]), 5)
        (1000, 0.99915)
    """
    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         clip_sample=False, set_alpha_to_one=False, steps_offset=1)


@torch.no_grad()
def encode_empty_prompt(tokenizer: Any, text_encoder: nn.Module, tokenizer_2: Any | None = None,
                        text_encoder_2: nn.Module | None = None) -> tuple[Tensor, Tensor | None]:
    """The text conditioning of the empty prompt, the way kornia's dissolving computes it.

    Stable Diffusion 1.x / 2.x: the text encoder's last hidden state. SDXL (both encoders
    given): the penultimate hidden states of the two encoders concatenated on the feature axis,
    and the second encoder's projected pooled embedding (its pooled output when it has no projection).

    Args:
        tokenizer: the (first) CLIP tokenizer.
        text_encoder: the (first) CLIP text encoder.
        tokenizer_2: SDXL's second tokenizer.
        text_encoder_2: SDXL's second text encoder (with projection).

    Returns:
        ``(prompt_embeds, pooled)``: :math:`(1, L, D)` and, for SDXL, :math:`(1, P)` (else ``None``).
    """
    if (tokenizer_2 is None) != (text_encoder_2 is None):
        raise ConfigError("SDXL needs both tokenizer_2 and text_encoder_2 (or neither, for SD 1.x / 2.x)")

    def ids(tok: Any, encoder: nn.Module) -> Tensor:
        batch = tok([""], padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
        return batch.input_ids.to(encoder.device)

    if text_encoder_2 is None:
        return text_encoder(ids(tokenizer, text_encoder))[0], None
    first = text_encoder(ids(tokenizer, text_encoder), output_hidden_states=True)
    second = text_encoder_2(ids(tokenizer_2, text_encoder_2), output_hidden_states=True)
    embeds = torch.cat([first.hidden_states[-2], second.hidden_states[-2].to(first.hidden_states[-2].device)], -1)
    return embeds, second.text_embeds if "text_embeds" in second else second.pooler_output


def _load_components(pretrained: str | os.PathLike, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Load a Stable Diffusion (XL) pipeline's components from a hub id or a local directory."""
    path = Path(pretrained)
    local = path.is_dir()
    if not local and not is_hub_id(str(pretrained)):
        raise MissingCheckpointError(f"Stable Diffusion directory not found: {pretrained}; pass an existing diffusers "
                                     f"pipeline directory or a hub id such as {SD_VERSIONS['1.5']!r}")
    if local and not (path / "model_index.json").is_file():
        raise CheckpointError(f"{path} is not a diffusers pipeline directory: it has no model_index.json")
    hub_kwargs = {k: kwargs[k] for k in _HUB_KWARGS if k in kwargs}
    try:
        index = DiffusionPipeline.load_config(str(pretrained), **hub_kwargs)
        is_sdxl = (index.get("text_encoder_2") or [None])[0] is not None
        if is_sdxl:
            pipe = StableDiffusionXLPipeline.from_pretrained(str(pretrained), **kwargs)
        else:
            pipe = StableDiffusionPipeline.from_pretrained(str(pretrained), safety_checker=None, feature_extractor=None,
                                                           requires_safety_checker=False, **kwargs)
    except OSError as err:
        if local:
            raise CheckpointError(f"could not load the Stable Diffusion pipeline in {path}: {err}") from err
        raise CheckpointError(f"the Stable Diffusion weights {pretrained!r} (taken as a hub id: there is no local "
                              "folder of that name) could not be loaded from the Hugging Face hub or its cache "
                              f"({type(err).__name__}: {err}); download the weights first, on a machine with network "
                              f"access: `huggingface-cli download {pretrained}` (or `hf download`) puts them in the "
                              "Hugging Face cache (then pass local_files_only=True offline), or `huggingface-cli "
                              f"download {pretrained} --local-dir DIR` and pass pretrained=DIR") from err
    except ValueError as err:
        raise CheckpointError(f"{pretrained} is not a loadable Stable Diffusion pipeline: {err}") from err
    return {name: getattr(pipe, name, None) for name in _COMPONENTS}



class StableDiffusionDissolving(Dissolver):
    r"""Dissolve images with a Stable Diffusion pipeline in one latent step (kornia's dissolving, fixed).

    With the VAE encoder :math:`E`, decoder :math:`G`, latent scale :math:`s`
    (``vae.config.scaling_factor``: 0.18215 for SD 1.x / 2.x, 0.13025 for SDXL) and the UNet
    :math:`\epsilon_\theta` conditioned on the empty prompt :math:`c_\varnothing`:

    .. math::
        z = s\,E(2x - 1), \quad
        \hat z_0 = \frac{z - \sqrt{1 - \bar\alpha_t}\,\epsilon_\theta(z, t, c_\varnothing)}{\sqrt{\bar\alpha_t}}, \quad
        D(x, t) = \mathrm{clamp}\!\left(\tfrac{G(\hat z_0 / s) + 1}{2}, 0, 1\right)

    with :math:`\bar\alpha_t` of Stable Diffusion's training schedule (DDIM ``scaled_linear``,
    0.00085 to 0.012, 1000 steps, whatever the pipeline's own scheduler), as in
    ``kornia.filters.StableDiffusionDissolving``. A v-prediction UNet (SD 2.1) uses
    :math:`\hat z_0 = \sqrt{\bar\alpha_t} z - \sqrt{1 - \bar\alpha_t} v_\theta`.

    What it does better than kornia's:

    - the empty-prompt embedding is computed once, at construction, and kept as a buffer that
      follows ``.to()`` / ``.half()``; the text encoders are then dropped;
    - the VAE latent is the mean of the latent distribution by default (deterministic); with
      ``sample_latent=True`` it is ``mean + std * noise`` with the noise drawn through the
      :class:`~dia_augment.filters.base.Dissolver` interface, so
      :class:`~dia_augment.RandomDissolving` records it and replays exactly (kornia draws it
      from the global RNG);
    - a step per sample in one UNet call; gradients reach the input (the weights are frozen);
      optional gradient checkpointing of the UNet and VAE for memory;
    - the latent scale comes from the VAE config (kornia hard-codes 0.18215, wrong for SDXL);
    - the VAE and UNet are submodules, so ``.to(device)`` moves them; any float dtype in gives
      the same dtype out (the models compute in their own dtype);
    - 1-channel images work (the base class repeats them to RGB and averages back), and sizes
      that are not multiples of the VAE's downsampling factor (8) are reflect-padded on the
      bottom and right to the next multiple and cropped back (replicate-padded when the image is
      too small to reflect).

    Weights: ``version`` picks a hub id from :data:`SD_VERSIONS`; ``pretrained`` (a hub id or a
    local pipeline directory) takes precedence over ``version``; ``pipeline`` (an already-built
    ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline``) or its components take precedence
    over both. Components given alongside ``pipeline`` replace the pipeline's. The VAE and UNet of
    a given pipeline are frozen and put in eval mode in place.

    Args:
        version: ``"1.4"``, ``"1.5"``, ``"2.1"`` or ``"xl"``.
        pretrained: a hub id or a local diffusers pipeline directory.
        pipeline: an already-built pipeline.
        vae: an ``AutoencoderKL``.
        unet: a ``UNet2DConditionModel``.
        text_encoder: the CLIP text encoder (used once, for the empty prompt).
        tokenizer: its tokenizer.
        text_encoder_2: SDXL's second text encoder (``CLIPTextModelWithProjection``).
        tokenizer_2: SDXL's second tokenizer.
        scheduler: the pipeline's scheduler; only its ``prediction_type`` is read (``"epsilon"``
            when omitted). The dissolving schedule is always Stable Diffusion's training one.
        sample_latent: sample the VAE latent instead of taking its mean.
        gradient_checkpointing: recompute UNet and VAE activations in the backward pass.
        check_inputs: validate inputs on every call (the forward pass's only host sync).
        **from_pretrained_kwargs: ``cache_dir``, ``local_files_only``, ``torch_dtype``, ``token``,
            ``revision``, ``variant`` ... passed to the diffusers pipeline's ``from_pretrained``.

    Raises:
        ConfigError: an unknown version, inconsistent components, or keywords without weights to load.
        CheckpointError: a missing local directory, or weights that cannot be loaded (offline:
            the message says what to download and where to put it).

    Shape:
        - images: :math:`(B, C, H, W)`, C in {1, 3}, float in ``[0, 1]``
        - t: int or :math:`(B,)` in ``[0, 1000)``
        - output: :math:`(B, C, H, W)`, same dtype

    Examples:
        >>> from diffusers import AutoencoderKL, UNet2DConditionModel
        >>> from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
        >>> _ = torch.manual_seed(0)
        >>> vae = AutoencoderKL(block_out_channels=(4,), norm_num_groups=2, latent_channels=4)
        >>> unet = UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, norm_num_groups=2,
        ...     down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), cross_attention_dim=8,
        ...     up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=2)
        >>> tok = CLIPTokenizer({"<|startoftext|>": 0, "<|endoftext|>": 1}, [], model_max_length=4)
        >>> te = CLIPTextModel(CLIPTextConfig(vocab_size=2, hidden_size=8, intermediate_size=8,
        ...     num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=4, eos_token_id=1))
        >>> sd = StableDiffusionDissolving(vae=vae, unet=unet, text_encoder=te, tokenizer=tok)
        >>> x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
        >>> y = sd(x, torch.tensor([100, 400]))
        >>> y.shape, y.dtype, bool(y.min() >= 0), bool(y.max() <= 1)
        (torch.Size([2, 3, 12, 12]), torch.float64, True, True)
    """

    num_train_timesteps = 1000
    default_step_range = (100, 500)

    def __init__(self, version: str = "1.5", pretrained: str | os.PathLike | None = None, pipeline: Any | None = None,
                 *, vae: AutoencoderKL | None = None, unet: UNet2DConditionModel | None = None,
                 text_encoder: nn.Module | None = None, tokenizer: Any | None = None,
                 text_encoder_2: nn.Module | None = None, tokenizer_2: Any | None = None, scheduler: Any | None = None,
                 sample_latent: bool = False, gradient_checkpointing: bool = False, check_inputs: bool = True,
                 **from_pretrained_kwargs: Any) -> None:
        if version not in SD_VERSIONS:
            raise ConfigError(f"unknown Stable Diffusion version {version!r}; choose from {sorted(SD_VERSIONS)}")
        given = dict(vae=vae, unet=unet, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
                     text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2)
        given = {k: v for k, v in given.items() if v is not None}
        if pipeline is not None and pretrained is not None:
            raise ConfigError("pass either pipeline= or pretrained=, not both")
        if pipeline is not None or (pretrained is None and given):
            if from_pretrained_kwargs:
                raise ConfigError(f"from_pretrained keywords {sorted(from_pretrained_kwargs)} only apply when loading "
                                  "weights (pretrained= or version=), not with pipeline= or components")
            components = {name: getattr(pipeline, name, None) for name in _COMPONENTS}
        else:
            source = pretrained if pretrained is not None else SD_VERSIONS[version]
            components = _load_components(source, from_pretrained_kwargs)
        components.update(given)
        missing = [k for k in ("vae", "unet", "text_encoder", "tokenizer") if components[k] is None]
        if missing:
            raise ConfigError(f"Stable Diffusion dissolving needs {missing}: pass them, a pipeline= or pretrained=")
        vae, unet = components["vae"], components["unet"]
        if vae.config.in_channels != 3 or vae.config.out_channels != 3:
            raise ConfigError(f"the VAE must map RGB images; got {vae.config.in_channels} -> {vae.config.out_channels}")
        if unet.config.in_channels != vae.config.latent_channels or unet.config.out_channels != unet.config.in_channels:
            raise ConfigError(f"the UNet must map the VAE's {vae.config.latent_channels} latent channels to as many; "
                              f"got {unet.config.in_channels} -> {unet.config.out_channels} (an inpainting or "
                              "image-variation UNet?)")
        is_sdxl = unet.config.addition_embed_type == "text_time"
        if is_sdxl != (components["text_encoder_2"] is not None):
            raise ConfigError("an SDXL UNet (addition_embed_type='text_time') needs text_encoder_2 and tokenizer_2, "
                              "and only it")
        scheduler = components["scheduler"]
        prediction_type = "epsilon" if scheduler is None else scheduler.config.get("prediction_type", "epsilon")
        if prediction_type not in _PREDICTION_TYPES:
            raise ConfigError(f"unsupported prediction_type {prediction_type!r}; supported: {_PREDICTION_TYPES}")
        super().__init__(resolution=None, model_channels=3, check_inputs=check_inputs)
        self.vae, self.unet = vae.requires_grad_(False).eval(), unet.requires_grad_(False).eval()
        if gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
            self.vae.enable_gradient_checkpointing()
        self.sample_latent, self.gradient_checkpointing = bool(sample_latent), bool(gradient_checkpointing)
        self.prediction_type, self.scaling_factor = prediction_type, float(vae.config.scaling_factor)
        self.vae_scale_factor, self.is_sdxl = 2 ** (len(vae.config.block_out_channels) - 1), is_sdxl
        device = module_device(unet)
        embeds, pooled = encode_empty_prompt(components["tokenizer"], components["text_encoder"],
                                             components["tokenizer_2"], components["text_encoder_2"])
        self.register_buffer("prompt_embeds", embeds.detach().to(device), persistent=False)
        pooled = None if pooled is None else pooled.detach().to(device)
        self.register_buffer("pooled_prompt_embeds", pooled, persistent=False)
        time_ids = torch.tensor([SDXL_TIME_IDS], dtype=torch.float32, device=device) if is_sdxl else None
        self.register_buffer("add_time_ids", time_ids, persistent=False)
        abar = make_dissolving_scheduler().alphas_cumprod.to(device=device, dtype=torch.float32)
        self.register_buffer("alphas_cumprod", abar, persistent=False)

    # ----------------------------------------------------------------------------------------
    def noise_shape(self, images_shape: torch.Size) -> tuple[int, ...] | None:
        if not self.sample_latent:
            return None
        f = self.vae_scale_factor
        h, w = images_shape[-2:]
        return (images_shape[0], int(self.vae.config.latent_channels), -(-h // f), -(-w // f))

    def pad(self, images: Tensor) -> Tensor:
        """Pad the bottom and right of ``images`` to multiples of the VAE's downsampling factor.

        Reflect padding, or replicate padding where the image is too small to reflect.
        """
        f = self.vae_scale_factor
        h, w = images.shape[-2:]
        ph, pw = -h % f, -w % f
        if ph == 0 and pw == 0:
            return images
        mode = "reflect" if ph < h and pw < w else "replicate"
        return F.pad(images, (0, pw, 0, ph), mode=mode)

    def encode(self, images: Tensor, noise: Tensor | None = None) -> Tensor:
        """The scaled VAE latent of ``images`` in ``[0, 1]`` (sides multiples of the VAE factor).

        The latent distribution's mean, or ``mean + std * noise`` when ``noise`` is given.
        """
        dist = self.vae.encode(images.to(self.vae.encoder.conv_in.weight.dtype) * 2 - 1).latent_dist
        return (dist.mean if noise is None else dist.mean + dist.std * noise.to(dist.mean.dtype)) * self.scaling_factor

    def predict_latent(self, latent: Tensor, t: Tensor) -> Tensor:
        """The one-step x0 prediction of the scaled latent, with a step per sample."""
        dtype = self.unet.conv_in.weight.dtype  # cheaper than ModelMixin.dtype, which walks the parameters
        b = latent.shape[0]
        cond: dict[str, Any] = {"encoder_hidden_states": self.prompt_embeds.to(dtype).expand(b, -1, -1)}
        if self.is_sdxl:
            cond["added_cond_kwargs"] = {"text_embeds": self.pooled_prompt_embeds.to(dtype).expand(b, -1),
                                         "time_ids": self.add_time_ids.to(dtype).expand(b, -1)}
        out = self.unet(latent.to(dtype), t, **cond).sample
        math_dtype = torch.promote_types(dtype, torch.float32)
        z, out = latent.to(math_dtype), out.to(math_dtype)
        abar = self.alphas_cumprod.to(math_dtype)[t].view(-1, 1, 1, 1)
        if self.prediction_type == "epsilon":
            return (z - (1 - abar).sqrt() * out) / abar.sqrt()
        if self.prediction_type == "v_prediction":
            return abar.sqrt() * z - (1 - abar).sqrt() * out
        return out

    def decode(self, latent: Tensor) -> Tensor:
        """Decode a scaled latent back to ``[0, 1]`` (not clamped)."""
        image = self.vae.decode((latent / self.scaling_factor).to(self.vae.decoder.conv_in.weight.dtype)).sample
        return (image + 1) / 2

    def dissolve(self, images: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        h, w = images.shape[-2:]
        return self.decode(self.predict_latent(self.encode(self.pad(images), noise), t))[..., :h, :w]

    def extra_repr(self) -> str:
        return (f"sdxl={self.is_sdxl}, scaling_factor={self.scaling_factor}, prediction_type={self.prediction_type!r}, "
                f"sample_latent={self.sample_latent}, gradient_checkpointing={self.gradient_checkpointing}")
