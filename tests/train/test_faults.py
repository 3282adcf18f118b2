"""Faults while checkpointing, for both training loops: a SIGKILL in the middle of a checkpoint
write and a write that fails (disk full) leave the previous checkpoint intact, and the run
resumes to the same weights and the same log as an uninterrupted one."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from dia_augment.filters.base import ResizeDissolving
from dia_augment.train import DissolverTrainConfig, TrainConfig, train_dissolver, train_model
from dia_augment.train import checkpoint as checkpoint_module
from dia_augment.train.checkpoint import latest_checkpoint

# the checkpoint after FAULT_STEP steps is the one that fails; the one after EARLIER_STEP must survive
FAULT_STEP, EARLIER_STEP = 4, 2


def _images(n):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def _run(loop, out, resume=False):
    if loop == "contrastive":
        config = TrainConfig(mode="dia", width=2, proj_dim=8, image_size=8, epochs=2, batch_size=4, lr=0.05,
                             checkpoint_every=2, progress=False)
        return train_model(config, _images(16), ResizeDissolving(4), out_dir=out, resume=resume).state_dict()
    config = DissolverTrainConfig(resolution=8, preset="micro", train_steps=6, batch_size=4, lr=1e-3,
                                  checkpoint_every=2, eval_every=2, log_every=1, grid_images=0, progress=False)
    return train_dissolver(config, _images(12), out, resume=resume).unet.state_dict()


def _failing_write(fail):
    """Wrap the checkpoint's tensor writer: ``fail(path)`` runs before the optimizer file of step FAULT_STEP."""
    write = checkpoint_module.atomic_save_tensors

    def wrapped(tensors, path, *args, **kwargs):
        path = Path(path)
        if path.name == "optimizer.safetensors" and path.parent.name.endswith(f"{FAULT_STEP:08d}"):
            fail(path)
        return write(tensors, path, *args, **kwargs)

    return wrapped


def _hang(path):
    (path.parents[2] / "writing").touch()
    time.sleep(600)


def _killed_while_checkpointing(loop, out):
    torch.set_num_threads(1)
    checkpoint_module.atomic_save_tensors = _failing_write(_hang)
    _run(loop, out)


def _records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _assert_resumes_like_an_uninterrupted_run(loop, out, reference):
    assert latest_checkpoint(out).name == f"step-{EARLIER_STEP:08d}"
    assert not (out / "model.safetensors").exists() and not (out / "dissolver").exists()  # stopped before the end
    resumed = _run(loop, out, resume=True)
    straight = _run(loop, reference)
    assert resumed.keys() == straight.keys()
    for key in straight:
        assert torch.equal(resumed[key], straight[key]), key  # bit-exact on CPU
    # the log reads as one run: what the interrupted run logged after its checkpoint is dropped
    for kind, key in (("train", "loss"), ("eval", "holdout_loss")):
        a = [(r["step"], r[key]) for r in _records(out) if r["kind"] == kind]
        assert a == [(r["step"], r[key]) for r in _records(reference) if r["kind"] == kind]
    assert [r["step"] for r in _records(out) if r["kind"] == "train"] == list(range(1, 9 if loop == "contrastive" else 7))
    assert [p.name for p in (out / "checkpoints").iterdir()] == [latest_checkpoint(reference).name]


@pytest.mark.parametrize("loop", ["contrastive", "dissolver"])
def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, loop):
    torch.set_num_threads(1)
    out = tmp_path / "killed"
    proc = multiprocessing.get_context("spawn").Process(target=_killed_while_checkpointing, args=(loop, out))
    proc.start()
    deadline = time.time() + 120
    try:
        while not (out / "writing").exists():
            assert proc.is_alive(), f"the training process ended early with exit code {proc.exitcode}"
            assert time.time() < deadline, "the checkpoint write was never reached"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
    assert proc.exitcode == -signal.SIGKILL
    assert (out / "checkpoints" / f".tmp-step-{FAULT_STEP:08d}").is_dir()  # the half-written one, ignored
    _assert_resumes_like_an_uninterrupted_run(loop, out, tmp_path / "reference")
    assert not (out / "checkpoints" / f".tmp-step-{FAULT_STEP:08d}").exists()


@pytest.mark.parametrize("loop", ["contrastive", "dissolver"])
def test_a_full_disk_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, loop):
    def disk_full(path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    out = tmp_path / "full"
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module, "atomic_save_tensors", _failing_write(disk_full))
        with pytest.raises(OSError, match="No space left"):
            _run(loop, out)
    _assert_resumes_like_an_uninterrupted_run(loop, out, tmp_path / "reference")
