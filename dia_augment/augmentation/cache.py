"""A dissolve cache: every image dissolved once, at a grid of steps and a few noise draws, kept on disk.

Dissolving with Stable Diffusion costs a VAE encode, a UNet call and a VAE decode per image and
training step, far more than the ResNet step it augments. Offline augmentation does that work once:
:func:`build_dissolve_cache` dissolves every image at every step of a grid (:func:`step_grid`) and
``draws`` noise draws per step and stores the views in safetensors shards; :class:`CachedDissolving`
serves them in training, drawing a grid step and a draw per sample as
:class:`~dia_augment.RandomDissolving` draws a step.

The folder::

    manifest.json             format, version, fingerprints, grid, draws, seed, dtype, shards (written last)
    images.safetensors        per image: the SHA-256 of its bytes, and the weighted sum of the quick check
    shard-00000.safetensors   "views", (n, G, D, C, H, W): images [start, stop) at every step and draw
    shard-00001.safetensors   ...

What is exact: the noise of image ``i`` at step ``t`` and draw ``d`` comes from
``derive_seed(seed, f"dissolve-cache/{i}/{t}/{d}")`` (:func:`view_noise`), and a shard's images are
dissolved, for each step and draw, in the batches ``[start + k * batch_size, ...)`` of the shard,
whatever the process split. A view stored in its own dtype (the default) is therefore bit for bit
the live call ``dissolver(images[a:b], t, noise=view_noise(...))`` on its build batch ``[a, b)``
(:meth:`DissolveCache.build_batch`). Convolution kernels round differently at other batch sizes (by
up to about 1e-6 on the tiny models of the tests), as the live dissolver does from one batch to the next;
with ``batch_size=1`` every view is bit for bit the one-image call
``dissolver(images[i:i+1], t, noise=...)``.

A dissolver whose output is a function of the image and the step alone needs one draw per step:
:class:`~dia_augment.DDPMDissolving` without ``add_noise`` (its x0 prediction uses no noise),
:class:`~dia_augment.StableDiffusionDissolving` without ``sample_latent`` (the latent is the VAE's
mean), and the blurs. ``draws > 1`` is refused for them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as serialize_tensors
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from dia_augment.errors import (CheckpointError, ConfigError, InputError, InputTypeError, MissingCheckpointError,
                                RunFolderError)
from dia_augment.filters.base import Dissolver
from dia_augment.utils.checks import check_images, check_int, check_range_pair
from dia_augment.utils.device import module_device
from dia_augment.utils.io import (atomic_open, atomic_save_tensors, atomic_write_json, check_format, check_record, load_tensors,
                                  read_json)
from dia_augment.utils.random import derived_generator, draw_steps, make_generator

__all__ = ["build_dissolve_cache", "DissolveCache", "CachedDissolving", "step_grid", "view_noise", "CACHE_FORMAT",
           "CACHE_VERSION", "MANIFEST_NAME", "IMAGES_NAME"]

#: The ``format`` field of a cache's manifest.
CACHE_FORMAT = "dia_augment.dissolve_cache"
#: The ``version`` field of the manifests this module writes and reads.
CACHE_VERSION = 1

#: The manifest's file name in a cache folder.
MANIFEST_NAME = "manifest.json"
#: The file of the per-image digests and quick-check sums.
IMAGES_NAME = "images.safetensors"
_SHARD_BYTES = 256 * 2**20  # the automatic shard size aims at shards of about this many bytes
_MAX_OPEN_SHARDS = 8  # memory-mapped shards kept open by a DissolveCache (least recently used closed first)
_STORAGE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                   "float64": torch.float64}
_SAFETENSORS_DTYPES = {"float16": "F16", "bfloat16": "BF16", "float32": "F32", "float64": "F64"}
_NOT_OUTPUT = frozenset({"training", "check_inputs"})  # dissolver attributes that change no output
_PHI = 0.6180339887498949  # the quick check's weights: 1 + frac(k * phi) for the k-th value of an image
_CHECK_RTOL = 1e-9  # float64 sums in another order (another device, batch) agree far closer than this


def step_grid(step_range: Sequence[int], count: int) -> tuple[int, ...]:
    """``count`` distinct steps spread evenly over the half-open ``step_range``, its first and last steps included.

    Step ``k`` is ``low + round(k (high - 1 - low) / (count - 1))`` (halves rounded up); a single
    step is the middle of the range.

    Args:
        step_range: ``(low, high)``, as :class:`~dia_augment.RandomDissolving`'s (e.g. a dissolver's
            ``default_step_range``).
        count: the number of steps, at most ``high - low``.

    Returns:
        The steps, increasing.

    Raises:
        ConfigError: an empty or non-integer range, or more steps than it holds.

    Examples:
        >>> step_grid((30, 100), 8)
        (30, 40, 50, 60, 69, 79, 89, 99)
        >>> step_grid((100, 500), 1)
        (299,)
    """
    low, high = check_range_pair(step_range, 0, sys.maxsize, "step_range")
    check_int(count, "count", error=ConfigError)
    span = high - 1 - low
    if count > span + 1:
        raise ConfigError(f"step_range {(low, high)} holds {span + 1} steps; cannot spread {count} distinct steps "
                          "over it")
    if count == 1:
        return (low + span // 2,)
    return tuple(low + (2 * k * span + count - 1) // (2 * (count - 1)) for k in range(count))


def view_noise(dissolver: Dissolver, image_shape: Sequence[int], seed: int, indices: Iterable[int], step: int,
               draw: int, device: torch.device | str = "cpu") -> Tensor | None:
    r"""The noise a cache seeded with ``seed`` gives images ``indices`` at ``step`` and ``draw``.

    Image ``i``'s noise is drawn by ``dissolver.draw_noise`` from a generator seeded with
    ``derive_seed(seed, f"dissolve-cache/{i}/{step}/{draw}")``, so it depends on nothing else (not the
    batch, not the process, not the rest of the grid). Pass it to the dissolver to recompute a view live.

    Args:
        dissolver: the cache's dissolver.
        image_shape: :math:`(C, H, W)` of the images.
        seed: the cache's seed.
        indices: the images' indices in the data set.
        step: the diffusion step.
        draw: the draw, in ``[0, draws)``.
        device: where the noise goes (it is drawn on the CPU).

    Returns:
        The noise of the batch (the dissolver's :meth:`~dia_augment.Dissolver.noise_shape`), or
        ``None`` for a deterministic dissolver.

    Examples:
        >>> from dia_augment import DDPMDissolving
        >>> from dia_augment.filters.presets import make_scheduler, make_unet
        >>> ddpm = DDPMDissolving(make_unet("micro", 8, 3), make_scheduler(), add_noise=True)
        >>> view_noise(ddpm, (3, 8, 8), 0, [4, 2], 50, 0).shape
        torch.Size([2, 3, 8, 8])
        >>> torch.equal(view_noise(ddpm, (3, 8, 8), 0, [4, 2], 50, 0)[1], view_noise(ddpm, (3, 8, 8), 0, [2], 50, 0)[0])
        True
        >>> view_noise(DDPMDissolving(ddpm.unet, make_scheduler()), (3, 8, 8), 0, [4, 2], 50, 0) is None
        True
    """
    one = torch.Size((1, *image_shape))
    if dissolver.noise_shape(one) is None:
        return None
    return torch.cat([dissolver.draw_noise(one, derived_generator(seed, f"dissolve-cache/{i}/{step}/{draw}"), device)
                      for i in indices])


# ---------------------------------------------------------------------------------------------- fingerprints
def _tensor_bytes(tensor: Tensor) -> Any:
    """The bytes of a tensor (on the CPU, contiguous), as a buffer hashlib reads without a copy."""
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()


def _sha256(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
    return digest.hexdigest()


def _is_plain(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_is_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str, torch.dtype))


def _describe_dissolver(dissolver: Dissolver) -> dict[str, Any]:
    """What makes a dissolver's output: its class, options, structure and every tensor, hashed.

    ``options``: its plain attributes (``add_noise``, ``resolution``, ``sample_latent`` ...) and the
    configs of its non-module attributes (a diffusers scheduler), leaving out those that change no
    output (``check_inputs``); ``structure``: the hash of its submodules' ``repr`` and of its models' configs;
    ``tensors``: the hash of each parameter and buffer (dtype, shape, bytes), non-persistent buffers
    (a cached prompt embedding, a schedule) included. ``sha256`` hashes all of it.
    """
    options: dict[str, str] = {}
    for name, value in sorted(vars(dissolver).items()):
        if name.startswith("_") or name in _NOT_OUTPUT:
            continue
        config = getattr(value, "config", None)
        if _is_plain(value):
            options[name] = repr(value)
        elif isinstance(config, Mapping):
            options[name] = repr(sorted((k, v) for k, v in config.items() if not k.startswith("_")))
    children = [f"{name}: {child!r}" for name, child in dissolver.named_children()]
    configs = [f"{name}: {sorted((k, v) for k, v in module.config.items() if not k.startswith('_'))}"
               for name, module in dissolver.named_modules() if isinstance(getattr(module, "config", None), Mapping)]
    structure = _sha256("\n".join(children + configs))
    tensors = {name: _sha256(f"{t.dtype}|{tuple(t.shape)}|", _tensor_bytes(t))
               for name, t in sorted([*dissolver.named_parameters(), *dissolver.named_buffers()], key=lambda p: p[0])}
    described = {"class": f"{type(dissolver).__module__}.{type(dissolver).__qualname__}", "options": options,
                 "structure": structure, "tensors": tensors}
    return {**described, "sha256": _sha256(json.dumps(described, sort_keys=True))}


def _dissolver_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> str:
    """What differs between two dissolver descriptions, in words."""
    if saved["class"] != current["class"]:
        return f"it is a {current['class']}; the cache was built with a {saved['class']}"
    parts = [f"option {k} is {current['options'].get(k, 'unset')} (the cache's: {saved['options'].get(k, 'unset')})"
             for k in sorted(set(saved["options"]) | set(current["options"]))
             if saved["options"].get(k) != current["options"].get(k)]
    if saved["structure"] != current["structure"]:
        parts.append("its architecture or a model's config differs")
    names = set(saved["tensors"]) | set(current["tensors"])
    changed = sorted(n for n in names if saved["tensors"].get(n) != current["tensors"].get(n))
    if changed:
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        parts.append(f"its weights differ: {', '.join(changed[:3])}{more}")
    return "; ".join(parts) or "its fingerprint differs"


def _checksums(images: Tensor) -> Tensor:
    r"""Per image, the float64 sum of its values weighted by ``1 + frac(k * phi)`` (``k``: the value's position).

    The quick check of :class:`CachedDissolving`: a different image, a reordering, a flip or a crop
    changes it; it is computed where the images are (on the CPU for MPS, which has no float64).

    Shape:
        - images: :math:`(B, C, H, W)`
        - output: :math:`(B,)`, float64
    """
    flat = images.detach().reshape(images.shape[0], -1)
    device = torch.device("cpu") if flat.device.type == "mps" else flat.device
    weights = torch.arange(flat.shape[1], dtype=torch.float64, device=device).mul_(_PHI).frac_().add_(1)
    return flat.to(device=device, dtype=torch.float64) @ weights


class _Images:
    """The images to cache: a ``(N, C, H, W)`` tensor in ``[0, 1]``, or a sized Dataset of images or (image, label)
    pairs."""

    def __init__(self, images: Any) -> None:
        if isinstance(images, Tensor):
            self.tensor: Tensor | None = check_images(images, name="images")
            self.dataset = None
            self.count, self.shape, self.dtype = images.shape[0], tuple(images.shape[1:]), images.dtype
            return
        if not (hasattr(images, "__len__") and hasattr(images, "__getitem__")):
            raise InputTypeError(f"images must be a (N, C, H, W) tensor or a sized Dataset of images or (image, label) "
                                 f"pairs; got {type(images).__name__}")
        self.tensor, self.dataset, self.count = None, images, len(images)
        if self.count == 0:
            raise InputError(f"the {type(images).__name__} holds no images: nothing to cache")
        first = self._item(0)
        self.shape, self.dtype = tuple(first.shape), first.dtype

    def _item(self, index: int) -> Tensor:
        item = self.dataset[index]  # type: ignore[index]
        image = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(image, Tensor) or image.ndim != 3:
            raise InputError(f"dataset item {index} must be a (C, H, W) image tensor or an (image, label) pair; got "
                             f"{type(image).__name__}{tuple(image.shape) if isinstance(image, Tensor) else ''}")
        if index and (tuple(image.shape) != self.shape or image.dtype != self.dtype):
            raise InputError(f"dataset item {index} is a {tuple(image.shape)} {image.dtype} image, but item 0 is "
                             f"{self.shape} {self.dtype}: every image must have the same shape and dtype")
        return image

    def block(self, start: int, stop: int) -> Tensor:
        """Images ``[start, stop)`` as one checked batch."""
        if self.tensor is not None:
            return self.tensor[start:stop]
        block = torch.stack([self._item(i) for i in range(start, stop)])
        return check_images(block, name=f"images {start}..{stop - 1}")


@dataclass(frozen=True)
class _DataDigest:
    """The data fingerprint: per-image SHA-256 digests and quick-check sums, and their hash."""

    sha256: str
    count: int
    shape: tuple[int, ...]
    dtype: str
    digests: Tensor  # (N, 32) uint8
    checksums: Tensor  # (N,) float64

    def describe(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "count": self.count, "shape": list(self.shape), "dtype": self.dtype}


def _digest_images(source: _Images, chunk: int = 64) -> _DataDigest:
    """Hash every image's bytes (and compute its quick-check sum), reading the source in chunks."""
    digests = torch.empty((source.count, 32), dtype=torch.uint8)
    checksums = torch.empty(source.count, dtype=torch.float64)
    for start in range(0, source.count, chunk):
        stop = min(source.count, start + chunk)
        block = source.block(start, stop)
        checksums[start:stop] = _checksums(block).cpu()
        for row, image in enumerate(block):
            digests[start + row] = torch.frombuffer(bytearray(hashlib.sha256(_tensor_bytes(image)).digest()),
                                                    dtype=torch.uint8)
    dtype = str(source.dtype).removeprefix("torch.")
    sha = _sha256(f"{source.count}|{source.shape}|{dtype}|", _tensor_bytes(digests))
    return _DataDigest(sha, source.count, source.shape, dtype, digests, checksums)


def _data_differences(saved: Mapping[str, Any], saved_digests: Tensor, current: _DataDigest) -> str:
    """What differs between the cache's images and these, in words."""
    if saved["count"] != current.count:
        return f"there are {current.count} images; the cache was built from {saved['count']}"
    if list(saved["shape"]) != list(current.shape) or saved["dtype"] != current.dtype:
        return (f"the images are {tuple(current.shape)} {current.dtype}; the cache was built from "
                f"{tuple(saved['shape'])} {saved['dtype']} images")
    changed = (saved_digests != current.digests).any(1).nonzero().flatten().tolist()
    more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
    return f"image {changed[0]} differs from the one the cache was built from{more}"


# ---------------------------------------------------------------------------------------------- the build plan
@dataclass(frozen=True)
class _Plan:
    """Everything a build's files depend on, and the manifest it writes."""

    dissolver: dict[str, Any]
    data: dict[str, Any]
    grid: tuple[int, ...]
    draws: int
    seed: int
    dtype: str
    stochastic: bool
    batch_size: int
    shard_size: int

    @property
    def count(self) -> int:
        return int(self.data["count"])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data["shape"])

    @property
    def shards(self) -> int:
        return -(-self.count // self.shard_size)

    @property
    def key(self) -> str:
        """The hash of every argument the files depend on: a shard written under another key is not reused."""
        fields = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "dissolver": self.dissolver["sha256"],
                  "data": self.data["sha256"], "grid": list(self.grid), "draws": self.draws, "seed": self.seed,
                  "dtype": self.dtype, "batch_size": self.batch_size, "shard_size": self.shard_size}
        return _sha256(json.dumps(fields, sort_keys=True))

    def shard_range(self, shard: int) -> tuple[int, int]:
        return shard * self.shard_size, min(self.count, (shard + 1) * self.shard_size)

    def shard_shape(self, shard: int) -> tuple[int, ...]:
        start, stop = self.shard_range(shard)
        return (stop - start, len(self.grid), self.draws, *self.shape)

    def shard_metadata(self, shard: int) -> dict[str, str]:
        # one key: safetensors writes a metadata dict in hash-map order, which differs between processes
        start, stop = self.shard_range(shard)
        return {CACHE_FORMAT: json.dumps({"key": self.key, "start": start, "stop": stop}, sort_keys=True)}

    def manifest(self, shas: Mapping[int, str], complete: bool) -> dict[str, Any]:
        shards = [{"file": _shard_file(k), "start": self.shard_range(k)[0], "stop": self.shard_range(k)[1],
                   "sha256": shas.get(k)} for k in range(self.shards)]
        return {"format": CACHE_FORMAT, "version": CACHE_VERSION, "complete": complete, "key": self.key,
                "dissolver": self.dissolver, "data": self.data, "grid": list(self.grid), "draws": self.draws,
                "seed": self.seed, "dtype": self.dtype, "stochastic": self.stochastic, "batch_size": self.batch_size,
                "shard_size": self.shard_size, "shards": shards}

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> _Plan:
        return cls(manifest["dissolver"], manifest["data"], tuple(manifest["grid"]), manifest["draws"],
                   manifest["seed"], manifest["dtype"], manifest["stochastic"], manifest["batch_size"],
                   manifest["shard_size"])


def _shard_file(shard: int) -> str:
    return f"shard-{shard:05d}.safetensors"


_MANIFEST_FIELDS = {"format": str, "version": int, "complete": bool, "key": str, "dissolver": dict, "data": dict,
                    "grid": list, "draws": int, "seed": int, "dtype": str, "stochastic": bool, "batch_size": int,
                    "shard_size": int, "shards": list}


def _read_manifest(path: Path) -> dict[str, Any]:
    """A cache's manifest, its fields checked; :class:`CheckpointError` naming the file and field otherwise."""
    what = "dissolve cache manifest"
    manifest = check_format(read_json(path, what), str(path), "dissolve cache manifest", CACHE_FORMAT, CACHE_VERSION,
                            fix="rebuild the cache with this version")
    check_record(manifest, _MANIFEST_FIELDS, f"{what} {path}")
    check_record(manifest["data"], {"sha256": str, "count": int, "shape": list, "dtype": str}, f"{what} {path}: data")
    check_record(manifest["dissolver"], {"sha256": str, "class": str, "options": dict, "structure": str,
                                         "tensors": dict}, f"{what} {path}: dissolver")
    if manifest["dtype"] not in _STORAGE_DTYPES:
        raise CheckpointError(f"{what} {path}: field 'dtype' must be one of {sorted(_STORAGE_DTYPES)}; got "
                              f"{manifest['dtype']!r}")
    if manifest["shard_size"] < 1:
        raise CheckpointError(f"{what} {path}: field 'shard_size' must be >= 1; got {manifest['shard_size']}")
    plan = _Plan.from_manifest(manifest)
    if len(manifest["shards"]) != plan.shards:
        raise CheckpointError(f"{what} {path} lists {len(manifest['shards'])} shards; {plan.count} images in shards of "
                              f"{manifest['shard_size']} make {plan.shards}")
    return manifest


def _shard_problem(path: Path, plan: _Plan, shard: int) -> str | None:
    """Why the file at ``path`` is not shard ``shard`` of ``plan`` (missing, corrupt, another build), or ``None``."""
    try:
        with safe_open(str(path), "pt") as f:
            metadata = (f.metadata() or {}).get(CACHE_FORMAT)
            if "views" not in f.keys():
                return "it holds no 'views' tensor"
            views = f.get_slice("views")
            shape, dtype = tuple(views.get_shape()), views.get_dtype()
    except FileNotFoundError:
        return "it is missing"
    except (SafetensorError, OSError, ValueError) as err:
        return f"it is corrupt or not a safetensors file ({err})"
    if metadata != plan.shard_metadata(shard)[CACHE_FORMAT]:
        return "it was written by another build (its key or image range differs)"
    if shape != plan.shard_shape(shard) or dtype != _SAFETENSORS_DTYPES[plan.dtype]:
        return f"its views are {shape} {dtype}, not {plan.shard_shape(shard)} {_SAFETENSORS_DTYPES[plan.dtype]}"
    return None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_own_temp(path: Path, plan: _Plan) -> bool:
    """A temp file a killed write of this cache left behind (``.NAME.*.tmp``, see :mod:`dia_augment.utils.io`)."""
    names = (MANIFEST_NAME, IMAGES_NAME, *(_shard_file(k) for k in range(plan.shards)))
    return path.name.endswith(".tmp") and any(path.name.startswith(f".{name}.") for name in names)


def _existing_manifest(root: Path, plan: _Plan) -> dict[str, Any] | None:
    """The manifest of a build of ``plan`` already in ``root`` (``None`` when there is none); refuse anything else."""
    if not root.exists():
        return None
    if not root.is_dir():
        raise RunFolderError(f"{root} is a file; a dissolve cache is a folder")
    if not (root / MANIFEST_NAME).exists():
        others = sorted(p.name for p in root.iterdir() if not _is_own_temp(p, plan))
        if others:
            shown = f"{others[:3]}{' ...' if len(others) > 3 else ''}"
            raise RunFolderError(f"{root} holds {shown} but no {MANIFEST_NAME}: it is not a dissolve cache; build into "
                                 "an empty or new folder")
        return None
    saved = _read_manifest(root / MANIFEST_NAME)
    if saved["key"] == plan.key:
        return saved
    theirs = _Plan.from_manifest(saved)
    diffs = [f"{name} {getattr(plan, name)!r} here, {getattr(theirs, name)!r} there"
             for name in ("grid", "draws", "seed", "dtype", "batch_size", "shard_size")
             if getattr(plan, name) != getattr(theirs, name)]
    if saved["dissolver"]["sha256"] != plan.dissolver["sha256"]:
        diffs.append(f"the dissolver ({_dissolver_differences(saved['dissolver'], plan.dissolver)})")
    if saved["data"]["sha256"] != plan.data["sha256"]:
        diffs.append("the images")
    raise RunFolderError(f"{root} holds a dissolve cache built with other arguments ({'; '.join(diffs)}): build into "
                         "another folder, or delete this one to rebuild it")


# ---------------------------------------------------------------------------------------------- processes
def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def _gather(shas: dict[int, str], world: int) -> dict[int, str]:
    if world == 1:
        return shas
    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, shas)
    return {k: v for part in parts for k, v in part.items()}


# ---------------------------------------------------------------------------------------------- build
def _check_grid(steps: Sequence[int] | int, dissolver: Dissolver) -> tuple[int, ...]:
    if isinstance(steps, int) and not isinstance(steps, bool):
        return step_grid(dissolver.default_step_range, steps)
    if isinstance(steps, (str, bytes)) or not isinstance(steps, (Sequence, Tensor)) or len(steps) == 0:
        raise ConfigError(f"steps must be a non-empty sequence of steps, or a count of steps to spread over the "
                          f"dissolver's default_step_range; got {steps!r}")
    values = [int(v) if isinstance(v, Tensor) and v.numel() == 1 and not v.is_floating_point() else v for v in steps]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"steps must hold integers; got {values}")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ConfigError(f"steps must be strictly increasing; got {values}")
    if values[0] < 0 or values[-1] >= dissolver.num_train_timesteps:
        raise ConfigError(f"steps must lie in [0, {dissolver.num_train_timesteps}) for this "
                          f"{type(dissolver).__name__}; got {values}")
    return tuple(values)


def _storage_dtype(dtype: torch.dtype | None, images_dtype: torch.dtype) -> str:
    chosen = images_dtype if dtype is None else dtype
    name = str(chosen).removeprefix("torch.")
    if not isinstance(chosen, torch.dtype) or name not in _STORAGE_DTYPES:
        raise ConfigError(f"dtype must be None (the images' dtype) or one of torch.{', torch.'.join(_STORAGE_DTYPES)}; "
                          f"got {dtype!r}")
    return name


def _build_shard(dissolver: Dissolver, source: _Images, plan: _Plan, shard: int, root: Path, bar: tqdm) -> str:
    """Dissolve the images of ``shard`` at every step and draw, write the shard atomically and return its SHA-256."""
    start, stop = plan.shard_range(shard)
    block, device, dtype = source.block(start, stop), module_device(dissolver), _STORAGE_DTYPES[plan.dtype]
    views = torch.empty(plan.shard_shape(shard), dtype=dtype)
    with torch.no_grad():
        for j, step in enumerate(plan.grid):
            for draw in range(plan.draws):
                for a in range(0, stop - start, plan.batch_size):
                    b = min(a + plan.batch_size, stop - start)
                    batch = range(start + a, start + b)
                    noise = view_noise(dissolver, plan.shape, plan.seed, batch, step, draw, device)
                    views[a:b, j, draw] = dissolver(block[a:b].to(device), step, noise=noise).to("cpu", dtype)
                    bar.update(b - a)
    data = serialize_tensors({"views": views}, metadata=plan.shard_metadata(shard))
    with atomic_open(root / _shard_file(shard), "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def build_dissolve_cache(dissolver: Dissolver, images: Tensor | Dataset, folder: str | os.PathLike,
                         steps: Sequence[int] | int, draws: int = 1, seed: int = 0, batch_size: int = 32,
                         progress: bool = True, *, dtype: torch.dtype | None = None,
                         shard_size: int | None = None) -> DissolveCache:
    r"""Dissolve every image at every step of a grid and ``draws`` noise draws, and store the views in ``folder``.

    The images are split into shards of ``shard_size`` consecutive images; a shard (its images at
    every step and draw) is dissolved in batches of ``batch_size`` images at one step and draw,
    written atomically, and recorded in the manifest, which is written after each shard and last.
    The noise of image ``i`` at step ``t`` and draw ``d`` is :func:`view_noise`'s, a function of
    ``(seed, i, t, d)`` only.

    Resumable: run again with the same arguments after a crash or a kill, and only the missing
    shards are built (a shard file is reused when it holds this build's key); the folder then ends
    with the same files, byte for byte, as an uninterrupted build. A folder holding a build with
    other arguments (another dissolver, other images, grid, draws, seed, dtype, batch or shard
    size) is refused. A complete cache is opened and returned at once.

    Several processes: under ``torch.distributed`` (``torchrun``, ``accelerate launch``; every
    process calls this with the same arguments and the same folder, on a shared file system), the
    shards are dealt out in turn (shard ``k`` to process ``k % world_size``) and process 0 writes
    the manifest and ``images.safetensors``; the files are those of a one-process build, byte for
    byte (given the same kind of device and thread count). Only process 0 shows a progress bar.

    Cost: every process reads every image twice (once to hash it, once to dissolve it), and holds
    one shard's images and views in memory.

    Args:
        dissolver: the dissolver (on the device it should run on, in eval mode).
        images: a :math:`(N, C, H, W)` tensor in ``[0, 1]``, or a sized Dataset of :math:`(C, H, W)`
            images or ``(image, label)`` pairs (as the trainers read).
        folder: the cache folder (created; a partial build there is resumed).
        steps: the grid: increasing steps in ``[0, num_train_timesteps)``, or a count of steps to
            spread over the dissolver's ``default_step_range`` with :func:`step_grid`.
        draws: noise draws per step; a dissolver without noise (see the module's notes) takes 1.
        seed: the seed of the noise.
        batch_size: images per dissolver call.
        progress: show a tqdm progress bar (in views: images x steps x draws).
        dtype: storage dtype; ``None`` keeps the dissolved views' dtype (the images'), so that a
            view is bit for bit the live dissolve; ``torch.float16`` halves the bytes of float32
            views but rounds them (to about 5e-4 in ``[0, 1]``): not bit-exact.
        shard_size: images per shard; ``None`` picks shards of about 256 MiB (a multiple of
            ``batch_size`` when that is at least one batch).

    Returns:
        The cache, opened.

    Raises:
        InputTypeError: ``dissolver`` is not a Dissolver, or ``images`` neither a tensor nor a sized Dataset.
        InputError: images that are not ``(C, H, W)`` floats in ``[0, 1]`` of one shape and dtype.
        ConfigError: a bad grid, ``draws``, ``batch_size``, ``shard_size`` or ``dtype``, or
            ``draws > 1`` for a dissolver without noise.
        RunFolderError: ``folder`` holds something else, or a build with other arguments.

    Examples:
        >>> import tempfile
        >>> from dia_augment import GaussianDissolving
        >>> images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> blur = GaussianDissolving()
        >>> cache = build_dissolve_cache(blur, images, tempfile.mkdtemp(), steps=4, progress=False)
        >>> len(cache), cache.grid, cache.draws
        (6, (30, 53, 76, 99), 1)
        >>> view = cache.read([5], grid_index=2, draw=0)
        >>> torch.equal(view, blur(images[:6], 76)[5:6])
        True
    """
    if not isinstance(dissolver, Dissolver):
        raise InputTypeError(f"dissolver must be a Dissolver (e.g. DDPMDissolving); got {type(dissolver).__name__}")
    source = _Images(images)
    grid = _check_grid(steps, dissolver)
    check_int(draws, "draws", error=ConfigError)
    check_int(seed, "seed", minimum=0)
    check_int(batch_size, "batch_size", error=ConfigError)
    check_int(shard_size, "shard_size", error=ConfigError, allow_none=True)
    storage = _storage_dtype(dtype, source.dtype)
    stochastic = dissolver.noise_shape(torch.Size((1, *source.shape))) is not None
    if draws > 1 and not stochastic:
        raise ConfigError(f"draws={draws}, but this {type(dissolver).__name__} draws no noise: its view is a function "
                          "of the image and the step, so every draw would be the same; use draws=1 (noise comes with "
                          "DDPMDissolving(add_noise=True) or StableDiffusionDissolving(sample_latent=True))")
    if shard_size is None:
        per_image = len(grid) * draws * math.prod(source.shape) * _STORAGE_DTYPES[storage].itemsize
        shard_size = max(1, _SHARD_BYTES // per_image)
        shard_size = shard_size // batch_size * batch_size if shard_size >= batch_size else shard_size
    digest = _digest_images(source)
    plan = _Plan(_describe_dissolver(dissolver), digest.describe(), grid, draws, seed, storage, stochastic, batch_size,
                 min(shard_size, source.count))
    root = Path(folder)
    world, rank = _world()
    saved = _existing_manifest(root, plan)
    valid = {k for k in range(plan.shards) if _shard_problem(root / _shard_file(k), plan, k) is None}
    if saved is not None and saved["complete"] and len(valid) == plan.shards:
        return DissolveCache.open(root)
    recorded = {k: s["sha256"] for k, s in enumerate(saved["shards"]) if s["sha256"]} if saved else {}
    known = {k: sha for k, sha in recorded.items() if k in valid}
    _barrier(world)  # every process has looked at the folder before process 0 writes to it
    if rank == 0:
        root.mkdir(parents=True, exist_ok=True)
        for path in root.iterdir():
            if _is_own_temp(path, plan):
                path.unlink()
        atomic_save_tensors({"sha256": digest.digests, "checksum": digest.checksums}, root / IMAGES_NAME,
                            metadata={CACHE_FORMAT: json.dumps({"key": plan.key})})
        atomic_write_json(root / MANIFEST_NAME, plan.manifest(known, complete=False))
    _barrier(world)
    mine = range(rank, plan.shards, world)
    shas = {k: known.get(k) or _file_sha256(root / _shard_file(k)) for k in mine if k in valid}
    todo = [k for k in mine if k not in valid]
    total = sum(plan.shard_shape(k)[0] for k in todo) * len(grid) * draws
    with tqdm(total=total, desc="dissolve cache", unit="view", disable=not progress or rank != 0) as bar:
        for k in todo:
            shas[k] = _build_shard(dissolver, source, plan, k, root, bar)
            if rank == 0:
                atomic_write_json(root / MANIFEST_NAME, plan.manifest({**known, **shas}, complete=False))
    shas = _gather(shas, world)
    if rank == 0:
        atomic_write_json(root / MANIFEST_NAME, plan.manifest(shas, complete=True))
    _barrier(world)
    return DissolveCache.open(root)


# ---------------------------------------------------------------------------------------------- reading
def _check_indices(indices: Tensor | Sequence[int], count: int, batch: int | None = None) -> Tensor:
    """``indices`` as a CPU int64 ``(B,)`` tensor of data-set indices in ``[0, count)``; ``batch``: the expected B."""
    if not isinstance(indices, (Tensor, Sequence)) or isinstance(indices, (str, bytes)):
        raise InputTypeError(f"indices must be a (B,) integer tensor or a sequence of ints; got "
                             f"{type(indices).__name__}")
    try:
        index = torch.as_tensor(indices).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as err:
        raise InputTypeError(f"indices must hold integers: {err}") from err
    if index.is_floating_point() or index.is_complex() or index.dtype == torch.bool:
        raise InputTypeError(f"indices must hold integer data-set indices; got dtype {index.dtype}")
    if index.ndim != 1 or (batch is not None and index.shape[0] != batch):
        expected = f"({batch},)" if batch is not None else "(B,)"
        raise InputError(f"indices must be a {expected} tensor, one data-set index per image of the batch; got shape "
                         f"{tuple(index.shape)}")
    outside = index[(index < 0) | (index >= count)]
    if outside.numel():
        raise InputError(f"indices holds {outside[:3].tolist()}, outside [0, {count}): the cache holds {count} images")
    return index.long()


def _per_row(value: int | Tensor, rows: int, bound: int, name: str) -> Tensor:
    """An int or a ``(B,)`` integer tensor as ``(B,)`` int64 in ``[0, bound)``."""
    tensor = torch.as_tensor(value).detach().cpu()
    if tensor.is_floating_point() or tensor.dtype == torch.bool:
        raise InputTypeError(f"{name} must hold integers; got dtype {tensor.dtype}")
    if tensor.ndim > 1 or (tensor.ndim == 1 and tensor.shape[0] != rows):
        raise InputError(f"{name} must be an int or a ({rows},) tensor; got shape {tuple(tensor.shape)}")
    tensor = tensor.long().expand(rows)
    outside = tensor[(tensor < 0) | (tensor >= bound)]
    if outside.numel():
        raise InputError(f"{name} holds {outside[:3].tolist()}, outside [0, {bound})")
    return tensor


class DissolveCache:
    r"""A dissolve cache on disk, opened: the views of :func:`build_dissolve_cache`, read on demand.

    Shards are memory-mapped (safetensors ``safe_open``) when first read, at most 8 at a time
    (the least recently used is closed first), and only the views asked for are copied out: a
    cache larger than memory works. It pickles (without its open shards), so it crosses into
    DataLoader workers; a forked process reopens its shards.

    Get one from :meth:`open` or :func:`build_dissolve_cache`.

    Attributes:
        folder: the cache folder.
        manifest: its manifest (the fields of ``manifest.json``).
        grid: the steps, increasing.
        draws: noise draws per step.
        seed: the noise seed.
        dtype: the views' storage dtype.
        image_shape: :math:`(C, H, W)` of the images and views.
        batch_size: images per dissolver call of the build.

    Examples:
        >>> import tempfile
        >>> from dia_augment import GaussianDissolving
        >>> images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> folder = tempfile.mkdtemp()
        >>> _ = build_dissolve_cache(GaussianDissolving(), images, folder, steps=[40, 80], progress=False)
        >>> cache = DissolveCache.open(folder, dissolver=GaussianDissolving(), images=images)
        >>> cache.read(torch.tensor([3, 0]), torch.tensor([1, 0]), 0).shape
        torch.Size([2, 1, 8, 8])
        >>> DissolveCache.open(folder, dissolver=GaussianDissolving(kernel_size=5))
        Traceback (most recent call last):
        ...
        dia_augment.errors.CheckpointError: the dissolve cache ... option kernel_size is 5 (the cache's: 7)...
    """

    def __init__(self, folder: Path, manifest: dict[str, Any], digests: Tensor, checksums: Tensor) -> None:
        self.folder, self.manifest = folder, manifest
        self._plan = _Plan.from_manifest(manifest)
        self.grid, self.draws, self.seed = self._plan.grid, self._plan.draws, self._plan.seed
        self.dtype, self.image_shape = _STORAGE_DTYPES[self._plan.dtype], self._plan.shape
        self.batch_size = self._plan.batch_size
        self._digests, self._checksums = digests, checksums
        self._steps = {step: j for j, step in enumerate(self.grid)}
        self._shards: OrderedDict[int, Any] = OrderedDict()
        self._pid = os.getpid()

    @classmethod
    def open(cls, folder: str | os.PathLike, dissolver: Dissolver | None = None, images: Tensor | Dataset | None = None,
             verify: bool = False) -> DissolveCache:
        """Open a complete cache, checking it against a dissolver and images when given.

        Every shard's header is read (cheap) to check that it is there, whole, and of this build.

        Args:
            folder: the cache folder.
            dissolver: refuse the cache unless it was built with this dissolver (same class,
                options, architecture, weights and buffers).
            images: refuse the cache unless it was built from these images (a tensor or a
                Dataset, as for the build; every image is read and hashed).
            verify: also hash every shard file and compare with the manifest (reads the whole cache).

        Returns:
            The cache.

        Raises:
            MissingCheckpointError: ``folder`` does not exist.
            CheckpointError: no or a corrupt manifest, an incomplete cache, a shard missing,
                corrupt, or of another build, another dissolver or other images (the message
                names the file and what differs).
        """
        root = Path(folder)
        if not root.is_dir():
            raise MissingCheckpointError(f"dissolve cache folder not found: {root}")
        manifest_path = root / MANIFEST_NAME
        if not manifest_path.exists():
            raise CheckpointError(f"{root} has no {MANIFEST_NAME}: it is not a dissolve cache (build one with "
                                  "build_dissolve_cache)")
        manifest = _read_manifest(manifest_path)
        plan = _Plan.from_manifest(manifest)
        if not manifest["complete"]:
            missing = [s["file"] for s in manifest["shards"] if not s["sha256"]]
            raise CheckpointError(f"the dissolve cache {root} is incomplete ({manifest_path} records {len(missing)} of "
                                  f"{plan.shards} shards as not built, e.g. {missing[:3]}): run build_dissolve_cache "
                                  "again with the same arguments, it resumes")
        for k, entry in enumerate(manifest["shards"]):
            path = root / entry["file"]
            problem = _shard_problem(path, plan, k)
            if problem is not None:
                raise CheckpointError(f"dissolve cache shard {path}: {problem}; the cache is damaged: run "
                                      "build_dissolve_cache again with the same arguments, it rebuilds the shard")
            if verify and _file_sha256(path) != entry["sha256"]:
                raise CheckpointError(f"dissolve cache shard {path}: its SHA-256 differs from the one in "
                                      f"{manifest_path}; the cache is damaged: delete the shard and run "
                                      "build_dissolve_cache again with the same arguments to rebuild it")
        tensors = load_tensors(root / IMAGES_NAME, "dissolve cache image digests", keys=["sha256", "checksum"])
        digests, checksums = tensors["sha256"], tensors["checksum"]
        if tuple(digests.shape) != (plan.count, 32) or tuple(checksums.shape) != (plan.count,):
            raise CheckpointError(f"{root / IMAGES_NAME} holds digests of shape {tuple(digests.shape)} and checksums "
                                  f"of shape {tuple(checksums.shape)}; {manifest_path} has {plan.count} images")
        if dissolver is not None:
            if not isinstance(dissolver, Dissolver):
                raise InputTypeError(f"dissolver must be a Dissolver; got {type(dissolver).__name__}")
            current = _describe_dissolver(dissolver)
            if current["sha256"] != manifest["dissolver"]["sha256"]:
                raise CheckpointError(f"the dissolve cache {root} was built with another dissolver: "
                                      f"{_dissolver_differences(manifest['dissolver'], current)} ({manifest_path}); "
                                      "build a cache for this dissolver in another folder")
        if images is not None:
            current_data = _digest_images(_Images(images))
            if current_data.sha256 != manifest["data"]["sha256"]:
                differences = _data_differences(manifest["data"], digests, current_data)
                raise CheckpointError(f"the dissolve cache {root} was built from other images: {differences} "
                                      f"({manifest_path}); build a cache for these images in another folder")
        return cls(root, manifest, digests, checksums)

    def __len__(self) -> int:
        return self._plan.count

    def grid_index(self, steps: Tensor | Sequence[int]) -> Tensor:
        """The position on the grid of each step.

        Raises:
            InputError: a step that is not on the grid.

        Examples:
            >>> import tempfile
            >>> from dia_augment import GaussianDissolving
            >>> cache = build_dissolve_cache(GaussianDissolving(), torch.rand(2, 1, 8, 8), tempfile.mkdtemp(),
            ...                              steps=[40, 80], progress=False)
            >>> cache.grid_index(torch.tensor([80, 40, 80])).tolist()
            [1, 0, 1]
            >>> cache.grid_index([45])
            Traceback (most recent call last):
            ...
            dia_augment.errors.InputError: step 45 is not on the cache's grid (40, 80)
        """
        values = torch.as_tensor(steps).detach().cpu()
        if values.is_floating_point() or values.dtype == torch.bool:
            raise InputTypeError(f"steps must hold integers; got dtype {values.dtype}")
        positions = []
        for step in values.reshape(-1).tolist():
            if step not in self._steps:
                raise InputError(f"step {step} is not on the cache's grid {self.grid}")
            positions.append(self._steps[step])
        return torch.tensor(positions, dtype=torch.long).reshape(values.shape)

    def build_batch(self, index: int) -> tuple[int, int]:
        """The images ``[a, b)`` that image ``index`` was dissolved with, in one call, at every step and draw.

        Its view at step ``t`` and draw ``d`` is row ``index - a`` of
        ``dissolver(images[a:b], t, noise=view_noise(dissolver, cache.image_shape, cache.seed, range(a, b), t, d))``,
        bit for bit.
        """
        index = int(_check_indices([index], len(self))[0])
        shard = index // self._plan.shard_size
        start = shard * self._plan.shard_size
        a = start + (index - start) // self.batch_size * self.batch_size
        return a, min(a + self.batch_size, self._plan.shard_range(shard)[1])

    def _slice(self, shard: int) -> Any:
        """Shard ``shard``'s views, memory-mapped (least recently used shards closed beyond the limit)."""
        if self._pid != os.getpid():  # a forked process (a DataLoader worker) maps the files itself
            self._shards.clear()
            self._pid = os.getpid()
        if shard in self._shards:
            self._shards.move_to_end(shard)
            return self._shards[shard][1]
        path = self.folder / _shard_file(shard)
        try:
            handle = safe_open(str(path), "pt")
            views = handle.get_slice("views")
        except (FileNotFoundError, SafetensorError, OSError) as err:
            raise CheckpointError(f"dissolve cache shard {path} cannot be read ({err}); the cache is damaged: run "
                                  "build_dissolve_cache again with the same arguments, it rebuilds the shard") from err
        self._shards[shard] = (handle, views)
        if len(self._shards) > _MAX_OPEN_SHARDS:
            self._shards.popitem(last=False)
        return views

    def read(self, indices: Tensor | Sequence[int], grid_index: int | Tensor, draw: int | Tensor) -> Tensor:
        """The cached views of images ``indices`` at grid positions ``grid_index`` and draws ``draw``.

        Args:
            indices: :math:`(B,)` data-set indices.
            grid_index: an int, or a :math:`(B,)` tensor of positions on :attr:`grid`.
            draw: an int, or a :math:`(B,)` tensor of draws in ``[0, draws)``.

        Returns:
            :math:`(B, C, H, W)` on the CPU, in the storage dtype.

        Raises:
            InputError: an index, grid position or draw out of range, or per-row tensors of another length.
            CheckpointError: a shard file that cannot be read.
        """
        index = _check_indices(indices, len(self))
        rows = index.shape[0]
        positions = _per_row(grid_index, rows, len(self.grid), "grid_index")
        draws = _per_row(draw, rows, self.draws, "draw")
        out = torch.empty((rows, *self.image_shape), dtype=self.dtype)
        for row, (i, j, d) in enumerate(zip(index.tolist(), positions.tolist(), draws.tolist())):
            shard, local = divmod(i, self._plan.shard_size)
            out[row] = self._slice(shard)[local:local + 1, j:j + 1, d:d + 1][0, 0, 0]
        return out

    def check_images(self, images: Tensor, indices: Tensor | Sequence[int]) -> None:
        """Check that ``images`` are the images the cache holds at ``indices`` (a quick weighted-sum check).

        Catches a batch that is not the cached images in data-set order: another image, a
        reordering, a flip, a crop or any other augmentation applied before dissolving. One pass
        over the batch and one host sync.

        Raises:
            InputError: the first row that differs, naming its index; images of another shape or dtype.
        """
        index = _check_indices(indices, len(self), images.shape[0])
        source = self._plan.data
        if tuple(images.shape[1:]) != self.image_shape or str(images.dtype).removeprefix("torch.") != source["dtype"]:
            raise InputError(f"images are {tuple(images.shape[1:])} {images.dtype}, but the cache was built from "
                             f"{self.image_shape} {source['dtype']} images: pass the images as the cache's data set "
                             "holds them")
        sums = _checksums(images)
        expected = self._checksums[index].to(sums.device)
        bad = ((sums - expected).abs() > _CHECK_RTOL * (1 + expected.abs())).nonzero().flatten().tolist()
        if bad:
            row = bad[0]
            raise InputError(f"images[{row}] is not the image the cache holds at index {int(index[row])}"
                             f"{f' (nor are {len(bad) - 1} other rows)' if len(bad) > 1 else ''}: pass the images in "
                             "data-set order with their indices, before any other augmentation (or check_images=False)")

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_shards": OrderedDict()}

    def __repr__(self) -> str:
        return (f"DissolveCache({str(self.folder)!r}, images={len(self)}, grid={self.grid}, draws={self.draws}, "
                f"dtype={self.dtype})")


class CachedDissolving(nn.Module):
    r"""Dissolve a batch by reading its views from a :class:`DissolveCache`, a grid step and a draw per sample.

    The cached counterpart of :class:`~dia_augment.RandomDissolving` with ``p = 1``: it draws, per
    sample, a step from the cache's grid (uniformly, or as ``low + floor(u (high - low))`` over the
    grid positions with ``u ~ Beta(*step_beta)`` when a curriculum sets :attr:`step_beta`) and a
    draw, all from ``generator``; it records them in ``_params`` (``step``, ``grid_index``,
    ``draw``, ``index``) and ``aug(images, indices, params=aug._params)`` replays exactly. It
    pickles (DataLoader workers).

    The trainer passes each image's data-set index. With ``check_images`` (the default) the
    images are checked against the cached ones (:meth:`DissolveCache.check_images`): a batch
    reordered, flipped, cropped or otherwise augmented before dissolving raises instead of
    silently getting another image's views.

    No gradient reaches the input: the views are read, not computed.

    Args:
        cache: the cache, or its folder (opened with :meth:`DissolveCache.open`).
        step_range: draw only the grid steps in this half-open ``(low, high)``.
        steps: draw only these grid steps (``step_range`` or ``steps``, not both).
        generator: a ``torch.Generator`` or an int seed for every draw; ``None`` uses the global RNG.
        check_images: check that the images are the cached ones at ``indices``.

    Shape:
        - images: :math:`(B, C, H, W)`, the cached images
        - indices: :math:`(B,)`, their indices in the data set
        - output: :math:`(B, C, H, W)`, on the images' device, in their dtype

    Examples:
        >>> import tempfile
        >>> from dia_augment import GaussianDissolving
        >>> images = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> cache = build_dissolve_cache(GaussianDissolving(), images, tempfile.mkdtemp(), steps=4, progress=False)
        >>> aug = CachedDissolving(cache, generator=0)
        >>> indices = torch.tensor([5, 2, 7])
        >>> y = aug(images[indices], indices)
        >>> aug._params["step"].tolist(), aug._params["grid_index"].tolist()
        ([30, 99, 53], [0, 3, 1])
        >>> torch.equal(aug(images[indices], indices, params=aug._params), y)
        True
        >>> aug(images[indices].flip(-1), indices)
        Traceback (most recent call last):
        ...
        dia_augment.errors.InputError: images[0] is not the image the cache holds at index 5 ...
    """

    def __init__(self, cache: DissolveCache | str | os.PathLike, step_range: Sequence[int] | None = None,
                 steps: Sequence[int] | None = None, generator: torch.Generator | int | None = None,
                 check_images: bool = True) -> None:
        super().__init__()
        self.cache = cache if isinstance(cache, DissolveCache) else DissolveCache.open(cache)
        grid = self.cache.grid
        if step_range is not None and steps is not None:
            raise ConfigError("pass step_range= or steps=, not both")
        if step_range is not None:
            low, high = check_range_pair(step_range, 0, sys.maxsize, "step_range")
            chosen = [j for j, step in enumerate(grid) if low <= step < high]
            if not chosen:
                raise ConfigError(f"step_range {(low, high)} holds none of the cache's steps {grid}")
        elif steps is not None:
            off_grid = [s for s in steps if s not in grid]
            if off_grid or len(steps) == 0:
                raise ConfigError(f"steps must be a non-empty subset of the cache's grid {grid}; got {list(steps)}")
            chosen = sorted({grid.index(s) for s in steps})
        else:
            chosen = list(range(len(grid)))
        #: the grid positions drawn from.
        self.grid_indices: tuple[int, ...] = tuple(chosen)
        self.generator = make_generator(generator)
        self.check_images = bool(check_images)
        #: ``(a, b)``: draw the grid position as ``floor(u * len(grid_indices))`` with ``u ~ Beta(a, b)`` instead
        #: of uniformly (as :attr:`~dia_augment.RandomDissolving.step_beta`).
        self.step_beta: tuple[float, float] | None = None
        self._params: dict[str, Tensor] = {}

    def forward_parameters(self, indices: Tensor) -> dict[str, Tensor]:
        """Draw a grid step and a draw per sample of a batch of ``indices``, from ``generator``."""
        rows = indices.shape[0]
        device = self.generator.device if self.generator is not None else torch.device("cpu")
        position = draw_steps(rows, (0, len(self.grid_indices)), self.generator, beta=self.step_beta).cpu()
        grid_index = torch.tensor(self.grid_indices, dtype=torch.long)[position]
        draw = torch.randint(0, self.cache.draws, (rows,), generator=self.generator, device=device).cpu()
        return {"step": torch.tensor(self.cache.grid, dtype=torch.long)[grid_index], "grid_index": grid_index,
                "draw": draw, "index": indices.clone()}

    def _replayed(self, params: Mapping[str, Tensor], indices: Tensor) -> dict[str, Tensor]:
        """Recorded ``params`` checked against the cache and the batch."""
        missing = [key for key in ("step", "draw") if key not in params]
        if missing:
            raise InputError(f"params has no {missing} (it has {sorted(params)}): replay the params a call recorded")
        rows = indices.shape[0]
        step = _per_row(params["step"], rows, sys.maxsize, "params['step']")
        grid_index = self.cache.grid_index(step)
        recorded = {key: torch.as_tensor(params[key]).cpu().long() for key in ("grid_index", "index") if key in params}
        if "grid_index" in recorded and not torch.equal(recorded["grid_index"], grid_index):
            raise InputError(f"params['grid_index'] {recorded['grid_index'].tolist()} does not match params['step'] "
                             f"{step.tolist()} on the cache's grid {self.cache.grid}")
        if "index" in recorded and not torch.equal(recorded["index"], indices):
            raise InputError(f"params were drawn for the indices {recorded['index'].tolist()}; got {indices.tolist()}: "
                             "replay params on the batch they were drawn for")
        draw = _per_row(params["draw"], rows, self.cache.draws, "params['draw']")
        return {"step": step, "grid_index": grid_index, "draw": draw, "index": indices.clone()}

    def forward(self, images: Tensor, indices: Tensor | Sequence[int],
                params: dict[str, Tensor] | None = None) -> Tensor:
        """The cached views of ``images`` (data-set ``indices``), drawn or replayed from ``params``.

        Args:
            images: :math:`(B, C, H, W)`, the cached images in data-set order (their device and
                dtype are the output's).
            indices: :math:`(B,)` data-set indices of the images.
            params: recorded ``_params`` to replay.

        Returns:
            :math:`(B, C, H, W)`.

        Raises:
            InputError: images of another shape, indices out of range or of another count, replayed
                params whose steps are not on the grid, or images that are not the cached ones.
        """
        check_images(images, name="images", channels=None, check_range=False)
        if tuple(images.shape[1:]) != self.cache.image_shape:
            raise InputError(f"images are {tuple(images.shape[1:])}, but the cache holds {self.cache.image_shape} "
                             "views: dissolve the images the cache was built from")
        index = _check_indices(indices, len(self.cache), images.shape[0])
        params = self.forward_parameters(index) if params is None else self._replayed(params, index)
        if self.check_images:
            self.cache.check_images(images, index)
        views = self.cache.read(index, params["grid_index"], params["draw"])
        self._params = params
        return views.to(device=images.device, dtype=images.dtype)

    def extra_repr(self) -> str:
        steps = tuple(self.cache.grid[j] for j in self.grid_indices)
        return (f"cache={str(self.cache.folder)!r}, steps={steps}, draws={self.cache.draws}, "
                f"check_images={self.check_images}")
