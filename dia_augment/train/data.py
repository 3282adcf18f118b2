"""What feeds both trainers: an image source (a tensor or a Dataset) read through a DataLoader.

An :data:`ImageSource` is a :math:`(N, C, H, W)` float tensor in ``[0, 1]`` or a torch
``Dataset`` yielding ``(C, H, W)`` images or ``(image, label)`` pairs. :func:`as_dataset` checks it
and wraps a tensor; :func:`epoch_loader` reads one epoch's batches in a seeded order through a
``torch.utils.data.DataLoader`` (worker processes, pinned memory on a GPU), each process taking its
share of every global batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from dia_augment.errors import InputError, InputTypeError
from dia_augment.utils.checks import check_images

__all__ = ["ImageSource", "ResizedImages", "resize_images", "as_dataset", "collate_images", "epoch_batches", "epoch_loader"]

#: The images a trainer or a scorer reads: a ``(N, C, H, W)`` tensor or a Dataset of images / pairs.
ImageSource = Tensor | Dataset


class ResizedImages(Dataset):
    """The images of a Dataset resized to ``resolution`` (bilinear, antialiased unless told) as they are read."""

    def __init__(self, dataset: Dataset, resolution: int, antialias: bool = True) -> None:
        self.dataset, self.resolution, self.antialias = dataset, resolution, antialias

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Tensor:
        return resize_images(_image_of(self.dataset[index], index)[None], self.resolution, self.antialias)[0]


def resize_images(images: Tensor, resolution: int, antialias: bool = True) -> Tensor:
    """Resize a batch to ``resolution`` squared (bilinear, antialiased unless told, clamped to ``[0, 1]``); a no-op at
    that size."""
    if tuple(images.shape[-2:]) == (resolution, resolution):
        return images
    return F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False,
                         antialias=antialias).clamp(0, 1)


def _image_of(item: object, index: int) -> Tensor:
    image = item[0] if isinstance(item, (tuple, list)) else item
    if not isinstance(image, Tensor) or image.ndim != 3:
        raise InputError(f"dataset item {index} must be a (C, H, W) image tensor or an (image, label) pair")
    return image


def collate_images(items: list) -> Tensor:
    """Stack a batch of dataset items (images or ``(image, label)`` pairs), checking shapes and range."""
    images = [_image_of(item, i) for i, item in enumerate(items)]
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        raise InputError(f"dataset items must all have the same shape; got {sorted(shapes)}")
    return check_images(torch.stack(images), name="training dataset batch")


def as_dataset(images: ImageSource) -> Dataset:
    """Check an image source (the tensor whole, a Dataset's first item) and return it as a Dataset.

    A tensor becomes a ``TensorDataset``.

    Raises:
        InputTypeError: neither a tensor nor a Dataset.
        InputError: an empty source, or images that are not ``(C, H, W)`` floats in ``[0, 1]``.

    Examples:
        >>> len(as_dataset(torch.rand(3, 1, 4, 4)))
        3
    """
    if isinstance(images, Tensor):
        return TensorDataset(check_images(images, name="training images"))
    if not isinstance(images, Dataset):
        raise InputTypeError(f"images must be a (N, C, H, W) tensor or a torch Dataset; got {type(images).__name__}")
    if len(images) == 0:  # type: ignore[arg-type]
        raise InputError(f"the {type(images).__name__} holds no images: nothing to train on")
    collate_images([images[0]])
    return images


def epoch_batches(indices: Tensor, permutation: Tensor, global_batch: int, world: int, rank: int,
                  start: int = 0, drop_last: bool = True) -> list[list[int]]:
    """This process's index lists for the global batches of one epoch, from batch ``start`` on.

    Global batch ``s`` takes ``indices[permutation[s * G : (s + 1) * G]]``; process ``rank`` takes
    its ``1 / world`` share of it. The last partial batch is dropped unless ``drop_last`` is false
    (then it is the epoch's last batch, on one process).

    Examples:
        >>> epoch_batches(torch.arange(10, 15), torch.tensor([4, 3, 2, 1, 0]), 2, 1, 0)
        [[14, 13], [12, 11]]
        >>> epoch_batches(torch.arange(10, 15), torch.tensor([4, 3, 2, 1, 0]), 2, 1, 0, drop_last=False)
        [[14, 13], [12, 11], [10]]
    """
    count = len(permutation) // global_batch if drop_last else -(-len(permutation) // global_batch)
    return [indices[permutation[s * global_batch : (s + 1) * global_batch]].tensor_split(world)[rank].tolist()
            for s in range(start, count)]


def epoch_loader(dataset: Dataset, batches: list[list[int]], num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """A DataLoader that reads ``batches`` (from :func:`epoch_batches`) of ``dataset`` in order, as image batches."""
    return DataLoader(dataset, batch_sampler=batches, num_workers=num_workers, pin_memory=pin_memory,
                      collate_fn=collate_images)
