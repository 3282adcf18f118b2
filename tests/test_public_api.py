"""The public API is a contract: adding is deliberate, removing is a breaking change."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

import pytest

import dia_augment

# name -> kind: "class", "function" or "str"; `from dia_augment import X` must give exactly that kind
EXPECTED = {
    "__version__": "str",
    "Dissolver": "class",
    "DDPMDissolving": "class",
    "GaussianDissolving": "class",
    "MedianDissolving": "class",
    "ResizeDissolving": "class",
    "RandomDissolving": "class",
    "StableDiffusionDissolving": "class",
    "ddpm_dissolve": "function",
    "make_dissolver": "function",
    "DissolverTrainConfig": "class",
    "train_dissolver": "function",
    "SimCLRAugmentation": "class",
    "shift_transform": "function",
    "expand_shifts": "function",
    "DIAResNet": "class",
    "build_model": "function",
    "TrainConfig": "class",
    "train_model": "function",
    "load_model": "function",
    "ScoreConfig": "class",
    "csi_score": "function",
    "evaluate": "function",
    "load_one_class": "function",
    "OneClassData": "class",
    "make_embedded_dataset": "function",
    "ReferenceGaussianBlur": "class",
    "ReferenceMedianBlur": "class",
    "AnomalyDetector": "class",
    "build_detector": "function",
    "anomaly_map": "function",
    "probe_dissolver": "function",
}


#: What ``import dia_augment`` must not load: each is imported when a name that needs it is first used.
HEAVY = ("diffusers", "transformers", "accelerate", "kornia", "sklearn", "matplotlib", "scipy", "pydicom", "nibabel",
         "dia_augment.filters", "dia_augment.augmentation", "dia_augment.train", "dia_augment.score", "dia_augment.data",
         "dia_augment.detect")


@pytest.fixture(scope="module")
def fresh_import():
    """In a fresh process: what ``import dia_augment`` loads, then the kind of ``from dia_augment import X``
    for every public name after every sub-package is imported (so no sub-module can shadow a name)."""
    code = (
        "import inspect, json, sys, dia_augment\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith({HEAVY!r}))\n"
        "import dia_augment.train, dia_augment.score, dia_augment.data, dia_augment.shift\n"
        "import dia_augment.detect, dia_augment.localize, dia_augment.probe\n"
        "kind = lambda v: 'class' if inspect.isclass(v) else 'function' if inspect.isfunction(v) else type(v).__name__\n"
        "ns = {}\n"
        "for name in dia_augment.__all__:\n"
        "    exec(f'from dia_augment import {name} as value', ns)\n"
        "    ns[name] = kind(ns['value'])\n"
        "print(json.dumps({'loaded': loaded, 'kinds': {n: ns[n] for n in dia_augment.__all__}}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_import_is_light(fresh_import):
    """Importing the package loads no heavy library and none of its sub-packages: they load on first use."""
    assert fresh_import["loaded"] == []


def test_the_filters_package_imports_its_filters_on_use():
    """``dia_augment.filters`` (its names, ``make_dissolver``) pulls diffusers and kornia only with a filter that needs them."""
    code = ("import sys\n"
            "from dia_augment.filters import DISSOLVER_NAMES, make_dissolver, Dissolver\n"
            "light = not any(m in sys.modules for m in ('diffusers', 'kornia'))\n"
            "make_dissolver('gaussian')\n"
            "print(light, 'kornia' in sys.modules, 'diffusers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False"]


@pytest.mark.parametrize("package", ["dia_augment.filters", "dia_augment.augmentation"])
def test_a_lazy_package_exports_every_name_of_its_all(package):
    module = importlib.import_module(package)
    assert set(module.__all__) <= set(dir(module))
    assert all(getattr(module, name) is not None for name in module.__all__)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'missing'"):
        module.missing


def test_all_is_exactly_the_public_api():
    assert set(dia_augment.__all__) == set(EXPECTED)


def _kind(value):
    return "class" if inspect.isclass(value) else "function" if inspect.isfunction(value) else type(value).__name__


def test_every_public_name_is_what_it_says(fresh_import):
    assert fresh_import["kinds"] == EXPECTED
    assert {name: _kind(getattr(dia_augment, name)) for name in dia_augment.__all__} == EXPECTED


def test_version_string():
    major, minor, patch = dia_augment.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))


def test_cli_entry_points():
    out = subprocess.run([sys.executable, "-m", "dia_augment", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"dia_augment {dia_augment.__version__}"
