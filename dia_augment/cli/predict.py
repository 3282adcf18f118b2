"""``dia-augment predict``: run a saved detector on new files, per image and per patient.

Reads what training reads, with the reader training used: images, DICOM files (single or
multi-frame, with or without a suffix), NIfTI volumes, folders of them, glob patterns and CSV
manifests (``manifest:PATH.csv``). Files are read as the detector's training read its own
(window, slice axis and range, load size, channels, as recorded in the detector); an option
given here that contradicts the record wins, with a one-line warning naming both values.

Writes into ``--out`` (at the end, each file atomically; a run in which no image can be scored
writes nothing): ``predictions.csv`` (one row per image: path, frame or slice index, score,
anomalous, status, note, and the image's groups; images that cannot be used are listed with the
reason), ``groups.csv`` (one row per volume, series, study, patient or manifest group: max, mean
and top-k mean of its images' scores, and the call at the detector's group threshold, or
``uncalibrated``), ``score_histogram.png``, ``top_anomalies.png`` (the most anomalous images as
read, at the scan's resolution) and ``summary.json``. Scores are anomaly scores: higher = more
anomalous. ``--maps METHOD`` draws anomaly maps over the gallery (``top_anomaly_maps.safetensors``
keeps them). A second writer into the same ``--out`` is refused while this one runs.

Example::

    dia-augment predict --detector runs/dia/detector --images new_scans/ --out runs/dia/predict
"""

from __future__ import annotations

import argparse

NAME = "predict"
HELP = ("Score new files (images, DICOM, NIfTI, manifests) with a saved detector; write predictions.csv, groups.csv "
        "(per patient / volume), a score histogram and a gallery of the top-k.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``predict`` options to ``parser``."""
    from dia_augment.data.arguments import parse_slices, window_option
    from dia_augment.data.window import WINDOW_PRESETS
    from dia_augment.detect.groups import AGGREGATIONS, DEFAULT_AGGREGATION

    parser.add_argument("--detector", required=True, help="a detector folder (save_pretrained) or a hub id org/name")
    parser.add_argument("--images", required=True, nargs="+",
                        help="files (images, DICOM with or without a suffix, NIfTI), folders (searched recursively), "
                        "glob patterns, or CSV manifests (manifest:PATH or PATH.csv)")
    parser.add_argument("--out", required=True, help="the folder for predictions.csv, groups.csv, the histogram and "
                        "the gallery")
    parser.add_argument("--convert", action="store_true", help="convert images of another channel count or size to the "
                        "detector's input (noted per image) instead of skipping them")
    parser.add_argument("--batch-size", type=int, default=64, help="images read and scored at a time")
    parser.add_argument("--top-k", type=int, default=16, help="images in the gallery of the most anomalous")
    parser.add_argument("--group-top-k", type=int, default=None,
                        help="the k of a group's top-k mean score (default: the detector's group calibration's, else 3)")
    parser.add_argument("--group-score", choices=AGGREGATIONS, default=DEFAULT_AGGREGATION,
                        help="the group score a patient / volume is called on: its images' max, mean or top-k mean")
    reading = parser.add_argument_group("reading the files (default: as the detector's training read its own)")
    reading.add_argument("--window", type=window_option, default=None,
                         help=f"intensity window of DICOM / NIfTI files: {', '.join(WINDOW_PRESETS)}, file, minmax or "
                         "CENTER,WIDTH")
    reading.add_argument("--slice-axis", type=int, choices=(0, 1, 2), default=None,
                         help="axis along which NIfTI volumes are sliced (2: axial)")
    reading.add_argument("--slices", type=parse_slices, default=None, metavar="START:STOP",
                         help="keep these NIfTI slices only (write --slices=-4: for a negative start)")
    reading.add_argument("--load-size", type=int, default=None, help="resize the images to this square size")
    reading.add_argument("--channels", type=int, choices=(1, 3), default=None, help="convert the images to this many channels")
    parser.add_argument("--maps", default=None, choices=["smoothgrad", "integrated", "occlusion", "residual"],
                        help="draw this kind of anomaly map over the gallery's images (and save them)")
    parser.add_argument("--maps-dissolver", default=None,
                        help="a saved DDPM dissolver folder for the occlusion / integrated / residual maps (default: Gaussian blur)")
    parser.add_argument("--maps-step", type=int, default=60, help="the dissolving step of the maps' dissolved image")
    parser.add_argument("--device", default="cpu", help="torch device for the model")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")


def _describe(reading) -> str:  # noqa: ANN001
    from dia_augment.data.window import parse_window

    window = parse_window(reading.window)
    shown = f"{reading.window} ({window[0]:g}, {window[1]:g} HU)" if isinstance(window, tuple) else (
        reading.window or "each file's own, else min-max")
    size = f"{reading.load_size} px" if reading.load_size else "as stored"
    return f"window {shown}, size {size}, channels {reading.channels or 'as stored'}"


def run(args: argparse.Namespace) -> int:
    """Run ``dia-augment predict``; returns the exit status."""
    from dia_augment.data.items import expand_inputs
    from dia_augment.detect import AnomalyDetector
    from dia_augment.detect.predict import predict_files
    from dia_augment.detect.reading import Reading
    from dia_augment.errors import MissingFileError
    from dia_augment.utils.checks import check_int

    check_int(args.batch_size, "--batch-size")
    check_int(args.top_k, "--top-k", minimum=0)
    check_int(args.group_top_k, "--group-top-k", allow_none=True)
    check_int(args.load_size, "--load-size", allow_none=True)
    try:
        expand_inputs(args.images)  # a missing input fails before the model is loaded
    except MissingFileError as err:
        raise MissingFileError(f"--images: {err}") from err
    map_options = {"step": args.maps_step}
    if args.maps_dissolver is not None:
        from dia_augment.filters import DDPMDissolving

        map_options["dissolver"] = DDPMDissolving.from_pretrained(args.maps_dissolver)
    detector = AnomalyDetector.from_pretrained(args.detector, device=args.device, progress=False)
    reading = Reading.of_detector(detector).with_given(window=args.window, slice_axis=args.slice_axis,
                                                       slices=args.slices, load_size=args.load_size,
                                                       channels=args.channels)
    print(f"detector: {detector.calibrated_threshold().describe()}; score = {detector.method} (higher = more anomalous)")
    print(f"reading: {_describe(reading)}")
    summary = predict_files(detector, args.images, args.out, reading=reading, convert=args.convert,
                            batch_size=args.batch_size, top_k=args.top_k, group_k=args.group_top_k,
                            group_score=args.group_score, maps=args.maps, map_options=map_options,
                            progress=args.progress)
    print(summary.line())
    return 0
