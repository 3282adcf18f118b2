"""``RandomDissolving``: the dissolving transformation as a kornia augmentation."""

from __future__ import annotations

from typing import Any

import torch
from kornia.augmentation import IntensityAugmentationBase2D
from kornia.augmentation.utils import _transform_output_shape
from torch import Tensor

from dia_augment.filters.base import Dissolver
from dia_augment.utils.checks import check_probability, check_range_pair
from dia_augment.utils.random import draw_steps, make_generator

__all__ = ["RandomDissolving"]


class RandomDissolving(IntensityAugmentationBase2D):
    r"""Dissolve a random subset of a batch, each sample with its own random step.

    A kornia augmentation around any dissolver (:class:`~dia_augment.DDPMDissolving`,
    :class:`~dia_augment.StableDiffusionDissolving`, :class:`~dia_augment.GaussianDissolving`,
    :class:`~dia_augment.MedianDissolving`, :class:`~dia_augment.ResizeDissolving`). It fits in
    ``kornia.augmentation.AugmentationSequential``, ``nn.Sequential`` and DataLoader workers
    (it pickles), and ``.to(device)`` / ``.half()`` move the model with it.

    What it does better than ``kornia.augmentation.RandomDissolving``:

    - a step per sample and a p-gate per sample (``same_on_batch=True`` shares both);
    - only the rows the gate selects go through the model, in one call, so the cost
      follows ``p`` (kornia's base runs the model on the whole batch and blends);
    - every random draw (gate, steps, a stochastic backend's noise) comes from ``generator``
      and is recorded in ``_params``, so ``aug(x, params=aug._params)`` replays bit-exactly;
    - gradients flow to the input (the model's weights stay frozen).

    kornia's form works too: ``RandomDissolving(step_range=(100, 500), version="1.5", p=0.5,
    **from_pretrained_kwargs)`` builds a Stable Diffusion dissolver.

    Args:
        dissolver: the dissolving filter; ``None`` builds a Stable Diffusion one from ``version``
            and ``**kwargs``.
        step_range: the half-open range ``[low, high)`` the steps are drawn from; defaults to
            the dissolver's ``default_step_range`` (DDPM: (30, 100); Stable Diffusion: (100, 500)).
        p: probability of dissolving each sample.
        same_on_batch: one step and one gate for the whole batch.
        keepdim: keep a ``(C, H, W)`` input unbatched in the output.
        version: Stable Diffusion version, when ``dissolver`` is ``None``.
        generator: a ``torch.Generator`` or an int seed for every random draw; ``None`` uses
            the global RNG.
        **kwargs: passed to ``StableDiffusionDissolving`` when ``dissolver`` is ``None``.

    Shape:
        - Input: :math:`(C, H, W)` or :math:`(B, C, H, W)`, float in ``[0, 1]``
        - Output: :math:`(B, C, H, W)`, or :math:`(C, H, W)` with ``keepdim=True``

    Examples:
        >>> from dia_augment import GaussianDissolving
        >>> aug = RandomDissolving(GaussianDissolving(), p=1.0, generator=0)
        >>> x = torch.rand(4, 3, 16, 16)
        >>> y = aug(x)
        >>> aug._params["step"].tolist()
        [34, 89, 93, 60]
        >>> torch.equal(aug(x, params=aug._params), y)
        True
    """

    def __init__(
        self,
        dissolver: Dissolver | None = None,
        step_range: tuple[int, int] | None = None,
        p: float = 0.5,
        same_on_batch: bool = False,
        keepdim: bool = False,
        *,
        version: str | None = None,
        generator: torch.Generator | int | None = None,
        **kwargs: Any,
    ) -> None:
        check_probability(p)
        super().__init__(p=p, same_on_batch=same_on_batch, keepdim=keepdim)
        if dissolver is None:
            from dia_augment.filters.stable_diffusion import StableDiffusionDissolving

            dissolver = StableDiffusionDissolving(version=version or "1.5", **kwargs)
        elif not isinstance(dissolver, Dissolver):
            raise TypeError(
                f"dissolver must be a Dissolver (e.g. DDPMDissolving); got {type(dissolver).__name__}"
                + (" — pass step_range= as a keyword" if isinstance(dissolver, (tuple, list)) else "")
            )
        elif version is not None or kwargs:
            raise ValueError(
                "version= and from_pretrained keywords only apply when no dissolver is given; "
                f"got version={version!r} and {sorted(kwargs)}"
            )
        self.dissolver = dissolver
        self.step_range = check_range_pair(
            dissolver.default_step_range if step_range is None else step_range,
            0,
            dissolver.num_train_timesteps,
            "step_range",
        )
        self.generator = make_generator(generator)

    # ---------------------------------------------------------------------------------- params
    def _draw_device(self) -> torch.device:
        return self.generator.device if self.generator is not None else torch.device("cpu")

    def __batch_prob_generator__(
        self, batch_shape: tuple[int, ...], p: float, p_batch: float, same_on_batch: bool
    ) -> Tensor:
        n = batch_shape[0]
        if p == 1.0:
            return torch.ones(n, device=self.device, dtype=self.dtype)
        if p == 0.0:
            return torch.zeros(n, device=self.device, dtype=self.dtype)
        draws = torch.rand(1 if same_on_batch else n, generator=self.generator, device=self._draw_device())
        return (draws < p).to(device=self.device, dtype=self.dtype).expand(n).contiguous()

    def generate_parameters(self, batch_shape: tuple[int, ...]) -> dict[str, Tensor]:
        n = batch_shape[0]
        device = self._draw_device()
        step = draw_steps(1 if self.same_on_batch else n, self.step_range, self.generator)
        params = {"step": step.expand(n).contiguous()}
        draw_shape = torch.Size((1 if self.same_on_batch else n, *batch_shape[1:]))
        noise = self.dissolver.draw_noise(draw_shape, self.generator, device)
        if noise is not None:
            params["noise"] = noise.expand(n, *noise.shape[1:]).contiguous()
        return params

    # ------------------------------------------------------------------------------- transform
    def apply_transform(
        self, input: Tensor, params: dict[str, Tensor], flags: dict[str, Any], transform: Tensor | None = None
    ) -> Tensor:
        noise = params.get("noise")
        return self.dissolver(input, params["step"].to(input.device), noise=noise)

    def transform_inputs(
        self,
        input: Tensor,
        params: dict[str, Tensor],
        flags: dict[str, Any],
        transform: Tensor | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """Dissolve only the rows the gate selects, in one call, and leave the others untouched."""
        params, flags = self._process_kwargs_to_params_and_flags(
            self._params if params is None else params, flags, **kwargs
        )
        ori_shape = input.shape
        x = self.transform_tensor(input)
        self.validate_tensor(x)
        if self.p == 1.0 and self.p_batch == 1.0:
            output = self.apply_transform(x, params, flags)
        else:
            rows = torch.atleast_1d(params["batch_prob"] > 0.5).to(x.device).nonzero().flatten()
            n = rows.numel()  # the one host sync: the selected rows' count decides the model's batch
            if n == x.shape[0]:
                output = self.apply_transform(x, params, flags)
            elif n == 0:
                output = x
            else:
                picked = {k: params[k].to(x.device)[rows] for k in ("step", "noise") if k in params}
                output = x.index_put((rows,), self.apply_transform(x[rows], picked, flags))
        return _transform_output_shape(output, ori_shape) if self.keepdim else output

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(dissolver={self.dissolver!r}, step_range={self.step_range}, p={self.p}, "
            f"same_on_batch={self.same_on_batch}, keepdim={self.keepdim})"
        )
