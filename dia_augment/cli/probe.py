"""``dia-augment probe``: does a dissolver erase small lesions while keeping the anatomy?

On twins (clean, with lesions), for each step: the share of the lesion signal the dissolve
removes, and how much it changes the anatomy outside the lesions, beside the dissolver's resize
round trip alone. The twins are the embedded set's anomalies and their clean versions
(``--data embedded``), or synthetic lesions pasted into the normal images of any other data set
(its test split by default: images the dissolver did not train on).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dia_augment.cli._dissolver_options import add_dissolver_options, dissolver_from_args
from dia_augment.probe.probe import PROBE_STEPS

if TYPE_CHECKING:
    from torch import Tensor

NAME = "probe"
HELP = "Measure how much of small lesions a dissolver erases against how much anatomy it changes (the lesion probe)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sub-command's options."""
    add_dissolver_options(parser)
    parser.add_argument("--data", default="embedded", help="'embedded' (its own twins), or a folder, .npz or recipe "
                        "whose normal images get pasted lesions")
    parser.add_argument("--split", choices=("train", "test"), default="test", help="where the normal images come from")
    parser.add_argument("--normal-class", nargs="+", default=None)
    parser.add_argument("--image-size", type=int, default=None, help="resize the images to this side first (embedded: 64)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=None)
    parser.add_argument("--num-images", type=int, default=64, help="the number of twins")
    parser.add_argument("--lesion-sigma", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="the lesions' standard deviation range in pixels (default: 0.6 1.1, in proportion above 64 px)")
    parser.add_argument("--lesion-opacity", type=float, nargs=2, default=(0.6, 0.9), metavar=("LOW", "HIGH"),
                        help="the lesions' opacity (contrast) range in (0, 1]")
    parser.add_argument("--steps", type=int, nargs="+", default=list(PROBE_STEPS))
    parser.add_argument("--batch-size", type=int, default=64, help="twins per dissolver call")
    parser.add_argument("--no-resize-reference", action="store_true", help="skip the resize round trip alone")
    parser.add_argument("--seed", type=int, default=0, help="picks the images, the lesions and any dissolver noise")
    parser.add_argument("--out", required=True, help="the .json file to write")
    parser.add_argument("--plot", default=None, help="also write the plot (erasure vs anatomy change) to this .png")
    parser.add_argument("--no-progress", action="store_true")


def load_twins(args: argparse.Namespace) -> tuple[Tensor, Tensor, Tensor]:
    """The twins the options ask for: ``(clean, lesioned, mask)``."""
    import torch

    from dia_augment.data import EMBEDDED, NORMAL, add_lesions, load_one_class, make_embedded_anomalies
    from dia_augment.errors import ConfigError, DataError

    if args.num_images < 1:
        raise ConfigError(f"--num-images must be at least 1; got {args.num_images}")
    sigma = tuple(args.lesion_sigma) if args.lesion_sigma is not None else None
    opacity = tuple(args.lesion_opacity)
    if args.data == EMBEDDED:
        return make_embedded_anomalies(args.num_images, args.image_size or 64, args.seed, sigma, opacity)
    normal = args.normal_class[0] if args.normal_class and len(args.normal_class) == 1 else args.normal_class
    data = load_one_class(args.data, args.split, normal_class=normal, load_size=args.image_size,
                          channels=args.channels, seed=args.seed)
    images = data.images[data.labels == NORMAL]
    if len(images) == 0:
        raise DataError(f"{args.data} has no normal images in its {args.split} split")
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed))[: args.num_images]
    clean = images[chosen.sort().values].float()
    lesioned, mask = add_lesions(clean, generator=args.seed, lesion_sigma=sigma, lesion_opacity=opacity)
    return clean, lesioned, mask


def run(args: argparse.Namespace) -> int:
    """Build the twins and the dissolver, probe, print the table and write the JSON (and plot)."""
    from dia_augment.probe import format_probe_table, probe_dissolvers, save_probe_results

    dissolver = dissolver_from_args(args)
    clean, lesioned, mask = load_twins(args)
    curves = probe_dissolvers({args.dissolver: dissolver}, clean, lesioned, mask, args.steps,
                              with_resize=not args.no_resize_reference, batch_size=args.batch_size,
                              seed=args.seed, progress=not args.no_progress)
    meta = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    meta.update(num_twins=len(clean), image_shape=list(clean.shape[1:]), lesion_pixels=float(mask.float().mean()))
    save_probe_results(curves, args.out, args.plot, meta=meta,
                       title=f"Lesion probe: {args.dissolver} on {args.data} ({len(clean)} twins, labels: t)")
    print(format_probe_table(curves))
    print(f"wrote {args.out}" + (f" and {args.plot}" if args.plot else ""))
    return 0
