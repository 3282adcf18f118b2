"""``dia-augment train-dissolver``: train a DDPM dissolver on a data set's normal training images.

Every field of ``DissolverTrainConfig`` is an option; ``--train-steps`` counts optimiser steps
(the dissolving strength, a diffusion step, is ``--step-range`` elsewhere). Before the dissolver
is saved, the lesion probe checks it on the run's held-out images
(:func:`~dia_augment.probe.probe_readiness`): ``--out``/``probe/probe.json`` and ``probe.png``.

``run.json`` records the data options and the command's options: ``--config RUN/run.json --out NEW``
replays the run (``--config FILE`` reads any JSON file of options, ``--print-config`` prints them).
``--log-with tensorboard|wandb|mlflow|all`` also sends the losses, the held-out readiness loss, the
dissolve grids and ``readiness.png`` to experiment trackers (``docs/tracking.md``).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from dia_augment.cli._config_options import (add_config_file_options, add_config_options, apply_config_file,
                                             config_from_args, naming_the_file, print_config, record_command)
from dia_augment.cli.train import add_recipe_option, add_run_options, check_run_options
from dia_augment.data.arguments import data_kwargs, data_source
from dia_augment.train.config import DissolverTrainConfig

NAME = "train-dissolver"
HELP = "Train a DDPM dissolver on the normal training images of a data set."
#: What ``--recipe reference`` sets beyond the DissolverTrainConfig fields: RGB images, as the paper's code reads them.
RECIPE_OPTIONS = {"channels": 3}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sub-command's options."""
    add_run_options(parser)
    add_recipe_option(parser, DissolverTrainConfig, RECIPE_OPTIONS)
    add_config_options(parser, DissolverTrainConfig)
    add_config_file_options(parser, recipe={**DissolverTrainConfig.reference().to_dict(), **RECIPE_OPTIONS})


def run(args: argparse.Namespace) -> int:
    """Run ``dia-augment train-dissolver`` holding the run folder's lock (a second writer into ``--out`` is refused)."""
    from dia_augment.utils.lock import run_folder_lock

    args = apply_config_file(args, NAME, "dissolver")
    if args.print_config:
        with naming_the_file(args):
            config_from_args(DissolverTrainConfig, args)
        print_config(args)
        return 0
    check_run_options(args)
    with run_folder_lock(args.out, "dia-augment train-dissolver"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Load the normal training images, train and probe the final dissolver; print where the dissolver is."""
    from dia_augment.data import load_one_class
    from dia_augment.data.options import DataOptions
    from dia_augment.probe import probe_readiness
    from dia_augment.train import train_dissolver
    from dia_augment.train.log import resolve_trackers
    from dia_augment.train.run_folder import read_run

    resolve_trackers(args.log_with)  # a tracker that is not installed fails before any work
    with naming_the_file(args):
        config = config_from_args(DissolverTrainConfig, args)  # checked before any work
    data = load_one_class(args.data, "train", normal_class=args.normal_class, seed=args.data_seed,
                          **data_kwargs(args))
    print(f"training on {len(data)} images ({data.normal_class}) of {data_source(args)}")
    options = DataOptions(data=args.data, normal_class=data.normal_class, data_seed=args.data_seed,
                          **data_kwargs(args)).to_dict()
    saved = read_run(args.out) if args.resume else None
    if saved is not None and "options" not in saved["data"]:
        options = None  # a run recorded before the dissolver's data options were: resumed as it was recorded
    probe = functools.partial(probe_readiness, out_dir=Path(args.out) / "probe", seed=config.seed)  # seconds
    train_dissolver(config, data.images, args.out, resume=args.resume, overwrite=args.overwrite,
                    data_source=data_source(args), data_options=options, final_check=probe, log_with=args.log_with)
    record_command(args.out, NAME, args)  # what --config RUN/run.json replays
    print(f"dissolver saved to {args.out}/dissolver (metrics: {args.out}/metrics.jsonl, grids: {args.out}/grids/)")
    return 0
