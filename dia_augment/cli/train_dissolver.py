"""``dia-augment train-dissolver``: train a DDPM dissolver on a data set's normal training images."""

from __future__ import annotations

import argparse

from dia_augment.filters.presets import UNET_PRESETS
from dia_augment.filters.training import LOSSES

NAME = "train-dissolver"
HELP = "Train a DDPM dissolver on the normal training images of a data set."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sub-command's options."""
    parser.add_argument("--data", required=True, help="'embedded', a folder, a MedMNIST .npz, or a recipe such as 'sarscov2:/path'")
    parser.add_argument("--out", required=True, help="the run folder (checkpoints, metrics, grids, dissolver/)")
    parser.add_argument("--normal-class", nargs="+", default=None, help="the normal class(es) (default: the data set's)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=None, help="convert the images to this many channels")
    parser.add_argument("--resolution", type=int, default=32, help="the dissolver's working resolution")
    parser.add_argument("--preset", choices=sorted(UNET_PRESETS), default="tiny", help="the UNet size")
    length = parser.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=int, help="optimisation steps")
    length.add_argument("--epochs", type=int, help="passes over the training images")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--loss", choices=LOSSES, default="l1")
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--eval-every", type=int, default=None, help="steps between readiness checks (default: each epoch)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the model, the held-out images and every random draw")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the train / test split of data sets without one")
    parser.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Load the normal training images and train; print where the dissolver is."""
    from dia_augment.data import load_one_class
    from dia_augment.filters.training import train_dissolver

    normal = args.normal_class[0] if args.normal_class and len(args.normal_class) == 1 else args.normal_class
    data = load_one_class(args.data, "train", normal_class=normal, channels=args.channels, seed=args.split_seed)
    print(f"training on {len(data)} normal images ({data.normal_class}) of {args.data}")
    train_dissolver(
        data.images,
        args.out,
        resolution=args.resolution,
        preset=args.preset,
        steps=args.steps,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        loss=args.loss,
        ema_decay=args.ema_decay,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        resume=args.resume,
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        progress=not args.no_progress,
    )
    print(f"dissolver saved to {args.out}/dissolver (metrics: {args.out}/metrics.jsonl, grids: {args.out}/grids/)")
    return 0
