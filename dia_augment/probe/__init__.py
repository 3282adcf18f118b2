"""The lesion probe: does a dissolver erase small lesions while keeping the anatomy?

DIA rests on one premise: a one-step dissolve removes the fine, rare detail (a lesion) and keeps
the anatomy. The probe measures it on *twins* (the same image without and with lesions,
identical outside a mask): the embedded set's anomalies
(:func:`~dia_augment.data.make_embedded_anomalies`) or lesions pasted into any normal images
(:func:`~dia_augment.data.add_lesions`, grayscale or RGB, at a size in pixels you choose).

Examples:
    >>> import torch
    >>> from dia_augment.data import add_lesions
    >>> from dia_augment.filters import GaussianDissolving
    >>> clean = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> sick, mask = add_lesions(clean, generator=0)
    >>> rows = probe_dissolver(GaussianDissolving(), clean, sick, mask, steps=(0, 50), progress=False)
    >>> [r["t"] for r in rows], rows[0]["erasure"], rows[1]["erasure"] > 0.3
    ([0, 50], 0.0, True)
"""

from dia_augment.probe.metrics import ProbeTotals, anatomy_change, check_twins, lesion_erasure
from dia_augment.probe.plot import save_probe_plot
from dia_augment.probe.probe import PROBE_STEPS, probe_dissolver, resize_reference
from dia_augment.probe.report import (
    RESIZE_LABEL,
    erasure_at_change,
    format_probe_table,
    probe_dissolvers,
    probe_readiness,
    save_probe_results,
    to_json_records,
)

__all__ = [
    "PROBE_STEPS",
    "RESIZE_LABEL",
    "ProbeTotals",
    "anatomy_change",
    "check_twins",
    "erasure_at_change",
    "lesion_erasure",
    "probe_dissolver",
    "probe_dissolvers",
    "probe_readiness",
    "resize_reference",
    "format_probe_table",
    "save_probe_plot",
    "save_probe_results",
    "to_json_records",
]
