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


def model_card(record: dict[str, Any], threshold_line: str | None) -> str:
    """The card's Markdown for a detector's ``config.json`` record.

    Args:
        record: the detector's configuration (as written to ``config.json``).
        threshold_line: :meth:`Threshold.describe <dia_augment.detect.Threshold.describe>`, or
            ``None`` when the detector is not calibrated.

    Examples:
        >>> card = model_card({"preprocessing": {"channels": 1, "input_size": [32, 32]}, "score": {"method": "csi"}}, None)
        >>> card.splitlines()[:3]
        ['---', 'library_name: dia_augment', 'tags:']
    """
    pre, score = record.get("preprocessing", {}), record.get("score", {})
    prov, metrics = record.get("provenance") or {}, record.get("metrics") or {}
    h, w = pre.get("input_size", ["?", "?"])
    data = prov.get("data", "not recorded")
    metric_rows = [(key, f"{value:.4f}" if isinstance(value, float) else value) for key, value in sorted(metrics.items())]
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
        "## Threshold\n\n" + (threshold_line or "Not calibrated: call `detector.calibrate(...)` before `predict`."),
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
