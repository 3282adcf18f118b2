"""Bad command lines: one line on stderr naming the option or file, exit status 2 (usage) or 1 (failure), no traceback.

Every case runs in-process through :func:`dia_augment.cli.main` (which is what ``python -m
dia_augment`` calls); the cases in :data:`SUBPROCESS` also run as a real ``python -m dia_augment``
process. Options are checked before any work: a bad option beside a missing checkpoint or data
folder must be the error reported, since checking it first costs nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dia_augment.cli import main

MISSING = "missing_input_folder"


def cli_case(case_id: str, argv: list[str], code: int, *names: str | tuple[str, ...], xfail: str | None = None):
    """A command line that must exit with ``code`` and one stderr line naming each of ``names``.

    A name given as a tuple is satisfied by any one of its spellings (``--num-samples`` or ``num_samples``).
    """
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(argv, code, names, id=case_id, marks=marks)


def score(*extra: str) -> list[str]:
    return ["score", "--checkpoint", MISSING, "--data", "embedded", "--out", "eval", *extra]


def grid(*extra: str, dissolver: str = "gaussian", data: str = "embedded") -> list[str]:
    return ["dissolve-grid", "--dissolver", dissolver, "--data", data, "--out", "grid.png", *extra]


def train(*extra: str, data: str = MISSING) -> list[str]:
    return ["train", "--data", data, "--out", "run", "--mode", "csi", *extra]


def train_dissolver(*extra: str, data: str = MISSING) -> list[str]:
    return ["train-dissolver", "--data", data, "--out", "run", *extra]


CASES = [
    cli_case("score-missing-checkpoint", score(), 2, MISSING),
    cli_case("score-num-views-zero", score("--num-views", "0"), 2, ("--num-views", "num_views")),
    cli_case("score-batch-size-zero", score("--batch-size", "0"), 2, ("--batch-size", "batch_size")),
    cli_case("score-resize-factor", score("--resize-factor", "1.5"), 2, ("--resize-factor", "resize_factor")),
    cli_case("score-chunk-size-zero", score("--chunk-size", "0"), 2, ("--chunk-size", "chunk_size")),
    cli_case("score-load-size-zero", score("--load-size", "0"), 2, ("--load-size", "load_size")),
    cli_case("grid-missing-data", grid(data=MISSING), 2, MISSING),
    cli_case("grid-resize-without-resolution", grid(dissolver="resize"), 2, "resolution"),
    cli_case("grid-num-images-zero", grid("--num-images", "0", data=MISSING), 2, ("--num-images", "num_images")),
    cli_case("grid-step-too-large", grid("--steps", "5000", data=MISSING), 2, ("--steps", "steps")),
    cli_case("grid-scale-zero", grid("--scale", "0", data=MISSING), 2, ("--scale", "scale")),
    cli_case("grid-even-kernel", grid("--kernel-size", "4", data=MISSING), 2, ("--kernel-size", "kernel_size")),
    cli_case("grid-missing-dissolver", grid("--dissolver-path", MISSING, dissolver="ddpm"), 2, MISSING),
    cli_case("train-dissolver-missing-data", train_dissolver("--train-steps", "2"), 2, MISSING),
    cli_case("train-dissolver-resolution-zero", train_dissolver("--train-steps", "2", "--resolution", "0"), 2,
             ("--resolution", "resolution")),
    cli_case("train-dissolver-steps-zero", train_dissolver("--train-steps", "0"), 2, ("--train-steps", "train_steps")),
    cli_case("train-dissolver-batch-size-zero", train_dissolver("--train-steps", "2", "--batch-size", "0"), 2,
             ("--batch-size", "batch_size")),
    cli_case("train-missing-data", train("--epochs", "1"), 2, MISSING),
    cli_case("train-epochs-zero", train("--epochs", "0"), 2, ("--epochs", "epochs")),
    cli_case("train-step-range-inverted", train("--step-range", "100", "30"), 2, ("--step-range", "step_range")),
    cli_case("train-crop-scale-above-one", train("--crop-scale", "0.5", "2"), 2, ("--crop-scale", "crop_scale")),
    cli_case("train-width-zero", train("--width", "0"), 2, ("--width", "width")),
    cli_case("predict-missing-detector", ["predict", "--detector", MISSING, "--images", "image.png", "--out", "p"], 2, MISSING),
    cli_case("predict-batch-size-zero",
             ["predict", "--detector", MISSING, "--images", "image.png", "--out", "p", "--batch-size", "0"], 2,
             ("--batch-size", "batch_size")),
    cli_case("predict-group-top-k-zero",
             ["predict", "--detector", MISSING, "--images", "image.png", "--out", "p", "--group-top-k", "0"], 2,
             "--group-top-k"),
    cli_case("predict-load-size-zero",
             ["predict", "--detector", MISSING, "--images", "image.png", "--out", "p", "--load-size", "0"], 2,
             "--load-size"),
    cli_case("predict-missing-images", ["predict", "--detector", MISSING, "--images", f"{MISSING}/x.png", "--out", "p"],
             2, "--images", f"{MISSING}/x.png"),
    cli_case("score-group-top-k-zero", score("--group-top-k", "0"), 2, "--group-top-k"),
    cli_case("export-missing-detector", ["export", "--detector", MISSING], 2, MISSING),
    cli_case("probe-resize-without-resolution", ["probe", "--dissolver", "resize", "--out", "p.json"], 2,
             "resolution"),
    cli_case("probe-num-images-zero", ["probe", "--dissolver", "gaussian", "--num-images", "0", "--out", "p.json"], 2,
             ("--num-images", "num_images")),
]

#: The cases that also run as a real process (each costs an interpreter start).
SUBPROCESS = {
    "score-missing-checkpoint",
    "grid-missing-data",
    "grid-missing-dissolver",
    "train-dissolver-missing-data",
    "train-epochs-zero",
    "train-dissolver-resolution-zero",
    "grid-num-images-zero",
    "grid-resize-without-resolution",
    "probe-num-images-zero",
    "score-num-views-zero",
    "predict-missing-detector",
    "export-missing-detector",
}


def check_one_line(stderr: str, names: tuple[str | tuple[str, ...], ...]) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    for name in names:
        spellings = name if isinstance(name, tuple) else (name,)
        assert any(s in lines[0] for s in spellings), f"the message does not name {name}: {lines[0]}"


@pytest.mark.parametrize("argv, code, names", CASES)
def test_command_fails_with_one_line(argv, code, names, tmp_path, monkeypatch, capsys):
    _image(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DIA_AUGMENT_DEBUG", raising=False)
    assert main(argv) == code
    check_one_line(capsys.readouterr().err, names)
    assert not (tmp_path / "eval").exists() and not (tmp_path / "run").exists(), "a failed command left an output folder"


def _image(folder: Path) -> None:
    """An 8 x 8 grey PNG, ``image.png``, for the commands that need an existing image."""
    Image.new("L", (8, 8), 128).save(folder / "image.png")


def _run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if k != "DIA_AUGMENT_DEBUG"}
    environment = {**inherited, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", **env}
    return subprocess.run(
        [sys.executable, "-m", "dia_augment", *argv], cwd=cwd, env=environment, capture_output=True, text=True,
        timeout=300,
    )


@pytest.mark.parametrize("argv, code, names", [c for c in CASES if c.id in SUBPROCESS])
def test_real_command_fails_with_one_line(argv, code, names, tmp_path):
    _image(tmp_path)
    result = _run(argv, tmp_path)
    assert result.returncode == code, result.stderr
    check_one_line(result.stderr, names)


def test_debug_shows_the_traceback(tmp_path):
    result = _run(["--debug", *score()], tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "dia_augment.errors." in result.stderr


def test_argparse_usage_errors_exit_2_without_traceback(tmp_path):
    result = _run(["score", "--checkpoint", "x", "--data", "embedded", "--out", "o", "--num-views", "ten"], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--num-views" in lines[0] and "(see dia-augment score --help)" in lines[0]
