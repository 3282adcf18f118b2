"""Files that are missing, corrupt, or parse but hold the wrong content: the error names the file and the field.

Covers the shared readers (:mod:`dia_augment.utils.io`), pretrained backbone weights, saved DDPM
dissolvers and Stable Diffusion pipeline folders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dia_augment.errors import CheckpointError, ConfigError, InputError, MissingCheckpointError
from dia_augment.filters import DDPMDissolving
from dia_augment.filters.stable_diffusion import StableDiffusionDissolving
from dia_augment.models import DIAResNet, load_pretrained_backbone
from dia_augment.utils.io import atomic_open, atomic_save_tensors, atomic_write_json, load_tensors, read_json
from tests.bad_inputs import assert_raises_naming, case, micro_ddpm



def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def json_file(tmp: Path, obj, name: str = "state.json") -> Path:
    path = tmp / name
    atomic_write_json(path, obj)
    return path


def tensors_file(tmp: Path, tensors: dict, name: str = "w.safetensors") -> Path:
    path = tmp / name
    atomic_save_tensors(tensors, path)
    return path


def saved_dissolver(tmp: Path, config=None, safe: bool = True) -> Path:
    """A micro DDPM dissolver saved to ``tmp/dissolver``; ``config`` replaces its dissolver_config.json."""
    folder = tmp / "dissolver"
    micro_ddpm().save_pretrained(folder)
    if not safe:
        (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
        micro_ddpm().unet.save_pretrained(folder / "unet", safe_serialization=False)
    if config is not None:
        write(folder / "dissolver_config.json", config if isinstance(config, str) else json.dumps(config))
    return folder


def config_with(**changes) -> dict:
    return {**micro_ddpm()._config(), **changes}


def truncated_unet(tmp: Path) -> Path:
    folder = saved_dissolver(tmp)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return folder


IO_CASES = [
    case("json-missing", lambda tmp: read_json(tmp / "state.json", "checkpoint state"), CheckpointError, "state.json",
         "not found"),
    case("json-corrupt", lambda tmp: read_json(write(tmp / "state.json", '{"step": '), "checkpoint state"),
         CheckpointError, "state.json", "JSON"),
    case("json-binary", lambda tmp: read_json(write(tmp / "state.json", b"\xff\xfe\x00"), "checkpoint state"),
         CheckpointError, "state.json"),
    case("json-list-not-object", lambda tmp: read_json(json_file(tmp, [1, 2]), "state", fields={"step": int}),
         CheckpointError, "state.json", "object"),
    case("json-missing-field", lambda tmp: read_json(json_file(tmp, {"epoch": 1}), "state", fields={"step": int}),
         CheckpointError, "state.json", "step"),
    case("json-wrong-type", lambda tmp: read_json(json_file(tmp, {"step": "3"}), "state", fields={"step": int}),
         CheckpointError, "state.json", "'step'", "int"),
    case("json-bool-for-int", lambda tmp: read_json(json_file(tmp, {"step": True}), "state", fields={"step": int}),
         CheckpointError, "'step'"),
    case("json-null-for-float", lambda tmp: read_json(json_file(tmp, {"lr": None}), "state", fields={"lr": float}),
         CheckpointError, "'lr'", "float"),
    case("tensors-missing", lambda tmp: load_tensors(tmp / "w.safetensors", "weights"), CheckpointError,
         "w.safetensors", "not found"),
    case("tensors-not-safetensors", lambda tmp: load_tensors(write(tmp / "w.safetensors", b"PK\x03\x04 zip"), "weights"),
         CheckpointError, "w.safetensors", "corrupt"),
    case("tensors-empty-file", lambda tmp: load_tensors(write(tmp / "w.safetensors", b""), "weights"),
         CheckpointError, "w.safetensors"),
    case("tensors-a-folder", lambda tmp: load_tensors(tmp, "weights"), CheckpointError, "weights"),
    case("tensors-missing-key",
         lambda tmp: load_tensors(tensors_file(tmp, {"a": torch.zeros(1)}), "model weights", keys=["a", "b"]),
         CheckpointError, "w.safetensors", "'b'"),
    case("atomic-open-mode", lambda tmp: atomic_open(tmp / "x.txt", "a").__enter__(), InputError, "mode", "'a'"),
]

PRETRAINED_CASES = [
    case("backbone-missing", lambda tmp: load_pretrained_backbone(DIAResNet(width=4), tmp / "r18.safetensors"),
         CheckpointError, "r18.safetensors", "not found"),
    case("backbone-corrupt",
         lambda tmp: load_pretrained_backbone(DIAResNet(width=4), write(tmp / "r18.safetensors", b"garbage")),
         CheckpointError, "r18.safetensors"),
    case("backbone-foreign-keys",
         lambda tmp: load_pretrained_backbone(DIAResNet(width=4), tensors_file(tmp, {"encoder.w": torch.zeros(1)})),
         CheckpointError, "w.safetensors", "missing", "encoder.w"),
    case("backbone-width",
         lambda tmp: load_pretrained_backbone(DIAResNet(width=4),
                                              tensors_file(tmp, DIAResNet(width=8).backbone.state_dict())),
         CheckpointError, "w.safetensors", "width 4"),
    case("backbone-pickled-object", lambda tmp: load_pretrained_backbone(DIAResNet(width=4), _pickled_object(tmp)),
         CheckpointError, "r18.pth", "weights-only"),
    case("backbone-list-of-tensors",
         lambda tmp: load_pretrained_backbone(DIAResNet(width=4), _saved(tmp / "r18.pth", [torch.zeros(1)])),
         CheckpointError, "r18.pth", "dict of tensors"),
]

DISSOLVER_CASES = [
    case("ddpm-missing-relative", lambda tmp: DDPMDissolving.from_pretrained("./no_dissolver_here"), CheckpointError,
         "no_dissolver_here"),
    case("ddpm-missing-absolute", lambda tmp: DDPMDissolving.from_pretrained(tmp / "gone"), CheckpointError, "gone"),
    case("ddpm-no-unet-folder", lambda tmp: DDPMDissolving.from_pretrained(tmp), CheckpointError, "unet"),
    case("ddpm-config-corrupt", lambda tmp: DDPMDissolving.from_pretrained(saved_dissolver(tmp, config="{")),
         CheckpointError, "dissolver_config.json"),
    case("ddpm-config-list", lambda tmp: DDPMDissolving.from_pretrained(saved_dissolver(tmp, config=[8])),
         CheckpointError, "dissolver_config.json"),
    case("ddpm-config-resolution-string",
         lambda tmp: DDPMDissolving.from_pretrained(saved_dissolver(tmp, config=config_with(resolution="8"))),
         CheckpointError, "dissolver_config.json", "resolution"),
    case("ddpm-config-resize-mode",
         lambda tmp: DDPMDissolving.from_pretrained(saved_dissolver(tmp, config=config_with(resize_mode="lanczos"))),
         CheckpointError, "dissolver_config.json", "resize_mode"),
    case("ddpm-resolution-mismatch", lambda tmp: DDPMDissolving.from_pretrained(saved_dissolver(tmp), resolution=32),
         CheckpointError, "resolution=32", "8 px"),
    case("ddpm-truncated-weights", lambda tmp: DDPMDissolving.from_pretrained(truncated_unet(tmp)), CheckpointError,
         "dissolver"),
    case("ddpm-pickle-weights-only", lambda tmp: DDPMDissolving.from_pretrained(saved_dissolver(tmp, safe=False)),
         CheckpointError, "safetensors"),
]

SD_CASES = [
    case("sd-missing-relative", lambda tmp: StableDiffusionDissolving(pretrained="./no_pipeline_here"),
         CheckpointError, "no_pipeline_here"),
    case("sd-folder-without-index", lambda tmp: StableDiffusionDissolving(pretrained=tmp), CheckpointError,
         "model_index.json"),
    case("sd-unknown-version", lambda tmp: StableDiffusionDissolving(version="3"), ConfigError, "version", "'3'"),
    case("sd-pipeline-and-pretrained", lambda tmp: StableDiffusionDissolving(pretrained=tmp, pipeline=object()),
         ConfigError, "pipeline=", "pretrained="),
    case("sd-missing-components", lambda tmp: StableDiffusionDissolving(unet=torch.nn.Identity()), ConfigError,
         "vae", "text_encoder", "tokenizer"),
    case("sd-keywords-with-pipeline",
         lambda tmp: StableDiffusionDissolving(pipeline=object(), local_files_only=True), ConfigError,
         "local_files_only"),
]


def _saved(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


class _NotWeights:
    """Something a weights file must never be: an arbitrary pickled object."""


def _pickled_object(tmp: Path) -> Path:
    return _saved(tmp / "r18.pth", {"model": _NotWeights()})


@pytest.mark.parametrize("call, error, names", IO_CASES + PRETRAINED_CASES + DISSOLVER_CASES + SD_CASES)
def test_files_rejected(call, error, names, tmp_path):
    assert_raises_naming(call, tmp_path, error, names)


def test_a_missing_checkpoint_is_caught_as_a_missing_file_and_as_a_checkpoint_error(tmp_path):
    with pytest.raises(MissingCheckpointError) as info:
        load_tensors(tmp_path / "model.safetensors", "model weights")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, CheckpointError)
    assert info.value.exit_code == 2  # the command line treats it as a usage mistake
