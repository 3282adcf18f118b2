"""A run folder's lock: a second writer is refused naming the holder's pid; a dead holder's lock is taken over."""

import json
import os
import socket
import subprocess
import sys

import pytest

from dia_augment.cli import main
from dia_augment.utils.lock import LOCK_FILE, lock_holder, run_folder_lock
from dia_augment.errors import RunFolderError


def _lock(folder, pid, command="dia-augment predict", host=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "command": command,
                                                "started": 0.0}))


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_lock_holds_the_pid_and_is_freed_whatever_the_way_out(tmp_path):
    folder = tmp_path / "out"
    with pytest.raises(KeyError), run_folder_lock(folder, "dia-augment score"):
        holder = lock_holder(folder)
        assert (holder["pid"], holder["command"]) == (os.getpid(), "dia-augment score")
        with run_folder_lock(folder, "inner"):  # the same process again: neither taken nor freed
            pass
        assert lock_holder(folder)["command"] == "dia-augment score"
        raise KeyError("a failure inside")
    assert lock_holder(folder) is None and not folder.exists()  # the folder it made, empty, is gone again


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    folder = tmp_path / "out"
    _lock(folder, 1, "dia-augment train")  # pid 1 runs as long as the machine does
    with pytest.raises(RunFolderError, match=f"{folder} is in use by pid 1 \\(dia-augment train\\)"):
        with run_folder_lock(folder, "dia-augment predict"):
            pass
    assert lock_holder(folder)["pid"] == 1  # the holder's lock is left alone
    _lock(folder, 4242, host="another-host")  # a pid on another host cannot be checked: held
    with pytest.raises(RunFolderError, match="in use by pid 4242 \\(dia-augment predict on another-host\\)"):
        with run_folder_lock(folder, "dia-augment predict"):
            pass


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    folder = tmp_path / "out"
    dead = _dead_pid()
    _lock(folder, dead)
    with run_folder_lock(folder, "dia-augment predict"):
        assert lock_holder(folder)["pid"] == os.getpid()
    assert lock_holder(folder) is None and folder.is_dir()  # a folder it did not make stays
    assert sorted(p.name for p in folder.iterdir()) == []


@pytest.mark.parametrize("command", ["predict", "score"])
def test_the_commands_refuse_a_locked_out_folder_in_one_line(command, tmp_path, capsys):
    out = tmp_path / "out"
    _lock(out, 1, "dia-augment predict")
    argv = {"predict": ["predict", "--detector", str(tmp_path / "det"), "--images", str(tmp_path)],
            "score": ["score", "--checkpoint", str(tmp_path / "run")]}[command]
    if command == "predict":  # a detector, so that the lock is what stops it
        from dia_augment.detect import AnomalyDetector
        from dia_augment.models import build_model
        from dia_augment.score import ScoreConfig
        from tests.detect.conftest import images

        AnomalyDetector.fit(build_model("resnet18", 1, width=2), images(4, 0), images(3, 1), image_size=8,
                            config=ScoreConfig(num_views=1), progress=False).save_pretrained(tmp_path / "det")
    assert main([*argv, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out} is in use by pid 1 (dia-augment predict)" in err[0]
