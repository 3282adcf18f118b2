"""Training: one run engine (:mod:`~dia_augment.train.engine`) under two trainers.

- :func:`train_model` (:mod:`~dia_augment.train.contrastive`): SimCLR, CSI or DIA training of a
  :class:`~dia_augment.models.DIAResNet`, configured by :class:`TrainConfig`;
- :func:`train_dissolver` (:mod:`~dia_augment.train.dissolver`): a DDPM dissolver, configured by
  :class:`DissolverTrainConfig`.

Both share the loop, the checkpoint format, the run-folder policy (``run.json``; refuse, resume or
overwrite), the seed derivation and the DataLoader.
"""

from dia_augment.train.config import TRAIN_MODES, DissolverTrainConfig, TrainConfig
from dia_augment.train.contrastive import load_model, train_model
from dia_augment.train.dissolver import denoising_loss, train_dissolver
from dia_augment.utils.distributed import all_gather_with_grad
from dia_augment.train.losses import RowLabels, contrastive_loss, contrastive_masks, make_row_labels, masked_nt_xent
from dia_augment.train.optim import LARS, warmup_cosine_schedule
from dia_augment.train.run_folder import check_run_fits
from dia_augment.train.step import LossParts, TrainingRows, build_rows, training_loss

__all__ = ["LARS", "TRAIN_MODES", "DissolverTrainConfig", "LossParts", "RowLabels", "TrainConfig", "TrainingRows",
           "all_gather_with_grad", "build_rows", "check_run_fits", "contrastive_loss", "contrastive_masks",
           "denoising_loss", "load_model", "make_row_labels", "masked_nt_xent", "train_dissolver", "train_model",
           "training_loss", "warmup_cosine_schedule"]
