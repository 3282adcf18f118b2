"""The training log: ``metrics.jsonl`` records, trimmed on resume, the loss curve beside it, and the
experiment trackers that receive the same records.

The trackers are Accelerate's (``Accelerator(log_with=...)``): TensorBoard, Weights & Biases and
MLflow. :func:`resolve_trackers` turns a ``log_with`` argument into tracker names (``"all"``: every
one whose package is installed) and refuses, before any work, one whose package is missing;
:class:`Trackers` starts them, sends each ``metrics.jsonl`` record and each figure, and finishes
them. They only receive copies: ``metrics.jsonl`` is written as without them, and the training
does not change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dia_augment.errors import ConfigError
from dia_augment.utils.io import JsonlLogger, atomic_open

__all__ = ["trim_log", "save_loss_curve", "TRACKERS", "TRACKER_PROJECT", "resolve_trackers", "tracker_config",
           "Trackers", "TrackedLogger"]

#: The trackers ``log_with`` (``--log-with``) names; ``"all"`` is every one of them that is installed.
TRACKERS = ("tensorboard", "wandb", "mlflow")
#: The pip package each tracker needs (MLflow's ``mlflow-skinny`` will do too).
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
#: The project every run logs to: the W&B project, the MLflow experiment (unless ``MLFLOW_EXPERIMENT_NAME`` is
#: set) and TensorBoard's folder inside the run folder (``RUN/dia-augment/``).
TRACKER_PROJECT = "dia-augment"


def trim_log(path: str | os.PathLike, step: int) -> list[dict[str, Any]]:
    """Keep the records of the first ``step`` optimiser steps (those after a checkpoint are redone).

    A line torn by a crash is dropped with them; a missing log is an empty one.

    Returns:
        The records kept.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> _ = p.write_text('{"step": 1}\\n{"step": 2}\\n{"st')
        >>> trim_log(p, 1), p.read_text()
        ([{'step': 1}], '{"step": 1}\\n')
    """
    path = Path(path)
    if not path.is_file():
        return []
    kept = []
    for line in path.read_text().splitlines(keepends=True):
        try:
            record = json.loads(line)
            if line.endswith("\n") and record["step"] <= step:
                kept.append(record)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    with atomic_open(path) as f:
        f.writelines(json.dumps(r) + "\n" for r in kept)
    return kept


def save_loss_curve(metrics: str | os.PathLike, path: str | os.PathLike, title: str = "training loss") -> None:
    """Plot every ``loss*`` value of the ``"train"`` records of a ``metrics.jsonl`` against the step, as a PNG.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "loss": 2.0}\\n')
        >>> save_loss_curve(d / "metrics.jsonl", d / "loss.png")
        >>> (d / "loss.png").read_bytes()[:4]
        b'\\x89PNG'
    """
    from dia_augment.utils.figures import new_figure, write_png

    records = [json.loads(line) for line in Path(metrics).read_text().splitlines() if line.strip()]
    train = [r for r in records if r.get("kind") == "train"]
    figure = new_figure(5.0, 3.2)
    ax = figure.add_subplot(1, 1, 1)
    keys = sorted({k for r in train for k in r if k.startswith("loss")})
    for key in keys:
        ax.plot([r["step"] for r in train if key in r], [r[key] for r in train if key in r], lw=1, label=key)
    ax.set(xlabel="optimiser step", ylabel="loss")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if keys:
        ax.legend(fontsize=7)
    write_png(figure, path)


def tracker_installed(name: str) -> bool:
    """Whether the package of the tracker ``name`` is installed (Accelerate's own check; nothing is imported)."""
    from accelerate.utils import is_mlflow_available, is_tensorboard_available, is_wandb_available

    return bool({"tensorboard": is_tensorboard_available, "wandb": is_wandb_available,
                 "mlflow": is_mlflow_available}[name]())


def resolve_trackers(log_with: str | Sequence[str] | None) -> tuple[str, ...]:
    """The tracker names of a ``log_with`` argument, each checked to be installed.

    Args:
        log_with: ``None`` (no tracker), a name of :data:`TRACKERS`, ``"all"`` (every one of them whose
            package is installed), or several of these.

    Returns:
        The names, in the order of :data:`TRACKERS`.

    Raises:
        ConfigError: an unknown name, a tracker whose package is not installed (the message names the
            package and its ``pip install`` command), or ``"all"`` when none is installed.

    Examples:
        >>> resolve_trackers(None)
        ()
        >>> resolve_trackers("neptune")
        Traceback (most recent call last):
        ...
        dia_augment.errors.ConfigError: log_with must name trackers among (...); got 'neptune'
    """
    if log_with is None:
        return ()
    names = [log_with] if isinstance(log_with, str) else list(log_with)
    for name in names:
        if name not in (*TRACKERS, "all"):
            raise ConfigError(f"log_with must name trackers among {(*TRACKERS, 'all')}; got {name!r}")
    chosen = {name for name in names if name != "all"}
    for name in sorted(chosen, key=TRACKERS.index):
        if not tracker_installed(name):
            package = TRACKER_PACKAGES[name]
            raise ConfigError(f"log_with {name!r} (--log-with {name}) needs the {package} package, which is not "
                              f"installed: pip install {package}")
    if "all" in names:
        chosen |= {name for name in TRACKERS if tracker_installed(name)}
        if not chosen:
            raise ConfigError(f"log_with 'all' (--log-with all) found none of the trackers {', '.join(TRACKERS)} "
                              "installed: pip install tensorboard (or wandb, or mlflow)")
    return tuple(name for name in TRACKERS if name in chosen)


def tracker_config(config: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """A run's settings as the trackers take hyperparameters: numbers, strings, booleans and ``None``.

    Pairs and other values become their text (TensorBoard's hyperparameters hold no lists).

    Examples:
        >>> tracker_config({"lr": 0.1, "crop_scale": [0.08, 1.0], "step_range": None}, kind="contrastive")
        {'lr': 0.1, 'crop_scale': '[0.08, 1.0]', 'step_range': None, 'kind': 'contrastive'}
    """
    values = {**config, **extra}
    return {k: v if v is None or isinstance(v, (bool, int, float, str)) else json.dumps(v) for k, v in values.items()}


def _read_png(path: Path) -> Any:
    """An image file as an ``(H, W, 3)`` uint8 array."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


class Trackers:
    """The experiment trackers of a run, through an Accelerator made with ``log_with=names``.

    Call on the main process only (Accelerate starts the trackers there): :meth:`start`, then
    :meth:`log_record` for each ``metrics.jsonl`` record and :meth:`log_image` for each figure, and
    :meth:`finish` at the end, however the run ends.

    Args:
        accelerator: the run's ``Accelerator``, made with ``log_with=names`` and ``project_dir`` the run folder.
        names: from :func:`resolve_trackers`.
    """

    def __init__(self, accelerator: Any, names: Sequence[str]) -> None:
        self.accelerator, self.names = accelerator, tuple(names)
        self.started = False

    def __bool__(self) -> bool:
        return bool(self.names)

    def start(self, out_dir: str | os.PathLike, config: Mapping[str, Any], step: int = 0) -> None:
        """Start the trackers (``accelerator.init_trackers``) with the run's settings as hyperparameters.

        Args:
            out_dir: the run folder: TensorBoard writes into ``out_dir/dia-augment/``, W&B into
                ``out_dir/wandb/`` (unless ``WANDB_DIR`` is set); the W&B and MLflow runs are named after it.
            config: the hyperparameters (:func:`tracker_config`).
            step: the first optimiser step this attempt logs anew (0 for a fresh run, the
                checkpoint's step + 1 for a resumed one): TensorBoard hides what an earlier attempt of
                the run (or a run the folder held before ``overwrite``) logged from there on
                (``purge_step``), as ``metrics.jsonl`` is trimmed.

        Raises:
            ConfigError: a tracker could not start (the message says which and why).
        """
        if not self.names:
            return
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        init_kwargs = {"tensorboard": {"purge_step": int(step)}, "mlflow": {"run_name": out.name},
                       "wandb": {"name": out.name, **({} if os.environ.get("WANDB_DIR") else {"dir": str(out)})}}
        try:
            self.accelerator.init_trackers(TRACKER_PROJECT, config=dict(config), init_kwargs=init_kwargs)
        except Exception as err:  # noqa: BLE001 - any tracker's failure to start is reported in one line
            self._finish_quietly()
            message = " ".join(str(err).split()) or type(err).__name__
            raise ConfigError(f"the experiment tracker(s) {', '.join(self.names)} could not start: {message}") from err
        self.started = True

    def log_record(self, record: Mapping[str, Any]) -> None:
        """Send the numbers of a ``metrics.jsonl`` record as ``KIND/NAME`` scalars at its ``step``.

        A ``"train"`` record gives ``train/loss``, ``train/lr``, ``train/images_per_s`` ...; the
        dissolver's ``"eval"`` record ``eval/holdout_loss`` ...
        """
        if not self.started:
            return
        kind = record.get("kind", "train")
        values = {f"{kind}/{k}": v for k, v in record.items()
                  if k not in ("kind", "step") and isinstance(v, (int, float)) and not isinstance(v, bool)}
        if values:
            self.accelerator.log(values, step=int(record["step"]))

    def log_image(self, tag: str, path: str | os.PathLike, step: int, folder: str | None = None) -> None:
        """Send the image file ``path`` where each tracker takes images.

        TensorBoard: an image ``tag`` at ``step``; W&B: a ``wandb.Image`` under ``tag`` at ``step``;
        MLflow: the file as an artifact (in ``folder`` of the run's artifacts).
        """
        if not self.started:
            return
        path = Path(path)
        image = _read_png(path) if {"tensorboard", "wandb"} & set(self.names) else None
        for name in self.names:
            tracker = self.accelerator.get_tracker(name)
            if name == "tensorboard":
                tracker.log_images({tag: image[None]}, step=step, dataformats="NHWC")
            elif name == "wandb":
                tracker.log_images({tag: [image]}, step=step)
            elif name == "mlflow":
                tracker.log_artifact(str(path), artifact_path=folder)

    def finish(self) -> None:
        """Finish every tracker (close TensorBoard's writer, end the W&B and MLflow runs).

        This is ``accelerator.end_training()`` without its last act, which destroys the process
        group: a distributed command still needs it after training (its detector, its scores).
        """
        if self.started:
            self.started = False
            for tracker in self.accelerator.trackers:
                tracker.finish()
            self.accelerator.trackers.clear()

    def _finish_quietly(self) -> None:
        for tracker in self.accelerator.trackers:
            try:
                tracker.finish()
            except Exception:  # noqa: BLE001, S110 - a tracker that never started has nothing to finish
                pass
        self.accelerator.trackers.clear()


class TrackedLogger(JsonlLogger):
    """A ``metrics.jsonl`` log whose every record also goes to the run's trackers (:meth:`Trackers.log_record`).

    The file is written exactly as :class:`~dia_augment.utils.io.JsonlLogger` writes it.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.jsonl"
        >>> log = TrackedLogger(p, None); log.log({"kind": "train", "step": 1, "loss": 0.5}); log.close()
        >>> p.read_text()
        '{"kind": "train", "step": 1, "loss": 0.5}\\n'
    """

    def __init__(self, path: str | os.PathLike, trackers: Trackers | None) -> None:
        super().__init__(path)
        self.trackers = trackers

    def log(self, record: Mapping[str, Any]) -> None:
        super().log(record)
        if self.trackers:
            self.trackers.log_record(record)
