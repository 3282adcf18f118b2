"""``dia-augment score`` under a launcher: two processes write what one process writes."""

from __future__ import annotations

import json
import os
import socket

import pytest
from safetensors.torch import load_file

from dia_augment.cli import main
from tests.processes import run_processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, argv: list[str], out: str) -> None:
    # what accelerate launch / torchrun set for each process
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    import torch

    torch.set_num_threads(1)
    assert main(argv) == 0
    import torch.distributed as dist

    # the command formed the process group (the scorer splits its work over it: tests/score/test_distributed_scoring.py)
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump({"initialized": dist.is_initialized(), "world": dist.get_world_size()}, f)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("score_processes")
    args = ["train", "--data", "embedded", "--load-size", "8", "--mode", "csi", "--width", "2", "--image-size", "8",
            "--epochs", "1", "--batch-size", "200", "--calibration-fraction", "0", "--no-progress", "--out", str(out / "run")]
    assert main(args) == 0
    return out


def test_two_processes_write_the_scores_of_one(run, monkeypatch):
    score = ["score", "--checkpoint", str(run / "run"), "--data", "embedded", "--load-size", "8", "--num-views", "2",
             "--batch-size", "48", "--method", "simclr", "--no-progress"]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count: the same kernels, so the same bits
    try:
        assert main([*score, "--out", str(run / "one")]) == 0
    finally:
        torch.set_num_threads(threads)
    run_processes(_worker, (2, _free_port(), [*score, "--out", str(run / "two")], str(run)))
    for rank in range(2):
        assert json.loads((run / f"rank{rank}.json").read_text()) == {"initialized": True, "world": 2}
    one, two = load_file(run / "one" / "scores.safetensors"), load_file(run / "two" / "scores.safetensors")
    assert one["scores"].shape == (400,) and torch.equal(one["labels"], two["labels"])
    assert torch.equal(one["scores"], two["scores"]), (one["scores"] - two["scores"]).abs().max()
    metrics = [json.loads((run / name / "metrics.json").read_text()) for name in ("one", "two")]
    assert metrics[0]["auroc"] == metrics[1]["auroc"]
