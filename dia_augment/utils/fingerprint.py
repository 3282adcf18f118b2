"""Image fingerprints: one 64-bit hash per image, to tell which images a model was trained on.

A training run stores the fingerprints of its training images; ``dia-augment score`` refuses a
test split holding any of them (a split that leaks training images into the test set inflates
the AUROC), and ``predict`` says which scored files the model was trained on. A fingerprint is
the first 8 bytes of BLAKE2b over the image's float32 values (shape included), so the same file
read with the same options gives the same fingerprint, and any other pixel value another one.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import Tensor

from dia_augment.errors import InputError, InputTypeError

__all__ = ["image_fingerprints", "fingerprint_overlap"]


def image_fingerprints(images: Tensor) -> Tensor:
    """One int64 fingerprint per image.

    Shape:
        - images: :math:`(N, C, H, W)` (any float dtype; hashed as float32)
        - output: :math:`(N,)` int64

    Examples:
        >>> x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> a = image_fingerprints(x)
        >>> bool(a[0] == image_fingerprints(x[:1])[0]), bool(a[0] != a[1])
        (True, True)
    """
    if not isinstance(images, Tensor):
        raise InputTypeError(f"images must be a torch.Tensor; got {type(images).__name__}")
    if images.ndim != 4:
        raise InputError(f"images must be (N, C, H, W); got shape {tuple(images.shape)}")
    values = images.detach().to("cpu", torch.float32).contiguous().numpy()
    shape = np.asarray(values.shape[1:], dtype=np.int64).tobytes()
    digests = [hashlib.blake2b(shape + image.tobytes(), digest_size=8).digest() for image in values]
    return torch.from_numpy(np.frombuffer(b"".join(digests), dtype=np.int64).copy())


def fingerprint_overlap(fingerprints: Tensor, reference: Tensor) -> Tensor:
    """Which of ``fingerprints`` occur in ``reference`` (a bool mask).

    Examples:
        >>> fingerprint_overlap(torch.tensor([1, 2, 3]), torch.tensor([3, 1])).tolist()
        [True, False, True]
    """
    return torch.isin(fingerprints, reference)
