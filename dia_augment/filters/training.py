"""Training a DDPM dissolver on a data set's normal images.

:func:`train_dissolver` trains a diffusers ``UNet2DModel`` (a preset of
:mod:`dia_augment.filters.presets`) to predict the noise of the cosine schedule, and saves the
exponential moving average (EMA) of its weights as a
:class:`~dia_augment.filters.ddpm.DDPMDissolving` directory. The recipe follows the paper:
1000 steps of ``squaredcos_cap_v2``, epsilon prediction, ``t`` uniform, L1 loss (or L2), Adam
(``lr = 8e-5``, ``betas = (0.9, 0.99)``), gradient clipping at 1.0, random horizontal flips.
Images are resized to the dissolver's resolution once and mapped from ``[0, 1]`` to ``[-1, 1]``
explicitly.

Everything random is drawn from generators seeded from ``seed``: the held-out split, the data
order (a permutation per epoch), the flips, the steps and the noise. Their states are part of
every checkpoint, so a run killed at any point and resumed ends with the same weights as an
uninterrupted one.

Layout of ``out_dir``::

    train_config.json            the run's settings
    metrics.jsonl                {"kind": "train", ...} every log_every steps, {"kind": "eval", ...} per readiness check
    readiness.png                held-out loss against step
    grids/step_00000100.png      dissolve grids of held-out images (original, t = 0, 30, 60, 100, 200)
    checkpoint/latest.json       names the last complete checkpoint; written last
    checkpoint/step_00000100/    unet, ema, optimizer, rng_rank{r} (safetensors) and state.json
    dissolver/                   the EMA dissolver (DDPMDissolving.save_pretrained)
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from dia_augment.filters.ddpm import DDPMDissolving
from dia_augment.filters.grid import GRID_STEPS, save_dissolve_grid, save_readiness_curve
from dia_augment.filters.presets import UNET_PRESETS, make_scheduler, make_unet, unet_config
from dia_augment.utils.checks import check_images
from dia_augment.utils.io import (
    CheckpointError,
    JsonlLogger,
    atomic_open,
    atomic_save_tensors,
    atomic_write_json,
    load_tensors,
    read_json,
)

__all__ = [
    "DissolverTrainConfig",
    "train_dissolver",
    "denoising_loss",
    "latest_checkpoint",
    "LOSSES",
    "READINESS_STEP_RANGE",
]

#: The training losses: L1 (the paper's) or L2 between the predicted and the true noise.
LOSSES = ("l1", "l2")
#: The readiness check draws its fixed steps from this range (the paper's dissolving range).
READINESS_STEP_RANGE = (30, 100)

_MIN_HOLDOUT = 4
_CHECKPOINT_DIR = "checkpoint"
_LATEST = "latest.json"
_RESUMABLE = ("steps", "epochs", "checkpoint_every", "eval_every", "log_every", "grid_images")


@dataclasses.dataclass(frozen=True)
class DissolverTrainConfig:
    """The settings of a dissolver training run (see :func:`train_dissolver` for their meaning).

    ``channels`` and ``num_images`` describe the data; a run resumes only with the same data
    and the same settings, except for those that do not change the sequence of updates (the
    length of the run and how often it logs, evaluates and checkpoints).

    Examples:
        >>> DissolverTrainConfig(channels=1, num_images=100, steps=10).global_holdout()
        5
    """

    channels: int
    num_images: int
    resolution: int = 32
    preset: str = "tiny"
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 32
    lr: float = 8e-5
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    loss: str = "l1"
    ema_decay: float = 0.999
    checkpoint_every: int = 500
    eval_every: int | None = None
    log_every: int = 10
    holdout: float = 0.05
    grid_images: int = 8
    seed: int = 0
    mixed_precision: str = "no"

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.preset not in UNET_PRESETS:
            raise ValueError(f"preset must be one of {sorted(UNET_PRESETS)}; got {self.preset!r}")
        unet_config(self.preset, self.resolution, self.channels)  # validates resolution and channels
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(f"give exactly one of steps and epochs; got steps={self.steps}, epochs={self.epochs}")
        for name in ("steps", "epochs", "batch_size", "checkpoint_every", "eval_every", "log_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}; got {self.loss!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive; got {self.lr}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1); got {self.betas}")
        if not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive; got {self.grad_clip}")
        if not 0.0 <= self.ema_decay <= 1.0:
            raise ValueError(f"ema_decay must be in [0, 1]; got {self.ema_decay}")
        if not 0.0 < self.holdout <= 0.5:
            raise ValueError(f"holdout must be a fraction in (0, 0.5]; got {self.holdout}")
        if isinstance(self.grid_images, bool) or not isinstance(self.grid_images, int) or self.grid_images < 0:
            raise ValueError(f"grid_images must be a non-negative int; got {self.grid_images!r}")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16' or 'bf16'; got {self.mixed_precision!r}")
        if self.num_images < self.global_holdout() + 1:
            raise ValueError(
                f"need at least {self.global_holdout() + 1} normal images ({self.global_holdout()} held out for the "
                f"readiness check and at least one to train on); got {self.num_images}"
            )

    def global_holdout(self) -> int:
        """The number of held-out images: ``holdout`` of the data, at least 4."""
        return max(_MIN_HOLDOUT, round(self.holdout * self.num_images))

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out


def denoising_loss(
    unet: torch.nn.Module, alphas_cumprod: Tensor, x0: Tensor, t: Tensor, noise: Tensor, loss: str = "l1"
) -> Tensor:
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
        >>> from dia_augment.filters.presets import make_unet, make_scheduler
        >>> _ = torch.manual_seed(0)
        >>> unet, abar = make_unet("micro", 8, 1), make_scheduler().alphas_cumprod
        >>> x0, noise = torch.zeros(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
        >>> loss = denoising_loss(unet, abar, x0, torch.tensor([10, 500]), noise)
        >>> loss.ndim, bool(loss > 0)
        (0, True)
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}")
    abar = alphas_cumprod.to(device=x0.device, dtype=torch.float32)[t].view(-1, 1, 1, 1)
    x_t = abar.sqrt() * x0.float() + (1 - abar).sqrt() * noise.float()
    prediction = unet(x_t.to(x0.dtype), t).sample.float()
    if loss == "l1":
        return F.l1_loss(prediction, noise.float())
    return F.mse_loss(prediction, noise.float())


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The folder of the last complete checkpoint of a run, or ``None`` when it has none.

    A checkpoint is complete once ``checkpoint/latest.json`` names it (that file is written last).

    Raises:
        CheckpointError: ``latest.json`` is corrupt or names a missing folder.

    Examples:
        >>> import tempfile
        >>> latest_checkpoint(tempfile.mkdtemp()) is None
        True
    """
    manifest = Path(out_dir) / _CHECKPOINT_DIR / _LATEST
    if not manifest.exists():
        return None
    latest = read_json(manifest, what="checkpoint manifest")
    if not isinstance(latest, dict) or "folder" not in latest:
        raise CheckpointError(f"checkpoint manifest {manifest} is corrupt: it names no checkpoint folder")
    folder = manifest.parent / str(latest["folder"])
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint manifest {manifest} names {folder}, which does not exist")
    return folder


# --------------------------------------------------------------------------------------------
# data


def _derived_generator(seed: int, tag: str, device: torch.device | str = "cpu") -> torch.Generator:
    digest = hashlib.sha256(f"{seed}\x1f{tag}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def _resize(images: Tensor, resolution: int) -> Tensor:
    if tuple(images.shape[-2:]) == (resolution, resolution):
        return images
    return F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


class _TrainingImages:
    """The normal images, held resized (a tensor) or read per batch (a Dataset), in ``[0, 1]``."""

    def __init__(self, data: Tensor | Dataset, resolution: int) -> None:
        self.resolution = resolution
        if isinstance(data, Tensor):
            check_images(data)
            self.images: Tensor | None = torch.cat([_resize(c, resolution) for c in data.split(256)])
            self.dataset: Dataset | None = None
            self.num_images, self.channels = data.shape[0], data.shape[1]
            return
        if not isinstance(data, Dataset):
            raise TypeError(f"images must be a (N, C, H, W) tensor or a torch Dataset; got {type(data).__name__}")
        self.images, self.dataset = None, data
        self.num_images = len(data)
        if self.num_images == 0:
            raise ValueError(f"the {type(data).__name__} holds no images: nothing to train the dissolver on")
        self.channels = self._item(0).shape[1]

    def _item(self, index: int) -> Tensor:
        item = self.dataset[index]
        image = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(image, Tensor) or image.ndim != 3:
            raise ValueError(f"item {index} of the dataset must be a (C, H, W) image tensor or an (image, label) pair")
        image = check_images(image[None], name=f"image {index} of the dataset")
        if hasattr(self, "channels") and image.shape[1] != self.channels:
            raise ValueError(f"image {index} of the dataset has {image.shape[1]} channels; the first had {self.channels}")
        return _resize(image, self.resolution)

    def batch(self, indices: Tensor) -> Tensor:
        if self.images is not None:
            return self.images[indices]
        return torch.cat([self._item(int(i)) for i in indices])


# --------------------------------------------------------------------------------------------
# checkpoints


def _optimizer_to_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"state.{index}.{key}"] = value
            else:
                scalars[f"state.{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_from_files(tensors: dict[str, Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *meta["scalars"].items()]:
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _rng_tensors(order_generator: torch.Generator, noise_generator: torch.Generator, perm: Tensor) -> dict[str, Tensor]:
    tensors = {
        "order_generator": order_generator.get_state(),
        "noise_generator": noise_generator.get_state(),
        "torch_cpu": torch.get_rng_state(),
        "perm": perm,
    }
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    return tensors


def _restore_rng(tensors: dict[str, Tensor], order_generator: torch.Generator, noise_generator: torch.Generator) -> Tensor:
    order_generator.set_state(tensors["order_generator"])
    noise_generator.set_state(tensors["noise_generator"])
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("torch_cuda_"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    return tensors["perm"]


def _load_into(module: torch.nn.Module, tensors: dict[str, Tensor], path: Path) -> None:
    try:
        module.load_state_dict(tensors)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match the model: {err}") from err


def _check_resumable(saved: dict[str, Any], config: DissolverTrainConfig, world_size: int, folder: Path) -> None:
    current = config.to_json()
    different = [
        f"{k} (saved {saved['config'].get(k)!r}, now {v!r})"
        for k, v in current.items()
        if k not in _RESUMABLE and saved["config"].get(k) != v
    ]
    if saved.get("world_size") != world_size:
        different.append(f"number of processes (saved {saved.get('world_size')}, now {world_size})")
    if different:
        raise ValueError(
            f"cannot resume from {folder}: the run's settings or data differ: {', '.join(different)}; "
            "use another out_dir for a new run"
        )


def _truncate_metrics(path: Path, step: int) -> int:
    """Drop the records a killed run logged after its last checkpoint (and a torn last line).

    Returns the step of the last readiness check kept, or -1.
    """
    if not path.exists():
        return -1
    kept, last_eval = [], -1
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("step", 0) <= step:
            kept.append(line)
            if record.get("kind") == "eval":
                last_eval = max(last_eval, int(record["step"]))
    with atomic_open(path, "w") as f:
        f.write("".join(line + "\n" for line in kept))
    return last_eval


# --------------------------------------------------------------------------------------------
# training


class _Run:
    """The mutable state of one training run, and the operations on it."""

    def __init__(self, config: DissolverTrainConfig, data: _TrainingImages, out_dir: Path, progress: bool) -> None:
        from accelerate import Accelerator
        from diffusers.training_utils import EMAModel

        self.config, self.data, self.out_dir = config, data, out_dir
        self.accelerator = accel = Accelerator(mixed_precision=config.mixed_precision)
        self.main = accel.is_main_process
        self.device = accel.device
        world, rank = accel.num_processes, accel.process_index

        # held-out split, fixed readiness batch
        n, n_hold = config.num_images, config.global_holdout()
        order = torch.randperm(n, generator=_derived_generator(config.seed, "holdout"))
        self.holdout_idx, self.train_idx = order[:n_hold].sort().values, order[n_hold:].sort().values
        readiness = _derived_generator(config.seed, "readiness")
        self.holdout_x0 = data.batch(self.holdout_idx) * 2 - 1
        self.holdout_t = torch.randint(*READINESS_STEP_RANGE, (n_hold,), generator=readiness)
        self.holdout_noise = torch.randn(self.holdout_x0.shape, generator=readiness)
        self.grid_images = data.batch(self.holdout_idx[: config.grid_images]) if config.grid_images else None

        # data order: a global batch split over the processes
        self.global_batch = min(config.batch_size * world, len(self.train_idx))
        if self.global_batch < world:
            raise ValueError(f"{len(self.train_idx)} training images cannot feed {world} processes")
        self.batches_per_epoch = len(self.train_idx) // self.global_batch
        self.total_steps = config.steps if config.steps is not None else config.epochs * self.batches_per_epoch
        self.rank, self.world = rank, world
        self.order_generator = _derived_generator(config.seed, "order")
        self.noise_generator = _derived_generator(config.seed, f"noise/{rank}", self.device)
        torch.manual_seed(_derived_generator(config.seed, f"global/{rank}").initial_seed())  # dropout draws
        self.perm = torch.zeros(0, dtype=torch.long)

        # model, EMA, optimizer
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            unet = make_unet(config.preset, config.resolution, config.channels)
        self.unet = unet.to(self.device).train()
        self.ema_unet = copy.deepcopy(self.unet)
        self.param_names = [name for name, _ in self.unet.named_parameters()]
        self.ema = EMAModel(self.unet.parameters(), decay=config.ema_decay)
        self.optimizer = torch.optim.Adam(self.unet.parameters(), lr=config.lr, betas=config.betas)
        self.scheduler = make_scheduler()
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(self.device)
        self.dissolver = DDPMDissolving(self.ema_unet, self.scheduler)
        self.step = self.epoch = self.batch_in_epoch = 0
        self.last_eval_step = -1
        self.elapsed = 0.0

        self.progress = progress and self.main
        self.metrics_path = out_dir / "metrics.jsonl"
        self.checkpoints = out_dir / _CHECKPOINT_DIR

    # ---- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        folder = self.checkpoints / f"step_{self.step:08d}"
        atomic_save_tensors(
            _rng_tensors(self.order_generator, self.noise_generator, self.perm), folder / f"rng_rank{self.rank}.safetensors"
        )
        if self.main:
            atomic_save_tensors(self.unet.state_dict(), folder / "unet.safetensors")
            atomic_save_tensors(dict(zip(self.param_names, self.ema.shadow_params)), folder / "ema.safetensors")
            optimizer_tensors, optimizer_meta = _optimizer_to_files(self.optimizer)
            atomic_save_tensors(optimizer_tensors, folder / "optimizer.safetensors")
        self.accelerator.wait_for_everyone()
        if self.main:
            atomic_write_json(
                folder / "state.json",
                {
                    "step": self.step,
                    "epoch": self.epoch,
                    "batch_in_epoch": self.batch_in_epoch,
                    "elapsed_s": self.elapsed,
                    "ema_optimization_step": self.ema.optimization_step,
                    "world_size": self.world,
                    "optimizer": optimizer_meta,
                    "config": self.config.to_json(),
                },
            )
            atomic_write_json(self.checkpoints / _LATEST, {"step": self.step, "folder": folder.name})  # last: complete
            for old in self.checkpoints.glob("step_*"):
                if old.is_dir() and old.name != folder.name:
                    shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()

    def load_checkpoint(self, folder: Path) -> None:
        state = read_json(folder / "state.json", what="checkpoint state")
        _check_resumable(state, self.config, self.world, folder)
        path = folder / "unet.safetensors"
        _load_into(self.unet, load_tensors(path, what="UNet weights"), path)
        path = folder / "ema.safetensors"
        ema = load_tensors(path, what="EMA weights")
        if sorted(ema) != sorted(self.param_names):
            raise CheckpointError(f"{path} does not hold the EMA weights of this UNet")
        self.ema.shadow_params = [ema[name].to(self.device) for name in self.param_names]
        self.ema.optimization_step = int(state["ema_optimization_step"])
        path = folder / "optimizer.safetensors"
        try:
            self.optimizer.load_state_dict(
                _optimizer_from_files(load_tensors(path, what="optimizer state"), state["optimizer"])
            )
        except (KeyError, ValueError) as err:
            raise CheckpointError(f"{path} does not match the optimizer: {err}") from err
        path = folder / f"rng_rank{self.rank}.safetensors"
        self.perm = _restore_rng(load_tensors(path, what="generator states"), self.order_generator, self.noise_generator)
        self.step, self.epoch, self.batch_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
        self.elapsed = float(state["elapsed_s"])

    # ---- one step --------------------------------------------------------------------------
    def next_batch(self) -> Tensor:
        if self.batch_in_epoch == 0:
            self.perm = torch.randperm(len(self.train_idx), generator=self.order_generator)
        start = self.batch_in_epoch * self.global_batch
        indices = self.train_idx[self.perm[start : start + self.global_batch]]
        return self.data.batch(indices.tensor_split(self.world)[self.rank]).to(self.device)

    def train_step(self, images: Tensor) -> Tensor:
        x0 = images * 2 - 1
        b, gen = x0.shape[0], self.noise_generator
        flip = torch.rand(b, generator=gen, device=self.device) < 0.5
        x0 = torch.where(flip.view(-1, 1, 1, 1), x0.flip(-1), x0)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (b,), generator=gen, device=self.device)
        noise = torch.randn(x0.shape, generator=gen, device=self.device)
        with self.accelerator.autocast():
            loss = denoising_loss(self.model, self.alphas_cumprod, x0, t, noise, self.config.loss)
        self.accelerator.backward(loss)
        self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.step(self.unet.parameters())
        return loss.detach()

    # ---- readiness -------------------------------------------------------------------------
    @torch.no_grad()
    def holdout_loss(self, unet: UNet2DModel) -> float:
        was_training = unet.training
        unet.eval()
        total = 0.0
        size = self.config.batch_size
        for start in range(0, self.holdout_x0.shape[0], size):
            chunk = slice(start, start + size)
            x0 = self.holdout_x0[chunk].to(self.device)
            loss = denoising_loss(
                unet, self.alphas_cumprod, x0, self.holdout_t[chunk].to(self.device),
                self.holdout_noise[chunk].to(self.device), self.config.loss,
            )
            total += float(loss) * x0.shape[0]
        unet.train(was_training)
        return total / self.holdout_x0.shape[0]

    def evaluate(self, logger: JsonlLogger) -> dict[str, Any]:
        self.ema.copy_to(self.ema_unet.parameters())
        record: dict[str, Any] = {
            "kind": "eval",
            "step": self.step,
            "epoch": self.epoch,
            "holdout_loss": self.holdout_loss(self.ema_unet),
            "holdout_loss_raw": self.holdout_loss(self.unet),
        }
        if self.grid_images is not None:
            grid = Path("grids") / f"step_{self.step:08d}.png"
            scale = max(1, 64 // self.config.resolution)
            save_dissolve_grid(self.dissolver, self.grid_images.to(self.device), self.out_dir / grid, GRID_STEPS, scale=scale)
            record["grid"] = str(grid)
        logger.log(record)
        self.last_eval_step = self.step
        save_readiness_curve(self.metrics_path, self.out_dir / "readiness.png")
        return record

    # ---- the loop --------------------------------------------------------------------------
    def run(self, resume_from: Path | None) -> DDPMDissolving:
        accel, config = self.accelerator, self.config
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        self.model, self.optimizer = accel.prepare(self.unet, self.optimizer)
        if self.main:
            atomic_write_json(self.out_dir / "train_config.json", config.to_json())
            if resume_from is not None:
                self.last_eval_step = _truncate_metrics(self.metrics_path, self.step)
        logger = JsonlLogger(self.metrics_path) if self.main else None
        bar = tqdm(total=self.total_steps, initial=self.step, desc="training dissolver", disable=not self.progress)
        try:
            if self.step == 0 and self.main:
                self.evaluate(logger)
            accel.wait_for_everyone()
            loss_sum, interval_steps, interval_time = torch.zeros((), device=self.device), 0, 0.0
            while self.step < self.total_steps:
                started = time.perf_counter()
                images = self.next_batch()
                loss_sum += self.train_step(images)
                self.step += 1
                self.batch_in_epoch += 1
                end_of_epoch = self.batch_in_epoch == self.batches_per_epoch
                if end_of_epoch:
                    self.epoch += 1
                    self.batch_in_epoch = 0
                took = time.perf_counter() - started
                interval_time += took
                self.elapsed += took
                interval_steps += 1
                bar.update(1)
                last = self.step == self.total_steps
                if self.step % config.log_every == 0 or last:
                    loss = float(accel.reduce(loss_sum, reduction="mean")) / interval_steps
                    speed = interval_steps * self.global_batch / max(interval_time, 1e-9)
                    if self.main:
                        logger.log({"kind": "train", "step": self.step, "epoch": self.epoch, "loss": loss,
                                    "lr": config.lr, "images_per_s": speed, "elapsed_s": self.elapsed})
                    bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{speed:.0f}")
                    loss_sum.zero_()
                    interval_steps, interval_time = 0, 0.0
                due = end_of_epoch if config.eval_every is None else self.step % config.eval_every == 0
                if due and self.main:
                    bar.set_postfix(holdout=f"{self.evaluate(logger)['holdout_loss']:.4f}")
                if self.step % config.checkpoint_every == 0 or last:
                    self.save_checkpoint()
            if self.main and self.last_eval_step != self.step:  # the final weights are always checked
                bar.set_postfix(holdout=f"{self.evaluate(logger)['holdout_loss']:.4f}")
        finally:
            bar.close()
            if logger is not None:
                logger.close()
        self.ema.copy_to(self.ema_unet.parameters())
        if self.main:
            self.dissolver.save_pretrained(self.out_dir / "dissolver")
        accel.wait_for_everyone()
        return self.dissolver


def train_dissolver(
    images_or_dataset: Tensor | Dataset,
    out_dir: str | os.PathLike,
    resolution: int = 32,
    preset: str = "tiny",
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 32,
    lr: float = 8e-5,
    betas: Sequence[float] = (0.9, 0.99),
    grad_clip: float = 1.0,
    loss: str = "l1",
    ema_decay: float = 0.999,
    checkpoint_every: int = 500,
    eval_every: int | None = None,
    log_every: int = 10,
    holdout: float = 0.05,
    grid_images: int = 8,
    resume: bool = False,
    seed: int = 0,
    mixed_precision: str = "no",
    progress: bool = True,
) -> DDPMDissolving:
    """Train a DDPM dissolver on normal images and save its EMA weights to ``out_dir/dissolver``.

    Pass the *normal* training images only: the dissolver learns what normal anatomy looks
    like. A seeded ``holdout`` share of them (at least 4) is kept out of training for the
    readiness check: the denoising loss of the EMA weights on those images with fixed noise
    and fixed steps in ``[30, 100)``, logged to ``metrics.jsonl`` (``"kind": "eval"``) after each
    epoch (or every ``eval_every`` steps) together with a dissolve grid in ``out_dir/grids/``
    and the curve ``out_dir/readiness.png``. The dissolver is ready when that loss has stopped
    falling.

    Runs on whatever ``accelerate`` gives (CPU, one GPU, or several GPUs through
    ``accelerate launch`` / ``torchrun``, each process taking its share of every global batch
    of ``batch_size`` images per process). The EMA follows diffusers' ``EMAModel``: its decay
    at update ``k`` is ``min(ema_decay, (1 + k) / (10 + k))``, so early averages are short.
    The global torch RNG is seeded from ``seed`` too (dropout of the ``paper`` preset draws from
    it). ``accelerate`` fixes the mixed precision once per process: train with another
    ``mixed_precision`` in a new process.

    Args:
        images_or_dataset: normal images, a :math:`(N, C, H, W)` float tensor in ``[0, 1]``, or a
            torch Dataset yielding such ``(C, H, W)`` images or ``(image, label)`` pairs
            (read per batch). C = 1 or 3 becomes the dissolver's channel count.
        out_dir: the run's folder (see the module docstring for its layout).
        resolution: the dissolver's working resolution; images are resized to it (bilinear, antialiased).
        preset: the UNet size, ``"micro"``, ``"tiny"`` or ``"paper"``.
        steps: the number of optimisation steps (give ``steps`` or ``epochs``).
        epochs: the number of passes over the training images (the last partial batch is dropped).
        batch_size: images per step and process.
        lr: Adam's learning rate.
        betas: Adam's betas.
        grad_clip: the maximal gradient norm.
        loss: ``"l1"`` (the paper's) or ``"l2"``.
        ema_decay: the EMA's decay (0 keeps the raw weights).
        checkpoint_every: write a checkpoint every this many steps (and at the end).
        eval_every: run the readiness check every this many steps; ``None``: after each epoch.
        log_every: log the mean training loss and images/s every this many steps.
        holdout: the share of images held out for the readiness check.
        grid_images: how many held-out images the dissolve grids show (0: no grids).
        resume: continue from the last complete checkpoint in ``out_dir`` (or start afresh
            when it has none). The settings and data must be those of the checkpoint, except
            ``steps`` / ``epochs`` (so a finished run can be extended) and the logging,
            evaluation and checkpoint intervals.
        seed: seeds the model's initialisation, the held-out split and every random draw.
        mixed_precision: ``"no"``, ``"fp16"`` or ``"bf16"`` (through ``accelerate``).
        progress: show a progress bar.

    Returns:
        The trained (EMA) dissolver, on the training device.

    Raises:
        ValueError: invalid settings, no or too few images, or ``resume`` with settings that
            differ from the checkpoint's.
        FileExistsError: ``out_dir`` already holds a checkpoint and ``resume`` is false.
        CheckpointError: the checkpoint to resume from is corrupt (the message names the file).

    Examples:
        >>> import tempfile
        >>> images = torch.rand(12, 1, 16, 16)
        >>> d = train_dissolver(images, tempfile.mkdtemp(), resolution=8, preset="micro", steps=2,
        ...                     batch_size=4, progress=False)
        >>> d(images[:2], 50).shape
        torch.Size([2, 1, 16, 16])
    """
    data = _TrainingImages(images_or_dataset, resolution)
    config = DissolverTrainConfig(
        channels=data.channels, num_images=data.num_images, resolution=resolution, preset=preset, steps=steps,
        epochs=epochs, batch_size=batch_size, lr=lr, betas=tuple(betas), grad_clip=grad_clip, loss=loss,
        ema_decay=ema_decay, checkpoint_every=checkpoint_every, eval_every=eval_every, log_every=log_every,
        holdout=holdout, grid_images=grid_images, seed=seed, mixed_precision=mixed_precision,
    )
    out = Path(out_dir)
    folder = latest_checkpoint(out)
    if folder is not None and not resume:
        raise FileExistsError(
            f"{out} already holds a training checkpoint ({folder.name}); pass resume=True to continue it "
            "or choose another out_dir"
        )
    out.mkdir(parents=True, exist_ok=True)
    return _Run(config, data, out, progress).run(folder)
