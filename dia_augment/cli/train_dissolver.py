"""``dia-augment train-dissolver``: train a DDPM dissolver on a data set's normal training images.

Every field of ``DissolverTrainConfig`` is an option; ``--train-steps`` counts optimiser steps
(the dissolving strength, a diffusion step, is ``--step-range`` elsewhere).
"""

from __future__ import annotations

import argparse

from dia_augment.cli._config_options import add_config_options, config_from_args
from dia_augment.cli.train import add_recipe_option, add_run_options
from dia_augment.data.arguments import data_kwargs, data_source
from dia_augment.train.config import DissolverTrainConfig

NAME = "train-dissolver"
HELP = "Train a DDPM dissolver on the normal training images of a data set."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sub-command's options."""
    add_run_options(parser)
    add_recipe_option(parser, DissolverTrainConfig, {"channels": 3})
    add_config_options(parser, DissolverTrainConfig)


def run(args: argparse.Namespace) -> int:
    """Load the normal training images and train; print where the dissolver is."""
    from dia_augment.data import load_one_class
    from dia_augment.train import train_dissolver

    config = config_from_args(DissolverTrainConfig, args)  # checked before any work
    data = load_one_class(args.data, "train", normal_class=args.normal_class, seed=args.data_seed,
                          **data_kwargs(args))
    print(f"training on {len(data)} images ({data.normal_class}) of {data_source(args)}")
    train_dissolver(config, data.images, args.out, resume=args.resume, overwrite=args.overwrite,
                    data_source=data_source(args))
    print(f"dissolver saved to {args.out}/dissolver (metrics: {args.out}/metrics.jsonl, grids: {args.out}/grids/)")
    return 0
