"""Amplifying training: NT-Xent losses (SimCLR / CSI / DIA), the Accelerate trainer, checkpoints."""

from dia_augment.train.config import TRAIN_MODES, TrainConfig
from dia_augment.train.distributed import all_gather_with_grad
from dia_augment.train.losses import RowLabels, contrastive_loss, contrastive_masks, make_row_labels, masked_nt_xent
from dia_augment.train.optim import LARS, warmup_cosine_schedule
from dia_augment.train.step import LossParts, TrainingRows, build_rows, dissolve_batch, training_loss
from dia_augment.train.trainer import load_model, train

__all__ = [
    "LARS",
    "TRAIN_MODES",
    "LossParts",
    "RowLabels",
    "TrainConfig",
    "TrainingRows",
    "all_gather_with_grad",
    "build_rows",
    "contrastive_loss",
    "contrastive_masks",
    "dissolve_batch",
    "load_model",
    "make_row_labels",
    "masked_nt_xent",
    "train",
    "training_loss",
    "warmup_cosine_schedule",
]
