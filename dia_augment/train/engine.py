"""The run engine: one Accelerate loop, one checkpoint format, one resume policy for every trainer.

A trainer subclasses :class:`Engine` and supplies its model, optimiser and step; the engine
does the rest the same way for all of them:

- the run folder (:mod:`dia_augment.train.run_folder`): ``run.json``, refuse or resume or overwrite;
- the data: a ``DataLoader`` per epoch over a seeded permutation (:mod:`dia_augment.train.data`),
  each of the ``W`` processes taking its share of every global batch;
- seeds: every stream comes from :func:`~dia_augment.utils.random.derive_seed` of the run's seed;
- the loop: ``train_step`` per batch, the mean of its values logged to ``metrics.jsonl`` every
  ``log_every`` optimiser steps (``"kind": "train"``), a progress bar, hooks after each step;
- checkpoints (:mod:`dia_augment.train.checkpoint`): every ``checkpoint_every`` steps, at the end
  (and at each epoch's end when the trainer asks), holding the model files, the optimiser, the
  scheduler, the data order, every process's generators and torch's RNG, so that a run killed at
  any point and resumed ends with the same weights as an uninterrupted one;
- at the end: the trainer's final files, ``loss.png`` beside the log, ``run.json`` marked finished;
- experiment trackers (``log_with``: TensorBoard, W&B, MLflow, through Accelerate's trackers,
  :mod:`dia_augment.train.log`): every ``metrics.jsonl`` record as scalars, the trainer's figures and
  the loss curve as images, in addition to the files; they never change the training.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import Tensor, nn
from tqdm.auto import tqdm

from dia_augment.errors import CheckpointError, ConfigError, RunFolderError
from dia_augment.train.checkpoint import (begin_checkpoint, checkpoint_tmp, finish_checkpoint, flatten_optimizer_state,
                                          latest_checkpoint, read_checkpoint_file, remove_stale, restore_rng,
                                          rng_tensors, unflatten_optimizer_state)
from dia_augment.train.data import ImageSource, as_dataset, collate_images, epoch_batches, epoch_loader
from dia_augment.utils.config import config_defaults
from dia_augment.train.log import TrackedLogger, Trackers, resolve_trackers, save_loss_curve, tracker_config, trim_log
from dia_augment.train.run_folder import data_record, differences, finish_run, open_run, start_run
from dia_augment.utils.io import JsonlLogger, atomic_save_tensors, check_record
from dia_augment.utils.run_layout import CHECKPOINT_PREFIX
from dia_augment.utils.precision import AUTOCAST_OF_PRECISION, autocast_context, resolve_precision
from dia_augment.utils.random import derive_seed, derived_generator

__all__ = ["Engine"]

_STATE_FIELDS = {"step": int, "epoch": int, "step_in_epoch": int, "world_size": int}


class Engine:
    """The training loop shared by the trainers; a subclass supplies the model and the step.

    A subclass sets :attr:`kind`, implements :meth:`setup` (build ``self.model``,
    ``self.optimizer``, optionally ``self.scheduler``, and the generators its step draws from
    in ``self.generators``), :meth:`train_step` and :meth:`save_final`, and may override the other
    hooks. ``config`` must have ``seed``, ``batch_size``, ``mixed_precision``, ``checkpoint_every``,
    ``log_every``, ``num_workers``, ``progress``, ``epochs`` (and may have ``train_steps``),
    ``to_dict()`` and ``RESUMABLE``.

    Args:
        config: the run's config.
        images: the training images (an :data:`~dia_augment.train.data.ImageSource`).
        out_dir: the run folder.
        resume: continue the run in ``out_dir``.
        overwrite: replace the run in ``out_dir``.
        data_source: where the images came from (recorded in ``run.json``).
        data_options: the options the images were read with (recorded in ``run.json``; see
            :func:`~dia_augment.train.run_folder.data_record`).
        log_with: experiment trackers that also receive the log: ``"tensorboard"``, ``"wandb"``,
            ``"mlflow"``, ``"all"`` (every one installed) or several (see
            :func:`~dia_augment.train.log.resolve_trackers`); checked before any work.
    """

    kind = ""
    #: Also checkpoint at the end of every epoch.
    checkpoint_each_epoch = False

    def __init__(self, config: Any, images: ImageSource, out_dir: str | Path, resume: bool = False,
                 overwrite: bool = False, data_source: str | None = None,
                 data_options: dict[str, Any] | None = None, log_with: str | list[str] | None = None) -> None:
        tracker_names = resolve_trackers(log_with)  # a missing package fails before any work
        self.config = config
        self.dataset = self.make_dataset(images)
        shape = tuple(collate_images([self.dataset[0]]).shape[1:])
        self.data_info = data_record(data_source, len(self.dataset), shape, data_options)
        self.out_dir = Path(out_dir)
        self.resume, self.overwrite = resume, overwrite
        # The engine runs the precision itself (autocast around the model's forward, its outputs in float32, a
        # gradient scaler for fp16, as Accelerate would): Accelerate keeps one precision per process, and runs of
        # several precisions may share one. Without a GPU, Accelerate recognises several torchrun processes only
        # when told to use the CPU.
        try:
            self.accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="no",
                                           kwargs_handlers=self.accelerator_kwargs(),
                                           log_with=list(tracker_names) or None, project_dir=self.out_dir)
        except ValueError as err:  # an Accelerator of another precision made by the caller in this process
            raise ConfigError(f"this process already holds an Accelerator of another precision ({err}); the trainers "
                              "set their precision with mixed_precision= and need Accelerate's state in float32") from err
        self.world, self.rank = self.accelerator.num_processes, self.accelerator.process_index
        self.main, self.device = self.accelerator.is_main_process, self.accelerator.device
        self.trackers = Trackers(self.accelerator, tracker_names if self.main else ())
        self.precision = resolve_precision(config.mixed_precision, self.device, announce=self.main)
        self.autocast_dtype = AUTOCAST_OF_PRECISION[self.precision]
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None
        if config.batch_size % self.world:
            raise ConfigError(f"batch_size {config.batch_size} must be divisible by the {self.world} processes")
        self.train_indices = self.select_train_indices()
        self.drop_last = getattr(config, "drop_last", True)
        if not self.drop_last and self.world > 1:
            raise ConfigError("drop_last=False (--no-drop-last) trains on one process only: the processes' shares of a "
                              "partial batch would differ in size")
        n = len(self.train_indices)
        self.steps_per_epoch = n // config.batch_size if self.drop_last else -(-n // config.batch_size)
        if self.steps_per_epoch == 0:
            raise ConfigError(f"batch_size {config.batch_size} is larger than the {len(self.train_indices)} training images")
        steps = getattr(config, "train_steps", None)
        self.total_steps = steps if steps is not None else config.epochs * self.steps_per_epoch
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self.generators: dict[str, torch.Generator] = {}
        self.step = self.epoch = self.step_in_epoch = 0
        self.batch_indices = torch.zeros(0, dtype=torch.long)
        self.elapsed = 0.0
        self.metrics_path = self.out_dir / "metrics.jsonl"

    # ---- hooks -------------------------------------------------------------------------------
    def make_dataset(self, images: ImageSource) -> torch.utils.data.Dataset:
        """The Dataset the loop reads (checked before any work)."""
        return as_dataset(images)

    def accelerator_kwargs(self) -> list:
        """Accelerate's ``kwargs_handlers``."""
        return []

    def select_train_indices(self) -> Tensor:
        """The dataset indices trained on (all of them; the dissolver holds some out)."""
        return torch.arange(len(self.dataset))

    def setup(self) -> None:
        """Build ``self.model`` (prepared), ``self.optimizer``, ``self.scheduler`` and ``self.generators``."""
        raise NotImplementedError

    def train_step(self, batch: Tensor) -> dict[str, Tensor]:
        """One optimiser step on this process's batch; returns 0-d tensors to log (with ``"loss"``)."""
        raise NotImplementedError

    def model_tensors(self) -> dict[str, dict[str, Tensor]]:
        """The checkpoint's model files: name -> tensors."""
        raise NotImplementedError

    def load_model_tensors(self, folder: Path, state: dict[str, Any]) -> None:
        """Load the model files of a checkpoint (``state``: its ``state.json``)."""
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        """JSON-ready state of the trainer saved in ``state.json``."""
        return {}

    def on_start(self, records: list[dict[str, Any]], logger: JsonlLogger) -> None:
        """Called on the main process before the first step with the log records kept so far."""

    def after_step(self, end_of_epoch: bool, logger: JsonlLogger | None) -> dict[str, str]:
        """Called after every step (on every process); returns progress-bar fields."""
        return {}

    def on_end(self, logger: JsonlLogger | None) -> None:
        """Called on every process after the last step, before the final files are written."""

    def release(self) -> None:
        """Called when the run ends, however it ends: give back what the trainer borrowed from its caller."""

    def track_image(self, tag: str, path: Path, folder: str | None = None) -> None:
        """Send the figure ``path`` to the run's trackers at the current step (main process; nothing without any)."""
        if self.trackers:
            self.trackers.log_image(tag, path, self.step, folder)

    def save_final(self) -> None:
        """Write the trained model's final files (main process)."""
        raise NotImplementedError

    # ---- seeds and models ----------------------------------------------------------------------
    def build_seeded(self, build) -> nn.Module:
        """Call ``build()`` with torch's RNG seeded from the run's seed (left as it was afterwards)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.config.seed, "init"))
            return build()

    def generator(self, tag: str) -> torch.Generator:
        """This process's generator for the stream ``tag`` on the training device."""
        return derived_generator(self.config.seed, f"{tag}/{self.rank}", self.device)

    # ---- precision -----------------------------------------------------------------------------
    def prepare(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[nn.Module, torch.optim.Optimizer]:
        """Accelerate's ``prepare`` (devices, processes); the step runs the precision (:meth:`autocast`)."""
        return self.accelerator.prepare(model, optimizer)

    def autocast(self) -> Any:
        """The run's precision as a context (``torch.autocast`` in bf16 / fp16, nothing in float32).

        A step computes its loss in it; the losses take the model's outputs to float32 first, as
        Accelerate's mixed precision does, so the rest of the loss sees float32 inputs.
        """
        return autocast_context(self.autocast_dtype, self.device)

    def backward_and_step(self, loss: Tensor, clip: float | None = None) -> None:
        """Back-propagate ``loss`` and step the optimiser: gradients scaled for fp16, norms clipped to ``clip``."""
        if self.scaler is None:
            self.accelerator.backward(loss)
        else:
            self.accelerator.backward(self.scaler.scale(loss))
            self.scaler.unscale_(self.optimizer)
        if clip is not None:
            self.accelerator.clip_grad_norm_(self.model.parameters(), clip)
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()

    # ---- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, order_state: Tensor) -> None:
        """Write the checkpoint after ``self.step`` steps (all processes take part)."""
        accel = self.accelerator
        tmp = (begin_checkpoint(self.out_dir, self.step) if self.main
               else checkpoint_tmp(self.out_dir, self.step))
        accel.wait_for_everyone()
        atomic_save_tensors(rng_tensors(self.generators), tmp / f"rng-rank{self.rank}.safetensors")
        accel.wait_for_everyone()
        if self.main:
            optimizer_tensors, optimizer_rest = flatten_optimizer_state(self.optimizer.state_dict())
            state = {"step": self.step, "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                     "world_size": self.world, "elapsed_s": self.elapsed, **self.extra_state()}
            if self.scheduler is not None:
                state["scheduler"] = self.scheduler.state_dict()
            if self.scaler is not None:
                state["grad_scaler"] = self.scaler.state_dict()
            files = {**self.model_tensors(), "optimizer.safetensors": optimizer_tensors,
                     "optimizer.json": optimizer_rest, "order.safetensors": {"order_state": order_state},
                     "state.json": state, "config.json": self.config.to_dict()}
            remove_stale(self.out_dir, keep=finish_checkpoint(tmp, files))
        accel.wait_for_everyone()

    def load_checkpoint(self, folder: Path, order: torch.Generator) -> None:
        """Restore everything :meth:`save_checkpoint` wrote into this process."""
        state = read_checkpoint_file(folder, "state.json")
        check_record(state, _STATE_FIELDS, f"checkpoint file {folder / 'state.json'}")
        if state["world_size"] != self.world:
            raise CheckpointError(f"checkpoint {folder} was written by {state['world_size']} processes; resume it with "
                                  f"the same number (got {self.world})")
        source = folder / "config.json"  # also guards folders written before run.json existed
        saved = type(self.config).from_dict(read_checkpoint_file(folder, source.name), str(source)).to_dict()
        different = differences(saved, self.config.to_dict(), self.config.RESUMABLE)
        if different:
            raise RunFolderError(f"cannot resume from {folder}: its settings differ: {'; '.join(different)}")
        self.load_model_tensors(folder, state)
        try:
            self.optimizer.load_state_dict(unflatten_optimizer_state(
                read_checkpoint_file(folder, "optimizer.safetensors"), read_checkpoint_file(folder, "optimizer.json")))
        except (KeyError, ValueError, TypeError) as err:
            raise CheckpointError(f"{folder / 'optimizer.safetensors'} does not match the optimizer: {err}") from err
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and "grad_scaler" in state:
            self.scaler.load_state_dict(state["grad_scaler"])
        path = folder / f"rng-rank{self.rank}.safetensors"
        restore_rng(read_checkpoint_file(folder, path.name), self.generators, path)
        order.set_state(read_checkpoint_file(folder, "order.safetensors", keys=["order_state"])["order_state"])
        self.step, self.epoch, self.step_in_epoch = state["step"], state["epoch"], state["step_in_epoch"]
        self.elapsed = float(state.get("elapsed_s", 0.0))

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        """Train from scratch or from the last checkpoint to ``total_steps`` and write the final files."""
        accel, config = self.accelerator, self.config
        config_dict = config.to_dict()
        continued = self.main and open_run(self.out_dir, self.kind, config_dict, self.data_info, config.RESUMABLE,
                                           self.resume, self.overwrite, config_defaults(type(config)))
        accel.wait_for_everyone()
        found = latest_checkpoint(self.out_dir) if (continued or self.resume) else None
        if self.trackers:  # before the model is built: a tracker that cannot start fails before any work
            # the log keeps the records of the checkpoint's steps; those after it are logged anew
            redone = int(found.name[len(CHECKPOINT_PREFIX):]) + 1 if found is not None else 0
            self.trackers.start(self.out_dir, tracker_config(config_dict, **self._run_facts()), redone)
        try:
            self._train(found)
        finally:
            self.trackers.finish()

    def _run_facts(self) -> dict[str, Any]:
        """What the trackers record of the run beside its config: its kind, data and precision."""
        data = self.data_info
        return {"run_kind": self.kind, "data_source": data["source"], "num_images": data["num_images"],
                "channels": data["channels"], "image_size": data["image_size"], "mixed_precision_used": self.precision}

    def _train(self, found: Path | None) -> None:
        """The rest of :meth:`run`: set up, restore the checkpoint ``found``, loop, write the final files."""
        accel, config = self.accelerator, self.config
        config_dict = config.to_dict()
        self.setup()
        torch.manual_seed(derive_seed(config.seed, f"global/{self.rank}"))
        order = derived_generator(config.seed, "order")
        if found is not None:
            self.load_checkpoint(found, order)
        logger = None
        if self.main:
            start_run(self.out_dir, self.kind, config_dict, self.data_info, mixed_precision_used=self.precision)
            remove_stale(self.out_dir, keep=found)
            records = trim_log(self.metrics_path, self.step)
            logger = TrackedLogger(self.metrics_path, self.trackers)
            self.on_start(records, logger)
        accel.wait_for_everyone()
        bar = tqdm(total=self.total_steps, initial=self.step, desc=f"training {self.kind}", unit="step",
                   disable=not (config.progress and self.main))
        sums: dict[str, Tensor] = {}
        postfix: dict[str, str] = {}
        interval_steps, interval_time = 0, 0.0
        try:
            while self.step < self.total_steps:
                epoch_start = order.get_state()
                permutation = torch.randperm(len(self.train_indices), generator=order)
                batches = epoch_batches(self.train_indices, permutation, config.batch_size, self.world, self.rank,
                                        self.step_in_epoch, self.drop_last)[: self.total_steps - self.step]
                started = time.perf_counter()
                loader = epoch_loader(self.dataset, batches, config.num_workers, self.device.type == "cuda")
                for indices, batch in zip(batches, loader):
                    self.batch_indices = torch.tensor(indices)  # the batch's data-set indices, for a dissolve cache
                    values = self.train_step(batch.to(self.device, non_blocking=True))
                    for key, value in values.items():
                        sums[key] = sums.get(key, 0) + value.detach().double()
                    self.step, self.step_in_epoch = self.step + 1, self.step_in_epoch + 1
                    end_of_epoch = self.step_in_epoch == self.steps_per_epoch
                    if end_of_epoch:
                        self.epoch, self.step_in_epoch = self.epoch + 1, 0
                    took = time.perf_counter() - started
                    interval_time += took
                    self.elapsed += took
                    interval_steps += 1
                    bar.update(1)
                    last = self.step == self.total_steps
                    if self.step % config.log_every == 0 or last:
                        postfix.update(self._log(sums, interval_steps, interval_time, logger))
                        sums, interval_steps, interval_time = {}, 0, 0.0
                    postfix.update(self.after_step(end_of_epoch, logger))
                    bar.set_postfix(postfix, refresh=False)
                    if ((config.checkpoint_every and self.step % config.checkpoint_every == 0) or last
                            or (end_of_epoch and self.checkpoint_each_epoch)):
                        self.save_checkpoint(order.get_state() if end_of_epoch else epoch_start)
                    started = time.perf_counter()
            self.on_end(logger)
        finally:
            bar.close()
            if logger is not None:
                logger.close()
            self.release()
        if self.main:
            self.save_final()
            if self.metrics_path.is_file():
                save_loss_curve(self.metrics_path, self.out_dir / "loss.png", title=f"{self.kind} training loss")
                self.track_image("loss_curve", self.out_dir / "loss.png")
            finish_run(self.out_dir, self.step)
        accel.wait_for_everyone()

    def _log(self, sums: dict[str, Tensor], steps: int, seconds: float, logger: JsonlLogger | None) -> dict[str, str]:
        names = sorted(sums)
        means = self.accelerator.reduce(torch.stack([sums[k] for k in names]), reduction="mean") / steps
        record: dict[str, Any] = {"kind": "train", "step": self.step, "epoch": self.epoch}
        record.update({k: float(v) for k, v in zip(names, means.tolist())})
        if not math.isfinite(record["loss"]):
            raise FloatingPointError(f"the training loss became {record['loss']} at step {self.step}; lower the lr")
        record["images_per_s"] = steps * self.config.batch_size / max(seconds, 1e-9)
        record["elapsed_s"] = self.elapsed
        if logger is not None:
            logger.log(record)
        return {"loss": f"{record['loss']:.4f}", "img_s": f"{record['images_per_s']:.0f}"}
