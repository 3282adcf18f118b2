"""The prepared device check measures every path it names, here on the CPU at tiny sizes."""

import importlib.util
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_workload_reports_its_paths_with_positive_rates():
    script = load_script()
    cpu = torch.device("cpu")
    assert script.device_info(cpu)["type"] == "cpu"
    dissolve = script.dissolve(cpu, [8], 2, 1, compile_=False)
    assert [r["path"] for r in dissolve] == ["fp32", "bf16"] and all(r["images_per_s"] > 0 for r in dissolve)
    steps = script.train_steps(cpu, 16, 2, 4, 1, False, "resnet18")
    assert [(r["mode"], r["path"]) for r in steps] == [("dia", "fp32"), ("dia", "bf16"), ("csi", "fp32"),
                                                       ("csi", "bf16")]
    assert all(r["ms_per_step"] > 0 for r in steps)
    score = script.score(cpu, 16, 2, 2, 1, "resnet18")
    assert [r["path"] for r in score] == ["fp32", "bf16"] and all(r["images_per_s"] > 0 for r in score)
