"""The model card (``README.md``) of a saved detector: what it detects, data, metrics, use, limits.

The card starts with the YAML block the Hugging Face hub reads (library, tags) and is
generated from the detector's own record, so it never disagrees with ``config.json``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["model_card"]


def _table(rows: list[tuple[str, Any]]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows if value is not None]
    return "\n".join(lines)


def _reading_rows(prov: dict[str, Any], pre: dict[str, Any]) -> list[tuple[str, Any]]:
    from dia_augment.detect.reading import describe_reading

    options = prov.get("data_options")
    if options is None:
        return [("reading", "not recorded: read files as the training images were read")]
    info = describe_reading(options, pre.get("channels", 1), tuple(pre.get("input_size", [0, 0])))
    window = info["window"]
    shown = (f"`{window['name']}` (center {window['center']:g}, width {window['width']:g}: "
             f"[{window['low']:g}, {window['high']:g}] in HU / scanner units onto [0, 1], whatever the file's header says)"
             if "center" in window else f"`{window['name']}`: {window['formula']}")
    size = options.get("load_size")
    return [
        ("window (DICOM, NIfTI)", shown),
        ("NIfTI slices", f"axis {options.get('slice_axis', 2)}, slices {options.get('slices') or 'all'}"),
        ("load size", f"{size} x {size} (bilinear, antialiased)" if size else "as stored"),
        ("channels", options.get("channels") or "as stored"),
        ("grouping (patients)", f"`{options['group_by']}`" if options.get("group_by") else None),
        ("calibration hold-out", prov.get("calibration")),
    ]


def _test_threshold_line(metrics: dict[str, Any]) -> str | None:
    if "threshold_false_alarm_rate" not in metrics:
        return None
    counts = f" ({metrics.get('num_normal', '?')} normal, {metrics.get('num_anomaly', '?')} anomalous images)"
    line = (f"On the labelled test split{counts}: false-alarm rate {metrics['threshold_false_alarm_rate']:.1%}, "
            f"sensitivity {metrics['threshold_sensitivity']:.1%}.")
    group = metrics.get("group") or {}
    if "threshold_false_alarm_rate" in group or "threshold_sensitivity" in group:
        parts = [f"{name} {group[key]:.1%}" for name, key in (("false-alarm rate", "threshold_false_alarm_rate"),
                                                               ("sensitivity", "threshold_sensitivity")) if key in group]
        line += (f" Per {group['level']} ({group['num_normal_groups']} normal, {group['num_anomalous_groups']} "
                 f"anomalous): {', '.join(parts)}.")
    return line


def model_card(record: dict[str, Any], threshold_line: str | None, group_line: str | None = None) -> str:
    """The card's Markdown for a detector's ``config.json`` record.

    Args:
        record: the detector's configuration (as written to ``config.json``).
        threshold_line: :meth:`Threshold.describe <dia_augment.detect.Threshold.describe>`, or
            ``None`` when the detector is not calibrated.
        group_line: :meth:`GroupCalibration.describe <dia_augment.detect.groups.GroupCalibration.describe>`,
            or ``None`` when the detector has no group thresholds.

    Examples:
        >>> card = model_card({"preprocessing": {"channels": 1, "input_size": [32, 32]}, "score": {"method": "csi"}}, None)
        >>> card.splitlines()[:3]
        ['---', 'library_name: dia_augment', 'tags:']
    """
    pre, score = record.get("preprocessing", {}), record.get("score", {})
    prov, metrics = record.get("provenance") or {}, record.get("metrics") or {}
    h, w = pre.get("input_size", ["?", "?"])
    data = prov.get("data", "not recorded")
    metric_rows = [(key, f"{value:.4f}" if isinstance(value, float) else value)
                   for key, value in sorted(metrics.items()) if not isinstance(value, dict)]
    group = metrics.get("group") if isinstance(metrics.get("group"), dict) else None
    if group is not None and "auroc" in group:
        metric_rows.append((f"auroc per {group['level']} ({group['aggregation']} of the slice scores)",
                            f"{group['auroc']:.4f} ({group['num_groups']} groups)"))
    threshold = threshold_line or "Not calibrated: call `detector.calibrate(...)` before `predict`."
    if group_line:
        threshold += f"\n\nPer group: {group_line}."
    elif threshold_line:
        threshold += ("\n\nPer group: uncalibrated (the detector was not built with groups; `predict` reports group "
                      "scores without a call).")
    tested = _test_threshold_line(metrics)
    if tested:
        threshold += f"\n\n{tested}"
    parts = [
        "---\nlibrary_name: dia_augment\ntags:\n- anomaly-detection\n- one-class\n- medical-imaging\n---",
        "# Anomaly detector (Dissolving Is Amplifying / CSI)",
        "A one-class detector: it learned what **normal** images of one data set look like and gives every "
        "new image an **anomaly score (higher = more anomalous**; the negative of CSI's normality score). "
        "Images scored above the threshold are called anomalous.",
        "## What it detects\n\n"
        f"Departures from the normal images of `{data}` (normal class: `{prov.get('normal_class', 'not recorded')}`). "
        f"It takes {pre.get('channels', '?')}-channel images of {h} x {w} pixels in [0, 1]; other sizes or "
        "channel counts are refused, not silently resized.",
        "## Reading the images\n\nHow training read its files; `dia-augment predict` reads new files the same way "
        "unless told otherwise, and `dia-augment export` writes the same into `export.json`.\n\n"
        + _table(_reading_rows(prov, pre)),
        "## Training\n\n"
        + _table(
            [
                ("mode", prov.get("mode")),
                ("dissolver", prov.get("dissolver")),
                ("normal training images", prov.get("num_train")),
                ("score", f"{score.get('method')} ({score.get('note') or 'as requested'})"),
                ("test-time views", f"{pre.get('num_views')} fixed views x {pre.get('num_shifts')} {pre.get('shift')} shifts"),
                ("package", f"dia_augment {record.get('package_version')}"),
            ]
        ),
        "## Threshold\n\n" + threshold,
        "## Metrics\n\n" + (_table(metric_rows) if metric_rows else "No test-set metrics were recorded."),
        "## Intended use and limits\n\n"
        "- Research screening: rank new images and flag the most suspicious ones for a person to look at; "
        "not a diagnostic device.\n"
        "- Only meaningful on images like the normal training data (same modality, size, channels, "
        "preprocessing). A different scanner or protocol can raise every score.\n"
        "- The false-alarm rate above was measured on a held-out calibration set; re-calibrate on your own "
        "normal images before relying on it.",
        "## Use\n\n```python\nfrom dia_augment.detect import AnomalyDetector\n\n"
        "detector = AnomalyDetector.from_pretrained(\"PATH_OR_HUB_ID\")\n"
        "result = detector.predict(images)  # (N, C, H, W) in [0, 1]\n```\n\n"
        "or `dia-augment predict --detector PATH_OR_HUB_ID --images FOLDER --out OUT`.",
    ]
    return "\n\n".join(parts) + "\n"
