"""``dia-augment train``: train a model on the normal images of a data set (SimCLR, CSI or DIA).

Writes into ``--out``: ``model.safetensors`` and ``config.json`` (what ``dia-augment score``
reads), ``run.json`` (what made the run), ``metrics.jsonl`` with ``loss.png`` beside it, the
last checkpoint, and ``detector/``: the model with its CSI statistics and a threshold calibrated
on a seeded ``--calibration-fraction`` of the normal images held out of training (what
``dia-augment predict`` reads). When the data has groups (``--group-by``, a manifest's ``group``
column, NIfTI volumes), the hold-out is whole groups (patients, volumes): no patient has images
on both sides, and the detector also gets thresholds per patient (or volume), calibrated on the
held-out groups. A folder holding another run is refused: ``--resume`` continues it (same
settings), ``--overwrite`` replaces it. Every field of ``TrainConfig`` is an option.
``--recipe reference`` sets the paper code's recipe (``TrainConfig.reference()``) for every
option still at its default; options given after it win.

``--config FILE`` reads the options from a JSON file (``--print-config`` prints them in that form
and exits); ``--config RUN/run.json --out NEW`` replays a run: ``run.json`` records the options of
the command that made it. ``--log-with tensorboard|wandb|mlflow|all`` also sends the log to
experiment trackers (``docs/tracking.md``).

Example::

    dia-augment train --data sarscov2:../shared/data/sarscov2-ct --mode dia --dissolver ddpm \\
        --dissolver-path runs/ddpm32 --shift rotation --epochs 25 --out runs/dia
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from dia_augment.cli._config_options import (add_config_file_options, add_config_options, apply_config_file,
                                             config_from_args, naming_the_file, print_config, record_command)
from dia_augment.data.arguments import add_data_arguments, data_kwargs, data_source
from dia_augment.errors import ConfigError
from dia_augment.filters import DISSOLVER_NAMES
from dia_augment.filters.ddpm import DISSOLVER_WEIGHTS, INPUT_RANGES
from dia_augment.shift.training_type import TRAINING_TYPE_BACKENDS, parse_training_type
from dia_augment.score.config import ScoreConfig
from dia_augment.train.config import TrainConfig
from dia_augment.train.log import TRACKERS

#: The ScoreConfig fields ``train`` takes for the detector it saves (the others are ``score``'s).
DETECTOR_SCORE_OPTIONS = ("num_views", "resize_factor", "resize_fix", "hflip", "colour", "fallback")

NAME = "train"
HELP = "Train a model on the normal training images (SimCLR, CSI or DIA); write model.safetensors and config.json."


def add_run_options(parser: argparse.ArgumentParser, test_split: bool = False) -> None:
    """The options every training command shares: the data, the run folder and its policy, the trackers
    (``test_split``: also ``--ood-data``, for a run whose test split is scored)."""
    parser.add_argument("--data", default=None, help="'embedded', a class folder, a MedMNIST .npz, or RECIPE:ROOT "
                        "(sarscov2, aptos2019, kermany_oct, kvasir); required, here or in --config")
    parser.add_argument("--normal-class", default=None, help="the normal class (folder name or label)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the train / test split of sources without one")
    parser.add_argument("--out", default=None, help="the run folder (a new one per run); required unless --print-config")
    policy = parser.add_mutually_exclusive_group()
    policy.add_argument("--resume", action="store_true", help="continue the run in --out (same settings)")
    policy.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    parser.add_argument("--log-with", nargs="+", choices=[*TRACKERS, "all"], default=None, metavar="TRACKER",
                        help=f"also send the log (losses, lr, images/s, figures) to experiment trackers: "
                        f"{', '.join(TRACKERS)} or all (every one installed); metrics.jsonl is written all the same")
    add_data_arguments(parser, test_split=test_split)


def check_run_options(args: argparse.Namespace) -> None:
    """Refuse a command line (with its config file) that names no ``--data`` or no ``--out``."""
    for name in ("data", "out"):
        if getattr(args, name) is None:
            raise ConfigError(f"--{name} is required: give it on the command line"
                              + (" or in the --config file" if name == "data" else ""))


#: What ``--recipe reference`` of ``train`` sets beyond the TrainConfig fields: no calibration hold-out (the paper
#: trains on every normal image), RGB images, and the dissolver as the paper's code dissolves.
TRAIN_RECIPE_OPTIONS = {"calibration_fraction": 0.0, "channels": 3, "dissolver_weights": "online",
                        "dissolver_input_range": "reference"}


def add_recipe_option(parser: argparse.ArgumentParser, cls: type, extra: dict | None = None) -> None:
    """``--recipe reference``: ``cls.reference()``'s value (and ``extra``'s) for every option still at its default.

    Options given after it win; options given before it keep their value.
    """

    class RecipeAction(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            setattr(namespace, self.dest, values)
            recipe = {**cls.reference().to_dict(), **(extra or {})}
            for name, value in recipe.items():
                if hasattr(namespace, name) and getattr(namespace, name) == parser.get_default(name):
                    setattr(namespace, name, tuple(value) if isinstance(value, list) else value)

    parser.add_argument("--recipe", choices=["reference"], default=None, action=RecipeAction,
                        help=f"'reference': the paper code's recipe ({cls.__name__}.reference()"
                        + (", " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in (extra or {}).items()) if extra
                           else "") + ") for the options not given before it")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` options to ``parser``."""
    add_run_options(parser, test_split=True)
    add_recipe_option(parser, TrainConfig, TRAIN_RECIPE_OPTIONS)
    parser.add_argument("--load-size", type=int, default=None, help="resize the files to this size when loading")
    parser.add_argument("--calibration-fraction", type=float, default=0.2,
                        help="share of the normal images held out of training to calibrate the detector's threshold "
                        "(keeping 95%% of them below it); 0: train on all and save no detector")
    parser.add_argument("--training-type", default=None,
                        help="the paper's names, e.g. diffusion_rotation, blurgaussian_cutperm or rotation; sets "
                        "--dissolver, --shift and --mode (dia, or csi when it names no dissolver)")
    backends = sorted(set(TRAINING_TYPE_BACKENDS.values()) | set(DISSOLVER_NAMES))
    parser.add_argument("--dissolver", choices=backends, default=None, help="dissolving backend of a dia run; the "
                        "paper's blur baselines are gaussian-reference / median-reference with --dissolve-all-views "
                        "(gaussian / median are our step-dependent blurs of the dissolved view)")
    parser.add_argument("--dissolver-path", default=None, help="saved dissolver folder (ddpm) or pipeline (sd)")
    parser.add_argument("--dissolver-resolution", type=int, default=None,
                        help="the dissolver's working resolution (required for resize)")
    parser.add_argument("--dissolver-weights", choices=list(DISSOLVER_WEIGHTS), default="ema",
                        help="ddpm: the saved EMA weights, or the online ones the paper's code dissolves with")
    parser.add_argument("--dissolver-input-range", choices=list(INPUT_RANGES), default="explicit",
                        help="ddpm: 'reference' feeds [0, 1] images to the [-1, 1] model as the paper's code does "
                        "(an ablation of a flaw)")
    add_config_options(parser, TrainConfig)
    add_config_options(parser, ScoreConfig, only=DETECTOR_SCORE_OPTIONS,
                       title="the saved detector's test-time views (ScoreConfig)")
    add_config_file_options(parser, recipe={**TrainConfig.reference().to_dict(), **TRAIN_RECIPE_OPTIONS})


def score_config_from_args(args: argparse.Namespace, seed: int) -> ScoreConfig:
    """The saved detector's :class:`ScoreConfig`: the options given, the rest as ``--recipe`` sets them.

    The views are seeded with the run's seed; under ``--recipe reference`` the paper code's evaluation
    (rotation, no fallback) fills what is not given.
    """
    base = ScoreConfig.reference() if getattr(args, "recipe", None) == "reference" else ScoreConfig()
    given = {name: getattr(args, name) for name in DETECTOR_SCORE_OPTIONS
             if getattr(args, name) != getattr(ScoreConfig(), name)}
    return dataclasses.replace(base, seed=seed, **given)


def resolve_objective(args: argparse.Namespace) -> tuple[str, str | None, str]:
    """``(mode, dissolver backend, shift)`` from ``--mode``, ``--dissolver``, ``--shift`` and ``--training-type``.

    Examples:
        >>> resolve_objective(argparse.Namespace(training_type="blurmedian_cutperm", mode="csi", dissolver=None, shift="rotation"))
        ('dia', 'median-reference', 'cutperm')
    """
    if args.training_type is not None:
        backend, shift = parse_training_type(args.training_type)
        return ("dia" if backend else "csi"), backend, shift
    if args.mode == "dia" and args.dissolver is None:
        raise ConfigError("--mode dia needs --dissolver (or --training-type)")
    return args.mode, (args.dissolver if args.mode == "dia" else None), args.shift


def run(args: argparse.Namespace) -> int:
    """Run ``dia-augment train`` holding the run folder's lock (a second writer into ``--out`` is refused).

    The options of ``--config`` join those given first; ``--print-config`` prints them (checked) and returns.
    """
    from dia_augment.utils.lock import run_folder_lock

    args = apply_config_file(args, NAME, "contrastive", DETECTOR_SCORE_OPTIONS)
    if args.print_config:
        with naming_the_file(args):
            config_from_args(TrainConfig, args)
            score_config_from_args(args, 0)
        print_config(args)
        return 0
    check_run_options(args)
    with run_folder_lock(args.out, "dia-augment train"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run ``dia-augment train``; returns the exit status."""
    from dia_augment.data.options import DataOptions, load_split
    from dia_augment.detect.run_data import SCORE_CONFIG_FILE, save_fingerprints, training_indices
    from dia_augment.utils.io import atomic_write_json
    from dia_augment.train import train_model
    from dia_augment.train.log import resolve_trackers

    resolve_trackers(args.log_with)  # a tracker that is not installed fails before any work
    with naming_the_file(args):
        mode, backend, shift = resolve_objective(args)
        # the paper's blur training types blur every view, as its code does
        all_views = {"dissolve_all_views": True} if args.training_type and args.training_type.startswith("blur") else {}
        config = config_from_args(TrainConfig, args, mode=mode, shift=shift, **all_views)  # checked before any work
        if not 0 <= args.calibration_fraction < 1:
            raise ConfigError(f"--calibration-fraction must be in [0, 1); got {args.calibration_fraction}")
        score_config = score_config_from_args(args, config.seed)  # checked before any work
        dissolver = None
        if backend is not None:
            from dia_augment.filters import make_dissolver

            options = ({"weights": args.dissolver_weights, "input_range": args.dissolver_input_range}
                       if backend == "ddpm" else {})
            dissolver = make_dissolver(backend, path=args.dissolver_path, resolution=args.dissolver_resolution,
                                       **options)
    options = DataOptions(data=args.data, normal_class=args.normal_class, data_seed=args.data_seed,
                          load_size=args.load_size, **data_kwargs(args), ood_data=args.ood_data,
                          calibration_fraction=args.calibration_fraction,
                          calibration_seed=args.data_seed)
    data = load_split(options, "train")
    # a source with groups (patients, volumes) holds whole groups out, so that no patient is on both sides
    calibration_by = data.group_level if args.calibration_fraction and data.groups is not None else None
    options = dataclasses.replace(options, normal_class=data.normal_class, calibration_by=calibration_by)
    images, calibration, groups, calibration_groups = data.images, None, None, None
    indices = training_indices(len(data), options, data.groups)
    if indices is not None:
        rest, held = indices
        images, calibration = data.images[rest], data.images[held]
        if calibration_by is not None:
            groups, calibration_groups = ([data.groups[i] for i in side.tolist()] for side in (rest, held))
    model = train_model(config, images, dissolver, out_dir=args.out, resume=args.resume, overwrite=args.overwrite,
                        data_source=data_source(args), data_options=options.to_dict(), log_with=args.log_with)
    record_command(args.out, NAME, args)  # what --config RUN/run.json replays
    save_fingerprints(args.out, images)
    atomic_write_json(Path(args.out) / SCORE_CONFIG_FILE, score_config.to_dict())
    print(f"trained {mode} ({shift}{', ' + backend if backend else ''}) on {len(images)} normal images -> {args.out}")
    if calibration is not None:
        from dia_augment.detect import build_detector

        provenance = {"data": args.data, "normal_class": data.normal_class, "dissolver": backend,
                      "dissolver_path": args.dissolver_path, "data_options": options.to_dict()}
        detector = build_detector(model, config, images, calibration, score_config, groups=groups,
                                  calibration_groups=calibration_groups, group_level=calibration_by or "group",
                                  provenance=provenance, progress=config.progress)
        folder = detector.save_pretrained(Path(args.out) / "detector")
        print(f"detector -> {folder}: {detector.calibrated_threshold().describe()}")
    return 0
