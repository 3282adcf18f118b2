"""``dia-augment train``: train a model on the normal images of a data set (SimCLR, CSI or DIA).

Writes into ``--out``: ``model.safetensors`` and ``config.json`` (what ``dia-augment score``
reads), ``metrics.jsonl`` and the last checkpoint (``--resume`` continues from it).

Example::

    dia-augment train --data sarscov2:../shared/data/sarscov2-ct --mode dia --dissolver ddpm \\
        --dissolver-path runs/ddpm32 --shift rotation --epochs 25 --out runs/dia
"""

from __future__ import annotations

import argparse

from dia_augment.models.dia_resnet import MODEL_NAMES
from dia_augment.shift.training_type import TRAINING_TYPE_BACKENDS, parse_training_type
from dia_augment.shift.transforms import SHIFT_KINDS
from dia_augment.train.config import MIXED_PRECISION, OPTIMIZERS, TRAIN_MODES, TrainConfig

NAME = "train"
HELP = "Train a model on the normal training images (SimCLR, CSI or DIA); write model.safetensors and config.json."

_DEFAULTS = TrainConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` options to ``parser``."""
    parser.add_argument(
        "--data",
        required=True,
        help="'embedded', a class folder, a MedMNIST .npz, or RECIPE:ROOT (sarscov2, aptos2019, kermany_oct, kvasir)",
    )
    parser.add_argument("--normal-class", default=None, help="the normal class (folder name or label)")
    parser.add_argument("--out", required=True, help="the folder for the model, the checkpoints and metrics.jsonl")
    parser.add_argument("--mode", choices=TRAIN_MODES, default="dia", help="training objective (default dia)")
    parser.add_argument(
        "--training-type",
        default=None,
        help="the paper's names, e.g. diffusion_rotation, blurgaussian_cutperm or rotation; sets --dissolver, "
        "--shift and --mode (dia, or csi when it names no dissolver)",
    )
    backends = sorted(set(TRAINING_TYPE_BACKENDS.values()))
    parser.add_argument("--dissolver", choices=backends, default=None, help="dissolving backend of a dia run")
    parser.add_argument("--dissolver-path", default=None, help="saved dissolver folder (ddpm) or pipeline (sd)")
    parser.add_argument(
        "--dissolver-resolution", type=int, default=None, help="the dissolver's working resolution (required for resize)"
    )
    parser.add_argument(
        "--step-range", type=int, nargs=2, metavar=("LOW", "HIGH"), default=None,
        help="dissolving steps are drawn from [LOW, HIGH) (default: the dissolver's own range)",
    )
    parser.add_argument("--shift", choices=SHIFT_KINDS, default=_DEFAULTS.shift, help="shift transformation")
    parser.add_argument("--model", choices=sorted(MODEL_NAMES), default=_DEFAULTS.model, help="backbone")
    parser.add_argument("--width", type=int, default=_DEFAULTS.width, help=f"ResNet width (default {_DEFAULTS.width}; 64 = standard)")
    parser.add_argument("--image-size", type=int, default=_DEFAULTS.image_size, help="the model's input size (SimCLR crop)")
    parser.add_argument("--load-size", type=int, default=None, help="resize the files to this size when loading")
    parser.add_argument("--epochs", type=int, default=_DEFAULTS.epochs, help=f"default {_DEFAULTS.epochs}")
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size, help="images per step, all processes")
    parser.add_argument("--lr", type=float, default=_DEFAULTS.lr, help=f"peak learning rate (default {_DEFAULTS.lr})")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=_DEFAULTS.optimizer, help="sgd or lars")
    parser.add_argument("--warmup-epochs", type=float, default=_DEFAULTS.warmup_epochs, help="linear warm-up length")
    parser.add_argument("--temperature", type=float, default=_DEFAULTS.temperature, help="NT-Xent temperature")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model, data order and augmentations")
    parser.add_argument(
        "--data-seed", type=int, default=0, help="split seed for sources without an official split (default 0)"
    )
    parser.add_argument("--mixed-precision", choices=MIXED_PRECISION, default="no", help="through Accelerate")
    parser.add_argument("--checkpoint-every", type=int, default=0, help="also checkpoint every N steps")
    parser.add_argument("--pretrained", default=None, help="local ImageNet ResNet-18 weights for the backbone")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")


def resolve_objective(args: argparse.Namespace) -> tuple[str, str | None, str]:
    """``(mode, dissolver backend, shift)`` from ``--mode``, ``--dissolver``, ``--shift`` and ``--training-type``.

    Examples:
        >>> resolve_objective(argparse.Namespace(training_type="blurmedian_cutperm", mode="csi", dissolver=None, shift="rotation"))
        ('dia', 'median', 'cutperm')
    """
    if args.training_type is not None:
        backend, shift = parse_training_type(args.training_type)
        return ("dia" if backend else "csi"), backend, shift
    if args.mode == "dia" and args.dissolver is None:
        raise ValueError("--mode dia needs --dissolver (or --training-type)")
    return args.mode, (args.dissolver if args.mode == "dia" else None), args.shift


def run(args: argparse.Namespace) -> int:
    """Run ``dia-augment train``; returns the exit status."""
    from dia_augment.data import load_one_class
    from dia_augment.train import TrainConfig, train

    mode, backend, shift = resolve_objective(args)
    dissolver = None
    if backend is not None:
        from dia_augment.filters import make_dissolver

        dissolver = make_dissolver(backend, path=args.dissolver_path, resolution=args.dissolver_resolution)
    data = load_one_class(args.data, "train", args.normal_class, image_size=args.load_size, seed=args.data_seed)
    config = TrainConfig(
        mode=mode,
        shift=shift,
        model=args.model,
        width=args.width,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        warmup_epochs=args.warmup_epochs,
        temperature=args.temperature,
        step_range=tuple(args.step_range) if args.step_range else None,
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        checkpoint_every=args.checkpoint_every,
        pretrained=args.pretrained,
        progress=args.progress,
    )
    train(config, data.images, dissolver, out_dir=args.out, resume=args.resume)
    print(f"trained {mode} ({shift}{', ' + backend if backend else ''}) on {len(data.images)} normal images -> {args.out}")
    return 0
