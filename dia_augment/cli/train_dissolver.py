"""``dia-augment train-dissolver``: train a DDPM dissolver on a data set's normal training images.

Every field of ``DissolverTrainConfig`` is an option; ``--train-steps`` counts optimiser steps
(the dissolving strength, a diffusion step, is ``--step-range`` elsewhere). Before the dissolver
is saved, the lesion probe checks it on the run's held-out images
(:func:`~dia_augment.probe.probe_readiness`): ``--out``/``probe/probe.json`` and ``probe.png``.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

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
    """Run ``dia-augment train-dissolver`` holding the run folder's lock (a second writer into ``--out`` is refused)."""
    from dia_augment.utils.lock import run_folder_lock

    with run_folder_lock(args.out, "dia-augment train-dissolver"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Load the normal training images, train and probe the final dissolver; print where the dissolver is."""
    from dia_augment.data import load_one_class
    from dia_augment.probe import probe_readiness
    from dia_augment.train import train_dissolver

    config = config_from_args(DissolverTrainConfig, args)  # checked before any work
    data = load_one_class(args.data, "train", normal_class=args.normal_class, seed=args.data_seed,
                          **data_kwargs(args))
    print(f"training on {len(data)} images ({data.normal_class}) of {data_source(args)}")
    probe = functools.partial(probe_readiness, out_dir=Path(args.out) / "probe", seed=config.seed)  # seconds
    train_dissolver(config, data.images, args.out, resume=args.resume, overwrite=args.overwrite,
                    data_source=data_source(args), final_check=probe)
    print(f"dissolver saved to {args.out}/dissolver (metrics: {args.out}/metrics.jsonl, grids: {args.out}/grids/)")
    return 0
