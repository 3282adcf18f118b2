"""Dissolving filters: DDPM, Stable Diffusion, Gaussian / median blur, and resize only.

The filters are imported from their modules on first use, so that ``import dia_augment.filters``
(for :func:`make_dissolver` or :data:`DISSOLVER_NAMES`) pulls neither diffusers nor kornia.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dia_augment.utils.lazy import lazy_exports

if TYPE_CHECKING:  # what type checkers and the API reference see; at run time, _LAZY imports each on first use
    from dia_augment.filters.base import Dissolver, ResizeDissolving
    from dia_augment.filters.blur import GaussianDissolving, MedianDissolving, ReferenceGaussianBlur, ReferenceMedianBlur
    from dia_augment.filters.ddpm import DDPMDissolving, ddpm_dissolve, predict_original_sample

# name -> module, imported lazily on first attribute access
_LAZY = {
    "Dissolver": "dia_augment.filters.base",
    "ResizeDissolving": "dia_augment.filters.base",
    "GaussianDissolving": "dia_augment.filters.blur",
    "MedianDissolving": "dia_augment.filters.blur",
    "ReferenceGaussianBlur": "dia_augment.filters.blur",
    "ReferenceMedianBlur": "dia_augment.filters.blur",
    "DDPMDissolving": "dia_augment.filters.ddpm",
    "ddpm_dissolve": "dia_augment.filters.ddpm",
    "predict_original_sample": "dia_augment.filters.ddpm",
}

__all__ = ["Dissolver", "DDPMDissolving", "GaussianDissolving", "MedianDissolving", "ReferenceGaussianBlur",
           "ReferenceMedianBlur", "ResizeDissolving", "ddpm_dissolve", "predict_original_sample", "make_dissolver",
           "DISSOLVER_NAMES"]

#: The backend names :func:`make_dissolver` knows: ``gaussian`` / ``median`` are our blurs (sigma
#: follows the step, dissolved view only), ``gaussian-reference`` / ``median-reference`` the
#: paper's baselines (fixed kernel 7, zero padding; its code blurs every view).
DISSOLVER_NAMES = ("ddpm", "sd", "gaussian", "median", "gaussian-reference", "median-reference", "resize")


def make_dissolver(name: str, path: str | None = None, resolution: int | None = None, **kwargs: Any) -> Dissolver:
    """Build a dissolver by backend name, so that trainers and scripts can switch backends.

    Args:
        name: ``"ddpm"`` (needs ``path``: a saved dissolver or hub id), ``"sd"`` (Stable
            Diffusion; ``path`` is a hub id or local pipeline directory, else ``version=``),
            ``"gaussian"`` / ``"median"`` (our blurs: :class:`GaussianDissolving` with
            sigma = 0.02 t and reflect padding, :class:`MedianDissolving`),
            ``"gaussian-reference"`` / ``"median-reference"`` (the paper's baselines:
            :class:`~dia_augment.filters.blur.ReferenceGaussianBlur`, OpenCV's kernel 7 with
            zero padding, and :class:`~dia_augment.filters.blur.ReferenceMedianBlur`, whatever
            the step), or ``"resize"`` (needs ``resolution``).
        path: where the model's weights are, for the model backends.
        resolution: the working resolution (DDPM: the expected one; resize: required).
        **kwargs: passed to the backend's constructor or ``from_pretrained``.

    Examples:
        >>> make_dissolver("gaussian", kernel_size=7)
        GaussianDissolving(kernel_size=7, sigma_per_step=0.02, border_type='reflect', resolution=None, resize_mode='bilinear', antialias=False, model_channels=None)
        >>> make_dissolver("gaussian-reference")
        ReferenceGaussianBlur(kernel_size=7, padding='zeros', resolution=None, resize_mode='bilinear', antialias=False, model_channels=None)
        >>> make_dissolver("resize", resolution=32).resolution
        32
    """
    import inspect

    from dia_augment.errors import ConfigError
    from dia_augment.filters.base import ResizeDissolving
    from dia_augment.filters.blur import (GaussianDissolving, MedianDissolving, ReferenceGaussianBlur,
                                          ReferenceMedianBlur)

    simple = {"gaussian": GaussianDissolving, "median": MedianDissolving, "gaussian-reference": ReferenceGaussianBlur,
              "median-reference": ReferenceMedianBlur, "resize": ResizeDissolving}
    if name in simple:  # an unknown option is named, not a TypeError from the constructor
        options = sorted(set(inspect.signature(simple[name]).parameters) - {"resolution"})
        unknown = sorted(set(kwargs) - set(options))
        if unknown:
            raise ConfigError(f"the {name!r} dissolver has no option {unknown}; its options: {options}")
        if name == "resize" and resolution is None:
            raise ConfigError("the 'resize' dissolver needs resolution=")
        return simple[name](resolution=resolution, **kwargs)
    if name == "ddpm":
        if path is None:
            raise ConfigError("the 'ddpm' dissolver needs path=: a directory saved by DDPMDissolving.save_pretrained")
        from dia_augment.filters.ddpm import DDPMDissolving

        return DDPMDissolving.from_pretrained(path, resolution=resolution, **kwargs)
    if name == "sd":
        from dia_augment.filters.stable_diffusion import StableDiffusionDissolving

        if path is not None:
            kwargs["pretrained"] = path
        return StableDiffusionDissolving(**kwargs)
    raise ConfigError(f"unknown dissolver {name!r}; choose from {DISSOLVER_NAMES}")


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
