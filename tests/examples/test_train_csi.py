"""A smoke run of examples/train_csi.py at tiny settings writes its three files with the right content."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dia_augment.errors import RunFolderError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_csi.py"


def load_example():
    spec = importlib.util.spec_from_file_location("train_csi_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = ["--dissolver-preset", "micro", "--dissolver-resolution", "8", "--dissolver-steps", "4", "--image-size", "16",
        "--width", "2", "--epochs", "1", "--batch-size", "64", "--num-views", "1", "--device", "cpu", "--no-progress"]


def test_a_second_run_in_the_same_folder_is_refused_in_one_line_and_overwrite_replaces_it(tmp_path):
    example = load_example()
    args = ["--dissolver", "gaussian", *TINY, "--out", str(tmp_path / "run")]
    first = example.main(args)
    with pytest.raises(RunFolderError, match="already holds a finished contrastive run"):
        example.main(args)
    # the script itself prints that as one line, without a traceback, and exits with the error's code
    done = subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == RunFolderError.exit_code
    last = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and last[-1].startswith("train_csi.py: error: ")
    assert "--overwrite" in last[-1]
    again = example.main([*args, "--overwrite"])
    assert again["metrics"]["auroc"] == first["metrics"]["auroc"]  # same seed, same run


@pytest.mark.parametrize("dissolver", ["ddpm", "gaussian"])
def test_tiny_end_to_end_run_writes_its_files(tmp_path, dissolver):
    example = load_example()
    out = tmp_path / "run"
    record = example.main([
        "--dissolver", dissolver, "--dissolver-preset", "micro", "--dissolver-resolution", "8",
        "--dissolver-steps", "4", "--image-size", "16", "--width", "2", "--epochs", "1",
        "--batch-size", "64", "--num-views", "1", "--device", "cpu", "--out", str(out), "--no-progress",
    ])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["metrics"]["num_normal"] == 200 and metrics["metrics"]["num_anomaly"] == 200
    assert 0.0 <= metrics["metrics"]["auroc"] <= 1.0
    assert metrics["metrics"] == json.loads(json.dumps(record["metrics"]))
    assert metrics["train_config"]["mode"] == "dia" and metrics["train_config"]["image_size"] == 16
    with Image.open(out / "roc.png") as roc:
        assert roc.format == "PNG" and min(roc.size) > 100
    with Image.open(out / "dissolve_grid.png") as grid:
        # 6 columns (the original and t = 0, 30, 60, 100, 200) by 6 rows of 16 px images, at least
        assert grid.format == "PNG" and grid.size[0] >= 6 * 16 and grid.size[1] >= 6 * 16
    if dissolver == "ddpm":
        assert (out / "dissolver_run" / "dissolver" / "dissolver_config.json").is_file()
    # the saved detector: calibrated on the 120 held-out normals, and it reproduces the test AUROC
    from dia_augment.data import load_one_class
    from dia_augment.detect import AnomalyDetector
    from dia_augment.score import evaluate

    detector = AnomalyDetector.from_pretrained(out / "model" / "detector", progress=False)
    assert detector.threshold.num_normal == 120 and detector.provenance["num_train"] == 480
    assert metrics["threshold"]["value"] == detector.threshold.value
    test = load_one_class("embedded", "test", load_size=16)
    rescored = evaluate(detector.score(test.images), test.labels)["auroc"]  # anomaly scores, anomalies positive
    assert rescored == metrics["metrics"]["auroc"]


def test_precision_and_layout_options_reach_both_trainings_and_default_to_auto():
    example = load_example()
    default = example.parse_args([])
    assert (default.mixed_precision, default.channels_last) == ("auto", None)  # bf16 where native, channels_last with it
    assert example.train_config(default).mixed_precision == "auto" and example.train_config(default).channels_last is None
    assert example.dissolver_config(default).mixed_precision == "auto"
    plain = example.parse_args(["--mixed-precision", "no", "--no-channels-last"])
    assert (example.train_config(plain).mixed_precision, example.train_config(plain).channels_last) == ("no", False)
    fast = example.parse_args(["--mixed-precision", "bf16", "--channels-last"])
    config = example.train_config(fast)
    assert (config.mixed_precision, config.channels_last, config.compile) == ("bf16", True, False)
    assert example.dissolver_config(fast).mixed_precision == "bf16"
    # the rest of the model's settings are the example's own, as before the options existed
    assert (config.width, config.image_size, config.epochs, config.crop_scale, config.checkpoint_every) == (16, 32, 15, (0.2, 1.0), 50)
    with pytest.raises(SystemExit):
        example.parse_args(["--mixed-precision", "fp16"])  # the example offers fp32 and bf16 only


def test_ood_data_and_lesion_options_together_are_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLE), "--ood-data", "embedded", "--lesion-sigma", "1", "2",
                           "--out", str(tmp_path / "run"), *TINY], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "--ood-data and --lesion-sigma / --lesion-opacity both choose the test anomalies" in done.stderr
    assert not (tmp_path / "run" / "model").exists()
