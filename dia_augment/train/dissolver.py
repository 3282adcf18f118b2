"""Training a DDPM dissolver on a data set's normal images, on the run engine.

:func:`train_dissolver` trains a diffusers ``UNet2DModel`` (a preset of
:mod:`dia_augment.filters.presets`) to predict the noise of the cosine schedule, and saves the
exponential moving average (EMA) of its weights as a
:class:`~dia_augment.filters.ddpm.DDPMDissolving` directory. The recipe follows the paper:
1000 steps of ``squaredcos_cap_v2``, epsilon prediction, ``t`` uniform, L1 loss (or L2), Adam
(``lr = 8e-5``, ``betas = (0.9, 0.99)``), gradient clipping at 1.0, random horizontal flips.
Images are resized to the dissolver's resolution and mapped from ``[0, 1]`` to ``[-1, 1]``
explicitly.

Layout of ``out_dir`` (besides the engine's ``run.json``, ``metrics.jsonl``, ``loss.png`` and
``checkpoints/step-XXXXXXXX/``, see :mod:`dia_augment.train.engine`)::

    readiness.png                held-out loss against step
    grids/step_00000100.png      dissolve grids of held-out images (original, t = 0, 30, 60, 100, 200)
    dissolver/                   the EMA dissolver (DDPMDissolving.save_pretrained), with the
                                 online weights in dissolver/unet_online/

A caller may check the final dissolver on the held-out images before it is saved
(``final_check``): ``dia-augment train-dissolver`` runs the lesion probe there (``probe/``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

from dia_augment.errors import CheckpointError, ConfigError, InputError
from dia_augment.filters.ddpm import DDPMDissolving
from dia_augment.filters.grid import GRID_STEPS, save_dissolve_grid, save_readiness_curve
from dia_augment.filters.presets import make_scheduler, make_unet
from dia_augment.shift.views import random_hflip
from dia_augment.train.checkpoint import read_checkpoint_file
from dia_augment.train.config import DENOISING_LOSSES, DissolverTrainConfig
from dia_augment.train.data import ImageSource, ResizedImages, as_dataset, collate_images, resize_images
from dia_augment.train.engine import Engine
from dia_augment.utils.io import JsonlLogger
from dia_augment.utils.random import derived_generator, draw_steps

__all__ = ["DissolverTrainer", "train_dissolver", "denoising_loss", "FinalCheck", "READINESS_STEP_RANGE"]

#: The readiness check draws its fixed steps from this range (the paper's dissolving range).
READINESS_STEP_RANGE = (30, 100)
#: A check of the final dissolver on the held-out images: ``final_check(dissolver, holdout_images)``.
FinalCheck = Callable[[DDPMDissolving, Tensor], object]


def denoising_loss(unet: torch.nn.Module, alphas_cumprod: Tensor, x0: Tensor, t: Tensor, noise: Tensor,
                   loss: str = "l1") -> Tensor:
    r"""The epsilon-prediction loss of a noise predictor on clean images in ``[-1, 1]``.

    .. math::
        x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon, \qquad
        \mathcal L = \operatorname{mean} |\epsilon_\theta(x_t, t) - \epsilon|^p, \; p = 1 \text{ (l1) or } 2 \text{ (l2)}

    Args:
        unet: a noise predictor called as ``unet(x_t, t).sample`` (a diffusers ``UNet2DModel``).
        alphas_cumprod: :math:`(T,)` the schedule's cumulative products.
        x0: clean images in the model's range ``[-1, 1]``.
        t: :math:`(B,)` int64 steps.
        noise: the standard normal noise :math:`\epsilon`.
        loss: ``"l1"`` or ``"l2"``.

    Returns:
        The scalar loss, float32.

    Shape:
        - x0, noise: :math:`(B, C, H, W)`
        - t: :math:`(B,)`

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> unet, abar = make_unet("micro", 8, 1), make_scheduler().alphas_cumprod
        >>> x0, noise = torch.zeros(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
        >>> loss = denoising_loss(unet, abar, x0, torch.tensor([10, 500]), noise)
        >>> loss.ndim, bool(loss > 0)
        (0, True)
    """
    if loss not in DENOISING_LOSSES:
        raise InputError(f"loss must be one of {DENOISING_LOSSES}; got {loss!r}")
    abar = alphas_cumprod.to(device=x0.device, dtype=torch.float32)[t].view(-1, 1, 1, 1)
    x_t = abar.sqrt() * x0.float() + (1 - abar).sqrt() * noise.float()
    prediction = unet(x_t.to(x0.dtype), t).sample.float()
    return (F.l1_loss if loss == "l1" else F.mse_loss)(prediction, noise.float())


class DissolverTrainer(Engine):
    """The dissolver's trainer on the run engine (see :func:`train_dissolver`)."""

    kind = "dissolver"

    def __init__(self, config: DissolverTrainConfig, images: ImageSource, out_dir: str | os.PathLike,
                 resume: bool = False, overwrite: bool = False, data_source: str | None = None,
                 data_options: dict[str, Any] | None = None, final_check: FinalCheck | None = None,
                 log_with: str | list[str] | None = None) -> None:
        if not isinstance(config, DissolverTrainConfig):
            raise ConfigError(f"config must be a DissolverTrainConfig; got {type(config).__name__}")
        self.final_check = final_check
        super().__init__(config, images, out_dir, resume, overwrite, data_source, data_options, log_with)

    def make_dataset(self, images: ImageSource) -> Dataset:
        resolution, antialias = self.config.resolution, self.config.antialias
        dataset = as_dataset(images)
        if isinstance(dataset, TensorDataset):  # resized once, up front
            return TensorDataset(torch.cat([resize_images(c, resolution, antialias)
                                            for c in dataset.tensors[0].split(256)]))
        return ResizedImages(dataset, resolution, antialias)

    def select_train_indices(self) -> Tensor:
        n, hold = len(self.dataset), self.config.holdout_size(len(self.dataset))
        if n < hold + 1:
            raise InputError(f"need at least {hold + 1} normal images ({hold} held out for the readiness check and at "
                             f"least one to train on); got {n}")
        order = torch.randperm(n, generator=derived_generator(self.config.seed, "holdout"))
        self.holdout_indices = order[:hold].sort().values
        return order[hold:].sort().values

    def setup(self) -> None:
        config = self.config
        holdout = collate_images([self.dataset[int(i)] for i in self.holdout_indices])
        readiness = derived_generator(config.seed, "readiness")
        self.holdout_x0, self.holdout_t = holdout * 2 - 1, draw_steps(len(holdout), READINESS_STEP_RANGE, readiness)
        self.holdout_noise = torch.randn(self.holdout_x0.shape, generator=readiness)
        self.grid_images = holdout[: config.grid_images] if config.grid_images else None
        self.holdout_images = holdout
        from diffusers.training_utils import EMAModel

        channels = self.data_info["channels"]
        self.unet = self.build_seeded(lambda: make_unet(config.preset, config.resolution, channels)).to(self.device).train()
        self.ema_unet = copy.deepcopy(self.unet)
        self.param_names = [name for name, _ in self.unet.named_parameters()]
        self.ema = EMAModel(self.unet.parameters(), decay=config.ema_decay)
        optimizer = torch.optim.Adam(self.unet.parameters(), lr=config.lr, betas=config.betas)
        self.noise_schedule = make_scheduler()
        self.alphas_cumprod = self.noise_schedule.alphas_cumprod.to(self.device)
        self.dissolver = DDPMDissolving(self.ema_unet, self.noise_schedule)
        self.model, self.optimizer = self.prepare(self.unet, optimizer)
        self.generators = {"noise": self.generator("noise")}
        self.last_eval_step = -1

    def train_step(self, batch: Tensor) -> dict[str, Tensor]:
        generator, b = self.generators["noise"], batch.shape[0]
        x0 = random_hflip(batch * 2 - 1, generator)
        t = draw_steps(b, (0, self.noise_schedule.config.num_train_timesteps), generator, self.device)
        noise = torch.randn(x0.shape, generator=generator, device=self.device)
        with self.autocast():
            loss = denoising_loss(self.model, self.alphas_cumprod, x0, t, noise, self.config.loss)
        self.backward_and_step(loss, clip=self.config.grad_clip)
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.step(self.unet.parameters())
        return {"loss": loss.detach(), "lr": torch.tensor(self.config.lr)}

    # ---- checkpoints -------------------------------------------------------------------------
    def model_tensors(self) -> dict[str, dict[str, Tensor]]:
        return {"unet.safetensors": self.unet.state_dict(),
                "ema.safetensors": dict(zip(self.param_names, self.ema.shadow_params))}

    def extra_state(self) -> dict[str, Any]:
        return {"ema_optimization_step": self.ema.optimization_step}

    def load_model_tensors(self, folder: Path, state: dict[str, Any]) -> None:
        try:
            self.unet.load_state_dict(read_checkpoint_file(folder, "unet.safetensors"))
        except RuntimeError as err:
            raise CheckpointError(f"{folder / 'unet.safetensors'} does not match the model: {err}") from err
        ema = read_checkpoint_file(folder, "ema.safetensors")
        if sorted(ema) != sorted(self.param_names):
            raise CheckpointError(f"{folder / 'ema.safetensors'} does not hold the EMA weights of this UNet")
        self.ema.shadow_params = [ema[name].to(self.device) for name in self.param_names]
        self.ema.optimization_step = int(state["ema_optimization_step"])

    # ---- readiness ---------------------------------------------------------------------------
    @torch.no_grad()
    def holdout_loss(self, unet: torch.nn.Module) -> float:
        """The denoising loss of ``unet`` on the held-out images with their fixed steps and noise."""
        was_training = unet.training
        unet.eval()
        total, held_out = 0.0, (self.holdout_x0, self.holdout_t, self.holdout_noise)
        for x0, t, noise in zip(*(v.split(self.config.batch_size) for v in held_out)):
            x0, t, noise = x0.to(self.device), t.to(self.device), noise.to(self.device)
            total += float(denoising_loss(unet, self.alphas_cumprod, x0, t, noise, self.config.loss)) * x0.shape[0]
        unet.train(was_training)
        return total / self.holdout_x0.shape[0]

    def evaluate(self, logger: JsonlLogger) -> dict[str, str]:
        """Log the held-out loss of the EMA and raw weights, write a dissolve grid and the readiness curve."""
        self.ema.copy_to(self.ema_unet.parameters())
        record: dict[str, Any] = {"kind": "eval", "step": self.step, "epoch": self.epoch,
                                  "holdout_loss": self.holdout_loss(self.ema_unet),
                                  "holdout_loss_raw": self.holdout_loss(self.unet)}
        if self.grid_images is not None:
            grid = Path("grids") / f"step_{self.step:08d}.png"
            save_dissolve_grid(self.dissolver, self.grid_images.to(self.device), self.out_dir / grid, GRID_STEPS,
                               scale=max(1, 64 // self.config.resolution))
            record["grid"] = str(grid)
        logger.log(record)  # the trackers get the held-out losses with it
        self.last_eval_step = self.step
        save_readiness_curve(self.metrics_path, self.out_dir / "readiness.png")
        if "grid" in record:
            self.track_image("dissolve_grid", self.out_dir / record["grid"], folder="grids")
        self.track_image("readiness", self.out_dir / "readiness.png")
        return {"holdout": f"{record['holdout_loss']:.4f}"}

    def on_start(self, records: list[dict[str, Any]], logger: JsonlLogger) -> None:
        self.last_eval_step = max((r["step"] for r in records if r.get("kind") == "eval"), default=-1)
        if self.step == 0:
            self.evaluate(logger)

    def after_step(self, end_of_epoch: bool, logger: JsonlLogger | None) -> dict[str, str]:
        every = self.config.eval_every
        due = end_of_epoch if every is None else self.step % every == 0
        return self.evaluate(logger) if due and logger is not None else {}

    def on_end(self, logger: JsonlLogger | None) -> None:
        if logger is not None and self.last_eval_step != self.step:  # the final weights are always checked
            self.evaluate(logger)
        self.ema.copy_to(self.ema_unet.parameters())
        if logger is not None and self.final_check is not None:
            self.final_check(self.dissolver, self.holdout_images)

    def save_final(self) -> None:
        online = self.accelerator.unwrap_model(self.model)
        self.dissolver.save_pretrained(self.out_dir / "dissolver", online_unet=online)


def train_dissolver(config: DissolverTrainConfig, images: ImageSource, out_dir: str | os.PathLike, resume: bool = False,
                    overwrite: bool = False, data_source: str | None = None,
                    data_options: dict[str, Any] | None = None, final_check: FinalCheck | None = None,
                    log_with: str | list[str] | None = None) -> DDPMDissolving:
    """Train a DDPM dissolver on normal images and save its EMA weights to ``out_dir/dissolver``.

    Pass the *normal* training images only: the dissolver learns what normal anatomy looks
    like. A seeded ``holdout`` share of them (at least 4) is kept out of training for the
    readiness check: the denoising loss of the EMA weights on those images with fixed noise
    and fixed steps in ``[30, 100)``, logged to ``metrics.jsonl`` (``"kind": "eval"``) after each
    epoch (or every ``eval_every`` steps) together with a dissolve grid in ``out_dir/grids/``
    and the curve ``out_dir/readiness.png``. The dissolver is ready when that loss has stopped
    falling.

    Runs on the run engine (:class:`~dia_augment.train.engine.Engine`): CPU, one GPU, or several
    processes through ``accelerate launch`` / ``torchrun``, each taking its share of every global
    batch of ``batch_size`` images; a killed run resumes to the same weights. The EMA follows
    diffusers' ``EMAModel``: its decay at update ``k`` is ``min(ema_decay, (1 + k) / (10 + k))``.
    ``accelerate`` fixes the mixed precision once per process.

    Args:
        config: the run's settings.
        images: normal images, a :math:`(N, C, H, W)` float tensor in ``[0, 1]``, or a torch Dataset
            yielding such ``(C, H, W)`` images or ``(image, label)`` pairs (read per batch).
            C = 1 or 3 becomes the dissolver's channel count.
        out_dir: the run folder.
        resume: continue the run in ``out_dir`` (or start afresh when it has none). The settings
            and data must be those of the run, except the fields in
            ``DissolverTrainConfig.RESUMABLE`` (so a finished run can be extended).
        overwrite: replace a run already in ``out_dir``.
        data_source: where the images came from, recorded in ``run.json``.
        data_options: the options the images were read with, recorded in ``run.json``.
        final_check: called on the main process with the final (EMA) dissolver and the held-out
            images (CPU, at the dissolver's resolution), after the last readiness check and before
            the dissolver is saved: ``dia-augment train-dissolver`` runs the lesion probe there.
        log_with: experiment trackers that also get the training loss, images/s, the held-out
            readiness losses, the dissolve grids, ``readiness.png`` and the loss curve:
            ``"tensorboard"``, ``"wandb"``, ``"mlflow"``, ``"all"`` (every one installed) or several; a
            tracker whose package is missing raises before any work. They do not change the training.

    Returns:
        The trained (EMA) dissolver, on the training device.

    Raises:
        InputError: no or too few images.
        RunFolderError: ``out_dir`` holds a run and neither ``resume`` nor ``overwrite`` is set,
            or ``resume`` with other settings or data (the message names the fields).
        CheckpointError: the checkpoint to resume from is corrupt (the message names the file).

    Examples:
        >>> import tempfile
        >>> images = torch.rand(12, 1, 16, 16)
        >>> config = DissolverTrainConfig(resolution=8, preset="micro", train_steps=2, batch_size=4, progress=False)
        >>> d = train_dissolver(config, images, tempfile.mkdtemp())
        >>> d(images[:2], 50).shape
        torch.Size([2, 1, 16, 16])
    """
    trainer = DissolverTrainer(config, images, out_dir, resume, overwrite, data_source, data_options, final_check,
                               log_with)
    trainer.run()
    return trainer.dissolver
