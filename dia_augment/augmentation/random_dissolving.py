"""``RandomDissolving``: the dissolving transformation as a kornia augmentation."""

from __future__ import annotations

from typing import Any

import torch
from kornia.augmentation import IntensityAugmentationBase2D
from torch import Tensor

from dia_augment.errors import ConfigError, InputError, InputTypeError
from dia_augment.filters.base import Dissolver
from dia_augment.utils.checks import check_images, check_probability, check_range_pair
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

    It uses kornia's extension points for custom augmentations: ``generate_parameters`` draws
    the steps (and a stochastic backend's noise), ``apply_transform`` dissolves. The overrides
    beyond them: ``forward_parameters`` draws the gate from ``generator`` as well, and
    ``__unpack_input__`` / ``transform_tensor`` check the whole batch (whatever the gate draws)
    before kornia standardises it. kornia's own ``transform_inputs`` does the rest (shapes,
    ``keepdim``, the cast back to the input's dtype under autocast).

    Speed: the dissolver's own options (``mixed_precision="bf16"``, ``channels_last=True``) and
    ``dissolver.compile(fullgraph=True)`` (with ``check_inputs=False``) apply as they are; this
    module's own forward runs eagerly around them, since kornia's parameter handling draws from a
    ``torch.Generator`` (which dynamo cannot trace), the input check reads the batch's range, and
    the gate's row selection (``nonzero``) is a host sync whose result sets the model's batch.
    Under an outer ``torch.autocast`` the output keeps the input's dtype, as kornia's do.

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

    def __init__(self, dissolver: Dissolver | None = None, step_range: tuple[int, int] | None = None, p: float = 0.5,
                 same_on_batch: bool = False, keepdim: bool = False, *, version: str | None = None,
                 generator: torch.Generator | int | None = None, **kwargs: Any) -> None:
        check_probability(p)
        super().__init__(p=p, same_on_batch=same_on_batch, keepdim=keepdim)
        if dissolver is None:
            from dia_augment.filters.stable_diffusion import StableDiffusionDissolving

            dissolver = StableDiffusionDissolving(version=version or "1.5", **kwargs)
        elif not isinstance(dissolver, Dissolver):
            hint = " — pass step_range= as a keyword" if isinstance(dissolver, (tuple, list)) else ""
            raise InputTypeError(f"dissolver must be a Dissolver (e.g. DDPMDissolving); got "
                                 f"{type(dissolver).__name__}{hint}")
        elif version is not None or kwargs:
            raise ConfigError("version= and from_pretrained keywords only apply when no dissolver is given; "
                              f"got version={version!r} and {sorted(kwargs)}")
        self.dissolver = dissolver
        self.step_range = check_range_pair(dissolver.default_step_range if step_range is None else step_range, 0,
                                           dissolver.num_train_timesteps, "step_range")
        self.generator = make_generator(generator)
        #: ``(a, b)``: draw the step as ``low + floor(u (high - low))`` with ``u ~ Beta(a, b)`` instead of
        #: uniformly (a training curriculum sets it, see :func:`~dia_augment.utils.random.step_curriculum`).
        self.step_beta: tuple[float, float] | None = None

    # ---------------------------------------------------------------------------------- params
    def forward_parameters(self, batch_shape: tuple[int, ...]) -> dict[str, Tensor]:
        """The gate (``batch_prob``) and :meth:`generate_parameters`, every draw from ``generator``."""
        n = batch_shape[0]
        device = self.generator.device if self.generator is not None else torch.device("cpu")
        if self.p in (0.0, 1.0):
            gate = torch.full((n,), self.p)
        else:
            gate = (torch.rand(1 if self.same_on_batch else n, generator=self.generator, device=device) < self.p).float()
        return {"batch_prob": gate.expand(n).contiguous(), **self.generate_parameters(batch_shape),
                "forward_input_shape": torch.tensor(batch_shape, dtype=torch.long)}

    def generate_parameters(self, batch_shape: tuple[int, ...]) -> dict[str, Tensor]:
        n, draws = batch_shape[0], 1 if self.same_on_batch else batch_shape[0]
        params = {"step": draw_steps(draws, self.step_range, self.generator, beta=self.step_beta).expand(n).contiguous()}
        device = self.generator.device if self.generator is not None else torch.device("cpu")
        noise = self.dissolver.draw_noise(torch.Size((draws, *batch_shape[1:])), self.generator, device)
        if noise is not None:
            params["noise"] = noise.expand(n, *noise.shape[1:]).contiguous()
        return params

    # ------------------------------------------------------------------------------- transform
    def __unpack_input__(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor):
            raise InputTypeError(f"input must be a torch.Tensor; got {type(input).__name__}")
        return input

    def transform_tensor(self, input: Tensor, **kwargs: Any) -> Tensor:
        """Check the whole input (whatever the gate draws) before kornia standardises its shape."""
        check_images(input[None] if input.ndim == 3 else input, name="input")
        return super().transform_tensor(input, **kwargs)

    def apply_transform(self, input: Tensor, params: dict[str, Tensor], flags: dict[str, Any],
                        transform: Tensor | None = None) -> Tensor:
        """Dissolve only the rows the gate selects, in one call; the other rows are returned untouched.

        kornia runs this on the whole batch and keeps the gated rows of its output, so skipping the
        model for the other rows changes nothing but the cost. Replayed ``params`` must be of its size.
        """
        n = input.shape[0]
        if "step" not in params:
            raise InputError(f"params has no 'step' (it has {sorted(params)}): replay the params a call recorded")
        for key in ("batch_prob", "step", "noise"):
            if key in params and params[key].shape[0] != n:
                raise InputError(f"params[{key!r}] holds {params[key].shape[0]} rows but the batch has {n}: replay "
                                 "params on a batch of the size they were drawn for")
        rows = torch.atleast_1d(params["batch_prob"] > 0.5).to(input.device).nonzero().flatten()
        if rows.numel() == 0:  # the one host sync: the selected rows' count decides the model's batch
            return input
        picked = {k: params[k].to(input.device)[rows] for k in ("step", "noise") if k in params}
        if rows.numel() == n:
            return self.dissolver(input, picked["step"], noise=picked.get("noise"))
        return input.index_put((rows,), self.dissolver(input[rows], picked["step"], noise=picked.get("noise")))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(dissolver={self.dissolver!r}, step_range={self.step_range}, p={self.p}, "
                f"same_on_batch={self.same_on_batch}, keepdim={self.keepdim})")
