"""Load ImageNet-pretrained ResNet-18 weights from a local file into a :class:`DIAResNet` backbone."""

from __future__ import annotations

import os
import pickle
import zipfile

import torch
from torch import Tensor

from dia_augment.models.dia_resnet import DIAResNet
from dia_augment.utils.io import CheckpointError, existing_file, load_tensors

__all__ = ["load_pretrained_backbone", "read_state_dict"]

_IGNORED_PREFIXES = ("fc.",)


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a flat dict of tensors: safetensors, or a ``torch.save`` file with ``weights_only=True``.

    Raises:
        CheckpointError: the file is missing, corrupt, or does not hold a dict of tensors.
    """
    path = existing_file(path, "pretrained weights")
    if path.suffix == ".safetensors":
        return load_tensors(path, what="pretrained weights")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"pretrained weights {path} are corrupt or not a weights-only torch file: {err}") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"pretrained weights {path} do not hold a dict of tensors")
    return state


def load_pretrained_backbone(model: DIAResNet, path: str | os.PathLike) -> DIAResNet:
    """Copy ResNet-18 weights stored under the usual names (``conv1``, ``bn1``, ``layer1`` ...) into ``model.backbone``.

    The classifier (``fc.*``) is ignored and a ``module.`` prefix is stripped. For a 1-channel
    model, 3-channel ``conv1`` weights are summed over their input channels (a grey image
    through the RGB filter of the same intensity). The heads keep their initialisation.

    Args:
        model: the model to fill; its width must match the weights (64 for standard ResNet-18).
        path: a ``.safetensors`` file, or a ``torch.save`` state dict (read with ``weights_only=True``).

    Returns:
        ``model``, for chaining.

    Raises:
        CheckpointError: missing or corrupt file, or keys / shapes that do not match the backbone.

    Examples:
        >>> import tempfile, pathlib
        >>> from dia_augment.utils.io import atomic_save_tensors
        >>> src = DIAResNet(width=4)
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r18.safetensors"
        >>> atomic_save_tensors(src.backbone.state_dict(), p)
        >>> dst = load_pretrained_backbone(DIAResNet(width=4), p)
        >>> torch.equal(dst.backbone.conv1.weight, src.backbone.conv1.weight)
        True
    """
    state = {k.removeprefix("module."): v for k, v in read_state_dict(path).items()}
    state = {k: v for k, v in state.items() if not k.startswith(_IGNORED_PREFIXES)}
    target = model.backbone.state_dict()
    missing, unexpected = sorted(set(target) - set(state)), sorted(set(state) - set(target))
    if missing or unexpected:
        raise CheckpointError(f"pretrained weights {path} do not match the ResNet-18 backbone: "
                              f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
                              f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    conv1 = state["conv1.weight"]
    if conv1.ndim == 4 and conv1.shape[1] == 3 and target["conv1.weight"].shape[1] == 1:
        state["conv1.weight"] = conv1.sum(dim=1, keepdim=True)
    bad = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in target.items() if state[k].shape != v.shape]
    if bad:
        raise CheckpointError(f"pretrained weights {path} have shapes that do not match the backbone (width "
                              f"{model.backbone.width}): " + "; ".join(bad[:3]))
    model.backbone.load_state_dict({k: v.to(target[k].dtype) for k, v in state.items()})
    return model
