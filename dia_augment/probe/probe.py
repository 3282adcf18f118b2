"""Run the lesion probe: dissolve twin pairs at several steps and measure erasure against anatomy change."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from dia_augment.errors import InputError
from dia_augment.filters.base import Dissolver, ResizeDissolving
from dia_augment.probe.metrics import ProbeTotals, check_twins
from dia_augment.utils.checks import check_int
from dia_augment.utils.device import module_device
from dia_augment.utils.random import make_generator

__all__ = ["PROBE_STEPS", "probe_dissolver", "resize_reference"]

#: The default steps of a probe.
PROBE_STEPS = (0, 30, 60, 100, 200, 400)


def _check_steps(steps: Sequence[int], num_steps: int) -> tuple[int, ...]:
    steps = tuple(steps)
    if not steps or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < num_steps for s in steps):
        raise InputError(f"steps must be a non-empty sequence of ints in [0, {num_steps}); got {steps!r}")
    return steps


def resize_reference(dissolver: Dissolver, image_size: int | tuple[int, int]) -> ResizeDissolving | None:
    """The resize round trip of ``dissolver`` alone (same resolution and mode, no model), or ``None``.

    ``None`` when the dissolver works at the images' own size (no resize happens).

    Examples:
        >>> from dia_augment.filters import GaussianDissolving
        >>> resize_reference(GaussianDissolving(resolution=16), 32)
        ResizeDissolving(resolution=16, resize_mode='bilinear', antialias=False, model_channels=None)
        >>> resize_reference(GaussianDissolving(), 32) is None
        True
    """
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    resolution = getattr(dissolver, "resolution", None)
    if resolution is None or size == (resolution, resolution):
        return None
    return ResizeDissolving(resolution, resize_mode=dissolver.resize_mode, antialias=dissolver.antialias)


@torch.no_grad()
def probe_dissolver(
    dissolver: Dissolver,
    clean: Tensor,
    lesioned: Tensor,
    mask: Tensor,
    steps: Sequence[int] = PROBE_STEPS,
    batch_size: int = 64,
    generator: torch.Generator | int | None = 0,
    progress: bool = True,
    desc: str = "probing",
) -> list[dict[str, float | int]]:
    """Measure, for each step ``t``, how much of the lesions ``dissolver`` erases and how much anatomy it changes.

    For each step and each batch of twins the dissolver is called once, on the clean and the
    lesioned images together; a stochastic backend gets the same noise for both twins, so that
    their difference holds the lesions only. See :mod:`dia_augment.probe.metrics` for the
    measures and :func:`resize_reference` for the reference to probe beside a dissolver that
    resizes.

    How to read it: a usable dissolver erases a large share of the lesions (``erasure`` well
    above its resize round trip's) while changing the anatomy little (``change_mae`` of a few
    hundredths, PSNR above about 30 dB), at the steps training will draw; compare dissolvers
    at equal ``change_mae``, not at equal ``t``.

    Args:
        dissolver: any :class:`~dia_augment.filters.base.Dissolver`.
        clean: the clean twins, in ``[0, 1]``.
        lesioned: the same images with lesions (identical outside ``mask``), e.g. from
            :func:`~dia_augment.data.add_lesions` or :func:`~dia_augment.data.make_embedded_anomalies`.
        mask: the lesions' pixels.
        steps: the steps to probe, each in ``[0, dissolver.num_train_timesteps)``.
        batch_size: twins per dissolver call (the call holds twice as many images).
        generator: a generator or seed for stochastic backends' noise.
        progress: show a progress bar.
        desc: the progress bar's label.

    Returns:
        One record per step, in the order of ``steps``: ``t`` and the keys of
        :meth:`~dia_augment.probe.metrics.ProbeTotals.summary`.

    Shape:
        - clean, lesioned: :math:`(N, C, H, W)`
        - mask: :math:`(N, 1, H, W)` bool

    Examples:
        >>> from dia_augment.data import add_lesions
        >>> from dia_augment.filters import GaussianDissolving
        >>> clean = torch.full((4, 1, 16, 16), 0.5)
        >>> sick, mask = add_lesions(clean, generator=0)
        >>> rows = probe_dissolver(GaussianDissolving(), clean, sick, mask, steps=(0, 60), progress=False)
        >>> [(r["t"], round(r["erasure"], 2), r["change_mae"]) for r in rows]
        [(0, 0.0, 0.0), (60, 0.4, 0.0)]
    """
    check_twins(clean, lesioned, mask)
    steps = _check_steps(steps, dissolver.num_train_timesteps)
    check_int(batch_size, "batch_size")
    generator = make_generator(generator)
    device = module_device(dissolver)
    totals = {t: ProbeTotals() for t in steps}
    num = clean.shape[0]
    was_training = dissolver.training
    dissolver.eval()  # no dropout: both twins must see the same function
    bar = tqdm(total=len(steps) * num, desc=desc, unit="twin", disable=not progress)
    try:
        for start in range(0, num, batch_size):
            c, l, m = (x[start : start + batch_size] for x in (clean, lesioned, mask))
            both = torch.cat([c, l]).to(device)
            for t in steps:
                noise = dissolver.draw_noise(c.shape, generator, device)
                if noise is not None:
                    noise = torch.cat([noise, noise])
                out = dissolver(both, t, noise=noise).cpu()
                totals[t].add(c, l, m, out[: len(c)], out[len(c) :])
                bar.update(len(c))
    finally:
        bar.close()
        dissolver.train(was_training)
    return [{"t": t, **totals[t].summary()} for t in steps]
