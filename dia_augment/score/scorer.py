"""``CSIScorer``: test-time augmented features of a trained model, and the CSI score from them.

For every image, each of the ``num_samples`` test-time samples is drawn as in CSI's evaluation:
a random horizontal flip (p = 0.5, one per image and sample, shared by its shifts), the
``num_shifts`` shifted copies, then the SimCLR augmentation with its own random parameters for
every row (resized crop of scale ``resize_factor``, colour jitter, grayscale). The model sees the
``num_shifts * B`` rows of a batch in one forward pass; for shift ``k`` we keep the projection
``z`` and the shift logit of class ``k``, and average both over the samples. :func:`csi_score`
turns the statistics of the normal training images and of the test images into scores.

Degenerate shift weight (one policy for the library, ``dia-augment score`` and the example):
:meth:`CSIScorer.fit` checks everything the scores need from the training set before any test
image is seen. All-zero training projections raise. A shift whose mean training logit is
``<= 0`` (an under-trained shift head, e.g. a run of a few epochs) makes CSI's weight
``1 / mean`` flip or blow up that shift's term; the ``csi`` score then **falls back to the
SimCLR score** (the same as ``method="simclr"`` / ``--method simclr``), says so in one line
(:meth:`CSIScorer.resolve_method`), and the CLI records the method used in ``metrics.json``.
The ``shift`` score has no fallback and raises.

Randomness: :meth:`CSIScorer.fit` and :meth:`CSIScorer.score` each start a fresh generator from
``seed``, so the same images, in the same order, with the same ``batch_size`` always give the
same result. Per batch, the draws happen sample by sample: flips, then the augmentation.

Several processes (``accelerate launch`` / ``torchrun``, ``torch.distributed`` initialised): every
process passes the same images; each runs the model on its share of the batches (consecutive
batches, the first processes taking one more when they do not divide evenly) and the features are
gathered in order, so every process holds the statistics of all images. A process first replays
the flips and augmentations of the batches before its share without the model (a few percent of a
batch's time), so its draws are those of one process: the features, and the scores, are the
single process's, up to the last bits of floating-point summation. :meth:`CSIScorer.score` then
splits the test rows of the similarity search across the processes and gathers the scores. On one
process nothing of this runs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from dia_augment.errors import ConfigError, InputError, InputTypeError, NotFittedError
from dia_augment.score.csi import (
    DEFAULT_CHUNK_SIZE,
    SCORE_METHODS,
    check_training_statistics,
    degenerate_shifts,
    resolve_score_method,
    score_by_method,
)
from dia_augment.filters.base import autocast_context, autocast_dtype
from dia_augment.shift.transforms import SHIFT_KINDS
from dia_augment.utils.checks import check_images
from dia_augment.utils.io import CheckpointError, atomic_save_tensors, atomic_write_json, load_tensors, read_json
from dia_augment.utils.random import make_generator

__all__ = ["CSIScorer", "SHIFT_KINDS", "SCORE_METHODS"]

_CONFIG_FILE = "csi_scorer.json"
_TENSORS_FILE = "csi_scorer.safetensors"
_FORMAT = "dia_augment.CSIScorer"

Images = Tensor | Dataset
Augmentation = Callable[..., Tensor]


def _positive_int(value: Any, name: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (maximum is not None and value > maximum):
        bound = f"in [1, {maximum}]" if maximum is not None else ">= 1"
        raise ConfigError(f"{name} must be an int {bound}; got {value!r}")
    return value


def _image_of(item: Any, index: int) -> Tensor:
    image = item[0] if isinstance(item, (tuple, list)) else item
    if not isinstance(image, Tensor):
        raise InputTypeError(f"dataset item {index} must be an image tensor or an (image, label) pair; got {type(image).__name__}")
    if image.ndim != 3:
        raise InputError(f"dataset item {index} must be a (C, H, W) image; got shape {tuple(image.shape)}")
    return image


def _iter_batches(images: Images, batch_size: int) -> tuple[int, Iterator[Tensor]]:
    """The number of images and an iterator over ``(B, C, H, W)`` batches (checked with ``check_images``)."""
    if isinstance(images, Tensor):
        check_images(images)
        n = images.shape[0]
        return n, (images[i : i + batch_size] for i in range(0, n, batch_size))
    if not isinstance(images, Dataset) or not hasattr(images, "__len__"):
        raise InputTypeError(f"images must be a (N, C, H, W) tensor or a sized torch Dataset; got {type(images).__name__}")
    n = len(images)
    if n == 0:
        raise InputError("images is an empty dataset")

    def batches() -> Iterator[Tensor]:
        for start in range(0, n, batch_size):
            items = [_image_of(images[j], j) for j in range(start, min(n, start + batch_size))]
            sizes = {tuple(x.shape) for x in items}
            if len(sizes) > 1:
                raise InputError(f"dataset images must share one shape; got {sorted(sizes)} (set image_size on the dataset)")
            yield check_images(torch.stack(items), name=f"dataset images {start}..{start + len(items) - 1}")

    return n, batches()


def _row_shares(n: int, world: int) -> list[tuple[int, int]]:
    """``[first, last)`` of each process's consecutive share of ``n`` items (the first ones one longer).

    Examples:
        >>> _row_shares(5, 2), _row_shares(1, 3)
        ([(0, 3), (3, 5)], [(0, 1), (1, 1), (1, 1)])
    """
    size, extra = divmod(n, world)
    bounds = [r * size + min(r, extra) for r in range(world + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _batch_shares(n: int, batch_size: int, world: int) -> list[tuple[int, int]]:
    """``[first, last)`` batch indices of each process's share of the ``ceil(n / batch_size)`` batches."""
    return _row_shares(-(-n // batch_size), world)


def _gather_rows(rows: Tensor, counts: list[int]) -> Tensor:
    """Concatenate every process's ``rows`` in rank order, ``counts[r]`` of them from process ``r``.

    The processes may hold different numbers of rows (the trailing shape must agree): each pads its
    rows to ``max(counts)`` for the all-gather, and the padding is dropped. On one process, ``rows``.

    Args:
        rows: this process's rows.
        counts: the number of rows of every process, the same list on all of them.

    Shape:
        - rows: :math:`(counts[rank], *)`
        - output: :math:`(\\sum counts, *)`

    Examples:
        >>> _gather_rows(torch.arange(3), [3]).tolist()
        [0, 1, 2]
    """
    if len(counts) == 1:
        return rows
    from dia_augment.train.distributed import all_gather_no_grad

    padded = rows.new_zeros((max(counts), *rows.shape[1:]))
    padded[: rows.shape[0]] = rows
    parts = all_gather_no_grad(padded).split(max(counts))
    return torch.cat([part[:count] for part, count in zip(parts, counts)])


def _model_device(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


class CSIScorer:
    r"""Fit CSI's training statistics on normal images and score new images (higher = more normal).

    Args:
        model: a trained model whose ``forward(x)`` on ``(B, C, H, W)`` images in ``[0, 1]``
            returns an object with ``projection`` ``(B, D)`` and ``shift_logits``
            ``(B, >= num_shifts)`` (as :class:`~dia_augment.models.DIAResNet`'s ``ModelOutput``).
        shift: the shift transformation, ``"rotation"`` or ``"cutperm"``
            (``dia_augment.shift.shift_transform``).
        num_shifts: K, the shifts ``0 .. K - 1`` to average over (1 to 4).
        num_samples: T, test-time augmentations per image (10 in the paper).
        resize_factor: the crop scale of the test-time resized crop (0.54 in the paper).
        resize_fix: crop scale fixed at ``(resize_factor, resize_factor)``; otherwise
            ``(resize_factor, 1)``.
        image_size: the model's input size: the side of the test-time crop, taken from the images
            at their own resolution (as in training); the rows of a custom ``augmentation`` are
            resized to it. ``None`` keeps the images' size (they must then be square).
        batch_size: images per forward pass (the model sees ``num_shifts * batch_size`` rows).
        seed: the seed of the test-time randomness.
        hflip: draw a random horizontal flip per image and sample, as CSI's evaluation does.
        augmentation: a custom test-time augmentation called as ``augmentation(rows, generator=g)``
            on ``(R, C, S, S)`` rows; ``None`` builds
            ``dia_augment.augmentation.simclr.SimCLRAugmentation`` from ``resize_factor`` and
            ``resize_fix``.
        chunk_size: rows per block in the similarity search (see :func:`csi_score`).
        progress: show a progress bar while extracting features.
        autocast: run the model under ``torch.autocast`` in this dtype (``torch.bfloat16`` on CPU
            and CUDA, ``torch.float16`` on CUDA, or their names), or ``None`` (fp32); the
            averages and the score stay float32.
        channels_last: hand the model ``channels_last`` rows.
        compile: run the model through ``torch.compile`` (compiled on the first batch).

    Shape:
        - images: :math:`(N, C, H, W)` in ``[0, 1]`` (or a Dataset of :math:`(C, H, W)` images)
        - ``score`` output: :math:`(N,)`

    Examples:
        >>> from collections import namedtuple
        >>> Out = namedtuple("Out", "features projection shift_logits")
        >>> class Tiny(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.head = nn.Linear(16, 4)
        ...     def forward(self, x):
        ...         f = x.flatten(1)
        ...         return Out(f, f[:, :4], self.head(f) + 5.0)
        >>> scorer = CSIScorer(Tiny(), num_samples=2, augmentation=lambda x, generator=None: x, progress=False)
        >>> train = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> scorer.fit(train).train_features.shape
        torch.Size([4, 6, 4])
        >>> torch.equal(scorer.score(train[:2]), scorer.score(train[:2]))
        True
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> scorer.save(folder)
        >>> loaded = CSIScorer.load(folder, scorer.model, augmentation=scorer.augmentation, progress=False)
        >>> torch.equal(loaded.score(train[:2]), scorer.score(train[:2]))
        True
    """

    def __init__(
        self,
        model: nn.Module,
        shift: str = "rotation",
        num_shifts: int = 4,
        num_samples: int = 10,
        resize_factor: float = 0.54,
        resize_fix: bool = True,
        image_size: int | None = None,
        batch_size: int = 64,
        seed: int = 0,
        *,
        hflip: bool = True,
        augmentation: Augmentation | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: bool = True,
        autocast: torch.dtype | str | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise InputTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        if shift not in SHIFT_KINDS:
            raise ConfigError(f"shift must be one of {SHIFT_KINDS}; got {shift!r}")
        if isinstance(resize_factor, bool) or not isinstance(resize_factor, (int, float)) or not 0 < resize_factor <= 1:
            raise ConfigError(f"resize_factor must be a number in (0, 1]; got {resize_factor!r}")
        if image_size is not None:
            _positive_int(image_size, "image_size")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed must be an int; got {type(seed).__name__}")
        if augmentation is not None and not callable(augmentation):
            raise InputTypeError(f"augmentation must be callable or None; got {type(augmentation).__name__}")
        self.model = model
        self.shift = shift
        self.num_shifts = _positive_int(num_shifts, "num_shifts", maximum=4)
        self.num_samples = _positive_int(num_samples, "num_samples")
        self.resize_factor = float(resize_factor)
        self.resize_fix = bool(resize_fix)
        self.image_size = image_size
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.seed = seed
        self.hflip = bool(hflip)
        self.augmentation = augmentation
        self.chunk_size = _positive_int(chunk_size, "chunk_size")
        self.progress = bool(progress)
        self.autocast = autocast_dtype(autocast)
        self.channels_last = bool(channels_last)
        self.compile = bool(compile)
        self._forward: Callable[[Tensor], Any] = torch.compile(model) if self.compile else model
        self._train_features: Tensor | None = None
        self._train_shift_logits: Tensor | None = None
        self._default_augmentations: dict[int, nn.Module] = {}

    # ----------------------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load`) has set the training statistics."""
        return self._train_features is not None

    @property
    def train_features(self) -> Tensor:
        """The training images' averaged projections, :math:`(K, N, D)`, float32 on CPU."""
        return self._fitted()[0]

    @property
    def train_shift_logits(self) -> Tensor:
        """The training images' averaged shift logits (class k for shift k), :math:`(K, N)`."""
        return self._fitted()[1]

    def _fitted(self) -> tuple[Tensor, Tensor]:
        if self._train_features is None or self._train_shift_logits is None:
            raise NotFittedError("the CSIScorer is not fitted: call fit(normal_train_images) or CSIScorer.load first")
        return self._train_features, self._train_shift_logits

    # ----------------------------------------------------------------------------------------
    def fit(self, images: Images) -> CSIScorer:
        """Compute and store the statistics of the normal training images.

        Args:
            images: :math:`(N, C, H, W)` float in ``[0, 1]``, or a Dataset of images or
                ``(image, label)`` pairs; normal images only.

        Returns:
            ``self``.

        Raises:
            InputError: the training projections of some shift are all zero (no score is
                defined); checked here, before any test image.
        """
        features, logits = self.extract_features(images)
        check_training_statistics(features, logits)
        self._train_features, self._train_shift_logits = features, logits
        return self

    @property
    def degenerate_shifts(self) -> list[int]:
        """The shifts whose mean training logit is ``<= 0`` (see :func:`~dia_augment.score.degenerate_shifts`)."""
        return degenerate_shifts(self._fitted()[1])

    def resolve_method(self, method: str = "csi") -> tuple[str, str | None]:
        """The score method actually used for ``method`` and a one-line note when it differs.

        The fallback policy of :func:`~dia_augment.score.resolve_score_method` on the fitted
        statistics: a degenerate shift weight turns ``"csi"`` into ``"simclr"``.
        """
        return resolve_score_method(method, self._fitted()[1])

    def score(self, images: Images, method: str = "csi") -> Tensor:
        """Score images against the fitted training statistics (higher = more normal).

        Args:
            images: :math:`(M, C, H, W)` float in ``[0, 1]``, or a Dataset.
            method: ``"csi"`` (the full score; the SimCLR score, with a warning, when the shift
                weight is degenerate: see :meth:`resolve_method`), ``"simclr"`` (max cosine similarity of the
                normalised mean projection of shift 0 to the training set) or ``"shift"``
                (``mean_k w_shi_k * l_k(x)``, the shift-logit term alone).

        Returns:
            :math:`(M,)` float32 scores on CPU (on several processes, each scores its share of the
            test images and every process returns all M scores).
        """
        used, note = self.resolve_method(method)
        if note is not None:
            warnings.warn(note, stacklevel=2)
        method = used
        train_features, train_logits = self._fitted()
        features, logits = self.extract_features(images)
        if features.shape[-1] != train_features.shape[-1]:
            raise InputError(
                f"the model's projection size {features.shape[-1]} differs from the fitted statistics' "
                f"{train_features.shape[-1]}: score with the model the scorer was fitted with"
            )
        from dia_augment.train.distributed import rank, world_size

        shares = _row_shares(features.shape[1], world_size())
        first, last = shares[rank()]
        if first == last:  # more processes than test images: nothing to score here
            scores = torch.zeros(0)
        else:
            scores = score_by_method(method, train_features, train_logits, features[:, first:last], logits[:, first:last],
                                     self.chunk_size)
        if len(shares) == 1:
            return scores
        device = _model_device(self.model)
        return _gather_rows(scores.to(device), [b - a for a, b in shares]).cpu()

    # ----------------------------------------------------------------------------------------
    def extract_features(self, images: Images) -> tuple[Tensor, Tensor]:
        """The test-time averaged projections and shift logits of ``images``.

        Runs the model under ``torch.no_grad()`` in eval mode (its previous mode is restored),
        from a fresh generator seeded with ``seed``. On several processes, each runs the model on
        its share of the batches and every process returns the features of all images (see the
        module's docstring).

        Args:
            images: :math:`(N, C, H, W)` float in ``[0, 1]``, or a Dataset.

        Returns:
            ``(features, shift_logits)``: :math:`(K, N, D)` projections averaged over the
            samples (not normalised) and :math:`(K, N)` logits of class k for shift k, float32 on CPU.
        """
        from dia_augment.train.distributed import rank, world_size

        n, batches = _iter_batches(images, self.batch_size)
        device = _model_device(self.model)
        generator = make_generator(self.seed, device)
        shares = _batch_shares(n, self.batch_size, world_size())  # this process's batches: [first, last)
        counts = [min(n, last * self.batch_size) - min(n, first * self.batch_size) for first, last in shares]
        first, last = shares[rank()]
        was_training = self.model.training
        self.model.eval()
        features, logits = [], []
        show = self.progress and rank() == 0
        try:
            with torch.no_grad(), tqdm(total=counts[rank()], desc="CSI features", unit="img", disable=not show) as bar:
                for index, batch in enumerate(batches):
                    if index == last:
                        break
                    if index < first:  # another process's batch: only its draws, to stay in step
                        self._replay_draws(batch.to(device), generator)
                        continue
                    f, l = self._batch_features(batch.to(device), generator)
                    features.append(f)
                    logits.append(l)
                    bar.update(batch.shape[0])
        finally:
            self.model.train(was_training)
        if len(shares) == 1:
            return torch.cat(features, dim=1).cpu(), torch.cat(logits, dim=1).cpu()
        return self._gathered(features, logits, counts, device)

    def _gathered(
        self, features: list[Tensor], logits: list[Tensor], counts: list[int], device: torch.device
    ) -> tuple[Tensor, Tensor]:
        """Every process's batch features and logits, concatenated along the images in rank order, on CPU."""
        from dia_augment.train.distributed import all_gather_no_grad

        k = self.num_shifts
        # (rows, K, D + 1): the projections and the logit of each image side by side, one gather
        local = [torch.cat([f.transpose(0, 1), l.transpose(0, 1).unsqueeze(-1)], dim=-1) for f, l in zip(features, logits)]
        width = local[0].shape[-1] if local else 0
        width = int(all_gather_no_grad(torch.tensor([width], device=device)).max())  # a process without a batch learns D
        rows = torch.cat(local) if local else torch.zeros(0, k, width, device=device)
        stats = _gather_rows(rows, counts).cpu()
        return stats[..., :-1].transpose(0, 1).contiguous(), stats[..., -1].transpose(0, 1).contiguous()

    def _output_size(self, batch: Tensor) -> int:
        if self.image_size is not None:
            return self.image_size
        if batch.shape[-1] != batch.shape[-2]:
            raise InputError(f"images must be square unless image_size is set; got size {tuple(batch.shape[-2:])}")
        return batch.shape[-1]

    def _augmentation(self, size: int) -> Augmentation:
        if self.augmentation is not None:
            return self.augmentation
        if size not in self._default_augmentations:
            from dia_augment.augmentation.simclr import SimCLRAugmentation

            # No parameters or buffers: it runs on the rows' device as built.
            scale = (self.resize_factor, self.resize_factor if self.resize_fix else 1.0)
            self._default_augmentations[size] = SimCLRAugmentation(size, crop_scale=scale)
        return self._default_augmentations[size]

    def _augmented_rows(self, batch: Tensor, generator: torch.Generator | None) -> Tensor:
        """One test-time sample of a batch: flips, shifts, then the augmentation (the draws of one sample)."""
        from dia_augment.shift.views import shifted_views

        augment = self._augmentation(self._output_size(batch))
        return augment(shifted_views(batch, self.shift, self.num_shifts, generator, flip=self.hflip), generator=generator)

    def _replay_draws(self, batch: Tensor, generator: torch.Generator | None) -> None:
        """Advance ``generator`` as :meth:`_batch_features` does on ``batch``, without the model."""
        for _ in range(self.num_samples):
            self._augmented_rows(batch, generator)

    def _batch_features(self, batch: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        b, k = batch.shape[0], self.num_shifts
        size = self._output_size(batch)
        index = torch.arange(k, device=batch.device)
        sum_z: Tensor | float = 0.0
        sum_l: Tensor | float = 0.0
        for _ in range(self.num_samples):
            rows = self._augmented_rows(batch, generator)
            if tuple(rows.shape[-2:]) != (size, size):
                rows = F.interpolate(rows, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            if self.channels_last:
                rows = rows.contiguous(memory_format=torch.channels_last)
            with autocast_context(self.autocast, rows.device):
                out = self._forward(rows)
            z, logits = self._check_output(out, k * b)
            sum_z = sum_z + z.float().reshape(k, b, -1)
            sum_l = sum_l + logits.float().reshape(k, b, -1)[index, :, index]
        return sum_z / self.num_samples, sum_l / self.num_samples

    def _check_output(self, out: Any, rows: int) -> tuple[Tensor, Tensor]:
        z, logits = getattr(out, "projection", None), getattr(out, "shift_logits", None)
        if not isinstance(z, Tensor) or not isinstance(logits, Tensor):
            raise InputTypeError(
                f"the model must return an object with tensor fields projection and shift_logits; got {type(out).__name__}"
            )
        if z.ndim != 2 or z.shape[0] != rows:
            raise InputError(f"the model's projection must have shape ({rows}, D); got {tuple(z.shape)}")
        if logits.ndim != 2 or logits.shape[0] != rows or logits.shape[1] < self.num_shifts:
            raise InputError(
                f"the model's shift_logits must have shape ({rows}, >= {self.num_shifts}); got {tuple(logits.shape)}"
            )
        return z, logits

    # ----------------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The settings that :meth:`save` records (JSON-ready)."""
        return {
            "format": _FORMAT,
            "version": 1,
            "shift": self.shift,
            "num_shifts": self.num_shifts,
            "num_samples": self.num_samples,
            "resize_factor": self.resize_factor,
            "resize_fix": self.resize_fix,
            "image_size": self.image_size,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "hflip": self.hflip,
            "chunk_size": self.chunk_size,
            "custom_augmentation": self.augmentation is not None,
            "autocast": None if self.autocast is None else str(self.autocast).removeprefix("torch."),
            "channels_last": self.channels_last,
            "compile": self.compile,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted statistics (safetensors) and the settings (JSON) into folder ``path``, atomically.

        Args:
            path: a folder; ``csi_scorer.safetensors`` and ``csi_scorer.json`` are written there.
        """
        train_features, train_logits = self._fitted()
        path = Path(path)
        atomic_save_tensors({"train_features": train_features, "train_shift_logits": train_logits}, path / _TENSORS_FILE)
        atomic_write_json(path / _CONFIG_FILE, self.config())

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        model: nn.Module,
        *,
        augmentation: Augmentation | None = None,
        progress: bool = True,
    ) -> CSIScorer:
        """Rebuild a fitted scorer from :meth:`save`'s folder, for ``model``.

        Args:
            path: the folder :meth:`save` wrote.
            model: the model the statistics were computed with.
            augmentation: the custom augmentation, required when the scorer was saved with one.
            progress: show progress bars.

        Raises:
            CheckpointError: a missing or corrupt file, or statistics that do not match the settings.
        """
        path = Path(path)
        config = read_json(path / _CONFIG_FILE, "CSIScorer config")
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            raise CheckpointError(f"{path / _CONFIG_FILE} is not a CSIScorer config (format != {_FORMAT!r})")
        if config.get("custom_augmentation") and augmentation is None:
            raise InputError(
                f"the scorer in {path} was fitted with a custom augmentation: pass it again with load(..., augmentation=...)"
            )
        keys = ("shift", "num_shifts", "num_samples", "resize_factor", "resize_fix", "image_size", "batch_size", "seed")
        try:
            scorer = cls(
                model,
                **{key: config[key] for key in keys},
                hflip=config["hflip"],
                augmentation=augmentation,
                chunk_size=config["chunk_size"],
                progress=progress,
                autocast=config.get("autocast"),
                channels_last=config.get("channels_last", False),
                compile=config.get("compile", False),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{path / _CONFIG_FILE} has missing or invalid settings: {err}") from err
        tensors = load_tensors(path / _TENSORS_FILE, "CSIScorer statistics")
        features, logits = tensors.get("train_features"), tensors.get("train_shift_logits")
        k = scorer.num_shifts
        if (
            features is None
            or logits is None
            or features.ndim != 3
            or features.shape[0] != k
            or tuple(logits.shape) != tuple(features.shape[:2])
        ):
            raise CheckpointError(
                f"{path / _TENSORS_FILE} must hold train_features (K, N, D) and train_shift_logits (K, N) with K = {k}"
            )
        scorer._train_features, scorer._train_shift_logits = features.float(), logits.float()
        return scorer

    def __repr__(self) -> str:
        fitted = f"N={self._train_features.shape[1]}" if self._train_features is not None else "unfitted"
        return (
            f"{type(self).__name__}(shift={self.shift!r}, num_shifts={self.num_shifts}, num_samples={self.num_samples}, "
            f"resize_factor={self.resize_factor}, resize_fix={self.resize_fix}, image_size={self.image_size}, "
            f"batch_size={self.batch_size}, seed={self.seed}, {fitted})"
        )
