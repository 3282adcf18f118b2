"""Crash-safe files: written like a plain ``open`` would, without touching the process's state."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
import torch

from dia_augment.errors import CheckpointError
from dia_augment.utils.io import atomic_open, atomic_save_tensors, atomic_write_json, check_record, load_tensors


@pytest.fixture
def umask():
    """Run the test under a known umask, restored afterwards."""
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path, umask):
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    with atomic_open(tmp_path / "a.txt") as f:
        f.write("x")
    atomic_write_json(tmp_path / "b.json", {"a": 1})
    atomic_save_tensors({"w": torch.zeros(2)}, tmp_path / "c.safetensors")
    assert _mode(tmp_path / "plain.txt") == 0o666 & ~umask == 0o640
    assert {_mode(tmp_path / name) for name in ("a.txt", "b.json", "c.safetensors")} == {0o640}
    assert os.umask(umask) == umask  # the process's umask is as the test set it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json", "c.safetensors", "plain.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    atomic_write_json(tmp_path / "state.json", {"step": 1})
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "state.json") as f:
        f.write("{")
        raise RuntimeError("crash")
    assert (tmp_path / "state.json").read_text() == '{\n  "step": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert load_tensors(_saved(tmp_path))["w"].tolist() == [0.0, 0.0]


def _saved(folder):
    atomic_save_tensors({"w": torch.zeros(2)}, folder / "w.safetensors")
    return folder / "w.safetensors"


def test_neither_the_import_nor_a_write_changes_the_umask(tmp_path):
    """The umask is the host's: never set, not even for a moment (another thread may create files)."""
    code = ("import os, sys\n"
            "calls = []\n"
            "umask = os.umask\n"
            "os.umask = lambda mask: calls.append(mask) or umask(mask)\n"
            "import dia_augment.utils.io as io, dia_augment.train.checkpoint\n"
            "io.atomic_write_json(os.path.join(sys.argv[1], 'a.json'), {})\n"
            "print(calls)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_check_record_names_the_file_and_the_field():
    assert check_record({"step": 3, "lr": 1}, {"step": int, "lr": float}, "state.json") == {"step": 3, "lr": 1}
    with pytest.raises(CheckpointError, match=r"state.json is missing the field\(s\) \['epoch'\]"):
        check_record({"step": 3}, {"step": int, "epoch": int}, "state.json")
    with pytest.raises(CheckpointError, match="state.json: field 'step' must be int; got bool True"):
        check_record({"step": True}, {"step": int}, "state.json")
    with pytest.raises(CheckpointError, match="state.json must hold a JSON object; got list"):
        check_record([], {"step": int}, "state.json")
