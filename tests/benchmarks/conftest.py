from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def load_benchmark():
    """Import ``benchmarks/NAME.py`` as a module (registered in ``sys.modules`` for its dataclasses)."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{name}_benchmark_script", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module

    return load
