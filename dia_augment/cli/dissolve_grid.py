"""``dia-augment dissolve-grid``: show what a dissolver does to a few images of a data set."""

from __future__ import annotations

import argparse

from dia_augment.cli._dissolver_options import add_dissolver_options, dissolver_from_args
from dia_augment.data.arguments import add_data_arguments, data_kwargs
from dia_augment.errors import InputError
from dia_augment.filters.grid import GRID_STEPS

NAME = "dissolve-grid"
HELP = "Write a PNG grid of images (rows) dissolved at several steps (columns) by a dissolver."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sub-command's options."""
    add_dissolver_options(parser)
    parser.add_argument("--data", required=True, help="'embedded', a folder, a MedMNIST .npz, or a recipe such as 'sarscov2:/path'")
    parser.add_argument("--split", choices=("train", "test"), default="train", help="train: normal images only")
    parser.add_argument("--normal-class", nargs="+", default=None)
    parser.add_argument("--image-size", type=int, default=None, help="resize the images to this side first")
    parser.add_argument("--num-images", type=int, default=8, help="rows of the grid")
    parser.add_argument("--steps", type=int, nargs="+", default=list(GRID_STEPS), help="the columns' diffusion steps t")
    parser.add_argument("--seed", type=int, default=0, help="picks the images")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the train / test split of sources without one")
    parser.add_argument("--scale", type=int, default=2, help="integer enlargement of the PNG")
    parser.add_argument("--out", required=True, help="the .png file to write")
    add_data_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Load the data and the dissolver, and write the grid."""
    import torch

    from dia_augment.data import load_one_class
    from dia_augment.filters.grid import class_row_labels, save_dissolve_grid

    if args.num_images < 1:
        raise InputError(f"--num-images must be at least 1; got {args.num_images}")
    dissolver = dissolver_from_args(args)
    if args.scale < 1:
        raise InputError(f"--scale must be at least 1; got {args.scale}")
    bad = [t for t in args.steps if not 0 <= t < dissolver.num_train_timesteps]
    if bad:
        raise InputError(f"--steps {bad} are outside the dissolver's steps [0, {dissolver.num_train_timesteps})")
    normal = args.normal_class[0] if args.normal_class and len(args.normal_class) == 1 else args.normal_class
    data = load_one_class(args.data, args.split, normal_class=normal, load_size=args.image_size,
                          seed=args.data_seed, **data_kwargs(args, args.split))
    generator = torch.Generator().manual_seed(args.seed)
    chosen = torch.randperm(len(data), generator=generator)[: args.num_images].sort().values
    rows = class_row_labels(data.labels[chosen], data.classes[chosen], data.class_names)
    save_dissolve_grid(dissolver, data.images[chosen], args.out, steps=args.steps, scale=args.scale, row_labels=rows)
    print(f"wrote {args.out}: {len(chosen)} images x (original + t = {', '.join(map(str, args.steps))})")
    return 0
